"""A bounded schemathesis run against the live API with keys on: no 5xx, and every response as documented.

The run generates requests from /openapi.json: the schema's own examples, boundary values
(the coverage phase) and random valid and invalid inputs (fuzzing). Path ids and
`dataset_id` are, half the time, ids of a dataset, job and model that the fuzzing tenant
owns, so requests reach the handlers and not only the 404 branch.

`positive_data_acceptance` is left out because the schema cannot express that a cursor must name an
existing row or that an upload must be an archive, so schema-valid requests that the API
rejects with 422 are correct here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.api.conftest import new_tenant_name
from tests.stack import Stack, distributed_stack
from tests.tenant_helpers import insert_key, tenant_client, upload

MAX_EXAMPLES = 12
MAX_SECONDS = 60
PHASES = "examples,coverage,fuzzing"
SEED = 20261204

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str) -> Iterator[Stack]:
    """Keys on, with limits too high for the run to reach, so requests get past them to the handlers."""
    queue = f"flyp-test-{uuid.uuid4().hex[:12]}"
    with distributed_stack(
        tmp_path_factory.mktemp("fuzz"),
        database_url=postgres_url,
        broker_url=redis_url,
        queue=queue,
        workers=0,
        auth="on",
        tenant_max_active_jobs="0",
        tenant_classify_per_minute="0",
    ) as running:
        yield running
    client = redis.Redis.from_url(redis_url)
    client.delete(queue)
    client.close()


def write_config(path: Path, ids: dict[str, str]) -> Path:
    """Write a schemathesis.toml that offers the tenant's real ids for ids and `dataset_id`."""
    # Every check runs except positive_data_acceptance, which would take each 4xx for a
    # generated valid-looking request as a failure. Set here and not with --checks on the
    # command line, where it would override the per-operation settings below.
    lines = ["[checks.positive_data_acceptance]", "enabled = false", "", "[dictionaries]"]
    lines += [f'{name} = {{ values = ["{value}"] }}' for name, value in ids.items()]
    lines += ["", "[parameters]"]
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in ids]
    lines += ['"body.dataset_id" = { dictionary = "dataset_id", probability = 0.5 }']
    # A multipart form carries every value as text. So the "invalid" values that schemathesis
    # 4.32.5 makes for the upload forms arrive as valid input: the boolean false for `name` as
    # the text "false", an empty `display_names` array as no field at all. The server is right
    # to accept them, so the negative-data check cannot judge these two operations.
    lines += ["", "[[operations]]", 'include-path-regex = "^/v1/datasets(/validate)?$"', 'include-method = "POST"']
    lines += ["checks.negative_data_rejection.enabled = false"]
    path.write_text("\n".join(lines) + "\n")
    return path


def schemathesis_command() -> list[str]:
    found = shutil.which("st", path=os.path.dirname(sys.executable))
    assert found, "schemathesis is not installed; pip install -e '.[dev]'"
    return [found]


def test_fuzz_finds_no_server_error(fuzz_stack: Stack, tiny_zip: Path, tmp_path: Path) -> None:
    key = insert_key(fuzz_stack, new_tenant_name())
    with tenant_client(fuzz_stack, key) as client:
        dataset = upload(client, tiny_zip).json()
        job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "model": {"architecture": "flyp-tiny"}}).json()
        # The job's model exists, pending, from the start; the job names it only once it succeeds.
        model = client.get("/v1/models").json()["data"][0]
    ids = {"dataset_id": dataset["id"], "job_id": job["id"], "model_id": model["id"]}
    config = write_config(tmp_path / "schemathesis.toml", ids)
    report = tmp_path / "report.json"

    result = subprocess.run(
        [
            *schemathesis_command(),
            "--config-file", str(config),
            "run", f"{fuzz_stack.base_url}/openapi.json",
            "--header", f"Authorization: Bearer {key}",
            "--phases", PHASES,
            "--max-examples", str(MAX_EXAMPLES),
            "--max-time", str(MAX_SECONDS),
            "--seed", str(SEED),
            "--workers", "1",
            "--generation-database", "none",
            "--request-timeout", "60",
            "--no-color",
            "--report", "json", "--report-json-path", str(report),
        ],
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS + 120,
        cwd=tmp_path,  # schemathesis keeps a cache folder in its working directory
    )
    summary = result.stdout[-8000:]
    assert result.returncode == 0, f"{summary}\n{result.stderr[-2000:]}\n{fuzz_stack.logs()}"
    assert "Server error" not in result.stdout, summary
    assert "generated" in summary, summary
    print(summary)
    print(json.dumps(json.loads(report.read_text()).get("summary", {}), indent=1)[:2000] if report.exists() else "no report")
