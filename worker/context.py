"""Per-process resources of a worker: settings and the database."""

from __future__ import annotations

import os
import socket
import uuid
from functools import lru_cache

from core.settings import Settings, get_settings
from core.store.db import Database


@lru_cache(maxsize=1)
def get_database() -> Database:
    return Database(get_settings().resolved_database_url)


def settings() -> Settings:
    return get_settings()


def new_worker_id() -> str:
    """Return an id naming this host and process, unique per job attempt."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
