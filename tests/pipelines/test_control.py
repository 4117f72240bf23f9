"""Structure control: control maps, and a ControlNet steering a loaded text-to-image model through
the production loader, the runner and the studio's publish path."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipelines.control import Request, join
from pipelines.control_maps import canny_map, depth_map, lineart_map, scribble_map
from pipelines.errors import InputError
from pipelines.media import InputFile
from pipelines.runner import execute


def square(size: int = 100, box: tuple[int, int, int, int] = (30, 30, 69, 69)) -> Image.Image:
    image = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(image).rectangle(box, fill="black")
    return image


def make(**kw) -> Request:
    base = dict(image=square(), prompt="a stone tower", steps=2, width=64, height=64, seed=3)
    return Request(**{**base, **kw})


def test_the_canny_map_of_a_drawn_square_is_a_square_outline():
    edges = np.asarray(canny_map(square(), 100, 200).convert("L")) > 0
    ys, xs = np.nonzero(edges)
    # Every edge pixel lies on the square's border (within a pixel), none inside or outside it.
    on_border = (np.minimum(np.abs(xs - 30), np.abs(xs - 69)) <= 1) | (np.minimum(np.abs(ys - 30), np.abs(ys - 69)) <= 1)
    assert on_border.all() and ((xs >= 29) & (xs <= 70) & (ys >= 29) & (ys <= 70)).all()
    assert not edges[35:65, 35:65].any()
    # Each of the four sides is traced along its length.
    for side in (edges[29:32, 32:68], edges[68:71, 32:68], edges[32:68, 29:32].T, edges[32:68, 68:71].T):
        assert side.any(axis=0).all()


def test_the_line_art_of_a_drawn_square_is_a_square_outline():
    """XDoG (OpenCV, no model) strokes the dark side of each contrast step: just inside the black square."""
    lines = np.asarray(lineart_map(square()).convert("L")) > 64
    ys, xs = np.nonzero(lines)
    inside_band = ((np.minimum(np.abs(xs - 30), np.abs(xs - 69)) <= 3)
                   | (np.minimum(np.abs(ys - 30), np.abs(ys - 69)) <= 3))
    assert inside_band.all() and ((xs >= 30) & (xs <= 69) & (ys >= 30) & (ys <= 69)).all()
    assert not lines[36:64, 36:64].any()
    for side in (lines[30:34, 34:66], lines[66:70, 34:66], lines[34:66, 30:34].T, lines[34:66, 66:70].T):
        assert side.any(axis=0).all()
    assert not np.asarray(lineart_map(Image.new("RGB", (40, 40), (90, 120, 200)))).any()   # flat: no line


def test_canny_thresholds_are_adjustable_and_checked():
    faint = Image.fromarray(np.where(np.asarray(square()) == 0, 230, 255).astype(np.uint8))
    assert not np.asarray(canny_map(faint, 100, 200)).any()      # a 25-level step is below these thresholds
    assert np.asarray(canny_map(faint, 10, 40)).any()
    with pytest.raises(InputError, match="low one must be below the high one"):
        canny_map(faint, 200, 100)


def test_a_scribble_is_used_as_drawn_with_transparency_as_black():
    drawn = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    ImageDraw.Draw(drawn).line((0, 15, 39, 15), fill=(255, 255, 255, 255), width=3)
    got = np.asarray(scribble_map(drawn))
    assert got.shape == (30, 40, 3) and got[15].min() == 255 and got[0].max() == 0


def test_depth_from_the_tiny_depth_anything_loaded_with_the_controlnet(studio):
    control = studio.models.get("control", "tiny-controlnet-sd15").pipe
    assert type(control.depth_model).__name__ == "DepthAnythingForDepthEstimation"
    depth = np.asarray(depth_map(square(90, (20, 20, 60, 60)).resize((120, 90)), (control.depth_model,
                                                                                control.depth_processor)))
    assert depth.shape == (90, 120, 3) and depth.min() == 0 and depth.max() == 255


def test_a_controlnet_steers_tiny_sd15_through_the_production_loader_without_a_second_copy(studio):
    result = execute(studio.models, "control", make())
    image, params = result.artifacts[0].image, result.artifacts[0].params
    assert image.size == (64, 64)
    assert params["pipeline"] == "StableDiffusionControlNetPipeline" and params["model"] == "tiny-controlnet-sd15"
    assert params["joined_model"]["model"] == "tiny-sd15" and params["control_type"] == "canny"
    assert any("control image is 100×100 and the output 64×64: it was resized" in n for n in result.notices)
    base = studio.models.get("text_to_image", "tiny-sd15").pipe
    joined = join(studio.models.get("control", "tiny-controlnet-sd15").pipe, base)
    assert joined.pipe.unet is base.unet and joined.pipe.vae is base.vae    # the base's modules, not copies
    assert "controlnet" not in base.components                              # and the base is untouched
    unsteered = execute(studio.models, "control", make(conditioning_scale=0.0)).artifacts[0].image
    assert np.abs(np.asarray(image, float) - np.asarray(unsteered, float)).mean() > 1


def test_a_flux_controlnet_steers_tiny_flux(studio):
    request = make(model="tiny-controlnet-flux", base_model="tiny-flux", guidance=3.5)
    result = execute(studio.models, "control", request)
    params = result.artifacts[0].params
    assert result.artifacts[0].image.size == (64, 64)
    assert params["pipeline"] == "FluxControlNetPipeline" and params["joined_model"]["model"] == "tiny-flux"


def test_the_sdxl_union_controlnet_is_told_the_control_type_as_its_mode(studio):
    """The tiny twin of xinsir's union ControlNet (ControlNetUnionModel, saved and reloaded) on the tiny
    SDXL: one network, and the control type's mode changes what it does with the same control image."""
    common = dict(model="tiny-controlnet-union-sdxl", base_model="tiny-sdxl", steps=1, guidance=1.0)
    lineart = execute(studio.models, "control", make(control_type="lineart", **common)).artifacts[0]
    scribble = execute(studio.models, "control", make(control_type="scribble", image=lineart_map(square()),
                                                      **common)).artifacts[0]
    assert lineart.params["pipeline"] == "StableDiffusionXLControlNetUnionPipeline"
    assert (lineart.params["control_mode"], scribble.params["control_mode"]) == (3, 2)
    assert lineart.params["control_sha256"] == scribble.params["control_sha256"]    # the same control image
    assert type(studio.models.get("control", "tiny-controlnet-union-sdxl").pipe.controlnet).__name__ == \
        "ControlNetUnionModel"
    assert not np.array_equal(np.asarray(lineart.image), np.asarray(scribble.image))  # the mode reached the net


def test_a_controlnet_of_another_family_is_refused_naming_the_matching_ones(studio):
    with pytest.raises(InputError) as err:
        execute(studio.models, "control", make(base_model="tiny-sdxl"))
    message = str(err.value)
    assert "sd15" in message and "sdxl" in message and "tiny-controlnet-sdxl" in message
    assert "controlnet-sdxl-canny" in message and "tiny-controlnet-sd15" not in message.split("made for")[1]


@pytest.mark.parametrize("changes,message", [
    (dict(control_start=0.6, control_end=0.4), "start 0.6 and end 0.4 do not work"),
    (dict(conditioning_scale=3.0), "Conditioning strength 3 is out of range"),
    (dict(control_type="pose"), "Control type 'pose' is not one of"),
    (dict(prompt=" "), "The prompt is empty"),
    (dict(width=100), "Width 100 does not work"),
])
def test_bad_requests_say_what_to_do(studio, changes, message):
    with pytest.raises(InputError, match=message):
        execute(studio.models, "control", make(**changes))


def test_published_result_records_the_control_source_as_an_ingredient(studio, tmp_path):
    source = tmp_path / "outline.png"
    square(64, (16, 16, 47, 47)).save(source)
    outcome = studio.produce("control", make(image=str(source), control_type="scribble"), "control-session",
                             inputs=[InputFile(str(source), "inputTo", "control source")])
    report = studio.publisher.verify(outcome.items[0].path)
    assert report.state in ("Valid", "Trusted")
    assert [i.get("relationship") for i in report.ingredients] == ["inputTo"]
    assert Image.open(outcome.items[0].path).size == (64, 64)
