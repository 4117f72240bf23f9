"""One verdict per file: evidence first (credentials, watermark), then the classifier's band,
and "cannot judge" with a reason for anything a model cannot read."""
from __future__ import annotations

import json

import pytest

from pipelines.errors import PresetError
from pipelines.presets import ModelPreset
from provenance.detect_verdict import (CREDENTIALS, LIKELY, NO_SIGN, UNSURE, VERDICTS, WATERMARK, Thresholds, combine,
                                       verdict_markdown)
from provenance.detector import Detector

KEYS = {"verdict", "flagged", "score", "model", "thresholds", "evidence"}


def check(studio, path):
    verdict = studio.detector.check_upload(path)
    assert KEYS <= set(verdict)
    json.dumps(verdict)  # goes into manifests and job records as it is
    assert str(path.parent) not in json.dumps(verdict)  # no server paths
    return verdict


def test_the_studios_own_output_comes_out_signed_credentials(detect_studio, media):
    report = detect_studio.publisher.verify(media["studio_png"])
    assert report.state in ("Valid", "Trusted")
    verdict = check(detect_studio, media["studio_png"])
    assert verdict["verdict"] == CREDENTIALS
    assert verdict["own_output"] and not verdict["flagged"]
    assert verdict["evidence"]["credentials"]["declares_ai"]
    # The classifier ran too, and says so with its model and bands.
    assert verdict["classifier"]["verdict"] in (LIKELY, UNSURE, NO_SIGN)
    assert verdict["model"] == "Tiny ViT detector (random weights, test)"
    assert verdict["thresholds"] == {"generated_labels": ["artificial"], "likely": 0.8, "unsure_low": 0.35}
    # The verdict at publication is in the signed manifest.
    at_publication = report.card["detector_at_publication"]
    assert at_publication["verdict"] == CREDENTIALS and at_publication["classifier"]["preset"] == "tiny-vit-detector"


def test_the_same_output_with_the_manifest_stripped_comes_out_studio_watermark(detect_studio, media):
    for key in ("stripped_png", "stripped_jpg"):
        assert detect_studio.publisher.verify(media[key]).state == "No credentials"
        verdict = check(detect_studio, media[key])
        assert verdict["verdict"] == WATERMARK, key
        if key == "stripped_png":  # lossless: the id reads back exactly and leads to the ledger
            assert verdict["own_output"] and not verdict["flagged"]
            assert verdict["evidence"]["ledger"]["match"] == "watermark"
        else:  # re-encoded: a bit error gives an id the ledger lacks; such a mark is not provably ours
            assert verdict["flagged"] == (verdict["evidence"]["ledger"] is None)


@pytest.mark.parametrize("key", ["studio_wav", "studio_mp3", "studio_mp4"])
def test_studio_audio_and_video_come_out_signed_credentials(detect_studio, media, key):
    assert detect_studio.publisher.verify(media[key]).state in ("Valid", "Trusted")
    verdict = check(detect_studio, media[key])
    assert verdict["verdict"] == CREDENTIALS and verdict["own_output"] and not verdict["flagged"]
    assert verdict["classifier"]["score"] is not None


def test_another_studios_signed_output_is_generated_and_flagged(detect_studio, media):
    for key in ("other_png", "other_wav"):
        verdict = check(detect_studio, media[key])
        assert verdict["verdict"] == CREDENTIALS
        assert verdict["flagged"] and not verdict["own_output"]


@pytest.mark.parametrize("key, kind", [("photo_png", "image"), ("photo_jpg", "image"), ("voice_wav", "audio"),
                                       ("voice_flac", "audio"), ("clip_mp4", "video")])
def test_files_without_evidence_get_the_classifiers_band(detect_studio, media, key, kind):
    verdict = check(detect_studio, media[key])
    assert verdict["verdict"] in (LIKELY, UNSURE, NO_SIGN)
    assert verdict["kind"] == kind and 0 <= verdict["score"] <= 1
    assert verdict["verdict"] == Thresholds(("artificial",), 0.8, 0.35).band(verdict["score"])
    assert not verdict["evidence"]["credentials"]["intact"]
    classifier = verdict["classifier"]
    if kind == "video":
        assert classifier["frames"] == 8 and len(classifier["frame_scores"]) == 8
        assert verdict["score"] == pytest.approx(sum(classifier["frame_scores"]) / 8, abs=1e-3)
    if key == "voice_wav":
        assert classifier["windows"] == 2  # 6 s in 4 s windows
    assert "random-weight" in classifier["note"]


@pytest.mark.parametrize("key, reason", [
    ("tiny_png", "24×24 pixels; the detector needs at least 64"),
    ("silent_wav", "silent"),
    ("short_wav", "lasts 0.20 s; the detector needs at least 0.5 s"),
    ("one_frame_mp4", "single frame"),
    ("notes_txt", "not an image, audio or video format"),
    ("doc_pdf", "not an image, audio or video format"),
    ("empty_png", "empty"),
    ("broken_png", "damaged or incomplete"),
])
def test_bad_input_gets_cannot_judge_with_the_reason(detect_studio, media, key, reason):
    verdict = check(detect_studio, media[key])
    assert verdict["verdict"].startswith("cannot judge: ")
    assert reason in verdict["verdict"]
    assert verdict["score"] is None and not verdict["flagged"]


def test_a_batch_is_scored_together_and_matches_single_checks(detect_studio, media):
    keys = ["photo_png", "photo_jpg", "clip_mp4", "voice_wav", "tiny_png"]
    batch = detect_studio.detector.classify([media[k] for k in keys])
    for key, verdict in zip(keys, batch):
        single = detect_studio.detector.classify([media[key]])[0]
        assert verdict["verdict"] == single["verdict"]
        if single["score"] is not None:
            assert verdict["score"] == pytest.approx(single["score"], abs=1e-4)


def test_a_missing_model_gives_cannot_judge_not_a_crash(detect_studio, media):
    verdict = detect_studio.detector.check_upload(media["photo_png"], image_preset="sdxl-detector")
    assert verdict["verdict"].startswith("cannot judge: the detector model could not run")
    assert "not on this machine" in verdict["verdict"]
    # Evidence that needs no model still decides.
    signed = detect_studio.detector.check_upload(media["studio_png"], image_preset="sdxl-detector")
    assert signed["verdict"] == CREDENTIALS


def test_bands_and_flags_follow_the_thresholds():
    th = Thresholds(("artificial", "fake"), likely=0.8, unsure_low=0.35)
    assert [th.band(s) for s in (0.0, 0.34, 0.35, 0.79, 0.8, 1.0)] == [NO_SIGN, NO_SIGN, UNSURE, UNSURE, LIKELY, LIKELY]
    assert th.score({"Artificial": 0.7, "human": 0.3}) == pytest.approx(0.7)
    classifier = {"verdict": LIKELY, "band": LIKELY, "score": 0.9, "model": "m", "thresholds": th.as_dict()}
    likely = combine(None, classifier)
    assert likely["verdict"] == LIKELY and likely["flagged"]
    assert not combine(None, {**classifier, "verdict": UNSURE})["flagged"]
    assert set(VERDICTS) == {CREDENTIALS, WATERMARK, LIKELY, UNSURE, NO_SIGN}
    card = verdict_markdown(likely, "upload.png")
    assert "likely AI-generated" in card and "0.90" in card and "0.35–0.80 unsure" in card and "Flagged" in card


@pytest.mark.parametrize("table, message", [
    ({"generated_labels": ["fake"], "likely": 0.3, "unsure_low": 0.5}, "unsure_low <= likely"),
    ({"generated_labels": [], "likely": 0.8, "unsure_low": 0.3}, "non-empty list"),
    ({"generated_labels": ["fake"], "likely": 0.8}, "lacks"),
    ({"generated_labels": ["fake"], "likely": 0.8, "unsure_low": 0.3, "typo": 1}, "unknown keys"),
])
def test_a_wrong_detector_table_is_a_preset_error(table, message):
    preset = ModelPreset(name="x", task="detect_audio", label="x", tier="tiny", family="w", license="l",
                         commercial_use=True, tiny="wav2vec2-detector", detector=table)
    with pytest.raises(PresetError, match=message):
        Thresholds.from_preset(preset)


def test_labels_that_the_model_does_not_have_are_refused():
    with pytest.raises(PresetError, match="model's labels"):
        Thresholds(("synthetic",), 0.8, 0.35).check_labels(["artificial", "human"], "p")


def test_an_unknown_preset_fails_when_the_detector_is_built(detect_studio):
    with pytest.raises(PresetError, match="Unknown model preset"):
        Detector(detect_studio.models, None, "no-such-preset")
