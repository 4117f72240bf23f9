"""The one PyAV decoder every reader of sound shares (voice references, melodies, dubbing clips, the
library's tagger, the audio watermark, the detector): channels, resampling, the read limit, and a
file with no sound."""
import av
import numpy as np
import pytest
import soundfile as sf

from pipelines.audio_decode import decode_audio


@pytest.fixture(scope="module")
def stereo_ogg(tmp_path_factory):
    """2 s at 44.1 kHz: a 440 Hz tone on the left, silence on the right (Ogg Vorbis: lossy, FFmpeg)."""
    path = tmp_path_factory.mktemp("audio") / "tone.ogg"
    t = np.arange(2 * 44100) / 44100
    sf.write(path, np.stack([0.5 * np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1), 44100)
    return path


def test_channels_are_kept_or_mixed_and_the_rate_is_the_streams_unless_asked(stereo_ogg):
    both = decode_audio(stereo_ogg)
    assert both.samples.shape[0] == 2 and both.rate == 44100 and not both.cut
    assert both.samples.dtype == np.float32 and abs(both.samples.shape[1] - 2 * 44100) < 2048
    assert np.abs(both.samples[0]).max() > 0.4 and np.abs(both.samples[1]).max() < 0.05   # left stays left
    assert (both.source_rate, both.source_channels) == (44100, 2)

    mono = decode_audio(stereo_ogg, mono=True, rate=16000)
    assert mono.samples.shape[0] == 1 and mono.rate == 16000 and abs(mono.samples.shape[1] - 32000) < 1024
    assert 0.1 < np.abs(mono.samples).max() < 0.5   # the tone, mixed down with the silent channel
    assert (mono.source_rate, mono.source_channels) == (44100, 2)


def test_decoding_stops_at_the_limit_and_says_so(stereo_ogg):
    part = decode_audio(stereo_ogg, mono=True, max_seconds=0.5)
    assert part.cut and 0.5 * 44100 <= part.samples.shape[1] < 1.5 * 44100
    assert not decode_audio(stereo_ogg, mono=True, max_seconds=5).cut


def test_a_video_without_sound_is_none_and_damage_is_the_callers_to_word(tmp_path, stereo_ogg):
    silent = tmp_path / "silent.mp4"
    with av.open(str(silent), "w") as box:
        stream = box.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(4):
            box.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        box.mux(stream.encode())
    assert decode_audio(silent) is None
    broken = tmp_path / "broken.ogg"
    broken.write_bytes(stereo_ogg.read_bytes()[:200])
    with pytest.raises((av.error.FFmpegError, ValueError)):
        decode_audio(broken)
