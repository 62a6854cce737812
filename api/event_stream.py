"""Server-sent events: a job's events as they are recorded, until the job ends.

Each event is sent as `id: <event id>`, `event: job.event` and `data: <the EventPublic JSON>`.
After the job's last event, the stream sends `event: end` with the final status and closes.
A client that reconnects with the `Last-Event-ID` header (browsers' EventSource does this by
itself) continues after the last event it received, so no event is lost or sent twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from api.schemas.jobs import EventPublic
from core.store.db import Database
from core.store.tables import TERMINAL_STATES, Job, JobEvent

logger = logging.getLogger(__name__)

MEDIA_TYPE = "text/event-stream"
# How often the database is read for new events, and how long an idle stream waits before
# a comment line that keeps proxies from closing it.
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
BATCH_SIZE = 500


@dataclass(frozen=True)
class _Batch:
    status: str | None
    events: list[EventPublic]


def _read_batch(database: Database, job_id: str, after: int) -> _Batch:
    # The status is read before the events: a terminal status is committed together with the
    # job's last event, so once the status is terminal that event is already visible.
    with database.session() as session:
        status = session.scalar(select(Job.status).where(Job.id == job_id))
        rows = session.scalars(
            select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.id > after).order_by(JobEvent.id).limit(BATCH_SIZE)
        )
        return _Batch(status=status, events=[EventPublic.model_validate(row, from_attributes=True) for row in rows])


def format_event(event: EventPublic) -> str:
    return f"id: {event.id}\nevent: job.event\ndata: {event.model_dump_json()}\n\n"


def format_end(job_id: str, status: str | None) -> str:
    return f"event: end\ndata: {json.dumps({'job_id': job_id, 'status': status})}\n\n"


async def stream_events(database: Database, job_id: str, after: int) -> AsyncIterator[str]:
    """Yield the job's events after id `after` as SSE messages, then an end message once the job has ended."""
    logger.info("job.events.stream_start job_id=%s after=%d", job_id, after)
    idle_seconds = 0.0
    try:
        while True:
            batch = await run_in_threadpool(_read_batch, database, job_id, after)
            for event in batch.events:
                yield format_event(event)
                after = event.id
            if batch.events:
                idle_seconds = 0.0
                continue
            if batch.status is None or batch.status in TERMINAL_STATES:
                yield format_end(job_id, batch.status)
                return
            if idle_seconds >= KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                idle_seconds = 0.0
            await asyncio.sleep(POLL_SECONDS)
            idle_seconds += POLL_SECONDS
    finally:
        logger.info("job.events.stream_stop job_id=%s last_event_id=%d", job_id, after)
