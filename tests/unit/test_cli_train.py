"""`flyp train` as a subprocess on a tiny folder of real photos: exit status and report files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from photo_datasets import photo_paths

REPO_ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def build_folder(root: Path, *, train_per_class: int, val_per_class: int) -> Path:
    """Copy photos into root/train/<class>/ and root/val/<class>/, the layout a user would have."""
    for class_name in ("ants", "bees"):
        for split, photos in (("train", photo_paths("train", class_name)[:train_per_class]), ("val", photo_paths("val", class_name)[:val_per_class])):
            target = root / split / class_name
            target.mkdir(parents=True)
            for photo in photos:
                shutil.copyfile(photo, target / photo.name)
    return root


def run_flyp(arguments: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLYP_")}
    environment.update(PYTHONPATH=str(REPO_ROOT), FLYP_DATA_DIR=str(data_dir), FLYP_DEVICE="cpu", FLYP_LOG_LEVEL="WARNING")
    return subprocess.run([sys.executable, "-m", "cli", *arguments], cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    root = tmp_path_factory.mktemp("cli-train")
    data = build_folder(root / "photos", train_per_class=6, val_per_class=4)
    shifted = build_folder(root / "shifted", train_per_class=1, val_per_class=3)
    output = root / "run"
    result = run_flyp(
        ["train", "--data", str(data), "--output", str(output), "--architecture", "flyp-tiny", "--epochs", "2", "--batch-size", "4",
         "--learning-rate", "1e-3", "--templates", "simple", "--seed", "0", "--eval-data", f"shifted={shifted}"],
        root / "var",
    )
    return result, output


def test_cli_train_exits_zero(trained: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, _ = trained
    assert result.returncode == 0, result.stderr[-4000:]


def test_cli_train_writes_report_png(trained: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, output = trained
    assert (output / "report.png").read_bytes()[:8] == PNG_SIGNATURE
    assert (output / "model" / "report.png").read_bytes() == (output / "report.png").read_bytes()


def test_cli_train_report_json_has_metrics(trained: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, output = trained
    report = json.loads((output / "report.json").read_text())
    assert report["method"] == "flyp"
    assert report["hyperparameters"]["steps_per_epoch"] == 3  # 12 training photos, batch 4
    assert report["metrics"]["zeroshot"]["val"]["num_images"] == 8
    assert [entry["epoch"] for entry in report["metrics"]["epochs"]] == [1, 2]
    assert report["metrics"]["wise_ft"]["alphas"] == [round(0.1 * index, 1) for index in range(11)]
    assert set(report["metrics"]["selected"]["val"]) >= {"accuracy", "macro_f1", "per_class_accuracy", "confusion_matrix", "loss"}


def test_cli_train_reports_eval_data_per_alpha(trained: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, output = trained
    curve = json.loads((output / "report.json").read_text())["metrics"]["wise_ft"]["curve"]
    assert [entry["extra"]["shifted"]["num_images"] for entry in curve] == [6] * 11


def test_cli_train_prints_summary(trained: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, output = trained
    summary = json.loads(result.stdout)
    assert summary["model_dir"] == str(output / "model")
    assert 0.0 <= summary["selected_val_accuracy"] <= 1.0


def test_cli_train_rejects_existing_output(tmp_path: Path) -> None:
    data = build_folder(tmp_path / "photos", train_per_class=2, val_per_class=1)
    (tmp_path / "run").mkdir()
    result = run_flyp(["train", "--data", str(data), "--output", str(tmp_path / "run"), "--architecture", "flyp-tiny"], tmp_path / "var")
    assert result.returncode == 2
    assert "already exists" in result.stderr
