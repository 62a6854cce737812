"""Prometheus metrics of one API process: requests, jobs by state and the model cache.

Labels carry only route templates, methods, status codes and job states, never ids or tenant
names, so `/metrics` shows no tenant's data and stays small.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.model_cache import ModelCache
from api.recent import RecentValue
from core.store.db import Database
from core.store.models import jobs_by_status

logger = logging.getLogger(__name__)

# Request latencies from a few milliseconds (health checks) to tens of seconds (uploads).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Seconds the job counts of /metrics are reused; Prometheus scrapes are usually 15 s or more apart.
JOB_COUNT_SECONDS = 5.0
# Clients choose the method token freely. Any other method is counted as "other", because a
# label per token would let a client create any number of time series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ServiceCollector(Collector):
    """Reads job counts from the database and model cache figures at scrape time."""

    def __init__(self, database: Database, cache: ModelCache) -> None:
        self.database = database
        self.cache = cache
        # The job counts are read at most once per interval, however often /metrics is called.
        self._job_counts = RecentValue(self._read_job_counts, JOB_COUNT_SECONDS)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self._cache_metrics()
        jobs = GaugeMetricFamily("flyp_jobs", "Jobs in each state, over all tenants.", labels=["state"])
        for state, count in sorted(self._job_counts.get().items()):
            jobs.add_metric([state], count)
        yield jobs

    def _read_job_counts(self) -> dict[str, int]:
        try:
            with self.database.session() as session:
                return jobs_by_status(session)
        except SQLAlchemyError as error:
            logger.warning("metrics.jobs_unavailable error=%s", error)
            return {}

    def _cache_metrics(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        cache = self.cache
        yield CounterMetricFamily("flyp_model_cache_hits", "Classify requests that found their model loaded.", value=cache.hits)
        yield CounterMetricFamily("flyp_model_cache_loads", "Models loaded from disk (cache misses).", value=cache.loads)
        yield CounterMetricFamily("flyp_model_cache_evictions", "Models evicted to stay within the memory budget.", value=cache.evictions)
        yield GaugeMetricFamily("flyp_model_cache_models", "Models loaded in this process.", value=len(cache))
        yield GaugeMetricFamily("flyp_model_cache_bytes", "Estimated bytes of the loaded models (parameters, buffers, heads).", value=cache.size_bytes)
        yield GaugeMetricFamily("flyp_model_cache_budget_bytes", "Memory budget of the model cache (FLYP_MODEL_CACHE_BYTES).", value=cache.max_bytes)


class Metrics:
    """The registry of one app, so several apps in one process (tests) keep separate counts."""

    def __init__(self, database: Database, cache: ModelCache) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "flyp_http_requests", "HTTP requests by route template, method and status.", ["endpoint", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "flyp_http_request_duration_seconds",
            "Time from request start to the last response byte, by route template, method and status.",
            ["endpoint", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(ServiceCollector(database, cache))

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint, method, str(status)).observe(seconds)


class MetricsMiddleware:
    """Counts every HTTP request under its route template (`/v1/models/{model_id}`), or `unmatched`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            metrics: Metrics | None = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                route = scope.get("route")
                endpoint = getattr(route, "path", None) or "unmatched"
                method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
                metrics.observe(endpoint, method, status, time.perf_counter() - started)
