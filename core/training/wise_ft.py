"""WiSE-FT: weight-space interpolation between the zero-shot and the finetuned model.

theta(alpha) = (1 - alpha) * theta_zeroshot + alpha * theta_finetuned over the whole state dict
(Wortsman et al., "Robust fine-tuning of zero-shot models", github.com/mlfoundations/wise-ft).
For FLYP both towers and logit_scale are interpolated and the head is rebuilt from the
interpolated text tower; for cross-entropy methods the linear head is interpolated too.
"""

from __future__ import annotations

import torch


def interpolate_state(zeroshot: dict[str, torch.Tensor], finetuned: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """Return theta(alpha); alpha 0 gives `zeroshot` exactly and alpha 1 gives `finetuned` exactly.

    torch.lerp computes start + w * (end - start) for w < 0.5 and end - (1 - w) * (end - start)
    otherwise, so both ends are exact. Integer buffers such as BatchNorm's num_batches_tracked
    cannot be mixed and come from the nearer end.
    """
    if zeroshot.keys() != finetuned.keys():
        missing = sorted(set(zeroshot) ^ set(finetuned))[:5]
        raise ValueError(f"state dicts differ in keys, for example {missing}")
    mixed = {}
    for name, start in zeroshot.items():
        end = finetuned[name]
        if start.is_floating_point():
            mixed[name] = torch.lerp(start, end.to(start.dtype), alpha)
        else:
            mixed[name] = (start if alpha < 0.5 else end).clone()
    return mixed
