"""The audio watermark: what it survives (MP3 128 kbit/s, resampling, a trimmed start, -6 dB),
that unmarked sound reads as unmarked, and that a real output carries it into the file a visitor
downloads, where Verify reads the id its manifest names."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from pipelines import music
from pipelines.media import AudioArtifact
from provenance import audio_watermark as aw
from provenance.report import generation_data

ID = "5a17c0ffee42"


def notes(seconds: float, rate: int = 32000, seed: int = 0) -> np.ndarray:
    """Music-like sound: decaying harmonic notes, four a second, over a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    y = 0.01 * rng.standard_normal(len(t))
    for k in range(int(seconds * 4)):
        f0, start = 110 * 2 ** (rng.integers(0, 24) / 12), k * 0.25
        envelope = np.exp(-(t - start) * 3) * (t >= start)
        y += sum(envelope * np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6))
    return (0.3 * y / np.abs(y).max())[None].astype(np.float32)


def noise(seconds: float, rate: int = 16000) -> np.ndarray:
    return (0.1 * np.random.default_rng(1).standard_normal(int(seconds * rate)))[None].astype(np.float32)


def sine(seconds: float, rate: int = 24000, hz: float = 1000.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t))[None].astype(np.float32)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[np.ndarray, int]:
    """About 8 s of espeak-ng speech (22.05 kHz), as the studio's VITS voices use it."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make setup installs it)")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Every file that leaves the studio is signed, and the sound "
                    "now carries a quiet mark as well, which a reader can find again after compression."], check=True)
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return data.T, rate


def mp3_128k(x: np.ndarray, rate: int, tmp: Path) -> tuple[np.ndarray, int]:
    """Encode as MP3 at 128 kbit/s with the bundled ffmpeg (LAME) and decode again."""
    wav, mp3 = tmp / "in.wav", tmp / "out.mp3"
    sf.write(wav, np.clip(x, -1, 1).T, rate, subtype="PCM_16")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(wav), "-b:a", "128k",
                    str(mp3)], check=True)
    data, out_rate = sf.read(mp3, dtype="float32", always_2d=True)
    return data.T, out_rate


def resample(x: np.ndarray, rate: int, new_rate: int) -> tuple[np.ndarray, int]:
    g = np.gcd(rate, new_rate)
    return signal.resample_poly(x, new_rate // g, rate // g, axis=-1), new_rate


ATTACKS = {
    "none": lambda x, r, tmp: (x, r),
    "mp3 128k": mp3_128k,
    "resampled to 44.1 kHz": lambda x, r, tmp: resample(x, r, 44100),
    "resampled to 22.05 kHz": lambda x, r, tmp: resample(x, r, 22050),
    "first second cut": lambda x, r, tmp: (x[:, r:], r),
    "-6 dB": lambda x, r, tmp: (x * 0.5, r),
    "first second cut, then mp3 128k": lambda x, r, tmp: mp3_128k(x[:, r:], r, tmp),
}


def bit_accuracy(read_id: str | None, wanted: str) -> float:
    if read_id is None:
        return 0.0
    a, b = (np.unpackbits(np.frombuffer(bytes.fromhex(i), np.uint8)) for i in (read_id, wanted))
    return float(np.mean(a == b))


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("host, rate", [("music", 32000), ("noise", 16000)])
def test_the_id_survives_each_attack(host, rate, attack, tmp_path):
    sound = notes(4.0, rate) if host == "music" else noise(4.0, rate)
    marked = aw.embed(sound, rate, ID)
    reading = aw.read(*ATTACKS[attack](marked, rate, tmp_path))
    assert reading.watermark_id == ID, (bit_accuracy(reading.watermark_id, ID), reading)
    assert reading.confidence >= 0.5


@pytest.mark.parametrize("attack", ["mp3 128k", "first second cut, then mp3 128k", "resampled to 44.1 kHz", "-6 dB"])
def test_speech_keeps_its_id(speech, attack, tmp_path):
    sound, rate = speech
    marked = aw.embed(sound, rate, ID)
    reading = aw.read(*ATTACKS[attack](marked, rate, tmp_path))
    assert reading.found
    # Speech is the hardest host (pauses, a few strong harmonics): ~8 s gives every bit or all but one.
    assert bit_accuracy(reading.watermark_id, ID) >= 47 / 48


@pytest.mark.parametrize("host", ["noise", "sine", "music", "speech", "silence"])
def test_unmarked_sound_reads_as_unmarked(host, speech, tmp_path):
    rate = {"speech": speech[1]}.get(host, 24000)
    sound = {"noise": noise(5.0, rate), "sine": sine(5.0, rate), "music": notes(5.0, rate, seed=3),
             "speech": speech[0], "silence": np.zeros((1, 5 * rate), np.float32)}[host]
    for attacked in (sound, mp3_128k(sound, rate, tmp_path)[0]):
        reading = aw.read(attacked, rate)
        assert not reading.found and reading.confidence < 0.5, reading


def test_the_mark_is_quiet_and_keeps_the_level():
    for sound, rate, floor_db in ((notes(4.0), 32000, 20.0), (noise(4.0), 16000, 15.0)):
        marked = aw.embed(sound, rate, ID)
        assert aw.mark_snr_db(sound, marked) >= floor_db
        assert np.abs(marked).max() <= 1.0
        # Nothing outside 500-6500 Hz (as resampled at 16 kHz) is touched: the low end stays.
        low = signal.sosfiltfilt(signal.butter(6, 300, fs=rate, output="sos"), marked - sound, axis=-1)
        assert np.sqrt(np.mean(low ** 2)) < 0.01 * np.sqrt(np.mean((marked - sound) ** 2))


def test_stereo_carries_the_mark_in_each_channel_and_the_mix():
    sound = np.concatenate([notes(4.0, 44100, seed=1), notes(4.0, 44100, seed=2)])
    marked = aw.embed(sound, 44100, ID)
    assert marked.shape == sound.shape
    for channels in (marked, marked[:1], marked[1:]):
        assert aw.read(channels, 44100).watermark_id == ID


def test_bad_ids_and_short_sound_are_refused():
    with pytest.raises(ValueError, match="12 hex digits"):
        aw.embed(noise(3.0), 16000, "abcd")
    with pytest.raises(ValueError, match="too short"):
        aw.embed(noise(1.5), 16000, ID)


def test_publish_marks_sound_before_signing_and_records_what_it_could_not(make_publisher, tone):
    publisher = make_publisher(audio_formats=("wav", "mp3"))
    long_enough = AudioArtifact(noise(3.0), 16000, {"model": "test"}, target_lufs=-16.0)
    outputs = publisher.publish(long_enough, task="sound_effects", session_id="s")
    assert len({o.watermark_id for o in outputs}) == 2  # one id per file
    for out in outputs:
        recorded = generation_data(out.manifest)["watermark"]
        assert recorded["applied"] and recorded["id"] == out.watermark_id and recorded["scheme"] == aw.SCHEME
        report = publisher.verify(out.path)
        assert report.state in ("Valid", "Trusted")
        assert report.watermark_id == out.watermark_id and report.ledger_match == "watermark"
    short = publisher.publish(AudioArtifact(noise(1.5), 16000, {}), task="speech", session_id="s")[0]
    recorded = generation_data(short.manifest)["watermark"]
    assert short.watermark_id is None and not recorded["applied"] and "shorter than" in recorded["reason"]
    report = publisher.verify(short.path)
    assert report.watermark_checked and report.watermark_id is None and "too short" in report.watermark_note
    hum = publisher.publish(AudioArtifact(tone(3.0), 16000, {}), task="music", session_id="s")[0]
    assert "did not read back" in generation_data(hum.manifest)["watermark"]["reason"]


@pytest.fixture
def one_torch_thread():
    """Tiny models on a shared 2-core machine run far faster on one intra-op thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_a_real_music_output_downloaded_reads_its_manifests_id(studio, tmp_path, one_torch_thread):
    request = music.Request(prompt="calm piano", model="tiny-musicgen", duration_s=2.5, seed=2)
    outcome = studio.produce("music", request, "audio-watermark-session")
    assert sorted(i.mime for i in outcome.items) == ["audio/mpeg", "audio/wav"]
    for item in outcome.items:
        report = studio.publisher.verify(Path(item.path))
        recorded = generation_data(report.manifest)["watermark"]
        assert recorded["applied"], recorded
        assert report.watermark_id == recorded["id"] and report.ledger_match == "watermark"
        bindings = [a["data"] for a in report.manifest["assertions"] if a["label"].startswith("c2pa.soft-binding")]
        assert [(b["alg"], b["blocks"][0]["value"]) for b in bindings] == [(aw.SOFT_BINDING_ALG, recorded["id"])]
        # A stripped copy (credentials gone: decoded and re-encoded) is still found by its mark.
        data, rate = sf.read(item.path, always_2d=True)
        copy = tmp_path / f"copy-{Path(item.path).stem}.flac"
        sf.write(copy, data, rate)
        stripped = studio.publisher.verify(copy)
        assert stripped.watermark_id == recorded["id"] and stripped.manifest_source == "ledger"
    # Detect reads it too: the stripped copy of the last file is the studio's own, found by its mark.
    verdict = studio.check_upload(str(copy))
    assert verdict["evidence"]["watermark"]["id"] == recorded["id"] and verdict["own_output"]


def test_an_id_that_fails_its_check_is_not_named(monkeypatch, tmp_path):
    """The reader's decision on slot scores: a weak flipped bit is corrected through the CRC;
    three flipped bits name no id, and Verify's note says a mark is there but damaged."""
    signs = np.concatenate([aw._SYNC, aw._id_signs(ID)])
    scores = 3.0 * signs
    sound = noise(3.0)
    sf.write(tmp_path / "damaged.wav", sound.T, 16000)

    def with_scores(values):
        monkeypatch.setattr(aw, "_best_alignment", lambda mono16: (9.0, values))

    one = scores.copy()
    one[20] = -0.2 * signs[20]  # the least certain bit read wrong
    with_scores(one)
    assert aw.read(sound, 16000).watermark_id == ID
    three = scores.copy()
    three[[20, 30, 40]] *= -1  # confidently wrong: no candidate passes the CRC
    with_scores(three)
    assert aw.read(sound, 16000).watermark_id is None
    reading, note = aw.read_file(tmp_path / "damaged.wav")
    assert reading.watermark_id is None and reading.confidence >= 0.5 and "did not read intact" in note
