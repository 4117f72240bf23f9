"""Generative fill through the production loader with tiny inpainting models of the real classes:
exact preservation outside the mask, outpaint sizes, the crop-and-paste path, from_pipe reuse."""
from __future__ import annotations

import numpy as np
import pytest
from fill_helpers import picture, rect_mask, run_fill

from pipelines import fill
from pipelines.tiny.fill import flux_fill_channels

MASK_BOX = (100, 60, 180, 130)


@pytest.mark.parametrize("model, pipeline, in_channels", [
    ("tiny-sd15-inpaint", "StableDiffusionInpaintPipeline", 9),
    ("tiny-sdxl-inpaint", "StableDiffusionXLInpaintPipeline", 9),
    ("tiny-flux-fill", "FluxFillPipeline", flux_fill_channels(16, 8)),
    ("tiny-sd15", "StableDiffusionInpaintPipeline", 4),  # the text-to-image weights, through from_pipe
])
def test_each_family_fills_the_mask_and_keeps_every_other_byte(studio, source, model, pipeline, in_channels):
    mask = rect_mask(source.size, MASK_BOX)
    result = run_fill(studio, image=source, mask=mask, prompt="a red kite", model=model)
    out = result.artifacts[0]
    pixels, src, inside = np.asarray(out.image), np.asarray(source), np.asarray(mask) > 0

    assert out.image.size == source.size and out.image.mode == "RGB"
    assert np.array_equal(pixels[~inside], src[~inside]), "pixels outside the mask must be the source's bytes"
    assert (pixels[inside] != src[inside]).any(axis=-1).mean() > 0.5, "the masked area was not repainted"
    p = out.params
    assert p["pipeline"] == pipeline and p["task"] == "fill" and p["model"] == model
    assert (p["seed"], p["steps"], p["mode"], p["width"], p["height"]) == (7, 2, "fill", 320, 240)
    assert p["mask_pixels"] == 80 * 70 and p["license"]
    loaded = studio.models.get("fill", model).pipe
    denoiser = getattr(loaded, "unet", None) or loaded.transformer
    if in_channels:
        assert denoiser.config.in_channels == in_channels


def test_same_seed_gives_the_same_fill(studio, source):
    mask = rect_mask(source.size, MASK_BOX)
    a = run_fill(studio, image=source, mask=mask, seed=11).artifacts[0].image
    b = run_fill(studio, image=source, mask=mask, seed=11).artifacts[0].image
    c = run_fill(studio, image=source, mask=mask, seed=12).artifacts[0].image
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_text_to_image_weights_are_shared_not_copied_and_stay_untouched(studio, source):
    t2i = studio.models.get("text_to_image", "tiny-sd15").pipe
    scheduler_before, class_before = t2i.scheduler, type(t2i)
    assert studio.models.base_preset("fill", studio.models.preset("fill", "tiny-sd15")) == "tiny-sd15"
    filler = studio.models.get("fill", "tiny-sd15").pipe
    assert type(filler).__name__ == "StableDiffusionInpaintPipeline"
    assert filler.unet is t2i.unet and filler.vae is t2i.vae and filler.text_encoder is t2i.text_encoder
    assert filler.unet.conv_in.weight.data_ptr() == t2i.unet.conv_in.weight.data_ptr()
    run_fill(studio, image=source, mask=rect_mask(source.size, MASK_BOX), model="tiny-sd15")
    assert type(t2i) is class_before and t2i.scheduler is scheduler_before and filler.scheduler is scheduler_before
    assert studio.models.base_preset("fill", studio.models.preset("fill", "tiny-sd15-inpaint")) is None
    assert studio.models.get("fill", "tiny-sd15-inpaint").pipe.unet is not t2i.unet  # a dedicated model


def test_reuse_keeps_the_shared_models_precision(studio):
    """from_pipe would cast the shared modules to float32; the model layer passes the base's dtype."""
    import dataclasses

    import torch

    from pipelines.models import ModelManager

    bf16 = ModelManager(studio.settings.data_dir, dataclasses.replace(studio.models.runtime, dtype="bf16"),
                        offline=True)
    filler = bf16.get("fill", "tiny-sd15").pipe
    t2i = bf16.get("text_to_image", "tiny-sd15").pipe
    assert filler.unet is t2i.unet
    assert t2i.unet.dtype == torch.bfloat16 and t2i.vae.dtype == torch.bfloat16


@pytest.mark.parametrize("fields, size", [
    (dict(extend_left=64), (384, 240)),
    (dict(extend_right=40), (360, 240)),
    (dict(extend_top=24), (320, 264)),
    (dict(extend_bottom=100), (320, 340)),
    (dict(extend_left=8, extend_right=16, extend_top=32, extend_bottom=48), (344, 320)),
    (dict(aspect="16:9"), (427, 240)),
    (dict(aspect="9:16"), (320, 569)),
    (dict(aspect="1:1"), (320, 320)),
    (dict(aspect="21:9"), (560, 240)),
])
def test_extend_gives_the_exact_size_and_keeps_the_source_inside(studio, source, fields, size):
    result = run_fill(studio, image=source, mode="extend", steps=1, feather=6, **fields)
    out = result.artifacts[0]
    assert out.image.size == size
    p = out.params
    left, top, right, bottom = p["extend_left"], p["extend_top"], p["extend_right"], p["extend_bottom"]
    assert (left + 320 + right, top + 240 + bottom) == size
    # The source stays byte for byte except the seam band of `feather` px along each extended edge.
    band = 6
    x0, y0 = left + (band if left else 0), top + (band if top else 0)
    x1, y1 = left + 320 - (band if right else 0), top + 240 - (band if bottom else 0)
    kept = np.asarray(out.image)[y0:y1, x0:x1]
    assert np.array_equal(kept, np.asarray(source)[y0 - top:y1 - top, x0 - left:x1 - left])
    border = np.asarray(out.image)[:, :left] if left else np.asarray(out.image)[:top] if top else None
    if border is not None:
        assert border.std() > 0, "the new border was filled"


def test_a_small_mask_on_a_large_image_diffuses_a_crop_and_keeps_the_full_size(studio):
    big = picture(2000, 1500, seed=3)
    mask = rect_mask(big.size, (1400, 300, 1460, 340))
    result = run_fill(studio, image=big, mask=mask, steps=1)
    out = result.artifacts[0]
    assert out.image.size == (2000, 1500)
    (crop,) = out.params["crops"]
    x0, y0, x1, y1 = crop["box"]
    assert x0 <= 1400 and y0 <= 300 and x1 >= 1460 and y1 >= 340, "the crop holds the whole mask"
    assert (x1 - x0) * (y1 - y0) < 2000 * 1500 / 50, "the crop is a small part of the image"
    assert crop["model_size"] == [128, 128], "the model ran at its working size"
    pixels, src, inside = np.asarray(out.image), np.asarray(big), np.asarray(mask) > 0
    assert np.array_equal(pixels[~inside], src[~inside])
    assert any("crop" in n for n in result.notices)


def test_plan_crop_scales_large_masks_down_and_small_images_up():
    box, size = fill.plan_crop(fill.Box(0, 0, 3000, 2000), (3000, 2000), 512, 8)
    assert tuple(box) == (0, 0, 3000, 2000) and size[0] * size[1] <= 512 * 512 * 1.05 and size[0] > size[1]
    box, size = fill.plan_crop(fill.Box(10, 10, 40, 40), (100, 80), 512, 8)
    assert box == (0, 0, 100, 80) and size[0] % 8 == 0 and size[0] * size[1] > 100 * 80
    box, size = fill.plan_crop(fill.Box(0, 0, 100, 80), (100, 80), 512, 16, whole=True)
    assert box == (0, 0, 100, 80) and size == (96, 80)


def test_feathered_edge_stays_inside_the_mask():
    mask = rect_mask((64, 64), (16, 16, 48, 48))
    alpha = fill.feather_alpha(mask, 8)
    inside = np.asarray(mask) > 0
    assert (alpha[~inside] == 0).all() and alpha[32, 32] > 0.99 and 0 < alpha[16, 32] < 0.2
    assert np.array_equal(fill.feather_alpha(mask, 0), inside.astype(np.float32))


def test_remove_mode_asks_for_the_surroundings_and_repaints_fully(studio, source):
    mask = rect_mask(source.size, MASK_BOX)
    result = run_fill(studio, image=source, mask=mask, mode="remove", prompt="grass", negative_prompt="cat",
                      strength=0.4, steps=3)
    p = result.artifacts[0].params
    assert p["prompt_sent"] == f"grass, {fill.REMOVE_PROMPT}" and p["negative_prompt_sent"] == f"cat, {fill.REMOVE_NEGATIVE}"
    assert p["strength"] == 1.0 and any("raised to 1" in n for n in result.notices)
    inside = np.asarray(mask) > 0
    assert np.array_equal(np.asarray(result.artifacts[0].image)[~inside], np.asarray(source)[~inside])


def test_cancel_stops_the_fill_between_steps(studio, source):
    import threading

    from pipelines.errors import Cancelled
    from pipelines.progress import Progress
    from pipelines.runner import execute

    cancel, stages = threading.Event(), []

    def listener(event):
        stages.append(event.stage)
        if event.stage.startswith("denoising"):
            cancel.set()  # the visitor presses Cancel during the first step

    request = fill.Request(image=source, mask=rect_mask(source.size, MASK_BOX), model="tiny-sd15-inpaint", steps=4)
    with pytest.raises(Cancelled):
        execute(studio.models, "fill", request, Progress(listener, cancel))
    assert stages.count("denoising") == 1


def test_live_previews_of_the_crop_arrive_during_the_fill(studio, source):
    import dataclasses

    from pipelines.models import ModelManager
    from pipelines.progress import Progress
    from pipelines.runner import execute

    previews = ModelManager(studio.settings.data_dir, dataclasses.replace(studio.models.runtime, preview_every=1),
                            offline=True)
    events = []
    execute(previews, "fill", fill.Request(image=source, mask=rect_mask(source.size, MASK_BOX), prompt="a red door",
                                           model="tiny-sd15-inpaint", steps=3, seed=1), Progress(events.append))
    shown = [e for e in events if e.preview]
    assert len(shown) == 2 and all(e.stage.startswith("denoising") for e in shown)
    assert shown[0].preview[0].size[0] >= 64
