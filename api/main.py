"""Assembles the FastAPI application: routers, error handlers and per-process resources."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import torch
from fastapi import Depends, FastAPI

from api.auth import AuthMiddleware, Authenticator, get_principal
from api.dispatch import Dispatcher
from api.errors import install_error_handlers
from api.limits import create_rate_limiter
from api.metrics import Metrics, MetricsMiddleware
from api.routes import classify, datasets, health, job_events, jobs, models
from api.serving import Serving
from api.schemas.common import ErrorResponse
from core.settings import Settings, get_settings
from core.store.db import Database

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.ensure_dirs()
        app.state.settings = settings
        app.state.database = Database(settings.resolved_database_url)
        app.state.dispatcher = Dispatcher(settings)
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        app.state.serving = Serving(settings)
        app.state.metrics = Metrics(app.state.database, app.state.serving.cache)
        app.state.authenticator = Authenticator(settings, app.state.database)
        app.state.rate_limiter = create_rate_limiter(settings)
        logger.info("api.start data_dir=%s database=%s", settings.data_dir, app.state.database.engine.url.render_as_string(hide_password=True))
        app.state.authenticator.log_mode()
        yield
        app.state.rate_limiter.close()
        app.state.dispatcher.close()
        app.state.database.dispose()
        logger.info("api.stop")

    app = FastAPI(
        title="FLYP finetuning service",
        version="0.1.0",
        description="Finetune CLIP-style models with FLYP on your labeled images, then classify with them.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(AuthMiddleware)
    # Added last, so it is outermost and also times requests that authentication rejects.
    app.add_middleware(MetricsMiddleware)
    app.include_router(health.router)
    # Every resource route needs a caller; AuthMiddleware has already rejected requests without a key.
    unauthorized = {401: {"model": ErrorResponse, "description": "The API key is missing, invalid or revoked."}}
    for router in (datasets.router, jobs.router, job_events.router, models.router, classify.router):
        app.include_router(router, dependencies=[Depends(get_principal)], responses=unauthorized)
    return app
