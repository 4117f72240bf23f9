"""What a video request will make, worked out before the run: frame rules, sizes, limits, stills."""
from __future__ import annotations

import struct
import zlib

import pytest
from video_helpers import picture, request

from pipelines import registry, video
from pipelines.errors import InputError
from pipelines.presets import load_presets


@pytest.fixture(scope="module")
def presets():
    return load_presets("video", registry.request_fields("video"))


def test_presets_name_real_models_per_tier_and_only_known_modes(presets):
    assert {"tiny-ltx", "tiny-wan", "tiny-cogvideox", "tiny-svd"} <= set(presets)
    families = {p.family for p in presets.values() if p.tier != "tiny"}
    assert families == {"ltx", "wan", "cogvideox", "svd"}
    for p in presets.values():
        assert set(p.limit("modes")) <= {"text", "image"} and p.limit("modes"), p.name
        video.parse_frame_rule(p.limit("frame_rule"))
        assert p.limit("max_size") % p.limit("size_multiple") == 0, p.name
        if p.tier != "tiny":
            assert p.repo and p.license and p.license_url, p.name
    assert presets["svd-xt"].limit("modes") == ["image"]
    assert presets["ltx-video"].limit("modes") == ["text", "image"]
    fast = presets["ltx-video-distilled"]
    assert fast.fast and fast.repo == "Lightricks/LTX-Video-0.9.7-distilled" and fast.defaults["guidance"] == 1.0
    assert fast.defaults["steps"] == len(fast.limit("timesteps")) <= fast.limit("max_steps")


@pytest.mark.parametrize("frames", [9, 17, 25, 33])
def test_ltx_takes_8k_plus_1_frames_exactly(presets, frames):
    assert video.plan(request(frames=frames), presets["tiny-ltx"]).frames == frames


@pytest.mark.parametrize("frames, options", [(30, "25 or 33"), (10, "9 or 17"), (3, "Use 9,")])
def test_a_frame_count_the_model_cannot_make_is_refused_with_the_nearest_ones(presets, frames, options):
    with pytest.raises(InputError, match=rf"8k\+1 frames .*{frames} frames is not one of them.*{options}"):
        video.plan(request(frames=frames), presets["tiny-ltx"])


def test_a_duration_is_rounded_openly_to_the_nearest_frame_count(presets):
    plan = video.plan(request(frames=0, duration_s=2.0, fps=12), presets["tiny-ltx"])
    assert plan.frames == 25 and plan.duration_s == pytest.approx(25 / 12)
    assert any("2 s at 12 fps is 24 frames" in n and "25 frames (2.08 s)" in n for n in plan.notices)
    wan = video.plan(request(model="tiny-wan", frames=0, duration_s=1.0, fps=16), presets["tiny-wan"])
    assert wan.frames == 17 and any("4k+1" in n for n in wan.notices)
    svd = video.plan(request(model="tiny-svd", mode="image", image_path="x", frames=0, duration_s=1.0, fps=6),
                     presets["tiny-svd"])
    assert svd.frames == 6 and svd.notices == ()      # any count: exact, nothing to say


@pytest.mark.parametrize("fields, message", [
    (dict(fps=0), "Frames per second must be between 1 and 60, not 0"),
    (dict(fps=120), "between 1 and 60"),
    (dict(frames=0, duration_s=11.0, fps=4), r"10.25 s clip is over this model's limit of 10 s on the tiny tier"),
    (dict(frames=73), "over this model's limit of 65 frames"),
    (dict(frames=0, duration_s=0), "Give a frame count or a duration"),
    (dict(frames=-9), "negative"),
    (dict(width=255), "odd; MP4 video .* needs even sizes: use 254 or 256"),
    (dict(width=1024), "outside this model's range 64-512"),
    (dict(prompt="  "), "prompt is empty"),
    (dict(steps=0), "Steps 0 is out of range"),
    (dict(guidance=float("nan")), "Guidance"),
    (dict(seed=-1), "Seed -1 is out of range"),
    (dict(mode="image", image_path=""), "Choose a still"),
    (dict(mode="sideways"), "Mode 'sideways' is not one of"),
    (dict(width=None), "Width must be a whole number"),
])
def test_bad_requests_get_a_message_that_says_what_to_do(presets, fields, message):
    with pytest.raises(InputError, match=message):
        video.plan(request(**fields), presets["tiny-ltx"])


def test_the_ui_offers_only_what_the_model_makes(presets):
    with pytest.raises(InputError, match="makes video from a still only"):
        video.plan(request(model="tiny-svd"), presets["tiny-svd"])
    with pytest.raises(InputError, match="makes video from text only"):
        video.plan(request(model="tiny-cogvideox", mode="image", image_path="x"), presets["tiny-cogvideox"])


def test_a_size_off_the_models_grid_is_made_larger_and_cropped_back_to_the_size_asked(presets):
    plan = video.plan(request(width=270, height=200), presets["tiny-ltx"])
    assert (plan.width, plan.height, plan.gen_width, plan.gen_height) == (270, 200, 288, 224)
    assert "multiples of 32" in plan.notices[0] and "270×200 you asked for" in plan.notices[0]
    assert "made at 288×224, centre-cropped" in plan.describe()
    exact = video.plan(request(width=256, height=192), presets["tiny-ltx"])
    assert (exact.gen_width, exact.gen_height) == (256, 192) and exact.notices == ()


def test_frame_rule_parsing():
    assert video.parse_frame_rule("8k+1") == (8, 1)
    assert video.parse_frame_rule("any") == (1, 0)
    with pytest.raises(Exception, match="frame_rule"):
        video.parse_frame_rule("odd")


# ----- stills ----------------------------------------------------------------------------------

def _png_claiming(tmp_path, w: int, h: int):
    """A tiny PNG whose header claims w×h pixels (a decompression bomb's shape)."""
    raw = bytearray()
    picture(8, 8).save(tmp_path / "small.png")
    data = (tmp_path / "small.png").read_bytes()
    ihdr = bytearray(data[12:29])  # type + 13 bytes of IHDR data
    ihdr[4:12] = struct.pack(">II", w, h)
    raw += data[:12] + ihdr + struct.pack(">I", zlib.crc32(bytes(ihdr))) + data[33:]
    path = tmp_path / "huge.png"
    path.write_bytes(bytes(raw))
    return path


def test_a_usable_still_opens_as_rgb(still):
    img = video.load_still(still)
    assert img.mode == "RGB" and img.size == (320, 240)


def test_unusable_stills_are_refused_with_a_clear_message(tmp_path):
    small = tmp_path / "small.png"
    picture(100, 80).save(small)
    with pytest.raises(InputError, match=r"only 100×80 px; use one at least 128 px"):
        video.load_still(str(small))
    with pytest.raises(InputError, match=r"7000×7000 px \(49 MP\); the limit is 40 MP"):
        video.load_still(str(_png_claiming(tmp_path, 7000, 7000)))
    with pytest.raises(InputError, match=r"far larger than the limit of 40 MP"):
        video.load_still(str(_png_claiming(tmp_path, 20000, 20000)))  # Pillow's own bomb guard
    text = tmp_path / "notes.png"
    text.write_text("not a picture at all")
    with pytest.raises(InputError, match="notes.png is not an image the studio can read"):
        video.load_still(str(text))
    good = tmp_path / "good.png"
    picture(320, 240).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(InputError, match="damaged or truncated"):
        video.load_still(str(cut))
    with pytest.raises(InputError, match="could not be found"):
        video.load_still(str(tmp_path / "gone.png"))
