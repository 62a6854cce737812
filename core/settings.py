"""Service settings, read once from `FLYP_` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

GIB = 1024**3
MIB = 1024**2
# An admin key shorter than this is rejected at start-up; `flyp keys create` makes 256-bit keys.
MIN_ADMIN_KEY_LENGTH = 32


class Settings(BaseSettings):
    """Configuration of the API, the workers and the command line.

    With no variables set, everything runs embedded: SQLite and a filesystem message queue
    under `data_dir`. Setting `FLYP_DATABASE_URL` and `FLYP_BROKER_URL` switches to
    PostgreSQL and Redis without any other change.
    """

    # Validation errors leave out the rejected values, so a mistyped admin key never reaches a log.
    # An empty variable means "use the default", as docker compose passes `${VAR:-}` unset ones.
    model_config = SettingsConfigDict(env_prefix="FLYP_", extra="ignore", hide_input_in_errors=True, env_ignore_empty=True)

    data_dir: Path = Field(Path("var"), description="Directory for datasets, models, uploads and the embedded database.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default is SQLite at DATA_DIR/flyp.db.")
    broker_url: str | None = Field(None, description="Celery broker URL; default is a filesystem queue under DATA_DIR/broker.")
    queue: str = Field("flyp", description="Celery queue that training tasks are sent to.")
    log_level: str = Field("INFO", description="Log level of every process: DEBUG, INFO, WARNING or ERROR.")

    device: str = Field("auto", description="Torch device for training and serving: auto, cpu or cuda.")
    torch_threads: int = Field(0, ge=0, description="CPU threads per training or serving process; 0 lets torch choose.")

    max_upload_bytes: int = Field(2 * GIB, gt=0, description="Largest accepted upload, in bytes.")
    max_archive_members: int = Field(100_000, gt=0, description="Maximum number of entries in an uploaded archive.")
    max_expanded_bytes: int = Field(20 * GIB, gt=0, description="Largest total size of an archive once expanded, in bytes.")
    max_image_pixels: int = Field(50_000_000, gt=0, description="Largest image, in pixels (width x height), decoded anywhere.")
    max_image_bytes: int = Field(128 * MIB, gt=0, description="Largest single file inside an archive, in bytes once decompressed.")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="Share of each class held out for validation when no val/ split is given.")
    ingest_inline_max_bytes: int = Field(
        32 * MIB,
        ge=0,
        description="Largest upload, in bytes, ingested within the request (201); larger ones are ingested by a worker (202).",
    )

    lease_seconds: int = Field(60, gt=0, description="How long a worker's claim on a job lasts without renewal, in seconds.")
    max_attempts: int = Field(3, gt=0, description="Attempts a job gets before a lost worker fails it.")
    visibility_timeout: int = Field(
        7 * 24 * 3600, gt=0, description="Seconds before Redis hands an unacknowledged task to another worker; keep it above the longest job."
    )
    reaper_interval: float = Field(30.0, gt=0, description="Seconds between two scans of each worker's reaper for lost and unsent jobs.")
    redispatch_after: int = Field(
        600,
        gt=0,
        description=(
            "Seconds a queued job may wait unclaimed before its message is sent again, the wait doubling after each resend;"
            " also how long a processing dataset may go untouched by a worker before its ingest message is sent again."
        ),
    )
    job_time_limit: int = Field(
        0, ge=0, description="Seconds one attempt of a job may run before it fails with time_limit_exceeded; 0 means no limit."
    )
    worker_preload: bool = Field(
        True, description="Import torch and open_clip once in the worker's parent process (without initialising CUDA) so each job starts faster."
    )

    max_classify_images: int = Field(32, gt=0, description="Maximum number of images in one classify request.")
    model_cache_size: int = Field(4, gt=0, description="Maximum number of models kept loaded per API process.")
    model_cache_bytes: int = Field(
        4 * GIB, gt=0, description="Memory budget, in bytes, of the models kept loaded per API process (estimated from parameter and buffer sizes)."
    )
    classify_batch_max_images: int = Field(32, gt=0, description="Maximum number of images in one batched forward pass of a model.")
    classify_batch_wait_ms: float = Field(
        0.0,
        ge=0,
        description="Milliseconds a classify request waits for others to the same model before its batch runs; 0 batches the requests that arrived while the previous batch ran.",
    )
    max_classify_request_bytes: int = Field(64 * MIB, gt=0, description="Largest classify request body, in bytes.")
    model_delete_wait_seconds: float = Field(
        60.0, gt=0, description="Seconds DELETE /v1/models/{id} waits for this process's classify and download requests on the model to finish."
    )
    base_models: str = Field(
        "flyp-tiny:random,flyp-small:random",
        description="Comma-separated ARCHITECTURE:PRETRAINED base models listed for zero-shot classify; 'random' means no pretrained weights.",
    )

    auth: Literal["auto", "on", "off"] = Field(
        "auto", description="API keys: on, off, or auto (on when FLYP_DATABASE_URL is set, off for the embedded default)."
    )
    admin_key: SecretStr | None = Field(
        None,
        min_length=MIN_ADMIN_KEY_LENGTH,
        description="Optional admin key; it may act as any tenant named in the Flyp-Tenant header.",
    )
    tenant_max_stored_bytes: int = Field(
        100 * GIB, ge=0, description="Maximum total size of one tenant's dataset uploads, in bytes; 0 means no limit."
    )
    tenant_max_active_jobs: int = Field(4, ge=0, description="Maximum number of queued plus running jobs per tenant; 0 means no limit.")
    tenant_classify_per_minute: int = Field(600, ge=0, description="Maximum classify requests per minute per tenant; 0 means no limit.")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'flyp.db'}"

    @property
    def auth_enabled(self) -> bool:
        """Whether requests need an API key; `auto` turns keys on for any external database."""
        if self.auth == "auto":
            return self.database_url is not None
        return self.auth == "on"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def uses_filesystem_broker(self) -> bool:
        return self.resolved_broker_url.startswith("filesystem://")

    @property
    def uses_redis_broker(self) -> bool:
        return self.resolved_broker_url.startswith(("redis://", "rediss://"))

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    def ensure_dirs(self) -> None:
        """Create the data directory tree; every process calls this at start-up."""
        for path in (self.datasets_dir, self.models_dir, self.uploads_dir, self.jobs_dir, self.cache_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self.uses_filesystem_broker:
            (self.broker_dir / "queue").mkdir(parents=True, exist_ok=True)
            (self.broker_dir / "processed").mkdir(parents=True, exist_ok=True)
            (self.broker_dir / "control").mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
