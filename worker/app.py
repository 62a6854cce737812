"""The Celery application that runs training jobs."""

from __future__ import annotations

from celery import Celery

from core.broker import celery_config
from core.settings import get_settings


def create_celery() -> Celery:
    # worker.lifecycle contains the signal handlers: preload, per-child set-up and the reaper.
    app = Celery("flyp", include=["worker.tasks", "worker.dataset_tasks", "worker.lifecycle"])
    app.conf.update(celery_config(get_settings()))
    return app


celery_app = create_celery()
