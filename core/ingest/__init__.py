"""Dataset ingest: an uploaded zip or tar archive in, a stored dataset and its report out.

Entry points are `ingest_archive` (stores the dataset), `validate_archive` (the dry run) and
`ingest_folder` (a local folder, stored like an uploaded archive).
The report's shape is documented in `core.ingest.report`.
"""

from core.ingest.errors import DatasetInvalidError
from core.ingest.folder import ingest_folder
from core.ingest.limits import IngestLimits
from core.ingest.pipeline import IngestResult, ingest_archive, validate_archive

__all__ = ["DatasetInvalidError", "IngestLimits", "IngestResult", "ingest_archive", "ingest_folder", "validate_archive"]
