"""The Voice tab end to end: Studio.produce and gradio_client against the live server, outputs signed."""
from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from pipelines.speech import Request

ARGS = dict(text="Hello there, keeper. The lamp is lit tonight.", model="tiny-vits", language="en", speaker="",
            speed=1.0, reference=None, attest=False, confirm=False, seed_mode="fixed", seed=42, pause_ms=250,
            loudness=-16.0)


def speak(client, **kw):
    a = {**ARGS, **kw}
    return client.predict(a["text"], a["model"], a["language"], a["speaker"], a["speed"], a["reference"],
                          a["attest"], a["confirm"], a["seed_mode"], a["seed"], a["pause_ms"], a["loudness"],
                          api_name="/speak")


@pytest.fixture(scope="module")
def client(live_url):
    return Client(live_url, verbose=False)


def test_produce_publishes_signed_wav_and_mp3_at_speech_loudness(studio):
    request = Request(text="Hello there, keeper. The lamp is lit tonight, and the ships are coming home.",
                      model="tiny-vits", speaker="tiny-cleo", seed=4, target_lufs=-16.0)
    outcome = studio.produce("speech", request, session_id="speech-test")
    assert sorted(i.mime for i in outcome.items) == ["application/x-subrip", "audio/mpeg", "audio/wav", "text/vtt"]
    for item in outcome.items:
        assert studio.publisher.verify(item.path).state in ("Valid", "Trusted")
        assert item.params["speaker"] == "tiny-cleo" and item.params["target_lufs"] == -16.0
    wav = next(i for i in outcome.items if i.mime == "audio/wav")
    samples, rate = sf.read(wav.path, dtype="float32")
    assert samples.ndim == 1 and rate == 22050
    assert abs(samples.size / rate - wav.params["duration_s"]) < 1e-3
    loudness = pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64))
    peak_limited = np.abs(samples).max() > 0.98
    assert abs(loudness - -16.0) < 0.5 or (peak_limited and loudness < -16.0), (loudness, peak_limited)


def test_speak_through_the_api_returns_signed_files_in_the_gallery(client, studio):
    rows, wav, files, params, status = speak(client)
    assert "4 file(s) made" in status  # WAV, MP3 and the take's SRT and WebVTT subtitles
    assert params["seed"] == 42 and params["model"] == "tiny-vits" and params["text"] == ARGS["text"]
    assert wav.endswith(".wav") and sorted(f.rsplit(".", 1)[-1] for f in files) == ["mp3", "srt", "vtt", "wav"]
    for path in files:
        report = studio.publisher.verify(path)
        if path.endswith((".srt", ".vtt")):  # handed out without its .c2pa sidecar: known by its exact bytes
            assert report.ledger_match == "exact copy" and report.manifest_source in ("sidecar", "ledger")
        else:
            assert report.state in ("Valid", "Trusted")
    rows_before = len(rows["data"])
    rows, *_ = speak(client, seed=43, speed=1.5)
    assert len(rows["data"]) == rows_before + 1  # one row per take (WAV, MP3 and subtitles together)
    assert rows["data"][0][2].startswith("Tiny VITS")


@pytest.mark.parametrize("kw, message", [
    (dict(text="   "), "The text is empty"),
    (dict(text="x" * 2001), "2,001 characters; the limit"),
    (dict(text="Price: 5 €"), "cannot say these characters: '€'"),
    (dict(language="fr"), "does not speak 'fr'"),
    (dict(model="xtts-v2"), "studio models pull xtts-v2"),
])
def test_bad_input_is_a_clear_api_error(client, kw, message):
    with pytest.raises(AppError, match=message):
        speak(client, **kw)


@pytest.mark.parametrize("clip, message", [
    ("short", "2.0 s long; it needs 3 to 30 s"),
    ("silent", "silent"),
    ("corrupt", "could not be read as audio"),
    ("image", "has no sound in it"),
])
def test_bad_reference_clip_is_a_clear_api_error(client, clips, clip, message):
    with pytest.raises(AppError, match=message):
        speak(client, model="tiny-xtts", reference=handle_file(str(clips[clip])), attest=True)


def test_cloning_needs_attestation_and_a_flagged_clip_needs_confirmation(client, studio, clips, monkeypatch):
    reference = handle_file(str(clips["voice"]))
    with pytest.raises(AppError, match="speaker's permission"):
        speak(client, model="tiny-xtts", text="Hello there.", reference=reference)

    # The detector's verdict on this upload (its classifier is another task's subject): flagged.
    checked = []

    def flagged(path):
        checked.append(path)
        return {"verdict": "likely AI-generated", "flagged": True, "score": 0.97}

    monkeypatch.setattr(studio, "check_upload", flagged)
    with pytest.raises(AppError, match="looks AI-generated or synthetic"):
        speak(client, model="tiny-xtts", text="Hello there.", reference=reference, attest=True)
    rows, wav, files, params, status = speak(client, model="tiny-xtts", text="Hello there.", reference=reference,
                                             attest=True, confirm=True)
    assert len(checked) == 2  # the reference went through the detector both times
    clone = params["voice_clone"]
    assert clone["attested"] is True and clone["cloned_voice"] is True
    assert clone["reference_converted"] == {"sample_rate": 22050, "channels": 1}
    for path in files:
        report = studio.publisher.verify(path)
        # the subtitles come without their .c2pa sidecar: their manifest is recovered from the ledger
        assert report.state in ("Valid", "Trusted") or (path.endswith((".srt", ".vtt"))
                                                        and report.manifest_source == "ledger")
        # the reference clip is an ingredient of every file of the take
        assert any(i.get("title") == "reference voice" and i.get("relationship") == "inputTo"
                   for i in report.ingredients), report.ingredients
    manifest_params = str(report.to_dict())
    assert "voice_clone" in manifest_params and "attested" in manifest_params


def test_speak_endpoint_is_named(client):
    names = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/speak" in names and "/cancel_speech" in names
