"""Bad input to generative fill: each case gives a clear message or a converted image with a
notice, never a traceback; and the image editor's payload becomes the right source and mask."""
from __future__ import annotations

import numpy as np
import pytest
from fill_helpers import picture, rect_mask, run_fill
from PIL import Image

from pipelines import fill
from pipelines.errors import InputError

BOX = (100, 60, 180, 130)


def test_an_empty_mask_is_refused_before_anything_runs(studio, source):
    events = []
    with pytest.raises(InputError, match="mask is empty"):
        run_fill(studio, events, image=source, mask=Image.new("L", source.size, 0))
    assert not any(e.stage.startswith("denoising") for e in events)
    with pytest.raises(InputError, match="There is no mask"):
        run_fill(studio, image=source, mask=None)


def test_a_mask_covering_everything_runs_as_text_to_image_and_says_so(studio, source):
    result = run_fill(studio, image=source, mask=Image.new("L", source.size, 255), strength=0.5, steps=2)
    out = result.artifacts[0]
    assert out.image.size == source.size and out.params["ran_as"] == "text_to_image"
    assert out.params["strength"] == 1.0
    assert any("text to image" in n for n in result.notices)


def test_a_mask_of_another_size_is_scaled_to_the_image_never_the_reverse(studio, source):
    small_mask = rect_mask((160, 120), (50, 30, 90, 65))  # half size, same place as BOX
    result = run_fill(studio, image=source, mask=small_mask, steps=1)
    out = result.artifacts[0]
    assert out.image.size == source.size
    assert any("mask was scaled to the image" in n for n in result.notices)
    scaled = np.asarray(small_mask.resize(source.size, Image.Resampling.NEAREST)) > 0
    assert np.array_equal(np.asarray(out.image)[~scaled], np.asarray(source)[~scaled])


def test_an_image_over_the_pixel_limit_is_refused(studio):
    huge = Image.new("RGB", (4100, 4100), "gray")
    with pytest.raises(InputError, match="over this model's limit"):
        run_fill(studio, image=huge, mask=rect_mask(huge.size, (0, 0, 10, 10)))


@pytest.mark.parametrize("make, notice", [
    (lambda im: _with_hole(im.convert("RGBA")), "flattened onto white"),
    (lambda im: im.convert("P", palette=Image.Palette.ADAPTIVE), "palette"),
    (lambda im: Image.fromarray((np.asarray(im.convert("L"), np.uint16) * 257), "I;16"), "16 bits"),
    (lambda im: im.convert("L"), "grayscale"),
    (lambda im: im.convert("CMYK"), "converted from CMYK"),
])
def test_unusual_image_modes_are_converted_with_a_notice(studio, source, make, notice):
    result = run_fill(studio, image=make(source), mask=rect_mask(source.size, BOX), steps=1)
    assert result.artifacts[0].image.mode == "RGB" and result.artifacts[0].image.size == source.size
    assert any(notice in n for n in result.notices), result.notices


def test_a_48_bit_png_file_is_reduced_with_a_notice(tmp_path):
    import cv2

    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), (np.random.default_rng(0).random((40, 50, 3)) * 65535).astype(np.uint16))
    notices = []
    im = fill.open_image(str(path), "source image", notices)
    assert im.mode == "RGB" and im.size == (50, 40) and any("16 bits" in n for n in notices)


def test_files_that_are_not_usable_images_get_clear_messages(studio, source, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    good = tmp_path / "good.png"
    source.save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8)).save(tiny)
    mask = rect_mask(source.size, BOX)
    for path, message in ((text, "not an image"), (cut, "damaged or cut short"), (tiny, "at least 16 px"),
                          (tmp_path / "gone.png", "missing")):
        with pytest.raises(InputError, match=message):
            run_fill(studio, image=str(path), mask=mask)
    with pytest.raises(InputError, match="mask"):
        run_fill(studio, image=str(good), mask=str(text))


@pytest.mark.parametrize("fields, message", [
    (dict(), "0 px changes nothing"),
    (dict(extend_right=5000), "over this model's limit"),
    (dict(extend_left=-5), "0 or more"),
    (dict(aspect="16:9", extend_left=10), "not both"),
    (dict(aspect="wide"), "not understood"),
    (dict(aspect="4:3"), "already 4:3"),
])
def test_bad_extensions_are_refused_with_a_clear_message(studio, source, fields, message):
    with pytest.raises(InputError, match=message):
        run_fill(studio, image=source, mode="extend", **fields)


@pytest.mark.parametrize("fields, message", [
    (dict(mode="warp"), "Mode"), (dict(strength=1.5), "Strength"), (dict(strength=0.0), "change nothing"),
    (dict(steps=1, strength=0.5), "at least 2 steps"), (dict(feather=-1), "Feather"), (dict(steps=None), "Steps"),
    (dict(guidance=float("nan")), "Guidance"), (dict(prompt="x" * 3000), "limit is"),
])
def test_bad_settings_are_refused(studio, source, fields, message):
    with pytest.raises(InputError, match=message):
        run_fill(studio, image=source, mask=rect_mask(source.size, BOX), **fields)


def test_the_editor_payload_becomes_source_and_mask(studio, tmp_path):
    from studio.sessions import ensure
    from studio.tabs.fill import resolve_source, save_mask

    background = tmp_path / "background.png"
    picture(200, 150).save(background)
    stroke = Image.new("RGBA", (200, 150), (0, 0, 0, 0))
    stroke.paste((255, 0, 255, 140), (20, 30, 80, 60))      # a half-transparent brush stroke
    stroke.paste((0, 0, 0, 0), (20, 30, 40, 60))             # partly erased again
    second = Image.new("RGBA", (200, 150), (0, 0, 0, 0))
    second.paste((255, 0, 255, 255), (150, 100, 170, 120))  # a stroke on another layer
    layers = []
    for i, layer in enumerate((stroke, second)):
        layers.append(str(tmp_path / f"layer{i}.png"))
        layer.save(layers[-1])
    payload = {"background": str(background), "layers": layers, "composite": str(background)}
    session = ensure(None)  # a session of its own, as outside a server

    source = resolve_source(studio, session, None, None, payload)
    assert source.path == str(background) and source.parent_id == ""
    mask = np.asarray(Image.open(save_mask(studio, session, payload, None))) > 0
    expected = np.zeros((150, 200), bool)
    expected[30:60, 40:80] = True
    expected[100:120, 150:170] = True
    assert np.array_equal(mask, expected)

    uploaded = tmp_path / "mask.png"
    rect_mask((100, 75), (0, 0, 10, 10)).save(uploaded)    # half size: scaled onto the drawing
    both = np.asarray(Image.open(save_mask(studio, session, payload, str(uploaded)))) > 0
    assert both[:20, :20].all() and both[expected].all() and both.sum() == expected.sum() + 400
    assert save_mask(studio, session, {"background": str(background), "layers": []}, None) is None
    with pytest.raises(InputError, match="no source image"):
        resolve_source(studio, session, None, None, {"background": None, "layers": []})
    with pytest.raises(InputError, match="not among your images"):
        resolve_source(studio, session, None, "not-an-id", None)


def _with_hole(im: Image.Image) -> Image.Image:
    im.putalpha(255)
    im.paste((0, 0, 0, 0), (0, 0, 30, 30))
    return im
