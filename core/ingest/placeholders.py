"""Flagging decoded images that look like placeholders rather than photos.

Image hosts serve a "not found" graphic in place of deleted photos, so scraped datasets
contain files that decode fine but show no class. Such graphics use a handful of flat
colours; photos, even product shots on white, use thousands. The check only flags: line
drawings and screenshots look the same to it, so rejecting would drop real datasets.
"""

from __future__ import annotations

from PIL import Image

MAX_PLACEHOLDER_COLORS = 64
MIN_DOMINANT_SHARE = 0.5
_SAMPLE_SIDE = 256


def placeholder_message(image: Image.Image) -> str | None:
    """Return why `image` (RGB) looks like a placeholder, or None when it looks like a photo.

    Colours are counted on a nearest-neighbour sample of at most 256x256 pixels, which keeps
    the cost constant and creates no blended colours.
    """
    sample = image.resize((min(image.width, _SAMPLE_SIDE), min(image.height, _SAMPLE_SIDE)), Image.Resampling.NEAREST)
    colors = sample.getcolors(maxcolors=MAX_PLACEHOLDER_COLORS)
    if colors is None:
        return None
    dominant_share = max(count for count, _ in colors) / (sample.width * sample.height)
    if dominant_share < MIN_DOMINANT_SHARE:
        return None
    return (
        f"the image has only {len(colors)} distinct colours and {dominant_share:.0%} of it is one colour, "
        "so it looks like a placeholder, icon or blank graphic rather than a photo; "
        "check that it shows its class, and remove it if not"
    )
