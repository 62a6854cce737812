"""Serving parts without HTTP: batching parity, label heads, the model cache and in-flight counts."""

from __future__ import annotations

import asyncio

import pytest
import torch
from PIL import Image

from api.batching import BatchItem, ModelBatcher, run_batch
from api.model_cache import ModelCache
from api.serving import InFlight
from core.errors import InvalidRequestError
from core.images import decode_image
from core.inference import Classifier
from core.models.base_models import BaseModelRef, parse_base_models
from photo_datasets import photo_paths
from training_helpers import TrainedModel

MAX_IMAGE_PIXELS = 50_000_000


def photo_pixels(classifier: Classifier, count: int) -> list[torch.Tensor]:
    paths = photo_paths("val", "ants")[:count]
    return [classifier.pixels([decode_image(path.read_bytes(), max_pixels=MAX_IMAGE_PIXELS)]) for path in paths]


def unbatched(classifier: Classifier, pixels: torch.Tensor) -> torch.Tensor:
    item = BatchItem(classifier, pixels, classifier.head, future=None)  # type: ignore[arg-type]
    return run_batch(classifier, [item])[0]


async def batched(classifier: Classifier, requests: list[torch.Tensor], *, max_images: int) -> tuple[list[torch.Tensor], int]:
    batcher = ModelBatcher(max_images=max_images, wait_seconds=0.05, executor=None)
    results = await asyncio.gather(*(batcher.scores(classifier, pixels, classifier.head) for pixels in requests))
    return list(results), batcher.batches


def test_batched_equals_unbatched(trained_flyp: TrainedModel) -> None:
    classifier = Classifier.load(trained_flyp.model_dir)
    requests = photo_pixels(classifier, 6)

    results, batches = asyncio.run(batched(classifier, requests, max_images=32))

    assert batches == 1
    for pixels, together in zip(requests, results):
        alone = unbatched(classifier, pixels)
        torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
        assert together.argmax(dim=1).tolist() == alone.argmax(dim=1).tolist()


def test_batcher_splits_at_max_images(trained_flyp: TrainedModel) -> None:
    classifier = Classifier.load(trained_flyp.model_dir)
    requests = photo_pixels(classifier, 5)

    results, batches = asyncio.run(batched(classifier, requests, max_images=2))

    assert batches == 3
    assert len(results) == 5


def test_label_head_restricts_classes(trained_flyp: TrainedModel) -> None:
    classifier = Classifier.load(trained_flyp.model_dir)
    pixels = photo_pixels(classifier, 1)[0]
    features = classifier.image_features(pixels)
    restricted = classifier.label_head(["bees"])

    scores = classifier.scores(features, restricted.head)

    assert restricted.labels == ("bees",)
    assert restricted.zero_shot == (False,)
    assert scores.tolist() == [[pytest.approx(1.0)]]


def test_label_head_reorders_trained_rows(trained_flyp: TrainedModel) -> None:
    classifier = Classifier.load(trained_flyp.model_dir)
    features = classifier.image_features(photo_pixels(classifier, 1)[0])

    reordered = classifier.scores(features, classifier.label_head(["bees", "ants"]).head)
    original = classifier.scores(features, classifier.head)

    torch.testing.assert_close(reordered, original.flip(dims=[1]))


def test_label_head_marks_extra_labels_zero_shot(trained_flyp: TrainedModel) -> None:
    classifier = Classifier.load(trained_flyp.model_dir)
    extended = classifier.label_head(["ants", "bees", "wasps"])
    assert extended.zero_shot == (False, False, True)
    assert extended.head.weight.shape[0] == 3


def test_label_head_is_cached(trained_flyp: TrainedModel) -> None:
    classifier = Classifier.load(trained_flyp.model_dir)
    assert classifier.label_head(["ants", "wasps"]) is classifier.label_head(["ants", "wasps"])


@pytest.mark.parametrize(
    ("labels", "code"),
    [([], "invalid_labels"), (["ants", "ants"], "duplicate_label"), (["  "], "invalid_label"), (["x" * 201], "invalid_label")],
)
def test_label_head_rejects_bad_labels(trained_flyp: TrainedModel, labels: list[str], code: str) -> None:
    classifier = Classifier.load(trained_flyp.model_dir)
    with pytest.raises(InvalidRequestError) as raised:
        classifier.label_head(labels)
    assert raised.value.code == code


def test_base_model_needs_labels() -> None:
    classifier = Classifier.from_base("flyp-tiny", None)
    with pytest.raises(InvalidRequestError) as raised:
        classifier.label_head(None)
    assert raised.value.code == "labels_required"


def test_base_model_scores_sum_to_one() -> None:
    classifier = Classifier.from_base("flyp-tiny", None)
    label_head = classifier.label_head(["ants", "bees"], ["a photo of a {}."])
    scores = classifier.scores(classifier.image_features(classifier.pixels([Image.new("RGB", (80, 60), "red")])), label_head.head)
    assert scores.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert label_head.zero_shot == (True, True)


def test_cache_evicts_least_recent_over_budget(trained_flyp: TrainedModel) -> None:
    size = Classifier.load(trained_flyp.model_dir).memory_bytes()
    cache = ModelCache(max_bytes=size * 2, max_models=10)

    def load() -> Classifier:
        return Classifier.load(trained_flyp.model_dir)

    cache.get("model_a", load)
    cache.get("model_b", load)
    cache.get("model_a", load)
    cache.get("model_c", load)

    assert "model_b" not in cache
    assert "model_a" in cache
    assert "model_c" in cache
    assert cache.evictions == 1
    assert cache.size_bytes == 2 * size


def test_cache_loads_each_model_once(trained_flyp: TrainedModel) -> None:
    cache = ModelCache(max_bytes=2**40, max_models=10)
    loads: list[int] = []

    def load() -> Classifier:
        loads.append(1)
        return Classifier.load(trained_flyp.model_dir)

    for _ in range(5):
        cache.get("model_a", load)

    assert len(loads) == 1
    assert cache.hits == 4


def test_cache_keeps_model_larger_than_budget(trained_flyp: TrainedModel) -> None:
    cache = ModelCache(max_bytes=1, max_models=10)
    cache.get("model_a", lambda: Classifier.load(trained_flyp.model_dir))
    cache.get("model_b", lambda: Classifier.load(trained_flyp.model_dir))
    assert len(cache) == 1
    assert "model_b" in cache


def test_in_flight_wait_returns_when_released() -> None:
    async def scenario() -> tuple[bool, bool]:
        in_flight = InFlight()
        with in_flight.hold("model_a"):
            waiter = asyncio.create_task(in_flight.wait_idle("model_a", timeout=5))
            await asyncio.sleep(0.01)
            still_waiting = not waiter.done()
        return still_waiting, await waiter

    still_waiting, idle = asyncio.run(scenario())
    assert still_waiting
    assert idle


def test_in_flight_wait_times_out() -> None:
    async def scenario() -> bool:
        in_flight = InFlight()
        with in_flight.hold("model_a"):
            return await in_flight.wait_idle("model_a", timeout=0.01)

    assert asyncio.run(scenario()) is False


def test_parse_base_models_setting() -> None:
    parsed = parse_base_models("flyp-tiny:random, ViT-B-32:openai,,flyp-small")
    assert parsed == [BaseModelRef("flyp-tiny", None), BaseModelRef("ViT-B-32", "openai"), BaseModelRef("flyp-small", None)]
    assert parsed[1].id == "base:ViT-B-32:openai"


def test_prepare_keeps_one_decoded_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request of many large images must not hold all of them decoded at once."""
    import gc
    import weakref

    import api.serving
    from api.classify_request import ClassifyInput
    from api.serving import Serving
    from core.settings import Settings

    decoded: list[weakref.ref] = []
    alive_at_decode: list[int] = []

    def tracking_decode(payload: bytes, *, max_pixels: int) -> Image.Image:
        gc.collect()
        alive_at_decode.append(sum(reference() is not None for reference in decoded))
        image = Image.new("RGB", (96, 80), "green")
        decoded.append(weakref.ref(image))
        return image

    monkeypatch.setattr(api.serving, "decode_image", tracking_decode)
    classifier = Classifier.from_base("flyp-tiny", None)
    classify_in = ClassifyInput([b"x"] * 4, [None] * 4, top_k=1, labels=["ants"], templates=["a {}."], image_param="images")

    _, pixels = Serving(Settings())._prepare(classifier, classify_in)

    assert pixels.shape[0] == 4
    assert alive_at_decode == [0, 0, 0, 0]


def test_label_head_rejects_too_many_captions(monkeypatch: pytest.MonkeyPatch) -> None:
    """1000 zero-shot labels times 1000 templates is a million captions: reject before encoding any."""

    def fail_build(self: Classifier, labels: list[str], templates: list[str]) -> None:
        raise AssertionError(f"encoded {len(labels) * len(templates)} captions")

    monkeypatch.setattr(Classifier, "_build_label_head", fail_build)
    classifier = Classifier.from_base("flyp-tiny", None)
    labels = [f"label {index}" for index in range(1000)]
    templates = [f"a photo number {index} of a {{}}." for index in range(1000)]

    with pytest.raises(InvalidRequestError) as raised:
        classifier.label_head(labels, templates)

    assert raised.value.code == "too_many_captions"
    assert raised.value.param == "templates"


def test_cache_failed_load_leaves_no_lock() -> None:
    cache = ModelCache(max_bytes=1 << 30, max_models=4)

    def failing_load() -> Classifier:
        raise FileNotFoundError("weights missing")

    for _ in range(3):
        with pytest.raises(FileNotFoundError):
            cache.get("model_broken", failing_load)

    assert "model_broken" not in cache
    assert cache._load_locks == {}


def test_load_of_removed_model_dir_is_404(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from api.served_models import load_stored_model
    from core.errors import NotFoundError

    with pytest.raises(NotFoundError) as raised:
        load_stored_model("model_gone", tmp_path / "model_gone", device="cpu")

    assert raised.value.code == "model_not_found"
    assert "was deleted" in raised.value.message


def test_load_of_broken_model_dir_still_raises(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from api.served_models import load_stored_model
    from core.errors import NotFoundError
    from core.training.artifacts import METADATA_FILE

    (tmp_path / METADATA_FILE).write_text("{not json", encoding="utf-8")

    with pytest.raises(Exception) as raised:
        load_stored_model("model_broken", tmp_path, device="cpu")

    assert not isinstance(raised.value, NotFoundError)
