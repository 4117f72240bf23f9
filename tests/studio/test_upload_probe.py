"""The one upload probe (pipelines.uploads): type from the bytes, duration and size from the header,
never a full decode; every refusal a sentence, each answer well under a second."""
import time

import pytest

from hostile_files import (fits_bytes, long_flac, mp3_bytes, mp4_bytes, pixel_bomb, png_bytes, truncated_mp4,
                           wav_bytes)
from pipelines.errors import InputError
from pipelines.uploads import AUDIO_KINDS, IMAGE_KINDS, MEDIA_KINDS, VIDEO_KINDS, UploadTooLong, probe_upload

LIMITS = dict(max_audio_s=600, max_video_s=120, max_pixels=40_000_000)


def timed_probe(path, kinds, **kw):
    t0 = time.perf_counter()
    try:
        return probe_upload(path, kinds, title="upload", **{**LIMITS, **kw})
    finally:
        assert time.perf_counter() - t0 < 0.5, f"{path.name} took {time.perf_counter() - t0:.2f} s"


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name, data, kinds, mime, seconds", [
    ("voice.wav", wav_bytes(3.0), AUDIO_KINDS, "audio/wav", 3.0),
    ("voice.mp3", mp3_bytes(3.0), AUDIO_KINDS, "audio/mpeg", 3.0),
    ("tune.flac", long_flac(12.0), AUDIO_KINDS, "audio/flac", 12.0),
    ("clip.mp4", mp4_bytes(16, 8), VIDEO_KINDS, "video/mp4", 2.0),
    ("clip-as-anything.bin", mp4_bytes(16, 8), MEDIA_KINDS, "video/mp4", 2.0),
], ids=lambda v: v if isinstance(v, str) and "." in v and "/" not in v else "")
def test_good_files_give_type_and_duration_from_the_header(tmp_path, name, data, kinds, mime, seconds):
    probe = timed_probe(write(tmp_path, name, data), kinds)
    assert probe.mime == mime and probe.duration_s == pytest.approx(seconds, abs=0.15)


def test_an_image_gives_its_size_without_decoding(tmp_path):
    probe = timed_probe(write(tmp_path, "a.png", png_bytes((320, 200))), IMAGE_KINDS)
    assert (probe.format, probe.width, probe.height) == ("PNG", 320, 200)


@pytest.mark.parametrize("name, data, kinds, message", [
    ("empty.wav", b"", AUDIO_KINDS, r"is empty \(0 bytes\)"),
    ("notes.wav", b"just some text\n" * 40, AUDIO_KINDS, "could not be read as audio: it is not in a format"),
    ("picture.wav", png_bytes(), AUDIO_KINDS, "has no sound in it: it is a PNG file"),
    ("sound.png", wav_bytes(), IMAGE_KINDS, "has no picture in it: it is a WAV file"),
    ("fits.png", fits_bytes(), IMAGE_KINDS, "could not be read as an image: it is not in a format"),
    ("cut.wav", wav_bytes(3.0)[:2000], AUDIO_KINDS, "could not be read as audio: it is cut short"),
    ("cut.mp4", truncated_mp4(), VIDEO_KINDS, "could not be read as a video: its MP4 header is damaged or cut short"),
    ("no-sound.mp4", mp4_bytes(), AUDIO_KINDS, "has no sound in it"),
    ("header-only.wav", wav_bytes(1.0)[:44], AUDIO_KINDS, "could not be read as audio: it is cut short"),
], ids=lambda v: v if isinstance(v, str) and "." in v else "")
def test_unusable_files_are_refused_with_a_sentence(tmp_path, name, data, kinds, message):
    with pytest.raises(InputError, match=message):
        timed_probe(write(tmp_path, name, data), kinds)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="did not arrive"):
        probe_upload(tmp_path / "gone.wav", AUDIO_KINDS)
    with pytest.raises(InputError, match="did not arrive"):
        probe_upload(None, AUDIO_KINDS)


def test_over_long_and_over_large_files_are_refused_before_decoding(tmp_path):
    long_audio = write(tmp_path, "ten-minutes-and-more.flac", long_flac(605.0))  # a few kB of silence
    assert long_audio.stat().st_size < 200_000
    with pytest.raises(UploadTooLong, match=r"longer than 600 s \(605.0 s\)"):
        timed_probe(long_audio, AUDIO_KINDS)
    assert timed_probe(long_audio, AUDIO_KINDS, max_audio_s=0).duration_s == pytest.approx(605.0)  # 0: no limit
    with pytest.raises(UploadTooLong, match=r"longer than 1 s \(2.0 s\)"):
        timed_probe(write(tmp_path, "clip.mp4", mp4_bytes(16, 8)), VIDEO_KINDS, max_video_s=1)
    with pytest.raises(UploadTooLong, match="too many pixels"):
        timed_probe(write(tmp_path, "bomb.png", pixel_bomb()), IMAGE_KINDS)


def test_a_little_over_a_limit_is_let_through_as_header_durations_are_estimates(tmp_path):
    assert timed_probe(write(tmp_path, "a.wav", wav_bytes(3.3)), AUDIO_KINDS, max_audio_s=3).duration_s > 3
