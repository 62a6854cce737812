"""Drawing (image, template) pairs the way FLYP's reference does.

The reference (github.com/locuslab/FLYP, src/datasets/laion.py and src/models/flyp_loss.py)
writes one CSV row per (image, template) pair, reads it with a shuffled DataLoader that keeps
the last partial batch, and takes ceil(N_images / batch_size) batches per epoch from one
iterator that restarts with a fresh shuffle when it runs out. So each time an image is drawn
it comes with a random template, without replacement across all pairs, and an epoch does not
line up with a pass over the pairs unless there is one template.
"""

from __future__ import annotations

import torch


class PairSampler:
    """Batches of (image index, template index) pairs, drawn without replacement, seeded.

    The state is the generator state from before the current shuffle plus the position in it,
    so a resumed run regenerates the same permutation instead of storing it.
    """

    def __init__(self, *, num_images: int, num_templates: int, batch_size: int, seed: int) -> None:
        self.num_images = num_images
        self.num_templates = num_templates
        self.batch_size = batch_size
        self._generator = torch.Generator().manual_seed(seed)
        self._state_before_shuffle = self._generator.get_state()
        self._permutation: torch.Tensor | None = None
        self._position = 0

    @property
    def num_pairs(self) -> int:
        return self.num_images * self.num_templates

    def next_batch(self) -> torch.Tensor:
        """Return the next batch as a long tensor (k, 2) of (image, template); k < batch_size only at a shuffle's end."""
        if self._permutation is None or self._position >= self.num_pairs:
            self._shuffle()
        end = min(self._position + self.batch_size, self.num_pairs)
        pairs = self._permutation[self._position : end].to(torch.int64)
        self._position = end
        # Pair p is image p // num_templates with template p % num_templates.
        return torch.stack([pairs // self.num_templates, pairs % self.num_templates], dim=1)

    def _shuffle(self) -> None:
        self._state_before_shuffle = self._generator.get_state()
        dtype = torch.int32 if self.num_pairs < 2**31 else torch.int64
        self._permutation = torch.randperm(self.num_pairs, generator=self._generator, dtype=dtype)
        self._position = 0

    def state_dict(self) -> dict:
        return {
            "state_before_shuffle": self._state_before_shuffle.clone(),
            "position": self._position,
            "shuffled": self._permutation is not None,
        }

    def load_state_dict(self, state: dict) -> None:
        self._generator.set_state(state["state_before_shuffle"])
        if state["shuffled"]:
            self._shuffle()
            self._position = state["position"]
        else:
            self._permutation = None
            self._position = 0
