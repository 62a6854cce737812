"""Choosing the kept epoch and the WiSE-FT alpha from validation metrics."""

from __future__ import annotations

HIGHER_IS_BETTER = {"accuracy": True, "macro_f1": True, "loss": False}


def score(metrics: dict | None, metric: str) -> float | None:
    if not metrics or metrics.get(metric) is None or not metrics.get("num_images"):
        return None
    value = float(metrics[metric])
    return value if HIGHER_IS_BETTER[metric] else -value


def is_better(candidate: dict | None, incumbent: dict | None, metric: str) -> bool:
    """Return True if validation `candidate` beats `incumbent` on `metric`; a tie goes to the lower loss."""
    candidate_score = score(candidate, metric)
    if candidate_score is None:
        return False
    incumbent_score = score(incumbent, metric)
    if incumbent_score is None or candidate_score > incumbent_score:
        return True
    if candidate_score < incumbent_score or metric == "loss":
        return False
    candidate_loss, incumbent_loss = candidate.get("loss"), incumbent.get("loss")
    return candidate_loss is not None and incumbent_loss is not None and candidate_loss < incumbent_loss
