"""Apply the Alembic migrations; the only way the schema is created."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations

logger = logging.getLogger(__name__)


def alembic_config(database_url: str) -> Config:
    directory = Path(migrations.__file__).parent
    config = Config(str(directory / "alembic.ini"))
    config.set_main_option("script_location", str(directory))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    logger.info("db.upgrade.start revision=%s", revision)
    command.upgrade(alembic_config(database_url), revision)
    logger.info("db.upgrade.done revision=%s", revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
