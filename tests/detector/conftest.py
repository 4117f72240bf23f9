"""Fixtures for the detector tests: the shared studio (its detector is plugged into every
publish), its live server, and media files of every kind."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from detect_helpers import picture, speech_like, write_video
from pipelines.media import AudioArtifact, ImageArtifact, VideoArtifact


@pytest.fixture(scope="session")
def detect_studio(studio):
    """The shared studio: Studio.__init__ plugs the detector into every publish and upload check."""
    assert studio.publisher.detector is not None
    return studio


@pytest.fixture(scope="session")
def detect_live_url(live_url):
    return live_url


@pytest.fixture(scope="session")
def other_publisher(tmp_path_factory):
    """Another studio's publisher: its own signing identity and ledger."""
    from provenance.publish import Publisher, PublishConfig

    return Publisher(PublishConfig(data_dir=tmp_path_factory.mktemp("other-studio")))


@pytest.fixture(scope="session")
def media(tmp_path_factory, detect_studio, other_publisher) -> dict[str, Path]:
    """Files of every kind the detector meets, made once per run."""
    from pipelines.text_to_image import Request

    root = tmp_path_factory.mktemp("detect-media")
    files: dict[str, Path] = {}
    # The studio's own output, made by the tiny text-to-image model through Studio.produce.
    outcome = detect_studio.produce("text_to_image", Request(prompt="a lighthouse at dusk", model="tiny-sd15", steps=2,
                                                             width=256, height=256, seed=7), "detect-tests-session")
    files["studio_png"] = Path(outcome.items[0].path)
    # The same pixels with the manifest stripped (PIL does not copy the C2PA chunk).
    with Image.open(files["studio_png"]) as im:
        im.convert("RGB").save(root / "stripped.png")
        im.convert("RGB").save(root / "stripped.jpg", quality=98)
    files["stripped_png"], files["stripped_jpg"] = root / "stripped.png", root / "stripped.jpg"
    # The studio's own audio and video, through the publisher (as the speech and video tasks will).
    sound = AudioArtifact(speech_like(2.0)[None, :], 16000, {"task": "test_tone", "model": "none"}, target_lufs=-16.0)
    for published in detect_studio.publisher.publish(sound, task="test_tone", session_id="detect-tests-session"):
        files[f"studio_{published.path.suffix[1:]}"] = published.path
    frames = [np.roll(picture(256, 256, seed=2), 4 * i, axis=1) for i in range(8)]
    video = detect_studio.publisher.publish(VideoArtifact(frames, 8.0, {"task": "test_video"}), task="test_video",
                                            session_id="detect-tests-session")
    files["studio_mp4"] = video[0].path
    # Another studio's signed outputs: generated, but not this studio's.
    files["other_png"] = other_publisher.publish(ImageArtifact(Image.fromarray(picture(320, 320, seed=3)),
                                                               {"task": "text_to_image"}),
                                                 task="text_to_image", session_id="other")[0].path
    other_sound = AudioArtifact(speech_like(2.0, seed=4)[None, :], 16000, {"task": "tts"})
    files["other_wav"] = next(p.path for p in other_publisher.publish(other_sound, task="text_to_speech",
                                                                      session_id="other") if p.path.suffix == ".wav")
    # Plain files with no credentials and no watermark.
    Image.fromarray(picture(320, 240, seed=5)).save(root / "photo.png")
    Image.fromarray(picture(400, 300, seed=6)).save(root / "photo.jpg", quality=90)
    sf.write(root / "voice.wav", speech_like(6.0, 22050), 22050)
    sf.write(root / "voice.flac", speech_like(2.0, 16000, seed=1), 16000)
    write_video(root / "clip.mp4", [np.roll(picture(128, 128, seed=7), 3 * i, axis=0) for i in range(16)])
    files.update(photo_png=root / "photo.png", photo_jpg=root / "photo.jpg", voice_wav=root / "voice.wav",
                 voice_flac=root / "voice.flac", clip_mp4=root / "clip.mp4")
    # Files that cannot be judged.
    Image.fromarray(picture(24, 24)).save(root / "tiny.png")
    sf.write(root / "silent.wav", np.zeros(32000, np.float32), 16000)
    sf.write(root / "short.wav", speech_like(0.2), 16000)
    write_video(root / "one_frame.mp4", [picture(128, 128)])
    (root / "notes.txt").write_text("not media")
    (root / "empty.png").write_bytes(b"")
    (root / "broken.png").write_bytes((root / "photo.png").read_bytes()[:300])
    (root / "doc.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    files.update(tiny_png=root / "tiny.png", silent_wav=root / "silent.wav", short_wav=root / "short.wav",
                 one_frame_mp4=root / "one_frame.mp4", notes_txt=root / "notes.txt", empty_png=root / "empty.png",
                 broken_png=root / "broken.png", doc_pdf=root / "doc.pdf")
    return files
