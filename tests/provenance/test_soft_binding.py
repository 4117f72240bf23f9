"""The studio's watermark is named in a c2pa.soft-binding assertion (C2PA 2.x soft-binding-map:
`alg`, `blocks[].scope`, `blocks[].value`), so other verifiers can look a stripped copy up. Read
back from the downloaded file with c2pa's own Reader; the value is what the watermark reader
decodes from the file's pixels."""
from __future__ import annotations

import json

import av
import c2pa
import numpy as np
from PIL import Image

from provenance import watermark
from provenance.manifest import WATERMARK_ALG, SoftBindingInfo, build_manifest

SESSION = "soft-binding-session"


def _soft_bindings(path: str, mime: str) -> list[dict]:
    with open(path, "rb") as stream, c2pa.Reader(mime, stream) as reader:
        store = json.loads(reader.json())
    active = store["manifests"][store["active_manifest"]]
    return [a["data"] for a in active["assertions"] if a["label"].split(".v")[0] == "c2pa.soft-binding"]


def test_an_image_names_its_watermark_and_the_pixels_carry_that_value(studio):
    from pipelines.text_to_image import Request

    outcome = studio.produce("text_to_image", Request(prompt="a harbour at noon", model="tiny-sd15", steps=2,
                                                      width=256, height=256, seed=11), SESSION)
    [item] = outcome.items
    [binding] = _soft_bindings(item.path, item.mime)
    assert binding["alg"] == WATERMARK_ALG and "dwtDctSvd" in binding["alg_params"]
    [block] = binding["blocks"]
    assert block["scope"] == {}  # the whole picture
    read = watermark.read(np.asarray(Image.open(item.path).convert("RGB")))
    assert read.watermark_id is not None and block["value"] == read.watermark_id


def test_a_video_names_its_watermark_and_the_frames_carry_that_value(studio):
    from pipelines.video import Request

    request = Request(prompt="a harbour", model="tiny-ltx", seed=3, steps=2, guidance=3.0, width=256, height=256,
                      frames=9, fps=8)
    [item] = studio.produce("video", request, SESSION).items
    [binding] = _soft_bindings(item.path, item.mime)
    with av.open(item.path) as box:
        frames = [f.to_ndarray(format="rgb24") for f in box.decode(box.streams.video[0])]
    read = watermark.read_frames(frames)
    assert binding["alg"] == WATERMARK_ALG and read.watermark_id is not None
    assert binding["blocks"][0]["value"] == read.watermark_id


def test_another_mark_such_as_an_audio_id_gets_its_own_assertion_with_a_timespan():
    manifest = build_manifest(
        title="speech.wav", mime="audio/wav", task="speech", params={}, disclose_prompt=True, studio_version="1",
        library_versions={}, verdict=None, watermark={}, media={}, created="2026-01-01T00:00:00+00:00",
        soft_bindings=[SoftBindingInfo("com.example.audio.1", "00ff", timespan_ms=(0, 1500))])
    [binding] = [a["data"] for a in manifest["assertions"] if a["label"] == "c2pa.soft-binding"]
    assert binding["alg"] == "com.example.audio.1"
    assert binding["blocks"] == [{"scope": {"timespan": {"start": 0, "end": 1500}}, "value": "00ff"}]
