"""A typed Python client for the FLYP finetuning service, on httpx."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx

from client.errors import ApiError, error_from_response
from client.sse import parse_event_stream
from client.types import TERMINAL_STATUSES, Classification, Dataset, Event, Job, Model, ModelDeleted, Page

logger = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8000"
URL_VARIABLE = "FLYP_API_URL"
KEY_VARIABLE = "FLYP_API_KEY"


@dataclass
class JobUpdate:
    """One step of `FlypClient.watch`: the job as it is now and the events since the last step."""

    job: Job
    events: list[Event] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.job["status"] in TERMINAL_STATUSES


class FlypClient:
    """Calls the service's /v1 API. Every method raises ApiError for an error response.

    `base_url` and `api_key` default to FLYP_API_URL and FLYP_API_KEY. `tenant` sets the
    Flyp-Tenant header, which only the admin key needs.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        tenant: str | None = None,
        timeout: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": "flyp-client/0.1"}
        api_key = api_key if api_key is not None else os.environ.get(KEY_VARIABLE)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if tenant:
            headers["Flyp-Tenant"] = tenant
        self.base_url = (base_url or os.environ.get(URL_VARIABLE) or DEFAULT_URL).rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> FlypClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # Datasets

    def upload_dataset(self, path: str | Path, *, name: str | None = None) -> Dataset:
        """Upload an archive of class folders (zip or tar) and return the ingested dataset."""
        path = Path(path)
        data = {"name": name} if name else {}
        with open(path, "rb") as handle:
            return cast(Dataset, self._request("POST", "/v1/datasets", files={"file": (path.name, handle, "application/octet-stream")}, data=data))

    def get_dataset(self, dataset_id: str) -> Dataset:
        return cast(Dataset, self._request("GET", f"/v1/datasets/{dataset_id}"))

    def list_datasets(self, *, limit: int = 20, after: str | None = None) -> Page[Dataset]:
        return cast(Page[Dataset], self._request("GET", "/v1/datasets", params=_page_params(limit, after)))

    # Jobs

    def create_job(
        self,
        dataset_id: str,
        *,
        architecture: str,
        pretrained: str | None = None,
        checkpoint: str | None = None,
        method: str = "flyp",
        hyperparameters: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        eval_dataset_ids: list[str] | None = None,
    ) -> Job:
        """Queue a finetuning job; unset hyperparameters take the service's defaults."""
        model = {"architecture": architecture, "pretrained": pretrained, "checkpoint": checkpoint}
        body = {
            "dataset_id": dataset_id,
            "method": method,
            "model": {key: value for key, value in model.items() if value is not None},
            "hyperparameters": hyperparameters or {},
            "eval_dataset_ids": eval_dataset_ids or [],
        }
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return cast(Job, self._request("POST", "/v1/jobs", json=body, headers=headers))

    def get_job(self, job_id: str) -> Job:
        return cast(Job, self._request("GET", f"/v1/jobs/{job_id}"))

    def list_jobs(self, *, limit: int = 20, after: str | None = None) -> Page[Job]:
        return cast(Page[Job], self._request("GET", "/v1/jobs", params=_page_params(limit, after)))

    def cancel_job(self, job_id: str) -> Job:
        return cast(Job, self._request("POST", f"/v1/jobs/{job_id}/cancel"))

    def get_job_report(self, job_id: str) -> bytes:
        """Return the PNG report plot of a succeeded job; raises ApiError (409) before it has one."""
        response = self._http.get(f"/v1/jobs/{job_id}/report.png")
        if response.status_code >= 400:
            raise _error(response)
        return response.content

    def list_events(self, job_id: str, *, after: int | None = None, limit: int = 100) -> Page[Event]:
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        return cast(Page[Event], self._request("GET", f"/v1/jobs/{job_id}/events", params=params))

    def watch(self, job_id: str, *, poll_interval: float = 1.0) -> Iterator[JobUpdate]:
        """Yield the job and its new events until the job ends; the last update is terminal.

        Reads the server-sent event stream of GET /v1/jobs/{id}/events where the service
        offers one, and polls that endpoint with the `after` cursor otherwise or once the
        stream closes before the job has ended.
        """
        last_id: int | None = None
        with self._http.stream(
            "GET", f"/v1/jobs/{job_id}/events", params={"stream": "true"}, headers={"Accept": "text/event-stream"}, timeout=None
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise _error(response)
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                for update in self._follow_stream(job_id, parse_event_stream(response.iter_lines())):
                    last_id = update.events[-1]["id"] if update.events else last_id
                    if update.finished:
                        yield update
                        return
                    if update.events:
                        yield update
                pending: list[Event] = []
            else:
                response.read()
                pending = list(cast(Page[Event], response.json())["data"])
        last_id = pending[-1]["id"] if pending else last_id
        while True:
            # The job is read before its events: a job seen finished has written its last event
            # in the same transaction, so the events read next include it.
            job = self.get_job(job_id)
            new_events = self._events_after(job_id, last_id)
            last_id = new_events[-1]["id"] if new_events else last_id
            update = JobUpdate(job, pending + new_events)
            pending = []
            yield update
            if update.finished:
                return
            time.sleep(poll_interval)

    def _events_after(self, job_id: str, after: int | None) -> list[Event]:
        """Return every event after the id `after`, reading as many pages as there are."""
        events: list[Event] = []
        while True:
            page = self.list_events(job_id, after=after)
            events += page["data"]
            if not page["has_more"] or not page["data"]:
                return events
            after = page["data"][-1]["id"]

    def _follow_stream(self, job_id: str, stream: Iterator[tuple[str, Any]]) -> Iterator[JobUpdate]:
        # Events of a job that has already ended are held back until the stream's `end`
        # message, so only the last update is terminal and it carries every remaining event.
        held_events: list[Event] = []
        for name, data in stream:
            if name == "end":
                break
            if not (isinstance(data, dict) and "message" in data):
                continue
            held_events.append(cast(Event, data))
            job = self.get_job(job_id)
            if job["status"] not in TERMINAL_STATUSES:
                yield JobUpdate(job, held_events)
                held_events = []
        # The stream ended or the server closed it, so the job record shows where the job is.
        yield JobUpdate(self.get_job(job_id), held_events)

    def wait(self, job_id: str, *, poll_interval: float = 1.0) -> Job:
        """Block until the job ends and return it."""
        update = JobUpdate(self.get_job(job_id))
        for update in self.watch(job_id, poll_interval=poll_interval):
            pass
        return update.job

    # Models

    def get_model(self, model_id: str) -> Model:
        return cast(Model, self._request("GET", f"/v1/models/{model_id}"))

    def list_models(self, *, limit: int = 20, after: str | None = None) -> Page[Model]:
        return cast(Page[Model], self._request("GET", "/v1/models", params=_page_params(limit, after)))

    def classify(
        self,
        model_id: str,
        images: Sequence[str | Path],
        *,
        top_k: int = 5,
        labels: Sequence[str] | None = None,
        templates: Sequence[str] | None = None,
    ) -> Classification:
        """Classify image files; results come back in the order given.

        `labels` restricts or extends the model's classes (a base model needs them), and
        `templates` replaces the prompt templates of labels scored zero-shot.
        """
        files = [("files", (Path(image).name, Path(image).read_bytes(), "application/octet-stream")) for image in images]
        form: dict[str, Any] = {"top_k": str(top_k)}
        if labels:
            form["labels"] = list(labels)
        if templates:
            form["templates"] = list(templates)
        return cast(Classification, self._request("POST", f"/v1/models/{model_id}/classify", files=files, data=form))

    def download_model(self, model_id: str, destination: str | Path) -> Path:
        """Save the model's checkpoint zip (weights, metadata, class embeddings) to `destination`.

        An existing directory as `destination` receives MODEL_ID.zip. Returns the saved file's path.
        """
        target = Path(destination)
        if target.is_dir():
            target = target / f"{model_id}.zip"
        partial = target.with_name(target.name + ".partial")
        with self._http.stream("GET", f"/v1/models/{model_id}/download", timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                raise _error(response)
            try:
                with open(partial, "wb") as handle:
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
                partial.replace(target)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        return target

    def delete_model(self, model_id: str) -> ModelDeleted:
        """Delete a finished model; requests already using it finish first."""
        return cast(ModelDeleted, self._request("DELETE", f"/v1/models/{model_id}"))

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _error(response)
        return response.json()


def _page_params(limit: int, after: str | None) -> dict[str, Any]:
    return {"limit": limit} if after is None else {"limit": limit, "after": after}


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    return error_from_response(response.status_code, body, response.headers.get("retry-after"))
