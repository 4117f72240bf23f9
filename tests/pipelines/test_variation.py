"""Variations (image-to-image) through the production loader on the text-to-image twins' own weights:
strength near 0 keeps the source, strength 1 ignores it, the same seed gives the same image, the view
shares the loaded weights, and the published file is a signed edit of its source."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipelines import variation
from pipelines.errors import InputError
from pipelines.runner import execute

SIZE = 128


def picture(seed: int = 0, size: int = SIZE) -> Image.Image:
    """Gradients, a disc and noise: a source whose every pixel differs from its neighbours."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    arr = np.stack([60 + 120 * x / size, 80 + 100 * y / size, 200 - 90 * y / size], -1) + rng.normal(0, 12, (size, size, 3))
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    ImageDraw.Draw(im).ellipse((size // 4 + 9 * seed % 40, size // 4, size // 2 + 20, size // 2 + 30), fill=(220, 60, 40))
    return im


def vary(studio, image, **fields):
    fields.setdefault("model", "tiny-sd15")
    fields.setdefault("steps", 2)
    fields.setdefault("seed", 7)
    fields.setdefault("prompt", "a lighthouse at dusk")
    return execute(studio.models, "variation", variation.Request(image=image, **fields))


def pixels(result) -> np.ndarray:
    return np.asarray(result.artifacts[0].image, np.float32)


def vae_round_trip(pipe, image: Image.Image, seed: int) -> np.ndarray:
    """The source through the model's VAE, its latent drawn as the pipeline draws it (first from the
    seed's generator): the image a variation that changes nothing would give."""
    import torch

    with torch.inference_mode():
        x = pipe.image_processor.preprocess(image).to(pipe.vae.dtype)
        latent = pipe.vae.encode(x).latent_dist.sample(generator=torch.Generator("cpu").manual_seed(seed))
        decoded = pipe.vae.decode(latent).sample
    return np.asarray(pipe.image_processor.postprocess(decoded, output_type="pil")[0], np.float32)


@pytest.mark.parametrize("model, pipeline", [
    ("tiny-sd15", "StableDiffusionImg2ImgPipeline"), ("tiny-sdxl", "StableDiffusionXLImg2ImgPipeline"),
    ("tiny-sd3", "StableDiffusion3Img2ImgPipeline"), ("tiny-flux", "FluxImg2ImgPipeline"),
])
def test_each_family_varies_on_the_loaded_text_to_image_weights(studio, model, pipeline):
    source = picture()
    out = vary(studio, source, model=model, amount="strong").artifacts[0]
    assert out.image.size == source.size and out.image.mode == "RGB"
    p = out.params
    assert (p["pipeline"], p["task"], p["strength"], p["amount"], p["steps_run"]) == (pipeline, "variation", 0.75,
                                                                                       "strong", 1)
    assert len(p["source_sha256"]) == 64 and p["license"]
    t2i = studio.models.get("text_to_image", model).pipe
    view = studio.models.get("variation", model).pipe
    assert studio.models.base_preset("variation", studio.models.preset("variation", model)) == model
    for name in ("vae", "unet", "transformer", "text_encoder"):
        if getattr(t2i, name, None) is not None:  # the same modules, so the same tensors: no second copy
            assert getattr(view, name) is getattr(t2i, name)
    denoiser = t2i.components.get("unet") or t2i.components["transformer"]
    shared = next(denoiser.parameters())
    assert next((view.components.get("unet") or view.components["transformer"]).parameters()) is shared


@pytest.mark.parametrize("model, scheduler, near", [("tiny-sd15", "ddim", 0.5), ("tiny-flux", "default", 0.15)])
def test_strength_near_zero_keeps_the_source_and_strength_one_ignores_it(studio, model, scheduler, near):
    """The tiny VAE has random weights: its round trip does not reproduce the source, and its posterior
    is wide (a trained VAE's is narrow), so "the source's content" is the same VAE's round trip of the
    source with the latent the seed draws. One denoising step of a random UNet at the lowest noise
    still moves SD's latents (a trained one barely does), so SD's bound is looser than Flux's."""
    source, other = picture(0), picture(1).transpose(Image.Transpose.ROTATE_180)
    common = dict(model=model, scheduler=scheduler, seed=3, guidance=1.0)
    kept = pixels(vary(studio, source, strength=0.02, steps=50, **common))
    round_trip = vae_round_trip(studio.models.get("variation", model).pipe, source, seed=3)
    repainted = pixels(vary(studio, source, strength=1.0, steps=2, **common))
    repainted_other = pixels(vary(studio, other, strength=1.0, steps=2, **common))

    assert np.abs(kept - round_trip).mean() < near * np.abs(repainted - round_trip).mean()
    sources_differ = np.abs(np.asarray(source, np.float32) - np.asarray(other, np.float32)).mean()
    # SD's schedule leaves sqrt(alpha_bar_T) ≈ 0.07 of the source at its noisiest step; flow models none.
    assert np.abs(repainted - repainted_other).mean() < 0.05 * sources_differ


def test_same_seed_gives_the_same_variation(studio):
    source = picture()
    a, b = pixels(vary(studio, source, seed=11)), pixels(vary(studio, source, seed=11))
    c = pixels(vary(studio, source, seed=12))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_a_published_variation_is_a_signed_edit_of_its_source(studio, tmp_path):
    from pipelines.media import InputFile

    path = tmp_path / "source.png"
    picture().save(path)
    request = variation.Request(image=str(path), prompt="", model="tiny-sd15", steps=3, seed=1, amount="subtle")
    outcome = studio.produce("variation", request, "variation-test",
                             inputs=[InputFile(str(path), "parentOf", "source image")])
    item = outcome.items[0]
    report = studio.publisher.verify(item.path)
    assert report.state in ("Valid", "Trusted")
    assert [i.get("relationship") for i in report.ingredients] == ["parentOf"]
    assert report.card["actions"][0] == "opened" and report.card["actions"][1].startswith("edited")
    assert item.params["strength"] == 0.35 and Image.open(item.path).size == (SIZE, SIZE)


def test_contract_declares_the_source_as_the_parent_and_the_tab():
    source = variation.CONTRACT.uploads()[0]
    assert (source.name, source.flag, source.relationship, source.kind) == ("image", "source", "parentOf", "image")
    assert variation.CONTRACT.tab == "Variations" and variation.CONTRACT.base_task == "text_to_image"


@pytest.mark.parametrize("fields, message", [
    (dict(image=Image.new("RGB", (5000, 4000))), "over this model's limit of 16,777,216 pixels"),
    (dict(strength=0.1, steps=4), "run no denoising step"),
    (dict(strength=1.5), "out of range"),
    (dict(amount="medium"), "not one of: custom, subtle, strong"),
    (dict(image="/nonexistent/source.png"), "file is missing"),
])
def test_bad_input_gets_a_message_before_anything_runs(studio, fields, message):
    request = variation.Request(**{"image": picture(), "prompt": "x", **fields})
    with pytest.raises(InputError, match=message):
        request.check(studio.models.preset("variation", "tiny-sd15"))


def test_shortcuts_and_a_large_source_are_scaled_for_the_model(studio):
    request = variation.Request(image=picture(size=600), amount="subtle", steps=4)
    request.check(studio.models.preset("variation", "tiny-sd15"))
    prepared = request.take_prepared()
    assert request.strength == 0.35 and prepared.work.size == (256, 256) and prepared.source_size == (600, 600)
    assert "scaled back" in prepared.notices[0]


def test_prompt_from_a_studio_outputs_recorded_parameters():
    params = {"task": "text_to_image", "prompt": "a red kite", "negative_prompt": "blur", "seed": 4}
    assert variation.prompt_from_params(params) == {"prompt": "a red kite", "negative_prompt": "blur"}
    assert variation.prompt_from_params({"prompt_sha256": "ab" * 32}) == {}  # withheld: nothing to take
    assert variation.prompt_from_params({"task": "variation", "prompt": "p", "strength": 0.75})["strength"] == 0.75
