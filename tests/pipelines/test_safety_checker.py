"""The safety checker SD 1.5 and its inpainting model ship: its verdict is read, a blanked image is
withheld with a notice, the operator's setting turns it off, and outputs record which was the case.

The real SD 1.5 presets run here on their tiny twins (a folder per preset in STUDIO_MODEL_DIR's
layout), which carry diffusers' own StableDiffusionSafetyChecker with random weights. Its verdict is
set through its concept embeddings and thresholds, as the published checker's are data too.
"""
from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines import fill
from pipelines.device import Runtime
from pipelines.models import ModelManager
from pipelines.progress import Progress
from pipelines.runner import execute
from pipelines.text_to_image import Request
from pipelines.tiny import ensure_built

def picture(w: int, h: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(w * h).integers(0, 256, (h, w, 3), dtype=np.uint8))


def rect_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


REQUEST = dict(prompt="a lighthouse at dusk", model="sd15", seed=21, steps=2, width=256, height=256, batch=2,
               scheduler="euler")
SEEDS = [21, 22]


def _checker_embeds(folder, images):
    """The checker's image embeddings of finished images, as the pipeline computes them."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPImageProcessor

    checker = StableDiffusionSafetyChecker.from_pretrained(folder / "safety_checker")
    processor = CLIPImageProcessor.from_pretrained(folder / "feature_extractor")
    with torch.no_grad():
        pooled = checker.vision_model(processor(images, return_tensors="pt").pixel_values)[1]
        return checker, torch.nn.functional.normalize(checker.visual_projection(pooled), dim=-1)


def _set_concepts(checker, folder, direction, threshold: float) -> None:
    """Every concept embedding along `direction`, every threshold `threshold`; saved into the folder."""
    with torch.no_grad():
        checker.concept_embeds.copy_(direction.expand_as(checker.concept_embeds))
        checker.concept_embeds_weights.fill_(threshold)
    checker.save_pretrained(folder / "safety_checker")


@pytest.fixture(scope="module")
def model_dir(studio, tmp_path_factory):
    """STUDIO_MODEL_DIR with the tiny SD 1.5 twins as `sd15`, `sd15-inpaint` and their previewer `taesd`."""
    root = tmp_path_factory.mktemp("models")
    tiny = studio.settings.data_dir / "models" / "tiny"
    for preset, family in (("sd15", "sd15"), ("sd15-inpaint", "sd15-inpaint"), ("taesd", "taesd")):
        shutil.copytree(ensure_built(family, tiny), root / preset)
    return root


def manager(studio, model_dir, **runtime) -> ModelManager:
    return ModelManager(studio.settings.data_dir / "safety", Runtime(dtype="fp32", **runtime), model_dir=model_dir,
                        offline=True)


@pytest.fixture(scope="module")
def unchecked(studio, model_dir):
    """The batch made with the checker turned off by the operator's setting."""
    return execute(manager(studio, model_dir, safety_checker=False), "text_to_image", Request(**REQUEST))


def test_the_twin_ships_the_checker_and_it_passes_ordinary_images(studio, model_dir):
    result = execute(manager(studio, model_dir), "text_to_image", Request(**REQUEST))
    pipe = manager(studio, model_dir).get("text_to_image", "sd15").pipe
    assert type(pipe.safety_checker).__name__ == "StableDiffusionSafetyChecker"
    assert pipe.feature_extractor.crop_size == {"height": 224, "width": 224}
    assert [a.params["seed"] for a in result.artifacts] == SEEDS
    assert all(a.params["safety_checker"] == "on" for a in result.artifacts)
    assert not any("withheld" in n for n in result.notices)


def test_turned_off_by_the_operator_it_is_not_loaded_and_outputs_say_off(studio, model_dir, unchecked):
    loaded = manager(studio, model_dir, safety_checker=False).get("text_to_image", "sd15")
    assert loaded.pipe.components["safety_checker"] is None
    assert [a.params["safety_checker"] for a in unchecked.artifacts] == ["off", "off"]


def test_models_without_a_checker_record_none(studio):
    result = execute(studio.models, "text_to_image", Request(prompt="a fox", model="tiny-sdxl", steps=1, width=128,
                                                             height=128))
    assert result.artifacts[0].params["safety_checker"] == "none"


def test_a_flagged_image_is_withheld_and_the_notice_names_it(studio, model_dir, unchecked):
    folder = model_dir / "sd15"
    checker, embeds = _checker_embeds(folder, [a.image for a in unchecked.artifacts])
    # concepts along what tells image 2 from image 1, threshold 0: image 2 scores above it, image 1 below
    direction = torch.nn.functional.normalize(embeds[1] - embeds[0], dim=-1)
    scores = embeds @ direction
    assert scores[1] > 0.005 > -0.005 > scores[0]  # clear of the checker's rounding to 3 decimals
    _set_concepts(checker, folder, direction, 0.0)
    try:
        result = execute(manager(studio, model_dir), "text_to_image", Request(**REQUEST))
    finally:
        _set_concepts(checker, folder, torch.ones(()), 1.0)
    (kept,) = result.artifacts
    assert kept.params["seed"] == 21 and kept.params["safety_checker"] == "on"
    np.testing.assert_array_equal(np.asarray(kept.image), np.asarray(unchecked.artifacts[0].image))
    withheld = [n for n in result.notices if "withheld" in n]
    assert withheld == [next(n for n in result.notices if n.startswith("Image 2 of 2 (seed 22) was withheld"))]
    assert "safety checker" in withheld[0]


def test_drafts_are_checked_too_and_a_whole_batch_can_be_withheld(studio, model_dir):
    folder = model_dir / "sd15"
    checker, _ = _checker_embeds(folder, [picture(64, 64)])
    _set_concepts(checker, folder, torch.ones(()), -2.0)  # below any cosine: everything is flagged
    try:
        draft = dataclasses.replace(Runtime(dtype="fp32"), draft_decode=True)
        models = ModelManager(studio.settings.data_dir / "safety", draft, model_dir=model_dir, offline=True)
        result = execute(models, "text_to_image", Request(**REQUEST))
    finally:
        _set_concepts(checker, folder, torch.ones(()), 1.0)
    assert result.artifacts == []
    assert any(n.startswith("Draft:") for n in result.notices)
    withheld = [n.split(":")[0] for n in result.notices if "withheld" in n]
    assert withheld == ["Image 1 of 2 (seed 21) was withheld", "Image 2 of 2 (seed 22) was withheld"]


def test_a_flagged_fill_is_withheld(studio, model_dir):
    folder = model_dir / "sd15-inpaint"
    checker, _ = _checker_embeds(folder, [picture(64, 64)])
    request = dict(image=picture(160, 128), mask=rect_mask((160, 128), (40, 30, 100, 90)), prompt="a red door",
                   model="sd15-inpaint", steps=2, seed=3)
    passed = execute(manager(studio, model_dir), "fill", fill.Request(**request), Progress())
    assert passed.artifacts[0].params["safety_checker"] == "on"
    _set_concepts(checker, folder, torch.ones(()), -2.0)
    try:
        result = execute(manager(studio, model_dir), "fill", fill.Request(**request), Progress())
    finally:
        _set_concepts(checker, folder, torch.ones(()), 1.0)
    assert result.artifacts == []
    assert any(n.startswith("The image was withheld") and "safety checker" in n for n in result.notices)


def test_the_setting_lands_in_the_signed_manifest(studio, unchecked):
    (published,) = studio.publisher.publish(unchecked.artifacts[0], task="text_to_image", session_id="safety-test")
    report = studio.publisher.verify(published.path)
    assert report.state in ("Valid", "Trusted")
    assert "'safety_checker': 'off'" in str(report.to_dict())
