"""Table definitions. The schema itself is created only by the Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.store.types import JSONType, UTCDateTime, utcnow

# Dataset states. A deleted dataset that jobs still name stays as a row without files, because
# jobs.dataset_id is a foreign key. The API returns 404 for it.
DATASET_PROCESSING, DATASET_READY, DATASET_FAILED, DATASET_DELETED = "processing", "ready", "failed", "deleted"

# Model states: a model row is created with its job and becomes ready when the job succeeds.
# A deleted model is `deleting` while requests already using it finish. Then the row is deleted.
MODEL_PENDING, MODEL_READY, MODEL_FAILED, MODEL_DELETING = "pending", "ready", "failed", "deleting"

# Job states; the last three are terminal and never change once written.
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
TERMINAL_STATES = (SUCCEEDED, FAILED, CANCELLED)
ACTIVE_STATES = (QUEUED, RUNNING)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType, datetime: UTCDateTime}


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # processing | ready | failed | deleted
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # Rows made from the same archive with the same ingest options share one directory.
    storage_dir: Mapped[str | None] = mapped_column(Text, index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    classes: Mapped[list[Any]] = mapped_column(default=list)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Limits, split options and display names the upload was ingested with; a worker reads them.
    ingest_options: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_status_queued", "status", "queued_at"),
        Index("ix_jobs_status_lease", "status", "lease_expires_at"),
        Index("ix_jobs_status_redispatch", "status", "redispatch_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64), index=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"), index=True)
    method: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    model_spec: Mapped[dict[str, Any]] = mapped_column()
    hyperparameters: Mapped[dict[str, Any]] = mapped_column()
    # Ids of other datasets evaluated for every WiSE-FT alpha, for example distribution shifts.
    eval_dataset_ids: Mapped[list[str] | None] = mapped_column(JSONType)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    model_id: Mapped[str | None] = mapped_column(String(64))
    worker_id: Mapped[str | None] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    # When the job last entered the queue; orders the queue position.
    queued_at: Mapped[datetime | None] = mapped_column()
    # Messages sent for this job, and when the reaper sends one again if no worker has claimed it.
    dispatch_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    redispatch_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobEvent(Base):
    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_id_id", "job_id", "id"),)

    # The autoincrement id orders events and is the pagination cursor.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Model(Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64), index=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), unique=True)
    dataset_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending | ready | failed | deleting
    method: Mapped[str] = mapped_column(String(32))
    architecture: Mapped[str] = mapped_column(String(200))
    pretrained: Mapped[str | None] = mapped_column(String(200))
    classes: Mapped[list[Any]] = mapped_column(default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    storage_dir: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyKey(Base):
    """A remembered POST: a retry with the same key and body returns the first result."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)  # tenant id, or "" with auth off
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Tenant(Base):
    """A customer of the service; every dataset, job and model row names its tenant by id."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Limits of this tenant alone; NULL takes the service's FLYP_TENANT_* default, 0 means no limit.
    max_stored_bytes: Mapped[int | None] = mapped_column(BigInteger)
    max_active_jobs: Mapped[int | None] = mapped_column(Integer)
    classify_per_minute: Mapped[int | None] = mapped_column(Integer)


class ApiKey(Base):
    """An API key of one tenant. Only the key's sha256 is stored; `prefix` finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
