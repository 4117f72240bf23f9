"""Publishing: every format signs, reads back, and lands where and as it should."""
import io
import json
import zipfile

import av
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from PIL import Image

from pipelines.errors import ProvenanceError
from pipelines.media import AudioArtifact, ImageArtifact, InputFile
from provenance.manifest import COMPOSITE, GENERATION_LABEL, TRAINED
from provenance.verify import file_sha256, verify_file


def _assertion(manifest, prefix):
    return next(a["data"] for a in manifest["assertions"] if a["label"].startswith(prefix))


def _check_published(pub, out, mime, session="sess1"):
    assert out.mime == mime and out.path.is_file()
    assert out.path.parent == pub.cfg.outputs_dir / session
    assert len(out.path.stem) >= 20  # unguessable
    assert out.sha256 == file_sha256(out.path)
    report = pub.verify(out.path)
    assert report.state == "Trusted", report.summary_lines()
    assert report.development_identity and report.manifest_source == "embedded"
    # Any C2PA reader without the studio's CA sees a valid, untrusted signature.
    plain = verify_file(out.path)
    assert plain.state == "Valid"
    assert [c for c, _ in plain.failures] == ["signingCredential.untrusted"]
    record = pub.ledger.get(out.id)
    assert record.sha256 == out.sha256 and record.session_id == session
    return report


@pytest.mark.parametrize("fmt,mime", [("png", "image/png"), ("jpeg", "image/jpeg"), ("webp", "image/webp")])
def test_image_round_trip(make_publisher, image_artifact, fmt, mime):
    pub = make_publisher(image_format=fmt)
    [out] = pub.publish(image_artifact, task="text_to_image", session_id="sess1", title="Lighthouse")
    report = _check_published(pub, out, mime)
    assert report.watermark_id == out.watermark_id is not None and report.ledger_match == "watermark"
    assert out.manifest["title"] == "Lighthouse"
    assert out.manifest["claim_generator_info"][0]["name"] == "genmedia-studio"
    action = _assertion(out.manifest, "c2pa.actions")["actions"][0]
    assert action["action"] == "c2pa.created" and action["digitalSourceType"] == TRAINED
    gen = _assertion(out.manifest, GENERATION_LABEL)
    assert gen["model"]["id"] == "tiny/random-sd15" and gen["parameters"]["seed"] == 1234
    assert gen["watermark"]["id"] == out.watermark_id
    assert gen["watermark"]["original_size"] == {"width": 320, "height": 320}
    assert out.path.stat().st_size - len(Image.open(out.path).tobytes()) < 300_000  # no 0.6 MB thumbnail


def test_video_round_trip(publisher, video_artifact):
    [out] = publisher.publish(video_artifact, task="text_to_video", session_id="sess1")
    report = _check_published(publisher, out, "video/mp4")
    assert report.watermark_id == out.watermark_id is not None
    with av.open(str(out.path)) as box:
        video, audio = box.streams.video[0], box.streams.audio[0]
        assert video.codec_context.name == "h264" and video.codec_context.pix_fmt == "yuv420p"
        assert (video.width, video.height) == (256, 256) and video.frames == 8
        assert audio.codec_context.name == "aac"
    data = out.path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # +faststart
    assert b"moof" not in data  # not fragmented
    media = _assertion(out.manifest, GENERATION_LABEL)["media"]
    assert media["fps"] == 8.0 and media["audio"]["codec"] == "aac"


def test_audio_round_trip_in_every_configured_format(make_publisher, audio_artifact):
    pub = make_publisher(audio_formats=("wav", "mp3", "flac"))
    outs = pub.publish(audio_artifact, task="text_to_speech", session_id="sess1")
    assert [o.mime for o in outs] == ["audio/wav", "audio/mpeg", "audio/flac"]
    assert len({o.id for o in outs}) == 3
    for out in outs:
        _check_published(pub, out, out.mime)
        assert out.watermark_id is None
    samples, rate = sf.read(outs[0].path)
    assert pyloudnorm.Meter(rate).integrated_loudness(samples) == pytest.approx(-16.0, abs=0.5)
    loudness = _assertion(outs[0].manifest, GENERATION_LABEL)["media"]["loudness"]
    assert loudness["applied"] is True and loudness["target_lufs"] == -16.0


def test_silent_and_short_audio_are_left_alone(publisher, tone):
    silent = AudioArtifact(np.zeros((1, 16000), np.float32), 16000, {}, target_lufs=-16.0)
    outs = publisher.publish(silent, task="sound_effect", session_id="s")
    assert np.abs(sf.read(outs[0].path)[0]).max() == 0
    assert _assertion(outs[0].manifest, GENERATION_LABEL)["media"]["loudness"]["reason"] == "silent"
    short = AudioArtifact(tone(0.2), 16000, {}, target_lufs=-16.0)
    assert publisher.publish(short, task="sound_effect", session_id="s")


def test_loud_audio_is_not_clipped(publisher, tone):
    loud = AudioArtifact(tone(1.0, level=0.5), 16000, {}, target_lufs=-1.0)
    [wav, _] = publisher.publish(loud, task="music", session_id="s")
    assert np.abs(sf.read(wav.path)[0]).max() < 1.0
    assert _assertion(wav.manifest, GENERATION_LABEL)["media"]["loudness"]["peak_limited"] is True


def test_detector_sees_the_finished_file_and_its_verdict_is_signed(make_publisher, image_artifact):
    seen = {}

    def detector(path, artifact):
        seen["path"], seen["artifact"] = path, artifact
        seen["bytes"] = path.read_bytes()
        return {"score": np.float32(0.875), "label": "synthetic"}

    pub = make_publisher(detector=detector)
    [out] = pub.publish(image_artifact, task="text_to_image", session_id="s")
    assert seen["artifact"] is image_artifact
    # The detector got the watermarked, encoded pixels that were then signed.
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(seen["bytes"]))), np.asarray(Image.open(out.path)))
    assert out.verdict == {"score": 0.875, "label": "synthetic"}
    assert _assertion(out.manifest, GENERATION_LABEL)["detector"] == out.verdict
    assert not list(out.path.parent.glob(".*"))  # no staging files left behind


def test_edit_records_its_parent_as_an_ingredient(publisher, published_png, picture, gen_params):
    fill = ImageArtifact(Image.fromarray(picture(320, 320, seed=8)), {**gen_params, "task": "fill"})
    inputs = [InputFile(str(published_png.path), "parentOf", "original.png", verdict={"score": 0.1})]
    [out] = publisher.publish(fill, task="fill", session_id="sess1", inputs=inputs)
    actions = _assertion(out.manifest, "c2pa.actions")["actions"]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[1]["digitalSourceType"] == COMPOSITE
    [ingredient] = out.manifest["ingredients"]
    assert ingredient["relationship"] == "parentOf" and ingredient["title"] == "original.png"
    report = publisher.verify(out.path)
    assert report.state == "Trusted"
    assert report.ingredients[0]["has_credentials"] and report.ingredients[0]["problems"] == []
    assert _assertion(out.manifest, GENERATION_LABEL)["inputs"][0]["verdict"] == {"score": 0.1}


def test_prompt_hidden_when_disclosure_is_off(make_publisher, image_artifact):
    pub = make_publisher(disclose_prompt=False)
    [out] = pub.publish(image_artifact, task="text_to_image", session_id="s")
    assert b"lighthouse" not in out.path.read_bytes()
    assert "lighthouse" not in pub.ledger.get(out.id).manifest_json
    assert "prompt_sha256" in _assertion(out.manifest, GENERATION_LABEL)


def test_small_images_are_published_without_watermark_and_say_so(publisher, picture):
    [out] = publisher.publish(ImageArtifact(Image.fromarray(picture(200, 150)), {}), task="text_to_image",
                              session_id="s")
    assert out.watermark_id is None
    mark = _assertion(out.manifest, GENERATION_LABEL)["watermark"]
    assert mark["applied"] is False and "256x256" in mark["reason"]


def test_publish_file_signs_exports(publisher, published_png, tmp_path):
    export = tmp_path / "board.zip"
    with zipfile.ZipFile(export, "w") as z:
        z.writestr("panel1.txt", "x" * 100)
    inputs = [InputFile(str(published_png.path), "componentOf", "panel 1")]
    out = publisher.publish_file(export, "application/zip", task="storyboard", session_id="sess1",
                                 inputs=inputs, title="Board", params={"panels": 1})
    assert export.exists() and out.path.suffix == ".zip" and out.mime == "application/zip"
    assert [a["action"] for a in _assertion(out.manifest, "c2pa.actions")["actions"]] == ["c2pa.created", "c2pa.placed"]
    assert json.loads(publisher.ledger.get(out.id).manifest_json)["active_manifest"]


def test_unsupported_formats_are_refused_or_get_a_sidecar(make_publisher, tmp_path):
    # (Subtitles and transcripts always get a sidecar: tests/localisation/test_text_outputs.py.)
    notes = tmp_path / "notes.json"
    notes.write_text('{"shots": 1}')
    strict = make_publisher(data_dir=tmp_path / "strict")
    with pytest.raises(ProvenanceError, match="not handed out"):
        strict.publish_file(notes, "application/json", task="storyboard", session_id="s")
    assert not any(p.is_file() for p in (tmp_path / "strict" / "outputs").rglob("*"))
    lenient = make_publisher(data_dir=tmp_path / "lenient", sidecar_when_unsigned=True)
    out = lenient.publish_file(notes, "application/json", task="storyboard", session_id="s")
    assert out.path.read_text() == '{"shots": 1}'
    assert out.path.with_name(out.path.name + ".c2pa").stat().st_size > 500
    assert out.manifest["title"] == "notes.json"


def test_pdf_exports_are_signed(publisher, tmp_path):
    fpdf = pytest.importorskip("fpdf")
    doc = fpdf.FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.cell(text="Storyboard")
    doc.output(str(tmp_path / "board.pdf"))
    out = publisher.publish_file(tmp_path / "board.pdf", "application/pdf", task="storyboard", session_id="s")
    report = publisher.verify(out.path)
    assert report.state == "Trusted" and report.mime == "application/pdf" and not report.watermark_checked


def test_unreachable_timestamp_authority_means_nothing_is_handed_out(make_publisher, image_artifact, tmp_path):
    pub = make_publisher(tsa_url="http://127.0.0.1:9/tsa")
    with pytest.raises(ProvenanceError, match="not handed out"):
        pub.publish(image_artifact, task="text_to_image", session_id="s")
    assert not any((pub.cfg.outputs_dir / "s").iterdir())


def test_concurrent_publishing(publisher, picture):
    import threading
    results, errors = [], []

    def work(seed):
        try:
            art = ImageArtifact(Image.fromarray(picture(288, 288, seed=seed)), {"seed": seed})
            results.extend(publisher.publish(art, task="text_to_image", session_id=f"s{seed % 2}"))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 6
    assert len({r.watermark_id for r in results}) == 6
    assert all(publisher.verify(r.path).state == "Trusted" for r in results)


def test_bad_session_ids_are_refused(publisher, image_artifact):
    with pytest.raises(ProvenanceError):
        publisher.publish(image_artifact, task="text_to_image", session_id="../../etc")


def test_odd_sized_video_is_padded_to_even(publisher, picture):
    from pipelines.media import VideoArtifact
    frames = [picture(301, 271, seed=i) for i in range(3)]
    [out] = publisher.publish(VideoArtifact(frames, 6.0, {}), task="text_to_video", session_id="s")
    with av.open(str(out.path)) as box:
        assert (box.streams.video[0].width, box.streams.video[0].height) == (302, 272)
    assert out.watermark_id is not None and publisher.verify(out.path).watermark_id == out.watermark_id
