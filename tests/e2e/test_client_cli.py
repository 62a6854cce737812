"""The Python client and the remote CLI commands through the main path, on the shared stack."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from client import FlypClient
from tests.stack import Stack, free_port
from tests.tenant_helpers import build_tiny_zip, flyp_command

pytestmark = pytest.mark.e2e


def flyp_json(stack: Stack, arguments: list[str]) -> dict:
    result = flyp_command([*arguments, "--url", stack.base_url], stack.environment)
    assert result.returncode == 0, f"flyp {' '.join(arguments)}: {result.stderr}\n{stack.logs()}"
    return json.loads(result.stdout)


def test_cli_main_path(stack: Stack, tmp_path: Path) -> None:
    archive = build_tiny_zip(tmp_path / "tiny.zip", per_class=4)
    dataset = flyp_json(stack, ["datasets", "upload", str(archive), "--name", "cli"])
    assert dataset["status"] == "ready"

    job = flyp_json(
        stack,
        ["jobs", "create", "--dataset", dataset["id"], "--architecture", "flyp-tiny", "--epochs", "1", "--batch-size", "2",
         "--hyperparameters", '{"templates": "simple"}'],
    )
    assert job["hyperparameters"]["epochs"] == 1

    watched = flyp_command(["jobs", "watch", job["id"], "--url", stack.base_url], stack.environment)
    assert watched.returncode == 0, f"{watched.stderr}\n{stack.logs()}"
    finished = json.loads(watched.stdout)
    assert finished["status"] == "succeeded"
    assert "Job succeeded." in watched.stderr
    assert "step" in watched.stderr  # the progress bar's unit

    listed = flyp_json(stack, ["jobs", "list", "--limit", "100"])
    assert job["id"] in [item["id"] for item in listed["data"]]

    image = tmp_path / "image.jpg"
    with zipfile.ZipFile(archive) as opened:
        image.write_bytes(opened.read("cats/0.jpg"))
    result = flyp_json(stack, ["classify", finished["model_id"], str(image), "--top-k", "1"])
    assert result["data"][0]["filename"] == "image.jpg"
    assert len(result["data"][0]["predictions"]) == 1

    extended = flyp_json(stack, ["classify", finished["model_id"], str(image), "--label", "cats", "--label", "a red car"])
    predictions = {prediction["label"]: prediction for prediction in extended["data"][0]["predictions"]}
    assert set(predictions) == {"cats", "a red car"}
    assert predictions["a red car"]["zero_shot"] is True
    assert predictions["cats"]["zero_shot"] is False

    cancelled = flyp_command(["jobs", "cancel", job["id"], "--url", stack.base_url], stack.environment)
    assert cancelled.returncode == 1
    assert "job_not_cancellable" in cancelled.stderr

    with FlypClient(stack.base_url) as client:
        updates = list(client.watch(job["id"]))
    events = [event for update in updates for event in update.events]
    assert updates[-1].finished
    assert events[0]["message"] == "Job created and queued."
    assert events[-1]["message"] == "Job succeeded."
    assert [event["id"] for event in events] == sorted({event["id"] for event in events})


def test_cli_models_download_and_delete(stack: Stack, tmp_path: Path) -> None:
    archive = build_tiny_zip(tmp_path / "tiny.zip", per_class=4)
    with FlypClient(stack.base_url) as client:
        dataset = client.upload_dataset(archive)
        job = client.create_job(dataset["id"], architecture="flyp-tiny", hyperparameters={"epochs": 1, "batch_size": 2, "templates": "simple"})
        model_id = client.wait(job["id"])["model_id"]
    assert model_id

    listed = flyp_json(stack, ["models", "list", "--limit", "100"])
    kinds = {model["id"]: model["kind"] for model in listed["data"]}
    assert kinds[model_id] == "finetuned"
    assert "base" in kinds.values()
    assert flyp_json(stack, ["models", "get", model_id])["classes"] == ["cats", "dogs"]

    target = tmp_path / "model.zip"
    downloaded = flyp_command(["models", "download", model_id, "--output", str(target), "--url", stack.base_url], stack.environment)
    assert downloaded.returncode == 0, downloaded.stderr
    with zipfile.ZipFile(target) as opened:
        assert any(name.endswith(".safetensors") for name in opened.namelist())
    assert not target.with_name("model.zip.partial").exists()

    into_directory = flyp_command(["models", "download", model_id, "--output", str(tmp_path), "--url", stack.base_url], stack.environment)
    assert into_directory.returncode == 0, into_directory.stderr
    assert zipfile.is_zipfile(tmp_path / f"{model_id}.zip")
    assert not list(tmp_path.parent.glob(f"{tmp_path.name}.partial"))

    unwritable = tmp_path / "missing-directory" / "model.zip"
    failed = flyp_command(["models", "download", model_id, "--output", str(unwritable), "--url", stack.base_url], stack.environment)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert str(unwritable) in failed.stderr

    assert flyp_json(stack, ["models", "delete", model_id])["deleted"] is True
    after_delete = flyp_command(["models", "get", model_id, "--url", stack.base_url], stack.environment)
    assert after_delete.returncode == 1
    assert "model_not_found" in after_delete.stderr


def test_cli_unknown_job_exit_1(stack: Stack) -> None:
    result = flyp_command(["jobs", "get", "job_missing", "--url", stack.base_url], stack.environment)
    assert result.returncode == 1
    assert "404 job_not_found" in result.stderr


@pytest.mark.parametrize("name", ["missing.png", "a-directory"])
def test_cli_classify_unreadable_image_exit_1(stack: Stack, tmp_path: Path, name: str) -> None:
    (tmp_path / "a-directory").mkdir()
    path = tmp_path / name

    result = flyp_command(["classify", "base:flyp-tiny:random", str(path), "--label", "ants", "--url", stack.base_url], stack.environment)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr


def test_health_commands(stack: Stack) -> None:
    assert flyp_command(["health", "api", "--url", stack.base_url], stack.environment).returncode == 0
    assert flyp_command(["health", "worker"], stack.environment).returncode == 0
    dead = flyp_command(["health", "api", "--url", f"http://127.0.0.1:{free_port()}"], stack.environment)
    assert dead.returncode == 1
