"""A style reference uploaded with a text-to-image request (Concept art, the API): it steers the image
through the preset's IP-Adapter twin, and the published file names it as an ingredient (inputTo)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipelines import text_to_image
from pipelines.errors import InputError
from pipelines.media import InputFile

COMMON = dict(prompt="a castle on a hill", model="tiny-sd15-ip-adapter", seed=5, steps=2, width=64, height=64)


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("reference") / "style.png"
    im = Image.new("RGB", (96, 96), (30, 90, 200))
    ImageDraw.Draw(im).rectangle((20, 20, 70, 60), fill=(250, 200, 20))
    im.save(path)
    return str(path)


def inputs_for(request) -> list[InputFile]:
    """The ingredients a caller hands over, from the contract's upload declarations (as the tabs and CLI do)."""
    return [InputFile(getattr(request, f.name), f.relationship, f.title)
            for f in text_to_image.CONTRACT.uploads() if getattr(request, f.name) and f.relationship]


def test_the_style_reference_is_an_upload_field_of_the_contract():
    [field] = text_to_image.CONTRACT.uploads()
    assert (field.name, field.kind, field.relationship, field.title) == ("reference_image", "image", "inputTo",
                                                                        "style reference")
    strength = next(f for f in text_to_image.CONTRACT.fields() if f.name == "reference_strength")
    assert (strength.default, strength.lo, strength.hi) == (0.6, 0.0, 1.0)


def test_a_style_reference_steers_the_image_and_is_its_ingredient(studio, reference_file):
    plain = text_to_image.Request(**COMMON)
    styled = text_to_image.Request(**COMMON, reference_image=reference_file, reference_strength=1.0)
    [without] = studio.produce("text_to_image", plain, "reference-test", inputs=inputs_for(plain)).items
    # confirmed: this test is about the reference's effect, not the upload check (which once called this
    # flat drawing a studio output; tests/provenance/test_provenance_watermark.py holds that fix)
    [with_ref] = studio.produce("text_to_image", styled, "reference-test", inputs=inputs_for(styled),
                                confirmed=True).items

    a, b = np.asarray(Image.open(without.path), np.float32), np.asarray(Image.open(with_ref.path), np.float32)
    assert a.shape == b.shape and np.abs(a - b).mean() > 1.0, "the reference did not change the image"
    report = studio.publisher.verify(with_ref.path)
    assert report.state in ("Valid", "Trusted")
    assert [(i.get("relationship"), i.get("title")) for i in report.ingredients] == [("inputTo", "style reference")]
    assert with_ref.params["reference_strength"] == 1.0 and len(with_ref.params["reference_sha256"]) == 64
    assert "reference_image" not in with_ref.params  # the server's file path is not recorded
    assert studio.publisher.verify(without.path).ingredients == []


@pytest.mark.parametrize("model, words", [
    ("tiny-flux", "No flux model here has a reference adapter (IP-Adapter presets exist for sd15, sdxl)"),
    ("tiny-sd15", "Of the sd15 models: tiny-sd15-ip-adapter, sd15-ip-adapter."),
])
def test_a_model_without_an_adapter_names_the_ones_that_can(studio, reference_file, model, words):
    request = text_to_image.Request(**{**COMMON, "model": model}, reference_image=reference_file)
    with pytest.raises(InputError, match="cannot follow a reference image") as caught:
        request.check(studio.models.preset("text_to_image", model))
    assert words in str(caught.value)


def test_an_unreadable_reference_file_gets_a_message(studio, tmp_path):
    bad = tmp_path / "style.png"
    bad.write_bytes(b"not a picture")
    request = text_to_image.Request(**COMMON, reference_image=str(bad))
    with pytest.raises(InputError, match="style reference is not an image"):
        request.check(studio.models.preset("text_to_image", "tiny-sd15-ip-adapter"))
