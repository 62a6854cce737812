"""Registration of the project's small open_clip architectures.

The configs in `core/model_configs/` use open_clip's own JSON format. After registration they
are selectable by name like any built-in architecture, for example
`open_clip.create_model("flyp-tiny")`.

Parameter counts (open_clip 3.3.0, counted with `sum(p.numel() for p in model.parameters())`):

- `flyp-tiny`: 12.0 M in total. The image tower (ModifiedResNet, layers [1, 1, 1, 1], width 32,
  64-pixel input) has 5.3 M, most of it in the attention pool over 1024 channels. The text
  tower (2 layers, width 128, context length 32) has 6.7 M, of which 6.3 M is the token
  embedding of the 49408-token CLIP vocabulary.
- `flyp-small`: 22.8 M in total. The image tower (ModifiedResNet, layers [2, 2, 2, 2], width
  32, 96-pixel input) has 6.9 M and the text tower (4 layers, width 256) has 15.9 M, of which
  12.6 M is the token embedding.
"""

from __future__ import annotations

import logging
from pathlib import Path

import open_clip

logger = logging.getLogger(__name__)

MODEL_CONFIG_DIR = Path(__file__).resolve().parent.parent / "model_configs"
PROJECT_ARCHITECTURES = tuple(sorted(path.stem for path in MODEL_CONFIG_DIR.glob("*.json")))


def register_architectures() -> None:
    """Add the project's configs to open_clip's registry; calling it again does nothing."""
    known = set(open_clip.list_models())
    if all(name in known for name in PROJECT_ARCHITECTURES):
        return
    open_clip.add_model_config(MODEL_CONFIG_DIR)
    logger.debug("models.registered architectures=%s", PROJECT_ARCHITECTURES)
