"""The character/style reference steers panels through an IP-Adapter preset of its own (the tiny one,
built in h94/IP-Adapter's layout and loaded by `load_ip_adapter`), never through the shared plain
pipeline; its strength is the request's; it stays an ingredient of every panel and export."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
from story_helpers import SMALL, finish
from PIL import Image

from pipelines.errors import InputError
from pipelines.runner import execute
from pipelines.text_to_image import Request

OWNER = "storyboard-reference-session-0005"


def picture(seed: int, size: int = 96) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def models(studio):
    """A model layer of its own (same data folder, same loader), so 'before the adapter was loaded'
    really is before, whatever other tests loaded into the studio's cache."""
    from pipelines.models import ModelManager

    return ModelManager(studio.settings.data_dir, studio.models.runtime)


def image_of(models, model: str, reference=None, strength: float = 0.6) -> tuple[np.ndarray, dict]:
    request = Request(prompt="a lighthouse keeper", model=model, seed=11, steps=2, width=64, height=64,
                      reference=reference, reference_strength=strength)
    [artifact] = execute(models, "text_to_image", request).artifacts
    return np.asarray(artifact.image).astype(int), artifact.params


def test_the_reference_steers_the_image_and_the_shared_pipeline_is_untouched(models):
    plain_before, _ = image_of(models, "tiny-sd15")
    a, params = image_of(models, "tiny-sd15-ip-adapter", picture(1))
    b, _ = image_of(models, "tiny-sd15-ip-adapter", picture(2))
    zero, _ = image_of(models, "tiny-sd15-ip-adapter", picture(1), strength=0.0)
    none, _ = image_of(models, "tiny-sd15-ip-adapter")
    plain_after, _ = image_of(models, "tiny-sd15")

    assert np.abs(a - b).mean() > 0.5 and np.abs(a - plain_before).mean() > 2      # A, B and none all differ
    assert np.abs(zero - plain_before).max() <= 1 and np.abs(none - plain_before).max() <= 1
    assert np.array_equal(plain_before, plain_after)                             # the shared pipeline: byte for byte
    plain = models.get("text_to_image", "tiny-sd15").pipe
    adapted = models.get("text_to_image", "tiny-sd15-ip-adapter").pipe
    assert plain.unet is not adapted.unet and plain.image_encoder is None
    assert not any("IPAdapter" in type(p).__name__ for p in plain.unet.attn_processors.values())
    assert any("IPAdapter" in type(p).__name__ for p in adapted.unet.attn_processors.values())
    assert params["reference_strength"] == 0.6 and len(params["reference_sha256"]) == 64
    assert params["model"] == "tiny-sd15-ip-adapter" and params["reference_size"] == [96, 96]


def test_two_strengths_on_one_shared_adapter_pipeline_do_not_mix(models):
    """Strength travels with each request: nothing is left set on the shared adapter pipeline."""
    half, _ = image_of(models, "tiny-sd15-ip-adapter", picture(1), strength=0.5)
    full, _ = image_of(models, "tiny-sd15-ip-adapter", picture(1), strength=1.0)
    again, _ = image_of(models, "tiny-sd15-ip-adapter", picture(1), strength=0.5)
    assert np.abs(half - full).mean() > 0.5 and np.array_equal(half, again)


@pytest.mark.parametrize("changes, message", [
    (dict(reference_strength=1.5), "The reference strength 1.5 is out of range: use 0"),
    (dict(reference_strength="a lot"), "The reference strength must be a number from 0 to 1"),
    (dict(reference="anna.png"), "The reference must be a picture"),
    (dict(model="tiny-sd3"), "cannot follow a reference image. Choose one that can: tiny-sd15-ip-adapter"),
])
def test_bad_reference_requests_get_a_clear_message(models, changes, message):
    request = Request(**{**dict(prompt="a keeper", model="tiny-sd15-ip-adapter", steps=2, width=64, height=64,
                                reference=picture(1)), **changes})
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        request.check(models.preset("text_to_image", request.model))


def test_board_panels_follow_the_reference_and_stay_verifiable(boards, studio, tmp_path):
    ref = tmp_path / "anna.png"
    picture(5, 128).save(ref)
    board = boards.create(OWNER, "- a keeper on the pier\n- the keeper looks up", reference=str(ref),
                          reference_strength=0.8, **SMALL)
    done, _ = finish(boards.generate_panels(OWNER, board.id))
    assert "Made 2 of 2" in done.message
    assert any("follow the reference image at strength 0.8" in n and "IP-Adapter" in n for n in done.notices)
    board = boards.get(OWNER, board.id)
    for shot in board.shots:
        params = studio.gallery.get(OWNER, shot.panel_id).params
        assert params["model"] == "tiny-sd15-ip-adapter" and params["reference_strength"] == 0.8
        report = studio.publisher.verify(shot.panel_path).to_dict()
        assert report["state"] in ("Valid", "Trusted")
        assert [(i["title"], i["relationship"]) for i in report["ingredients"]] == [("reference: anna.png", "inputTo")]
    export, _ = finish(boards.export(OWNER, board.id, "zip"))
    assert studio.publisher.verify(export.items[0].path).state in ("Valid", "Trusted")
    with zipfile.ZipFile(export.items[0].path) as box:
        assert len([n for n in box.namelist() if n.startswith("panels/")]) == 2


def test_a_model_without_an_adapter_records_the_reference_and_says_so(boards, studio, tmp_path):
    ref = tmp_path / "style.png"
    picture(6, 128).save(ref)
    board = boards.create(OWNER, "- a red door", model="tiny-sd3", reference=str(ref))
    board = boards.update_settings(OWNER, board.id, width=128, height=80, steps=2)
    done, _ = finish(boards.generate_panels(OWNER, board.id))
    assert "Made 1 of 1" in done.message
    [note] = [n for n in done.notices if "cannot follow it" in n]
    assert "tiny-sd15-ip-adapter" in note and "recorded as an ingredient" in note
    shot = boards.get(OWNER, board.id).shots[0]
    assert studio.gallery.get(OWNER, shot.panel_id).params["model"] == "tiny-sd3"
    report = studio.publisher.verify(shot.panel_path).to_dict()
    assert [i["title"] for i in report["ingredients"]] == ["reference: style.png"]
    with pytest.raises(InputError, match="The reference strength 2 is out of range"):
        boards.update_settings(OWNER, board.id, reference_strength=2)


def test_the_tiny_sdxl_adapter_loads_the_same_way(models):
    plain, _ = image_of(models, "tiny-sdxl")
    a, params = image_of(models, "tiny-sdxl-ip-adapter", picture(1))
    none, _ = image_of(models, "tiny-sdxl-ip-adapter")
    assert np.abs(a - plain).mean() > 2 and np.abs(none - plain).max() <= 1
    assert params["pipeline"] == "StableDiffusionXLPipeline" and params["reference_strength"] == 0.6


@pytest.mark.parametrize("spec, message", [
    ({"tiny": "sd15-ip-adapter", "subfolder": "models", "weight_name": "a.safetensors", "image_encoder": "image_encoder",
      "scale": 0.5}, "unknown ip_adapter keys"),
    ({"subfolder": "models", "weight_name": "a.safetensors", "image_encoder": "image_encoder"},
     "exactly one of repo, local_dir, tiny"),
    ({"repo": "h94/IP-Adapter", "subfolder": "models", "image_encoder": "image_encoder"}, "needs weight_name"),
    ("h94/IP-Adapter", "ip_adapter must be a table"),
])
def test_bad_ip_adapter_tables_are_rejected(spec, message):
    from pipelines import registry
    from pipelines.errors import PresetError
    from pipelines.presets import parse_presets

    entry = {"label": "x", "tier": "tiny", "family": "sd15", "tiny": "sd15", "license": "MIT", "commercial_use": True,
             "ip_adapter": spec}
    with pytest.raises(PresetError, match=message):
        parse_presets("text_to_image", {"p": entry}, registry.request_fields("text_to_image"))


def test_reference_twins_are_not_offered_in_the_model_pickers(studio):
    """An adapter preset is reached through its plain twin (a board with a reference); offered in a
    picker it would only act as the plain model, since no other tab takes a reference."""
    from studio.widgets import preset_choices

    names = [name for _, name in preset_choices(studio, "text_to_image")]
    assert "tiny-sd15" in names and "sd15" in names
    assert not [n for n in names if studio.models.preset("text_to_image", n).ip_adapter]
    assert "tiny-sd15-ip-adapter" in studio.models.presets("text_to_image")   # still a preset the API can name
