"""Fixtures for the music and sound-effect tests: input audio files of every kind, and one torch
thread while these tests run (tiny models on a shared 2-core machine run ~10x faster on one
intra-op thread than on two that other processes keep busy)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture(autouse=True)
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tune(seconds: float, rate: int = 32000, notes=(440.0, 554.4, 659.3, 880.0)) -> np.ndarray:
    """A plain arpeggio: one note per quarter of the length, with short fades against clicks."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    freq = np.asarray(notes)[np.minimum((t / seconds * len(notes)).astype(int), len(notes) - 1)]
    return (0.3 * np.sin(2 * np.pi * np.cumsum(freq) / rate)).astype(np.float32)


@pytest.fixture(scope="session")
def audio_files(tmp_path_factory) -> dict[str, Path]:
    """Melodies good and bad: WAV at 44.1 kHz stereo, M4A (AAC, read through PyAV), silent, too
    short, text posing as WAV, an image, and a WAV cut off after its header."""
    import av
    from PIL import Image

    d = tmp_path_factory.mktemp("music-inputs")
    files = {}
    files["melody"] = d / "melody.wav"
    sf.write(files["melody"], tune(3.0), 32000)
    files["melody_low"] = d / "melody-low.wav"
    sf.write(files["melody_low"], tune(3.0, notes=(110.0, 130.8, 146.8, 98.0)), 32000)
    stereo = np.stack([tune(2.5, 44100), tune(2.5, 44100, notes=(220.0, 277.2, 329.6, 440.0))], axis=1)
    files["stereo_44k"] = d / "stereo-44k.wav"
    sf.write(files["stereo_44k"], stereo, 44100)
    files["m4a"] = d / "melody.m4a"
    with av.open(str(files["m4a"]), "w", format="mp4") as box:
        stream = box.add_stream("aac", rate=44100)
        stream.layout = "mono"
        samples = tune(2.0, 44100)[None, :]
        for start in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 44100, start
            for packet in stream.encode(frame):
                box.mux(packet)
        for packet in stream.encode(None):
            box.mux(packet)
    files["silent"] = d / "silent.wav"
    sf.write(files["silent"], np.zeros(32000 * 2, dtype=np.float32), 32000)
    files["short"] = d / "short.wav"
    sf.write(files["short"], tune(0.3), 32000)
    files["text"] = d / "notes.wav"
    files["text"].write_text("this is a shopping list, not a recording\n" * 50)
    files["image"] = d / "cover.png"
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8)).save(files["image"])
    files["truncated"] = d / "truncated.wav"
    files["truncated"].write_bytes(files["melody"].read_bytes()[:44])
    return files
