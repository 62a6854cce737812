"""Helpers for tests that run the service with API keys: keys from the CLI, tiny datasets."""

from __future__ import annotations

import io
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
from PIL import Image

from tests.stack import REPO_ROOT, Stack


def flyp_command(arguments: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `flyp ARGUMENTS` and return the finished process with its output."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *arguments], cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def create_key(stack: Stack, tenant: str) -> str:
    """Create an API key for `tenant` with `flyp keys create` and return the key."""
    result = flyp_command(["keys", "create", "--tenant", tenant], stack.environment)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def insert_key(stack: Stack, tenant: str) -> str:
    """Create an API key for `tenant` in the stack's database directly: faster than `flyp keys create`."""
    from core.store import tenants as tenant_store
    from core.store.db import Database

    database = Database(stack.environment["FLYP_DATABASE_URL"])
    try:
        with database.session() as session:
            _, new_key = tenant_store.create_key(session, tenant_store.ensure_tenant(session, tenant))
    finally:
        database.dispose()
    return new_key.token


def key_id_of(stack: Stack, tenant: str) -> str:
    """Return the id of the tenant's only key, from `flyp keys list`."""
    result = flyp_command(["keys", "list", "--tenant", tenant], stack.environment)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) == 1, result.stdout
    return rows[0][0]


def tenant_client(stack: Stack, key: str | None, **headers: str) -> httpx.Client:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.Client(base_url=stack.base_url, headers=headers, timeout=120)


def build_tiny_zip(destination: Path, *, per_class: int = 3, seed: int = 0) -> Path:
    """Zip two class folders of small random-noise JPEGs; the same seed gives the same bytes."""
    generator = random.Random(seed)
    with zipfile.ZipFile(destination, "w") as archive:
        for label in ("cats", "dogs"):
            for index in range(per_class):
                image = Image.frombytes("RGB", (48, 48), bytes(generator.randrange(256) for _ in range(48 * 48 * 3)))
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=70)
                info = zipfile.ZipInfo(f"{label}/{index}.jpg", date_time=(2024, 1, 1, 0, 0, 0))
                archive.writestr(info, buffer.getvalue())
    return destination


def upload(client: httpx.Client, archive: Path) -> httpx.Response:
    with open(archive, "rb") as handle:
        return client.post("/v1/datasets", files={"file": (archive.name, handle, "application/zip")}, data={"name": archive.stem})
