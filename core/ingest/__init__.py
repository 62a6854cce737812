"""Dataset ingest: an uploaded zip or tar archive in, a stored dataset and its report out.

Entry points are `ingest_archive` (stores the dataset) and `validate_archive` (the dry run).
The report's shape is documented in `core.ingest.report`.
"""

from core.ingest.errors import DatasetInvalidError
from core.ingest.limits import IngestLimits
from core.ingest.pipeline import IngestResult, ingest_archive, validate_archive

__all__ = ["DatasetInvalidError", "IngestLimits", "IngestResult", "ingest_archive", "validate_archive"]
