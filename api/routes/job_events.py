from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from api.deps import DatabaseDep, SessionDep, TenantDep
from api.event_stream import MEDIA_TYPE, stream_events
from api.routes.jobs import require_job
from api.schemas.common import ERROR_RESPONSES, ListPublic
from api.schemas.jobs import EventPublic
from core.store.tables import JobEvent

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)

# One server-sent event as the HTML specification defines its fields. OpenAPI 3.1 has no
# itemSchema, so, as schemathesis reads it, `schema` describes each event of the stream.
SSE_EVENT_SCHEMA = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "id": {"type": "string", "description": "The event id; absent on the `end` event."},
        "event": {"type": "string", "enum": ["job.event", "end"]},
        "data": {"type": "string", "contentMediaType": "application/json", "description": "An event as in the list, or for `end` the job id and final status."},
        "retry": {"type": "integer"},
    },
}
STREAM_RESPONSE = {200: {"content": {MEDIA_TYPE: {"schema": SSE_EVENT_SCHEMA}}, "description": "The event list, or with stream=true a server-sent event stream."}}


@router.get("/{job_id}/events", response_model=ListPublic[EventPublic], responses=STREAM_RESPONSE)
def list_events(
    job_id: str,
    request: Request,
    session: SessionDep,
    database: DatabaseDep,
    tenant_id: TenantDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    # The upper bound is the largest BIGINT, the type of event ids in PostgreSQL.
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Return events with an id above this one.")] = None,
    stream: Annotated[bool, Query(description="Send server-sent events as they are recorded, until the job ends.")] = False,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=2**63 - 1, description="Resume a stream after this event id.")] = None,
) -> ListPublic[EventPublic] | StreamingResponse:
    """List a job's events oldest first; pass the last id seen as `after` for the next page.

    With `stream=true`, or an `Accept: text/event-stream` header, the response is a live
    stream of the same events that ends after the job's last event.
    """
    require_job(session, job_id, tenant_id)
    if stream or MEDIA_TYPE in request.headers.get("accept", ""):
        start = max(after or 0, last_event_id or 0)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream_events(database, job_id, start), media_type=MEDIA_TYPE, headers=headers)

    query = select(JobEvent).where(JobEvent.job_id == job_id)
    if after is not None:
        query = query.where(JobEvent.id > after)
    rows = list(session.scalars(query.order_by(JobEvent.id).limit(limit + 1)))
    events = [EventPublic.model_validate(row, from_attributes=True) for row in rows[:limit]]
    return ListPublic[EventPublic](data=events, has_more=len(rows) > limit)
