"""OpenVINO on the CPU for the edit tasks: a variation (image to image), a fill on the text-to-image
twin's weights and a fill on the dedicated 9-channel inpainting twin, exported and run through the
production loader and runner, against PyTorch at the same seed. The VAE encoder is exported only when
an edit first needs it, and reused after a restart."""
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from test_openvino import MIN_PSNR_DB, count_converts, make, manager, psnr
from test_variation import picture

from pipelines import fill, upscale, variation
from pipelines.errors import Cancelled
from pipelines.media import InputFile
from pipelines.progress import Progress
from pipelines.runner import execute

MASK_BOX = (40, 30, 100, 90)   # on the 128×128 picture: pixels outside it must stay the source's bytes


def mask() -> Image.Image:
    canvas = Image.new("L", (128, 128), 0)
    canvas.paste(255, MASK_BOX)
    return canvas


def vary(**kw) -> variation.Request:
    base = dict(image=picture(), prompt="a lighthouse at dusk", model="tiny-sd15", strength=0.6, steps=4, seed=5)
    return variation.Request(**{**base, **kw})


def filling(model: str, **kw) -> fill.Request:
    base = dict(image=picture(), mask=mask(), prompt="a red kite", model=model, steps=3, seed=5)
    return fill.Request(**{**base, **kw})


EDITS = {"variation": ("variation", vary), "fill on the text-to-image weights": ("fill", lambda: filling("tiny-sd15")),
         "fill on the inpainting model": ("fill", lambda: filling("tiny-sd15-inpaint"))}


def exports(folder) -> set[str]:
    """The export folders in the cache ("<component>-<key>")."""
    return {p.name for p in folder.iterdir() if p.is_dir() and "-" in p.name}


@pytest.fixture(scope="module")
def edits(studio, export_dir):
    """Text to image first (it exports no encoder), then each edit on OpenVINO (counting the exports)
    and on PyTorch."""
    models = manager(studio, export_dir)
    execute(models, "text_to_image", make(batch=1))
    after_text = exports(export_dir)
    with pytest.MonkeyPatch.context() as patch:
        converts = count_converts(patch)
        ov = {name: execute(models, task, build()) for name, (task, build) in EDITS.items()}
    pytorch = manager(studio, export_dir, "pytorch")
    pt = {name: execute(pytorch, task, build()) for name, (task, build) in EDITS.items()}
    return SimpleNamespace(after_text=after_text, added=exports(export_dir) - after_text, converts=len(converts),
                           ov=ov, pt=pt, models=models)


@pytest.mark.parametrize("name", list(EDITS))
def test_an_edit_through_openvino_matches_pytorch_at_the_same_seed(edits, name):
    ov, pt = edits.ov[name].artifacts[0], edits.pt[name].artifacts[0]
    assert ov.image.size == pt.image.size == (128, 128)
    assert (ov.params["backend"], pt.params["backend"]) == ("openvino", "pytorch")
    assert ov.params["seed"] == pt.params["seed"] and ov.params["pipeline"] == pt.params["pipeline"]
    assert psnr(ov.image, pt.image) > MIN_PSNR_DB
    assert psnr(ov.image, picture()) < MIN_PSNR_DB   # the edit did change the picture


def test_the_vae_encoder_is_exported_only_when_an_edit_first_needs_it(edits):
    assert not any(name.startswith("vae_encoder-") for name in edits.after_text)
    # the variation and the fill over text to image's model add its encoder only (its UNet and
    # decoder exports are reused); the dedicated inpainting model exports its own components
    added = sorted(name.split("-")[0] for name in edits.added)
    assert added.count("vae_encoder") == 2 and added.count("unet") == added.count("vae_decoder") == 1
    assert edits.converts == len(edits.added)   # each export converted once


def test_a_fill_on_openvino_keeps_every_pixel_outside_the_mask(edits):
    outside = np.asarray(mask()) == 0
    for name in ("fill on the text-to-image weights", "fill on the inpainting model"):
        out = np.asarray(edits.ov[name].artifacts[0].image)
        assert np.array_equal(out[outside], np.asarray(picture())[outside]), name


def test_progress_and_cancel_mid_variation_on_openvino(edits):
    events, cancel = [], threading.Event()

    def listener(event):
        events.append((event.done, event.total, event.stage))
        if event.stage == "denoising" and event.done == 1:
            cancel.set()

    with pytest.raises(Cancelled):
        execute(edits.models, "variation", vary(steps=8), Progress(listener, cancel))
    assert [done for done, _, stage in events if stage == "denoising"] == [1]   # stopped before step 2
    assert execute(edits.models, "variation", vary()).artifacts[0].params["backend"] == "openvino"   # still usable


def test_after_a_restart_the_exports_are_reused_and_the_published_fill_keeps_the_source(
        studio, edits, export_dir, monkeypatch, tmp_path):
    from studio.backends import LocalBackend

    source = tmp_path / "source.png"
    picture().save(source)
    calls = count_converts(monkeypatch)
    models = manager(studio, export_dir)   # a restart: new loaded pipelines, the same export cache
    monkeypatch.setattr(studio, "backend", LocalBackend(models))
    outcome = studio.produce("fill", filling("tiny-sd15-inpaint", image=str(source)), "openvino-edit",
                             inputs=[InputFile(str(source), "parentOf", "source image")])
    varied = execute(models, "variation", vary(seed=9))
    assert calls == []
    item = outcome.items[0]
    assert item.params["backend"] == varied.artifacts[0].params["backend"] == "openvino"
    downloaded, outside = np.asarray(Image.open(item.path).convert("RGB")), np.asarray(mask()) == 0
    assert np.array_equal(downloaded[outside], np.asarray(picture())[outside])
    assert studio.publisher.verify(item.path).state in ("Valid", "Trusted")


def test_the_creative_pass_of_an_upscale_runs_through_openvino(studio, edits, export_dir):
    def creative(backend):
        request = upscale.Request(image=picture().resize((32, 32)), model="tiny-compact-x4", scale=4, tile=32,
                                  creative_model="tiny-sd15", creative_strength=0.5, creative_steps=2, creative_tile=64)
        return execute(manager(studio, export_dir, backend), "upscale", request).artifacts[0]

    ov, pt = creative("openvino"), creative("pytorch")
    assert (ov.params["creative_backend"], pt.params["creative_backend"]) == ("openvino", "pytorch")
    assert ov.params["creative_tiles"] == 4 and ov.image.size == pt.image.size == (128, 128)
    assert psnr(ov.image, pt.image) > MIN_PSNR_DB


def test_a_fill_openvino_cannot_run_runs_on_pytorch_with_a_notice(studio, export_dir):
    result = execute(manager(studio, export_dir), "fill", filling("tiny-flux-fill"))
    assert result.artifacts[0].params["backend"] == "pytorch"
    assert any("FluxFillPipeline" in n and "PyTorch" in n for n in result.notices)


def test_a_failed_encoder_export_runs_the_edit_on_pytorch_and_text_to_image_stays_on_openvino(
        studio, edits, export_dir, tmp_path, monkeypatch):
    import shutil

    import openvino

    for folder in export_dir.iterdir():   # the UNet and decoder exports are there; the encoder is not
        if folder.is_dir() and "-" in folder.name and not folder.name.startswith("vae_encoder-"):
            shutil.copytree(folder, tmp_path / folder.name)

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operation")

    monkeypatch.setattr(openvino, "convert_model", broken)
    models = manager(studio, tmp_path)
    varied = execute(models, "variation", vary())
    assert varied.artifacts[0].params["backend"] == "pytorch"
    assert any("export of the VAE encoder failed" in n and "PyTorch" in n for n in varied.notices)
    assert psnr(varied.artifacts[0].image, edits.pt["variation"].artifacts[0].image) == float("inf")
    assert execute(models, "text_to_image", make(batch=1)).artifacts[0].params["backend"] == "openvino"
