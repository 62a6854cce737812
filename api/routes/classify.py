from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from fastapi.concurrency import run_in_threadpool

from api.classify_request import read_classify_request
from api.deps import DatabaseDep, SettingsDep, TenantDep
from api.limits import TOO_MANY_REQUESTS, ClassifyRateLimit
from api.schemas.common import ERROR_RESPONSES
from api.schemas.models import ClassifyRequest, ClassifyResponse, ImageResult, Prediction
from api.served_models import lookup_served_model
from api.serving import Serving

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/models", tags=["models"], responses=ERROR_RESPONSES)



def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Return the model's JSON schema with its `$defs` references replaced by the definitions.

    The schema goes into the route's OpenAPI entry by hand, where `#/$defs/...` would not resolve.
    """
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


# Both request bodies, for the OpenAPI schema. The handler reads the body itself by Content-Type.
CLASSIFY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inline_schema(ClassifyRequest)},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "Images; repeat the field."},
                        "top_k": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5},
                        "labels": {"type": "array", "items": {"type": "string"}, "description": "Labels to choose from; repeat the field."},
                        "templates": {"type": "array", "items": {"type": "string"}, "description": "Templates with '{}', or one set name."},
                    },
                }
            },
        },
    }
}


@router.post(
    "/{model_id}/classify",
    response_model=ClassifyResponse,
    dependencies=[ClassifyRateLimit],
    responses={**TOO_MANY_REQUESTS, 413: ERROR_RESPONSES[413], 415: ERROR_RESPONSES[422]},
    openapi_extra=CLASSIFY_BODY,
)
async def classify(model_id: str, request: Request, database: DatabaseDep, settings: SettingsDep, tenant_id: TenantDep) -> ClassifyResponse:
    """Classify images with a finished or base model; results come back in request order.

    Scores are the softmax over the label list of the scaled cosine similarities. A base
    model needs `labels`; on a finetuned one, labels it was not trained on are zero-shot.
    """
    serving: Serving = request.app.state.serving

    # Held from before the lookup, so a delete that marks the model after this point waits for this request.
    with serving.in_flight.hold(model_id):
        served = await run_in_threadpool(lookup_served_model, database, settings, model_id, tenant_id)
        classify_in = await read_classify_request(request, max_bytes=settings.max_classify_request_bytes, max_images=settings.max_classify_images)
        classifier = await serving.classifier(model_id, served.load)
        ranked = await serving.classify(model_id, classifier, classify_in)

    results = [
        ImageResult(
            index=index,
            filename=filename,
            predictions=[Prediction(label=label, score=score, zero_shot=zero_shot) for label, score, zero_shot in row],
        )
        for index, (filename, row) in enumerate(zip(classify_in.filenames, ranked))
    ]
    return ClassifyResponse(model_id=model_id, data=results)

