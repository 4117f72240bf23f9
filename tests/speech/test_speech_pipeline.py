"""The speech task on tiny VITS and XTTS models built locally and loaded by the production loader."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pipelines.device import Runtime
from pipelines.errors import InputError, ModelMissingError
from pipelines.models import ModelManager
from pipelines.progress import Progress
from pipelines.runner import execute
from pipelines.speech import Request, describe, join_chunks, load, read_reference
from pipelines.tiny.speech import TINY_VITS_SPEAKERS, TINY_XTTS_LANGUAGES, TINY_XTTS_SPEAKERS

LONG_TEXT = " ".join([  # the tiny VITS preset caps chunks at 100 characters: two chunks
    "Dr. Smith lit the lamp at 6 a.m.",
    '"Is anyone up there?" she called.',
    "Nobody answered her, so she climbed.",
])


def run(studio, request, events=None):
    progress = Progress(listener=events.append) if events is not None else Progress()
    return execute(studio.models, "speech", request, progress)


# ---- VITS --------------------------------------------------------------------------------------

def test_vits_lists_its_voices_and_speaks_long_text_in_chunks(studio):
    info = describe(studio.models.get("speech", "tiny-vits").pipe)
    assert info.speakers == tuple(TINY_VITS_SPEAKERS) and info.languages == ("en",) and not info.cloning
    events = []
    result = run(studio, Request(text=LONG_TEXT, model="tiny-vits", speaker="tiny-ben", seed=7), events)
    artifact, srt_file, vtt_file = result.artifacts  # the take, and its subtitles (tests/localisation)
    assert (srt_file.suffix, vtt_file.suffix) == (".srt", ".vtt")
    p = artifact.params
    assert p["chunks"] == 2 and p["chunk_limit_chars"] == 100
    assert (p["task"], p["speaker"], p["language"], p["seed"], p["speed"]) == ("speech", "tiny-ben", "en", 7, 1.0)
    assert (p["model"], p["dtype"], p["device"], p["text"]) == ("tiny-vits", "fp32", "cpu", LONG_TEXT)
    assert artifact.samples.shape[0] == 1 and artifact.sample_rate == 22050
    assert p["duration_s"] == round(artifact.samples.shape[1] / 22050, 3)
    assert artifact.samples.dtype == np.float32 and artifact.target_lufs == -16.0
    speaking = [(e.done, e.total) for e in events if e.stage == "speaking"]
    assert speaking == [(0, 2), (1, 2), (2, 2)]  # one step per chunk


def test_same_seed_same_take_and_pauses_add_exact_silence(studio):
    base = dict(text="Hello there. Goodbye, keeper.", model="tiny-vits", seed=11, chunk_chars=20)
    a = run(studio, Request(**base, pause_ms=0)).artifacts[0]
    b = run(studio, Request(**base, pause_ms=0)).artifacts[0]
    c = run(studio, Request(**base, pause_ms=500)).artifacts[0]
    assert a.params["chunks"] == 2 and a.params["chunk_limit_chars"] == 20
    np.testing.assert_array_equal(a.samples, b.samples)
    assert c.samples.shape[1] - a.samples.shape[1] == 11025  # one join of two chunks: 0.5 s at 22.05 kHz


def test_speed_is_per_request_and_leaves_the_shared_model_alone(studio):
    model = studio.models.get("speech", "tiny-vits").pipe.synthesizer.tts_model
    before = model.length_scale
    slow = run(studio, Request(text="Hello there, keeper.", model="tiny-vits", seed=5, speed=0.5)).artifacts[0]
    fast = run(studio, Request(text="Hello there, keeper.", model="tiny-vits", seed=5, speed=2.0)).artifacts[0]
    assert model.length_scale == before
    assert slow.duration_s > 2 * fast.duration_s
    assert slow.params["speed"] == 0.5


@pytest.mark.parametrize("text, message", [
    ("", "The text is empty"),
    ("   \n\t ", "The text is empty"),
    ("x" * 2001, "The text is 2,001 characters; the limit for Tiny VITS"),
    ("Ñandú costs 5 €, see 日本.", "cannot say these characters: 'Ñ' 'ú' '€' '日' '本'"),
])
def test_vits_bad_text(studio, text, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        run(studio, Request(text=text, model="tiny-vits"))


def test_unsupported_characters_are_named(studio):
    with pytest.raises(InputError) as exc:
        run(studio, Request(text="Ñandú costs 5 €.", model="tiny-vits"))
    assert "'Ñ' 'ú' '€'" in str(exc.value) and "XTTS" in str(exc.value)


@pytest.mark.parametrize("field, value, message", [
    ("language", "fr", "does not speak 'fr'; its languages are: en"),
    ("speaker", "nobody", "The voice 'nobody' is not one of this model's; choose one of: tiny-ada"),
    ("speed", 3.0, "Speed 3 is out of range: use 0.5 to 2"),
    ("pause_ms", -1, "out of range"),
    ("target_lufs", 0.0, "Loudness 0 LUFS is out of range"),
    ("reference_path", "clip.wav", "cannot clone a voice: choose an XTTS preset"),
])
def test_vits_bad_settings(studio, field, value, message):
    with pytest.raises(InputError, match=message):
        run(studio, Request(**{"text": "Hello there.", "model": "tiny-vits", field: value}))


# ---- XTTS --------------------------------------------------------------------------------------

def test_xtts_clones_a_reference_voice_with_attestation(studio, clips):
    info = describe(studio.models.get("speech", "tiny-xtts").pipe)
    assert info.cloning and info.speakers == tuple(TINY_XTTS_SPEAKERS) and info.languages == tuple(TINY_XTTS_LANGUAGES)
    events = []
    result = run(studio, Request(text="Hello there.", model="tiny-xtts", reference_path=str(clips["voice"]),
                                 clone_attested=True, seed=1), events)
    artifact = result.artifacts[0]
    clone = artifact.params["voice_clone"]
    assert clone["attested"] is True and clone["cloned_voice"] is True
    assert clone["reference_source"] == {"sample_rate": 44100, "channels": 2}
    assert clone["reference_converted"] == {"sample_rate": 22050, "channels": 1}  # mono at the model's rate
    assert clone["reference_duration_s"] == 5.0 and len(clone["reference_sha256"]) == 64
    assert artifact.params["voice"] == "cloned from the reference clip" and artifact.params["speaker"] == ""
    assert artifact.sample_rate == 24000 and artifact.samples.shape[1] > 0
    assert events[1].stage == "analysing the reference voice"


def test_xtts_builtin_voice_language_and_alphabet(studio):
    result = run(studio, Request(text="Guten Tag.", model="tiny-xtts", language="de",
                                 speaker="Tiny Announcer", seed=2, speed=1.5))
    p = result.artifacts[0].params
    assert (p["language"], p["speaker"], p["speed"], p["architecture"]) == ("de", "Tiny Announcer", 1.5, "xtts")
    with pytest.raises(InputError, match="does not speak 'fr'; its languages are: en, de"):
        run(studio, Request(text="Bonjour.", model="tiny-xtts", language="fr"))
    with pytest.raises(InputError, match="cannot say these characters: 'ж'"):
        run(studio, Request(text="Hello жук.", model="tiny-xtts"))


def test_cloning_needs_the_attestation(studio, clips):
    with pytest.raises(InputError, match="needs the speaker's permission"):
        run(studio, Request(text="Hello.", model="tiny-xtts", reference_path=str(clips["voice"])))


@pytest.mark.parametrize("clip, message", [
    ("short", "The reference clip is 2.0 s long; it needs 3 to 30 s"),
    ("long", "longer than 30 s"),
    ("silent", "silent"),
    ("corrupt", "could not be read as audio"),
    ("text", "could not be read as audio"),
    ("image", "has no sound in it"),
])
def test_bad_reference_clips(clips, clip, message):
    with pytest.raises(InputError, match=message):
        read_reference(str(clips[clip]))


def test_reference_in_other_formats_is_converted_to_mono(clips):
    clip = read_reference(str(clips["voice_mp3"]), 22050)
    assert clip.samples.ndim == 1 and clip.sample_rate == 22050 and clip.source_rate == 48000
    assert abs(clip.duration_s - 4.0) < 0.1


# ---- joining -----------------------------------------------------------------------------------

def test_joins_have_no_clicks():
    rate = 22050
    t = np.arange(rate // 2) / rate
    loud = [0.9 * np.sin(2 * np.pi * 220 * t + 1.0), 0.9 * np.cos(2 * np.pi * 330 * t)]  # start/end mid-wave
    joined = join_chunks(loud, rate, pause_s=0.2)
    assert joined.size == 2 * t.size + int(0.2 * rate)
    # every edge is faded to silence, and no step between samples is larger than the signal's own
    edges = [0, t.size - 1, t.size + int(0.2 * rate), joined.size - 1]
    assert np.all(np.abs(joined[edges]) < 1e-6)
    own_step = max(np.abs(np.diff(w)).max() for w in loud)
    assert np.abs(np.diff(joined)).max() <= own_step + 1e-6
    assert join_chunks([], rate, 0.2).size == 0


# ---- where the weights come from ----------------------------------------------------------------

def test_coqui_model_names_offline_give_model_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("TTS_HOME", str(tmp_path / "coqui"))
    models = ModelManager(tmp_path / "data", Runtime(dtype="fp32"), offline=True)
    for name, coqui in (("xtts-v2", "tts_models/multilingual/multi-dataset/xtts_v2"),
                        ("vits-vctk", "tts_models/en/vctk/vits")):
        assert not models.is_available(models.preset("speech", name))
        with pytest.raises(ModelMissingError) as exc:
            models.get("speech", name)
        assert f"studio models pull {name}" in str(exc.value) and coqui in str(exc.value)


def test_coqui_cache_folder_loads_through_coquis_manager(tmp_path, monkeypatch, studio):
    """A model in Coqui's cache layout (here the tiny VITS, as the VCTK download) loads by its name."""
    monkeypatch.setenv("TTS_HOME", str(tmp_path / "coqui"))
    tiny = Path(studio.models.source(studio.models.preset("speech", "tiny-vits"))[0])
    shutil.copytree(tiny, tmp_path / "coqui" / "tts" / "tts_models--en--vctk--vits")
    models = ModelManager(tmp_path / "data", Runtime(dtype="fp32"), offline=True)
    assert models.is_available(models.preset("speech", "vits-vctk"))
    pipe, _ = load("tts_models/en/vctk/vits", "cpu", None, Runtime(), revision="main", local_files_only=True)
    # the copied config pointed at the build folder; Coqui's path fix-up found the speakers here
    assert describe(pipe).speakers == tuple(TINY_VITS_SPEAKERS)


def test_a_phoneme_voice_without_espeak_says_what_to_install(monkeypatch, studio):
    """As on a machine without espeak-ng: Coqui looks for the program once, when it is imported."""
    from TTS.tts.utils.text.phonemizers import espeak_wrapper

    folder = Path(studio.models.source(studio.models.preset("speech", "tiny-vits-phonemes"))[0])
    monkeypatch.setattr(espeak_wrapper, "_DEF_ESPEAK_LIB", None)
    with pytest.raises(ModelMissingError, match="install the espeak-ng system package"):
        load(str(folder), "cpu", None, Runtime())


# ---- a phoneme voice, as every published VITS preset is ----------------------------------------

def test_phoneme_voice_reads_text_through_espeak(studio):
    pipe = studio.models.get("speech", "tiny-vits-phonemes").pipe
    tokenizer = pipe.synthesizer.tts_model.tokenizer
    assert tokenizer.use_phonemes and tokenizer.phonemizer.name() == "espeak"
    assert tokenizer.phonemizer.language == "en-us"  # as the VCTK voice reads
    # english_cleaners then espeak: "Dr." is said as "doctor", "6" as "six", in IPA
    symbols = set(tokenizer.decode(tokenizer.text_to_ids("Dr. Smith at 6.")))
    assert {"ˈ", "ɑ", "ɪ", "θ"} <= symbols and not symbols & set("DS6")


def test_phoneme_voice_speaks_long_text_in_chunks_at_the_asked_speed(studio):
    result = run(studio, Request(text=LONG_TEXT, model="tiny-vits-phonemes", speaker="tiny-cleo", seed=7))
    artifact = result.artifacts[0]
    assert artifact.params["chunks"] == 2 and artifact.params["architecture"] == "vits"
    assert artifact.params["language"] == "en-us" and artifact.params["speaker"] == "tiny-cleo"
    slow = run(studio, Request(text="Hello there, keeper.", model="tiny-vits-phonemes", seed=5, speed=0.5))
    fast = run(studio, Request(text="Hello there, keeper.", model="tiny-vits-phonemes", seed=5, speed=2.0))
    assert slow.artifacts[0].duration_s > 2 * fast.artifacts[0].duration_s


def test_phoneme_voice_says_what_a_letter_voice_cannot(studio):
    """espeak reads accented letters and symbols ("€" as "euro"); only a letter voice refuses them."""
    text = "Ñandú costs 5 €."
    with pytest.raises(InputError, match="cannot say these characters"):
        run(studio, Request(text=text, model="tiny-vits"))
    euro = run(studio, Request(text=text, model="tiny-vits-phonemes", seed=1)).artifacts[0]
    plain = run(studio, Request(text="Ñandú costs 5.", model="tiny-vits-phonemes", seed=1)).artifacts[0]
    assert euro.duration_s > plain.duration_s  # the euro sign was spoken, not dropped


def test_half_precision_settings_still_run_speech_in_fp32(studio):
    models = ModelManager(studio.settings.data_dir, Runtime(dtype="bf16"))
    loaded = models.get("speech", "tiny-vits")
    assert loaded.dtype == "fp32"
    assert next(loaded.pipe.parameters()).dtype.is_floating_point and str(next(loaded.pipe.parameters()).dtype) == "torch.float32"
