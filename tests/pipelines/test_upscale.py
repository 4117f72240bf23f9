"""Upscaling through the production loader (spandrel reading tiny twins saved in the published
checkpoint layouts), the runner, and the studio's publish path."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.errors import Cancelled, InputError, PresetError
from pipelines.media import InputFile
from pipelines.progress import Progress
from pipelines.runner import execute
from pipelines.upscale import Request, passes_for

ROOT = Path(__file__).resolve().parents[2]


def picture(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_tiny_twin_is_read_by_spandrel_as_the_published_real_esrgan_file(studio):
    folder, _ = studio.models.source(studio.models.preset("upscale", "tiny-esrgan-x4"))
    checkpoint = torch.load(Path(folder) / "RealESRGAN_x4plus.pth", weights_only=True)
    # basicsr's RRDBNet names, under "params_ema", as RealESRGAN_x4plus.pth has them.
    assert list(checkpoint) == ["params_ema"]
    assert {"conv_first.weight", "body.0.rdb1.conv1.weight", "conv_up2.weight", "conv_last.weight"} <= set(checkpoint["params_ema"])
    pipe = studio.models.get("upscale", "tiny-esrgan-x4").pipe
    assert (pipe.architecture, pipe.scale) == ("ESRGAN", 4)
    assert studio.models.get("upscale", "tiny-compact-x4").pipe.architecture == "RealESRGAN Compact"


@pytest.mark.parametrize("scale", [2, 4])
def test_2x_and_4x_give_the_exact_size_and_record_how(studio, scale):
    result = execute(studio.models, "upscale", Request(image=picture(45, 30), model="tiny-esrgan-x4", scale=scale,
                                                       tile=32, overlap=8))
    image, params = result.artifacts[0].image, result.artifacts[0].params
    assert image.size == (45 * scale, 30 * scale)
    assert (params["network_scale"], params["passes"], params["tiles"]) == (4, 1, 2)
    assert params["source_width"] == 45 and params["model"] == "tiny-esrgan-x4"
    assert ("scaled down" in " ".join(result.notices)) == (scale == 2)


def test_passes_for_a_smaller_or_larger_network():
    assert passes_for(4, 4) == [4.0] and passes_for(2, 4) == [0.5 * 4]
    assert passes_for(4, 2) == [2, 2.0] and passes_for(3, 2) == [2, 1.5]


def test_progress_per_tile_and_cancel_between_tiles(studio):
    stages, progress = [], None

    def listen(event):
        stages.append(event.stage)
        if event.stage.startswith("upscaling tile 2/"):
            progress.cancel_event.set()   # the visitor presses Cancel while tile 2 finishes

    progress = Progress(listen)
    request = Request(image=picture(96, 64), model="tiny-compact-x4", scale=4, tile=32, overlap=4)
    with pytest.raises(Cancelled):
        execute(studio.models, "upscale", request, progress)
    tiles = [s for s in stages if s.startswith("upscaling tile")]
    assert tiles == ["upscaling tile 1/6", "upscaling tile 2/6"]


def test_a_result_over_the_pixel_limit_is_refused_before_running_naming_the_largest_factor(studio, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40_000_000)   # the studio's max_image_pixels
    stages = []
    request = Request(image=picture(3000, 2000), model="tiny-compact-x4", scale=4)
    with pytest.raises(InputError) as err:
        execute(studio.models, "upscale", request, Progress(lambda e: stages.append(e.stage)))
    assert "12000×8000" in str(err.value) and "largest factor that fits is 2x" in str(err.value)
    assert not [s for s in stages if s.startswith("upscaling")]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    with pytest.raises(InputError, match="even 2x does not fit"):
        execute(studio.models, "upscale", Request(image=picture(600, 500), model="tiny-compact-x4", scale=2))


@pytest.mark.parametrize("value,message", [(5, "Scale 5 is out of range"), (1, "Scale 1 is out of range")])
def test_bad_scale_is_refused(studio, value, message):
    with pytest.raises(InputError, match=message):
        execute(studio.models, "upscale", Request(image=picture(40, 40), model="tiny-esrgan-x4", scale=value))


def test_published_upscale_is_a_signed_resize_of_its_source(studio, tmp_path):
    source = tmp_path / "source.png"
    picture(48, 40, seed=3).save(source)
    outcome = studio.produce("upscale", Request(image=str(source), model="tiny-esrgan-x4", scale=2, tile=32),
                             "upscale-session", inputs=[InputFile(str(source), "parentOf", "source image")])
    path = outcome.items[0].path
    assert Image.open(path).size == (96, 80)
    report = studio.publisher.verify(path)
    assert report.state in ("Valid", "Trusted")
    assert [i.get("relationship") for i in report.ingredients] == ["parentOf"]
    assert [a.split(" (")[0] for a in report.card["actions"]] == ["opened", "resized"]


# The size: a 3000×2000 source made 4x (12000×8000) in a fresh interpreter, so its peak
# memory is its own. The tiny Compact twin keeps the network cheap; the memory at stake is the
# result's. A whole-image float32 result alone would be 1.15 GB.
CHILD = textwrap.dedent("""
    import json, re, resource, sys
    import numpy as np
    from PIL import Image
    from pipelines.models import ModelManager
    from pipelines.runner import execute
    from pipelines.upscale import Request
    Image.MAX_IMAGE_PIXELS = 100_000_000
    manager = ModelManager(sys.argv[1])
    manager.get("upscale", "tiny-compact-x4")
    y, x = np.mgrid[0:2000, 0:3000].astype(np.float32)
    smooth = np.stack([x / 3000 * 200 + 20, y / 2000 * 200 + 20, (x + y) / 5000 * 150 + 50], -1)
    source = Image.fromarray(smooth.astype(np.uint8))
    rss = lambda: int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
    before = rss()
    open("/proc/self/clear_refs", "w").write("5")   # the peak so far (building the twin) is not the run's
    result = execute(manager, "upscale", Request(image=source, model="tiny-compact-x4", scale=4, tile=256, overlap=16))
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
    out = np.asarray(result.artifacts[0].image, np.float32)
    col = np.abs(np.diff(out, axis=1)).mean(axis=(0, 2))   # mean step between neighbouring columns
    row = np.abs(np.diff(out, axis=0)).mean(axis=(1, 2))
    print(json.dumps(dict(size=result.artifacts[0].image.size, tiles=result.artifacts[0].params["tiles"],
                          growth=peak - before, result_bytes=out.size, col=col.tolist(), row=row.tolist())))
""")


@pytest.mark.slow
def test_4x_of_3000x2000_is_tiled_with_bounded_memory_and_no_seam(tmp_path):
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["size"] == [12000, 8000] and got["tiles"] == 8 * 12
    # Peak growth: the uint8 result (288 MB), one float32 band of rows (166 MB) and the tiles'
    # tensors, with room for the allocator; a float32 copy of the whole result alone is 1.15 GB.
    band_bytes = (256 + 2 * 16) * 4 * 12000 * 3 * 4
    assert got["growth"] < got["result_bytes"] + 2 * band_bytes + 256 * 2**20, got["growth"]
    for steps, cuts in ((np.array(got["col"]), [round(i * 3000 / 12) * 4 for i in range(1, 12)]),
                        (np.array(got["row"]), [round(i * 2000 / 8) * 4 for i in range(1, 8)])):
        inside = np.delete(steps, [c - 1 for c in cuts])
        # At every tile border the step between neighbouring pixels is no larger than inside tiles.
        assert max(steps[c - 1] for c in cuts) <= inside.max() + 1e-6


# ---- the creative pass: a tiled image-to-image pass over the super-resolved picture (tiny SD 1.5's
# own weights through the variation preset), blended with the upscaler's tiling code

def smooth_picture(w: int = 32, h: int = 24) -> Image.Image:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 6 + 40, y * 8 + 30, 200 - x * 3], -1) + rng.normal(0, 10, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def creative(studio, strength: float, progress: Progress | None = None, **kw):
    request = Request(image=smooth_picture(), model="tiny-compact-x4", scale=4, tile=32, overlap=4,
                      creative_model="tiny-sd15", creative_strength=strength, creative_steps=2, creative_tile=64, **kw)
    return execute(studio.models, "upscale", request, progress or Progress())


def whole_vae_round_trip(pipe, image: Image.Image) -> np.ndarray:
    """The plain upscale through the tiny VAE at once, its latent's mean: what a pass that changes
    nothing gives (the random VAE does not reproduce its input; a trained one nearly does)."""
    with torch.inference_mode():
        x = pipe.image_processor.preprocess(image)
        decoded = pipe.vae.decode(pipe.vae.encode(x).latent_dist.mode()).sample
    return pipe.image_processor.postprocess(decoded, output_type="np")[0] * 255


def test_creative_pass_at_strength_0_is_the_plain_upscale_through_the_vae(studio):
    plain = execute(studio.models, "upscale", Request(image=smooth_picture(), model="tiny-compact-x4", scale=4,
                                                      tile=32, overlap=4)).artifacts[0]
    kept, detailed = creative(studio, 0.0).artifacts[0], creative(studio, 0.5).artifacts[0]
    p = np.asarray(plain.image, np.float32)
    round_trip = whole_vae_round_trip(studio.models.get("variation", "tiny-sd15").pipe, plain.image)
    near = lambda a: np.abs(np.asarray(a.image, np.float32) - round_trip).mean()  # noqa: E731
    # Tiled, the strength-0 pass is the VAE's reproduction of the plain upscale: much nearer to the
    # whole-picture round trip than the plain upscale itself is; denoising moves it further away.
    assert near(kept) < 0.5 * np.abs(p - round_trip).mean()
    assert near(detailed) > near(kept)
    params = detailed.params
    assert (params["creative"], params["creative_model"], params["creative_tiles"], params["creative_steps_run"]) == \
        (True, "tiny-sd15", 4, 1)
    assert params["creative_pipeline"] == "StableDiffusionImg2ImgPipeline" and params["tiles"] == 1
    assert params["joined_model"]["model"] == "tiny-sd15" and detailed.image.size == (128, 96)
    # The variation view runs on the text-to-image model's modules: no second copy of the weights.
    t2i = studio.models.get("text_to_image", "tiny-sd15").pipe
    assert studio.models.get("variation", "tiny-sd15").pipe.unet is t2i.unet
    # Seamless: at the creative tiles' border (column 64, row 48) the step between neighbouring
    # pixels is no larger than inside the tiles (the criterion of the 3000×2000 test).
    out = np.asarray(detailed.image, np.float32)
    col, row = np.abs(np.diff(out, axis=1)).mean(axis=(0, 2)), np.abs(np.diff(out, axis=0)).mean(axis=(1, 2))
    assert col[63] <= np.delete(col, 63).max() and row[47] <= np.delete(row, 47).max()


def test_creative_progress_per_tile_and_cancel(studio):
    stages, progress = [], None

    def listen(event):
        stages.append(event.stage)
        if event.stage == "adding detail, tile 3/5":
            progress.cancel_event.set()

    progress = Progress(listen)
    with pytest.raises(Cancelled):
        creative(studio, 0.5, progress)
    tiles = [s for s in stages if "tile" in s]
    assert tiles == ["upscaling tile 1/5", "adding detail, tile 2/5", "adding detail, tile 3/5"]


@pytest.mark.parametrize("fields,error,message", [
    (dict(creative_strength=1.5), InputError, "Creative strength 1.5 is out of range"),
    (dict(creative_strength=0.2, creative_steps=2), InputError, "run no denoising step"),
    (dict(creative_model="no-such-model"), PresetError, "Unknown model preset 'no-such-model' for variation"),
])
def test_bad_creative_fields_are_refused(studio, fields, error, message):
    request = Request(image=smooth_picture(), model="tiny-compact-x4", scale=2, **{"creative_model": "tiny-sd15",
                                                                                 **fields})
    with pytest.raises(error, match=message):
        execute(studio.models, "upscale", request)


def test_published_creative_upscale_is_a_signed_resize_then_an_edit(studio, tmp_path):
    source = tmp_path / "source.png"
    smooth_picture().save(source)
    request = Request(image=str(source), model="tiny-compact-x4", scale=2, tile=32, creative_model="tiny-sd15",
                      creative_strength=0.5, creative_steps=2, creative_tile=64)
    outcome = studio.produce("upscale", request, "creative-session",
                             inputs=[InputFile(str(source), "parentOf", "source image")])
    report = studio.publisher.verify(outcome.items[0].path)
    assert report.state in ("Valid", "Trusted") and Image.open(outcome.items[0].path).size == (64, 48)
    assert [a.split(" (")[0] for a in report.card["actions"]] == ["opened", "resized", "edited"]
    actions = next(a for a in report.manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]
    assert actions["actions"][2]["digitalSourceType"].endswith("compositeWithTrainedAlgorithmicMedia")
    assert outcome.items[0].params["creative_strength"] == 0.5
