"""Logging set-up shared by every entry point (API, worker, command line)."""

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Send records from every logger to stderr at `level`; safe to call more than once."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    if not any(getattr(handler, "_flyp", False) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._flyp = True  # type: ignore[attr-defined]
        root.addHandler(handler)
