"""Fill keeps its promise in the file a visitor downloads: every pixel outside the mask has the
source's exact bytes (the watermark goes only into the generated area), the edit action names the
changed rectangle (C2PA region of interest), and the mark is claimed only where it can be read."""
from __future__ import annotations

import json

import c2pa
import numpy as np
import pytest
from PIL import Image

from pipelines.media import InputFile
from provenance import watermark
from provenance.manifest import GENERATION_LABEL, WATERMARK_ALG

SESSION = "fill-pixels-session"


def _picture(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth photo-like picture with mild noise (a watermark behaves on it as on a real photo)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([128 + 60 * np.sin(x / (19.0 + 4 * c)) + 40 * np.cos(y / (13.0 + 3 * c)) for c in range(3)], -1)
    return Image.fromarray(np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8))


def _active(path: str) -> dict:
    with open(path, "rb") as stream, c2pa.Reader("image/png", stream) as reader:
        store = json.loads(reader.json())
    return store["manifests"][store["active_manifest"]]


def _assertion(manifest: dict, label: str) -> dict | None:
    """An assertion's data by label; c2pa adds a version suffix to some (c2pa.actions.v2)."""
    return next((a["data"] for a in manifest["assertions"]
                 if a["label"] == label or a["label"].startswith(label + ".")), None)


def _fill(studio, tmp_path, size, box, mode="fill", **fields):
    """One fill through Studio.produce, as the tab runs it; returns (source, mask, downloaded pixels, manifest)."""
    from pipelines.fill import Request

    source = tmp_path / "source.png"
    _picture(*size).save(source)
    mask = Image.new("L", size, 0)
    if box:
        mask.paste(255, box)
    mask.save(tmp_path / "mask.png")
    request = Request(image=str(source), mask=str(tmp_path / "mask.png") if mode == "fill" else None, mode=mode,
                      prompt="a red kite", model="tiny-sd15-inpaint", steps=2, seed=5, feather=4, **fields)
    outcome = studio.produce("fill", request, SESSION, inputs=[InputFile(str(source), "parentOf", "source image")])
    [item] = outcome.items
    report = studio.publisher.verify(item.path)
    assert report.state in ("Valid", "Trusted")
    manifest = _active(item.path)
    # Verify finds the mark the manifest claims (reading the region its soft binding names), or none.
    assert report.watermark_id == _assertion(manifest, GENERATION_LABEL)["watermark"].get("id")
    downloaded = np.asarray(Image.open(item.path).convert("RGB"))
    return np.asarray(Image.open(source).convert("RGB")), np.asarray(mask) > 0, downloaded, manifest


@pytest.mark.parametrize("size, box, carried", [
    ((512, 512), (200, 150, 300, 250), None),       # the 100 px square of the report: kept, mark if it fits
    ((512, 512), (128, 128, 384, 384), True),        # a 256 px area carries it (whole-image reads miss it)
    ((512, 384), (300, 200, 316, 216), False),       # 16 px: too few blocks for 48 bits, and the file says so
])
def test_pixels_outside_the_mask_are_the_sources_bytes(studio, tmp_path, size, box, carried):
    source, inside, downloaded, manifest = _fill(studio, tmp_path, size, box)
    assert downloaded.shape == source.shape
    outside = ~inside
    assert np.array_equal(downloaded[outside], source[outside]), \
        f"{np.count_nonzero((downloaded != source).any(-1) & outside)} pixels outside the mask changed"
    assert (downloaded[inside] != source[inside]).any()  # the model did paint inside

    # The edit action says where: a pixel rectangle around the mask (C2PA region of interest).
    edited = next(a for a in _assertion(manifest, "c2pa.actions")["actions"] if a["action"] == "c2pa.edited")
    [change] = edited["changes"]
    assert change["name"] == "generated area"
    [region] = change["region"]
    x0, y0, x1, y1 = box
    assert region["type"] == "spatial"
    assert region["shape"]["type"] == "rectangle" and region["shape"]["unit"] == "pixel"
    assert (region["shape"]["origin"]["x"], region["shape"]["origin"]["y"]) == (x0, y0)
    assert (region["shape"]["width"], region["shape"]["height"]) == (x1 - x0, y1 - y0)

    mark = _assertion(manifest, GENERATION_LABEL)["watermark"]
    binding = _assertion(manifest, "c2pa.soft-binding")
    if carried is None:
        carried = mark["applied"]
    assert mark["applied"] is carried
    if carried:  # the mark reads back from the downloaded pixels, within the changed rectangle
        assert watermark.read_in_boxes(downloaded, [(x0, y0, x1 - x0, y1 - y0)]).watermark_id == mark["id"]
        assert binding["alg"] == WATERMARK_ALG and binding["blocks"][0]["value"] == mark["id"]
        assert binding["blocks"][0]["scope"]["region"]["name"] == "watermarked area"
    else:
        assert "too small to carry the watermark" in mark["reason"] and binding is None
        assert watermark.read_in_boxes(downloaded, [(x0, y0, x1 - x0, y1 - y0)]) is None


def test_extend_keeps_the_source_where_it_was(studio, tmp_path):
    source, _, downloaded, manifest = _fill(studio, tmp_path, (320, 256), None, mode="extend", extend_right=64)
    assert downloaded.shape == (256, 384, 3)
    # The new border is generated, and a seam band of `feather` (4) px inside the source blends into it.
    assert np.array_equal(downloaded[:, :316], source[:, :316])
    [change] = next(a for a in _assertion(manifest, "c2pa.actions")["actions"]
                    if a["action"] == "c2pa.edited")["changes"]
    shape = change["region"][0]["shape"]
    assert (shape["origin"]["x"], shape["origin"]["y"], shape["width"], shape["height"]) == (316, 0, 68, 256)
