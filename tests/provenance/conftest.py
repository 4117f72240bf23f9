"""Fixtures for the provenance tests: a publisher on a temporary data folder and small,
synthetic media (smooth pictures with a little noise, like generated images; a sine tone)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.media import AudioArtifact, ImageArtifact, VideoArtifact
from provenance.publish import Publisher, PublishConfig

PARAMS = {
    "task": "text_to_image", "model": "sd15-tiny", "model_id": "tiny/random-sd15", "revision": "0123abcd",
    "license": "creativeml-openrail-m", "seed": 1234, "steps": 4, "guidance": 7.5, "scheduler": "DDIMScheduler",
    "width": 320, "height": 320, "prompt": "a lighthouse at dusk, oil painting", "negative_prompt": "blurry",
}


def picture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB uint8 picture with mild noise (watermarks behave on it as on real images)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    channels = [128 + 60 * np.sin(x / (19.0 + 4 * c + seed) + c) + 40 * np.cos(y / (13.0 + 3 * c)) for c in range(3)]
    noisy = np.stack(channels, -1) + rng.normal(0, 6, (height, width, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def tone(seconds: float, rate: int = 16000, channels: int = 1, level: float = 0.1) -> np.ndarray:
    """A sine tone shaped (channels, samples), float32."""
    t = np.arange(int(seconds * rate)) / rate
    wave = (level * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    return np.stack([wave] * channels)


@pytest.fixture
def gen_params() -> dict:
    """Parameters as a text-to-image pipeline records them."""
    return dict(PARAMS)


@pytest.fixture(name="picture")
def picture_fixture():
    return picture


@pytest.fixture(name="tone")
def tone_fixture():
    return tone


@pytest.fixture
def make_publisher(tmp_path: Path):
    """Build a Publisher on a fresh data folder; keyword arguments go to PublishConfig."""

    def make(detector=None, **cfg) -> Publisher:
        return Publisher(PublishConfig(data_dir=cfg.pop("data_dir", tmp_path / "data"), **cfg), detector=detector)

    return make


@pytest.fixture
def publisher(make_publisher) -> Publisher:
    return make_publisher()


@pytest.fixture
def image_artifact() -> ImageArtifact:
    return ImageArtifact(Image.fromarray(picture(320, 320)), dict(PARAMS))


@pytest.fixture
def video_artifact() -> VideoArtifact:
    frames = [np.roll(picture(256, 256, seed=1), 3 * i, axis=1) for i in range(8)]
    params = {**PARAMS, "task": "text_to_video", "width": 256, "height": 256, "num_frames": 8, "fps": 8}
    sound = AudioArtifact(tone(1.0), 16000, {}, target_lufs=-16.0)
    return VideoArtifact(frames, 8.0, params, audio=sound)


@pytest.fixture
def audio_artifact() -> AudioArtifact:
    params = {"task": "text_to_speech", "model_id": "tiny/xtts", "revision": "r1", "license": "cpml",
              "seed": 7, "text": "Hello from the studio.", "duration_s": 1.5}
    return AudioArtifact(tone(1.5), 16000, params, target_lufs=-16.0)


@pytest.fixture
def published_png(publisher, image_artifact):
    [out] = publisher.publish(image_artifact, task="text_to_image", session_id="sess1")
    return out
