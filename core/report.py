"""The training report as a PNG: loss and validation accuracy per epoch, WiSE-FT curve, confusion matrix."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on workers; selecting a backend does not configure logging

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402


def render_report(metrics: dict, path: Path) -> None:
    """Draw the report of `metrics` (as train() returns them) into the PNG file `path`, atomically."""
    figure, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    try:
        _plot_losses(axes[0][0], metrics)
        _plot_accuracy(axes[0][1], metrics)
        _plot_wise_ft(axes[1][0], metrics)
        _plot_confusion(axes[1][1], metrics)
        figure.suptitle(f"method {metrics.get('method')}: validation accuracy {_selected_accuracy(metrics)}")
        figure.tight_layout()
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
        os.close(descriptor)
        try:
            figure.savefig(temporary, format="png", dpi=80)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    finally:
        plt.close(figure)


def _plot_losses(axis: Axes, metrics: dict) -> None:
    epochs = metrics.get("epochs") or []
    numbers = [entry["epoch"] for entry in epochs]
    axis.plot(numbers, [entry["train_loss"] for entry in epochs], marker="o", label="train loss")
    val_losses = [(entry["val"] or {}).get("loss") for entry in epochs]
    if any(value is not None for value in val_losses):
        axis.plot(numbers, val_losses, marker="s", label="validation loss (cross-entropy)")
    axis.set_title("loss per epoch")
    axis.set_xlabel("epoch")
    _finish(axis, has_data=bool(epochs))


def _plot_accuracy(axis: Axes, metrics: dict) -> None:
    epochs = metrics.get("epochs") or []
    accuracies = [(entry["val"] or {}).get("accuracy") for entry in epochs]
    axis.plot([entry["epoch"] for entry in epochs], accuracies, marker="o", label="validation accuracy")
    zeroshot = (metrics.get("zeroshot") or {}).get("val")
    if zeroshot:
        axis.axhline(zeroshot["accuracy"], color="gray", linestyle="--", label="zero-shot")
    best = metrics.get("best") or {}
    if best.get("epoch") and best.get("val"):
        axis.scatter([best["epoch"]], [best["val"]["accuracy"]], color="red", zorder=3, label="best epoch")
    axis.set_title("validation accuracy per epoch")
    axis.set_xlabel("epoch")
    axis.set_ylim(0, 1.02)
    _finish(axis, has_data=bool(epochs) or bool(zeroshot))


def _plot_wise_ft(axis: Axes, metrics: dict) -> None:
    wise_ft = metrics.get("wise_ft") or {}
    curve = wise_ft.get("curve") or []
    alphas = [entry["alpha"] for entry in curve]
    axis.plot(alphas, [(entry["val"] or {}).get("accuracy") for entry in curve], marker="o", label="validation")
    extra_names = sorted({name for entry in curve for name in (entry.get("extra") or {})})
    for name in extra_names:
        axis.plot(alphas, [((entry["extra"] or {}).get(name) or {}).get("accuracy") for entry in curve], marker=".", label=name)
    if wise_ft.get("selected_alpha") is not None:
        axis.axvline(wise_ft["selected_alpha"], color="red", linestyle=":", label="selected alpha")
    axis.set_title("WiSE-FT: accuracy against alpha (0 = zero-shot, 1 = finetuned)")
    axis.set_xlabel("alpha")
    axis.set_ylim(0, 1.02)
    _finish(axis, has_data=bool(curve))


def _plot_confusion(axis: Axes, metrics: dict) -> None:
    val = (metrics.get("selected") or {}).get("val")
    classes = metrics.get("classes") or []
    if not val:
        axis.set_title("confusion matrix (no validation images)")
        axis.axis("off")
        return
    matrix = val["confusion_matrix"]
    axis.imshow(matrix, cmap="Blues")
    if len(classes) <= 30:
        axis.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
        axis.set_yticks(range(len(classes)), classes, fontsize=8)
        for row, values in enumerate(matrix):
            for column, count in enumerate(values):
                axis.text(column, row, str(count), ha="center", va="center", fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title("confusion matrix of the selected model (validation)")


def _finish(axis: Axes, *, has_data: bool) -> None:
    if has_data:
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    else:
        axis.text(0.5, 0.5, "no training epochs", ha="center", va="center", transform=axis.transAxes)


def _selected_accuracy(metrics: dict) -> str:
    val = (metrics.get("selected") or {}).get("val")
    return "n/a" if not val else f"{val['accuracy']:.3f}"
