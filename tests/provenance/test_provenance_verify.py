"""Verify: tampering, stripping, re-encoding, unsigned, damaged and hostile files."""
import json
import re

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from pipelines.media import AudioArtifact, ImageArtifact
from provenance.verify import verify_file


def _flip(src, dst, offset_of):
    data = bytearray(src.read_bytes())
    data[offset_of(bytes(data))] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


# Where one byte of content (not of the manifest) lies in each format.
_CONTENT_BYTE = {
    "png": lambda b: b.rfind(b"IDAT") + 4 + 40,
    "jpeg": lambda b: b.rfind(b"\xff\xda") + 300,
    "webp": lambda b: b.find(b"VP8") + 80,
    "wav": lambda b: b.find(b"data") + 8 + 2000,
    "mp3": lambda b: len(b) - 200,
    "mp4": lambda b: b.find(b"mdat") + 4 + 300,
}


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_flipped_image_byte_is_invalid_with_the_data_hash_code(make_publisher, image_artifact, tmp_path, fmt):
    pub = make_publisher(image_format=fmt)
    [out] = pub.publish(image_artifact, task="text_to_image", session_id="s")
    report = pub.verify(_flip(out.path, tmp_path / f"bad.{fmt}", _CONTENT_BYTE[fmt]))
    assert report.state == "Invalid"
    codes = dict(report.failures)
    assert "assertion.dataHash.mismatch" in codes
    assert "changed after it was signed" in codes["assertion.dataHash.mismatch"]


def test_flipped_audio_byte_is_invalid(publisher, audio_artifact, tmp_path):
    wav, mp3 = publisher.publish(audio_artifact, task="text_to_speech", session_id="s")
    for out, fmt in ((wav, "wav"), (mp3, "mp3")):
        report = publisher.verify(_flip(out.path, tmp_path / f"bad.{fmt}", _CONTENT_BYTE[fmt]))
        assert report.state == "Invalid" and "assertion.dataHash.mismatch" in dict(report.failures)


def test_flipped_video_byte_is_invalid_with_the_bmff_hash_code(publisher, video_artifact, tmp_path):
    [out] = publisher.publish(video_artifact, task="text_to_video", session_id="s")
    report = publisher.verify(_flip(out.path, tmp_path / "bad.mp4", _CONTENT_BYTE["mp4"]))
    assert report.state == "Invalid" and "assertion.bmffHash.mismatch" in dict(report.failures)


def test_stripped_image_is_recovered_from_the_ledger(publisher, published_png, tmp_path):
    stripped = tmp_path / "resaved.png"
    Image.open(published_png.path).save(stripped)  # Pillow drops the C2PA chunk
    report = publisher.verify(stripped)
    assert report.state == "No credentials"
    assert report.watermark_id == published_png.watermark_id
    assert report.ledger_match == "watermark" and report.ledger_record["sha256"] == published_png.sha256
    assert report.manifest_source == "ledger"
    assert report.manifest["label"] == published_png.manifest["label"]
    assert "recovered" in report.message and "ledger" in report.card_markdown()


def test_jpeg_85_copy_keeps_the_watermark(publisher, published_png, tmp_path):
    copy = tmp_path / "copy.jpg"
    Image.open(published_png.path).convert("RGB").save(copy, quality=85)
    report = publisher.verify(copy)
    assert report.watermark_id == published_png.watermark_id
    assert report.card["model"] == "tiny/random-sd15"


def test_resized_copy_is_scaled_back_before_reading(publisher, published_png, tmp_path):
    copy = tmp_path / "small.png"
    Image.open(published_png.path).resize((240, 240), Image.Resampling.LANCZOS).save(copy)
    report = publisher.verify(copy)
    assert report.watermark_id == published_png.watermark_id
    assert "scaling the image back" in report.watermark_note


def test_video_without_its_manifest_is_still_recognised(publisher, video_artifact, tmp_path):
    import av
    [out] = publisher.publish(video_artifact, task="text_to_video", session_id="s")
    copy = tmp_path / "reencoded.mp4"
    with av.open(str(out.path)) as src, av.open(str(copy), "w") as dst:
        stream = dst.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        for frame in src.decode(video=0):
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    report = publisher.verify(copy)
    assert report.state == "No credentials" and report.watermark_id == out.watermark_id
    assert report.manifest_source == "ledger"


def test_unsigned_files_have_no_credentials(publisher, picture, tone, tmp_path):
    Image.fromarray(picture(320, 320, seed=11)).save(tmp_path / "plain.png")
    sf.write(tmp_path / "plain.wav", tone(1.0).T, 16000)
    for name in ("plain.png", "plain.wav"):
        report = publisher.verify(tmp_path / name)
        assert report.state == "No credentials" and report.failures == []
        assert report.ledger_record is None and report.watermark_id is None


def test_truncated_and_corrupt_files_get_a_clear_message(publisher, published_png, tmp_path):
    data = published_png.path.read_bytes()
    cases = {
        "truncated.png": data[: len(data) // 2],
        "corrupt.png": data[:16] + bytes(range(256)) * 8,
        "empty.png": b"",
        "notes.png": b"this is not an image at all",
    }
    for name, payload in cases.items():
        (tmp_path / name).write_bytes(payload)
        report = verify_file(tmp_path / name, publisher.ledger)
        assert report.state == "Unreadable", name
        assert report.message and "Traceback" not in report.message
        assert str(tmp_path) not in json.dumps(report.to_dict())
    assert "damaged or incomplete" in verify_file(tmp_path / "truncated.png").message
    assert verify_file(tmp_path / "missing.png").state == "Unreadable"


def test_truncated_video_and_audio(publisher, video_artifact, audio_artifact, tmp_path):
    [video] = publisher.publish(video_artifact, task="text_to_video", session_id="s")
    wav, _ = publisher.publish(audio_artifact, task="text_to_speech", session_id="s")
    for out, name in ((video, "cut.mp4"), (wav, "cut.wav")):
        data = out.path.read_bytes()
        (tmp_path / name).write_bytes(data[: int(len(data) * 0.6)])
        report = publisher.verify(tmp_path / name)
        assert report.state in ("Unreadable", "Invalid"), name
        assert "incomplete" in report.message or "damaged" in report.message


def test_report_is_json_safe_and_never_holds_the_key(make_publisher, image_artifact):
    pub = make_publisher(detector=lambda path, artifact: {"score": 0.5})
    [out] = pub.publish(image_artifact, task="text_to_image", session_id="s")
    report = pub.verify(out.path)
    text = json.dumps(report.to_dict())
    key_body = pub.identity.key_pem.decode().splitlines()[1]
    assert "PRIVATE KEY" not in text and key_body not in text
    assert "\n".join(report.summary_lines()).count("development identity") >= 1
    assert report.verdict == {"score": 0.5} and "Detector" in report.card_markdown()
    assert report.to_dict()["card"]["license"] == "creativeml-openrail-m"


def test_text_from_a_manifest_cannot_inject_markdown(publisher, picture, gen_params):
    hostile = {**gen_params, "prompt": "<img src=x onerror=alert(1)> [click](http://evil)"}
    [out] = publisher.publish(ImageArtifact(Image.fromarray(picture(320, 320)), hostile),
                              task="text_to_image", session_id="s", title="**bold** <script>")
    card = publisher.verify(out.path).card_markdown()
    unescaped = re.compile(r"(?<!\\)[<\[*]")  # markup characters without a backslash before them
    checked = [line for line in card.splitlines() if line.startswith(("- **Prompt:**", "- **Title:**"))]
    assert len(checked) == 2
    for line in checked:
        assert not unescaped.search(line.split(":**", 1)[1]), line


def test_sidecar_manifests_are_read(make_publisher, tmp_path, monkeypatch):
    import provenance.publish as publish
    pub = make_publisher(sidecar_when_unsigned=True)
    monkeypatch.setattr(publish, "can_embed", lambda mime: False)  # as if WAV could not embed
    [wav] = pub.publish(AudioArtifact(np.zeros((1, 16000), np.float32), 16000, {}), task="sound_effect",
                        session_id="s")[:1]
    assert wav.path.with_name(wav.path.name + ".c2pa").exists()
    report = pub.verify(wav.path)
    assert report.state == "Trusted" and report.manifest_source == "sidecar"


def test_a_small_drawing_is_not_called_a_studio_output(publisher, published_png, tmp_path):
    """A 96 px two-colour drawing without credentials is scaled up to the studio's output sizes
    (the ledger's) in search of a mark: no such read may count unless the ledger issued the id."""
    from PIL import ImageDraw
    drawing = tmp_path / "drawing.png"
    im = Image.new("RGB", (96, 96), (30, 90, 200))
    ImageDraw.Draw(im).rectangle((20, 20, 70, 60), fill=(250, 200, 20))
    im.save(drawing)
    report = publisher.verify(drawing)
    assert report.watermark_id is None and "scaling" not in (report.watermark_note or "")
