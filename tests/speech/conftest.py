"""Reference clips for the speech tests: a voiced clip in several formats and the bad uploads."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def voiced(seconds: float, rate: int = 44100, channels: int = 2, seed: int = 0) -> np.ndarray:
    """A harmonic tone with syllable-rate loudness changes: sound a speaker encoder can take."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    pitch = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    tone = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    mono = 0.25 * tone * envelope + 0.005 * rng.standard_normal(t.size)
    return np.stack([mono] * channels, axis=1).astype(np.float32) if channels > 1 else mono.astype(np.float32)


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """name -> path: voice (5 s stereo 44.1 kHz WAV), voice_mp3, short (2 s), long (32 s), silent,
    corrupt (a WAV signature, then noise bytes), text (a text file named .wav), image (a PNG)."""
    d = tmp_path_factory.mktemp("speech-clips")
    out = {}
    out["voice"] = d / "voice.wav"
    sf.write(out["voice"], voiced(5.0), 44100)
    out["voice_mp3"] = d / "voice.mp3"
    sf.write(out["voice_mp3"], voiced(4.0, 48000, 1, seed=1), 48000, format="MP3")
    out["short"] = d / "short.wav"
    sf.write(out["short"], voiced(2.0, 16000, 1), 16000)
    out["long"] = d / "long.wav"
    sf.write(out["long"], voiced(32.0, 16000, 1), 16000)
    out["silent"] = d / "silent.wav"
    sf.write(out["silent"], np.zeros((5 * 16000,), np.float32), 16000)
    out["corrupt"] = d / "corrupt.wav"
    # a RIFF/WAVE signature whose format chunk is noise
    out["corrupt"].write_bytes(b"RIFF" + (5000).to_bytes(4, "little") + b"WAVEfmt "
                               + np.random.default_rng(0).bytes(4000))
    out["text"] = d / "notes.wav"
    out["text"].write_text("this is not audio\n" * 50)
    from PIL import Image

    out["image"] = d / "picture.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out["image"])
    return out
