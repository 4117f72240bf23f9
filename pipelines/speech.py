"""Speech synthesis with Coqui TTS (`coqui-tts`, import name TTS): XTTS v2 for multilingual speech
and voice cloning, VITS voices for speed.

Loading goes through Coqui's own API, `TTS.api.TTS(model_path=..., config_path=...)`, for every
source: a folder (the tiny tier, STUDIO_MODEL_DIR), a Coqui model name ("tts_models/en/vctk/vits",
found in Coqui's catalogue and cache; it is downloaded only by `studio models pull`, where XTTS's
license question is asked), or a hub repository in the Coqui layout.

A run splits the text at sentence boundaries into chunks within the model's limit
(pipelines.text_chunks), says them in order with one voice, and joins them with short fades and
pauses. Each chunk's place in the take is known, so every take also comes with SRT and WebVTT
subtitles timed by the synthesis itself (pipelines.subtitles). Per-request settings never touch
the shared model: VITS speed runs on a shallow view of the model, XTTS takes speed per call, and
a cloned voice's latents live in the request.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import math
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipelines import subtitles
from pipelines.audio_decode import decode_audio
from pipelines.contract import Task, upload
from pipelines.errors import InputError, ModelMissingError, PresetError
from pipelines.media import AudioArtifact, Result
from pipelines.presets import ModelPreset
from pipelines.progress import Progress
from pipelines.text_chunks import chunk_text, normalize_text
from pipelines.uploads import AUDIO_KINDS, probe_upload

TASK = "speech"
# Coqui's models fail in half precision (their outputs go through numpy); the model layer honours this.
SUPPORTED_DTYPES = ("fp32",)
DEFAULT_MAX_CHARS = 5000
# VITS has no hard limit, but a longer chunk costs more per second of audio on a CPU (VCTK-sized VITS:
# CPU RTF 1.27 for one 178-character chunk, 0.87 for the same text as two; bench/voice.py).
DEFAULT_CHUNK_CHARS = 160
MIN_CHUNK_CHARS = 20
SPEED_RANGE = (0.5, 2.0)
LUFS_RANGE = (-40.0, -5.0)
MAX_PAUSE_MS = 3000
# Ordinary punctuation that a voice's alphabet may lack, as it is read aloud instead of refused:
# "and/or" is said "and or", "A|B" with a pause.
READ_AS = {"/": " ", "\\": " ", "|": ", ", "_": " ", "~": " ", "*": "", "^": "", "`": "'"}
REFERENCE_SECONDS = (3.0, 30.0)
SILENCE_DBFS = -45.0                  # a 50 ms frame quieter than this is not speech
MIN_SOUND_S = 1.0                     # a reference needs at least this much sound in it
FADE_S = 0.01                         # raised-cosine fade at both ends of every chunk
CLONING_FAMILIES = {"xtts"}
ATTESTATION = "I have the permission of the person whose voice this is to clone it for this use."
# Coqui samples with the process-wide torch RNG: one synthesis at a time keeps a seed's output
# reproducible and the sampling state of one request out of another's.
_SYNTHESIS_LOCK = threading.Lock()


@dataclass
class Request:
    """One speech job. `seed` is resolved (never None) before it reaches `run`."""

    text: str
    model: str = "tiny-vits"
    language: str = "en"
    speaker: str = ""                # a built-in voice of the model; "" = its first
    speed: float = 1.0
    seed: int = 0
    pause_ms: int = 250              # silence between chunks
    target_lufs: float | None = -16.0  # speech loudness of the published file; None keeps it as made
    reference_path: str = field(default="",  # a clip of the voice to clone (XTTS)
                                metadata=upload("audio", flag="reference", title="reference voice"))
    clone_attested: bool = False     # the visitor attests they have the speaker's permission
    chunk_chars: int = 0             # most characters per chunk: 0 = the model's own limit
    subtitles: bool = True           # SRT and WebVTT files timed by the synthesis, with the take
    subtitle_line_chars: int = 42    # the subtitles' line rules (pipelines.subtitles.Rules)
    subtitle_lines: int = 2
    subtitle_min_s: float = 1.0
    subtitle_max_s: float = 7.0

    def check(self, preset: ModelPreset) -> None:
        """Raise `InputError` for anything this preset cannot take; every message says what to do."""
        if not isinstance(self.text, str) or not self.text.strip():
            raise InputError("The text is empty: type what the voice should say.")
        limit = preset.limit("max_chars", DEFAULT_MAX_CHARS)
        if len(self.text) > limit:
            raise InputError(f"The text is {len(self.text):,} characters; the limit for {preset.label} is "
                             f"{limit:,}. Split it into parts and make one take per part.")
        if not isinstance(self.language, str) or not self.language.strip():
            raise InputError("Choose the language of the text.")
        self.speed = _number("Speed", self.speed, *SPEED_RANGE)
        self.pause_ms = int(_number("The pause between sentences", self.pause_ms, 0, MAX_PAUSE_MS, "ms"))
        if self.target_lufs is not None:
            self.target_lufs = _number("Loudness", self.target_lufs, *LUFS_RANGE, "LUFS")
        if isinstance(self.seed, float) and self.seed.is_integer():
            self.seed = int(self.seed)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise InputError(f"Seed {self.seed!r} is out of range: use a whole number from 0 to {2**32 - 1}.")
        if not isinstance(self.chunk_chars, int) or 0 < self.chunk_chars < MIN_CHUNK_CHARS or self.chunk_chars < 0:
            raise InputError(f"Chunk length {self.chunk_chars!r}: use 0 (the model's limit) or at least "
                             f"{MIN_CHUNK_CHARS} characters.")
        cap = preset.limit("max_chunk_chars", 0)  # a preset may ask for shorter chunks than the model's limit
        if cap and not 0 < self.chunk_chars <= cap:
            self.chunk_chars = cap
        if self.reference_path:
            if preset.family not in CLONING_FAMILIES:
                raise InputError(f"{preset.label} cannot clone a voice: choose an XTTS preset, or remove the "
                                 "reference clip to use one of its own voices.")
            if self.clone_attested is not True:
                raise InputError("Cloning a voice needs the speaker's permission: tick the box that says you have "
                                 "it, or remove the reference clip.")
            read_reference(self.reference_path)
        if self.subtitles:
            self.subtitle_rules()

    def subtitle_rules(self) -> subtitles.Rules:
        """The subtitles' line and timing rules; InputError when one is out of range."""
        return subtitles.Rules(self.subtitle_line_chars, self.subtitle_lines, self.subtitle_min_s,
                               self.subtitle_max_s).checked()


def _number(name: str, value: Any, lo: float, hi: float, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{name} must be a number, not {value!r}.")
    if not lo <= value <= hi:
        unit = f" {unit}" if unit else ""
        raise InputError(f"{name} {value:g}{unit} is out of range: use {lo:g} to {hi:g}{unit}.")
    return float(value)


# ---- what a loaded model offers ----------------------------------------------------------------

@dataclass(frozen=True)
class VoiceInfo:
    """The languages, voices and rates of a loaded model, read from the model itself."""

    family: str                      # "xtts", "vits" or Coqui's model name for others
    languages: tuple[str, ...]
    speakers: tuple[str, ...]
    cloning: bool
    sample_rate: int                 # of the speech it makes
    reference_rate: int              # reference clips are converted to mono at this rate


def describe(pipe) -> VoiceInfo:
    """What `pipe` (a `TTS.api.TTS`) can do: for the tab's pickers and for checking a request."""
    model = pipe.synthesizer.tts_model
    config = model.config
    family = str(config.model).lower()
    if family == "xtts":
        languages = tuple(config.languages)
        speakers = tuple(model.speaker_manager.speaker_names) if model.speaker_manager else ()
    else:
        manager = getattr(model, "speaker_manager", None)
        speakers = tuple(manager.speaker_names) if manager is not None and manager.num_speakers > 1 else ()
        languages = tuple(model.language_manager.language_names) if getattr(model, "language_manager", None) else ()
    return VoiceInfo(family=family, languages=languages or ("en",), speakers=speakers,
                     cloning=bool(config.supports_cloning), sample_rate=int(pipe.synthesizer.output_sample_rate),
                     reference_rate=int(config.audio.get("sample_rate", 22050)))


def _language_of(info: VoiceInfo, language: str) -> str:
    """The model's own code for `language` ("en" matches "en-us"), or a clear InputError."""
    wanted = language.strip().lower()
    for code in info.languages:
        if code.lower() == wanted or code.lower().split("-")[0] == wanted.split("-")[0]:
            return code
    raise InputError(f"This model does not speak {language!r}; its languages are: {', '.join(info.languages)}. "
                     "Choose one of those, or XTTS v2 for 17 languages.")


def _speaker_of(info: VoiceInfo, request: Request) -> str | None:
    if request.reference_path:
        if not info.cloning:
            raise InputError("This model cannot clone a voice: remove the reference clip or choose XTTS v2.")
        return None
    if not info.speakers:
        if info.cloning:
            raise InputError("This model has no built-in voices: upload or record a reference clip of the voice.")
        return None
    if not request.speaker:
        return info.speakers[0]
    if request.speaker not in info.speakers:
        shown = ", ".join(info.speakers[:12]) + (", …" if len(info.speakers) > 12 else "")
        raise InputError(f"The voice {request.speaker!r} is not one of this model's; choose one of: {shown}.")
    return request.speaker


def unsupported_characters(pipe, text: str, language: str) -> list[str]:
    """Characters of `text` that the model's alphabet lacks, after its own text cleaning."""
    model = pipe.synthesizer.tts_model
    if str(model.config.model).lower() == "xtts":
        tokenizer = model.tokenizer
        code = language.split("-")[0]
        try:
            cleaned = tokenizer.preprocess_text(text.lower(), code)
        except ImportError as e:  # zh, ja and ko cleaners need optional packages
            raise InputError(f"Speech in {language!r} needs the Python package {e.name!r}, which this server lacks; "
                             f"ask the operator to install it.") from None
        unk = tokenizer.tokenizer.token_to_id("[UNK]")
        return _as_typed(text, [ch for ch in dict.fromkeys(cleaned) if ch != " "
                                and unk in tokenizer.tokenizer.encode(ch).ids])
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None or tokenizer.use_phonemes:
        return []  # a phonemizer decides what it can say
    cleaned = tokenizer.text_cleaner(text, lang=language) if tokenizer.text_cleaner else text
    missing = []
    for ch in dict.fromkeys(cleaned):
        try:
            tokenizer.characters.char_to_id(ch)
        except KeyError:
            missing.append(ch)
    return _as_typed(text, missing)


def _as_typed(text: str, missing: list[str]) -> list[str]:
    """The characters as the visitor typed them ("Ñ", not the cleaned "ñ"), in order of appearance."""
    found = set(missing)
    typed = [ch for ch in dict.fromkeys(text) if ch in found or ch.lower() in found]
    return typed or missing


# ---- loading -----------------------------------------------------------------------------------

def is_coqui_name(source: str) -> bool:
    """True for Coqui catalogue names such as "tts_models/multilingual/multi-dataset/xtts_v2"."""
    return isinstance(source, str) and source.startswith("tts_models/") and source.count("/") == 3


def _coqui(name: str, progress_bar: bool = False):
    """Coqui's model manager, the catalogue entry of `name`, its download folder (where Coqui records the
    license answer) and the folder holding its files on this machine (None when never downloaded)."""
    from huggingface_hub import snapshot_download
    from TTS.utils.manage import ModelManager as CoquiModels

    catalogue = CoquiModels(progress_bar=progress_bar)
    try:  # Coqui's own lookup (private, stable since TTS 0.6); it also names the cache folder
        item, full_name, _ = catalogue._set_model_item(name)
    except (KeyError, ValueError):
        raise PresetError(f"{name!r} is not in Coqui TTS's model catalogue (see `tts --list_models`).") from None
    home = folder = catalogue.output_prefix / full_name
    if "repo_id" in item:  # newer entries (XTTS v2) are kept in the Hugging Face cache
        try:
            folder = Path(snapshot_download(item["repo_id"], allow_patterns=item.get("allow"),
                                            ignore_patterns=item.get("ignore"), local_files_only=True))
        except Exception:  # LocalEntryNotFoundError and kin: never downloaded
            folder = None
    elif not (folder.is_dir() and any(folder.glob("*.pth*"))):
        folder = None
    return catalogue, item, home, folder


def is_downloaded(preset: ModelPreset) -> bool:
    """True when a Coqui-name preset's weights are on this machine (the model layer's availability hook)."""
    try:
        return is_coqui_name(preset.repo or "") and _coqui(preset.repo)[3] is not None
    except PresetError:
        return False


def download(preset: ModelPreset) -> Path:
    """Fetch a preset's weights with Coqui's manager (`studio models pull`), which asks for XTTS's license."""
    if not is_coqui_name(preset.repo or ""):
        raise PresetError(f"{preset.name}: a speech preset's repo must be a Coqui model name (tts_models/...).")
    model_file, _, _ = _coqui(preset.repo, progress_bar=True)[0].download_model(preset.repo)
    return Path(model_file).parent


def _coqui_folder(name: str, local_only: bool) -> Path:
    catalogue, item, home, folder = _coqui(name)
    tos = bool(item.get("tos_required"))
    if folder is None and (local_only or tos):
        # "not found": the model layer turns this into ModelMissingError naming `studio models pull`
        raise FileNotFoundError(f"{name} not found in Coqui's model cache ({catalogue.output_prefix})")
    if tos and not catalogue.tos_agreed(item, home):
        raise ModelMissingError(
            f"{name} is on this machine, but its license ({item.get('license', 'see its model card')}) has not "
            "been accepted here: run `studio models pull` for this preset and answer the license question, or "
            "set COQUI_TOS_AGREED=1 if you accept it.")
    if folder is None:  # online, no license question: Coqui downloads it as its own API would
        folder = Path(catalogue.download_model(name)[0]).parent
    return folder


def load(source: str, device: str, dtype, runtime, **kwargs) -> tuple[Any, list[str]]:
    """Load a Coqui TTS model from a folder or a Coqui model name with `TTS.api.TTS`."""
    import torch
    from TTS.api import TTS
    from TTS.utils.manage import ModelManager as CoquiModels

    folder = Path(source)
    if not folder.is_dir():
        if not is_coqui_name(source):
            raise FileNotFoundError(f"{source} not found: a speech model is a folder or a Coqui model name")
        folder = _coqui_folder(source, bool(kwargs.get("local_files_only")))
    model_file, config_file = CoquiModels._find_files(folder)
    try:
        # Coqui points the config's files (speaker ids, stats) at the folder after every download; a
        # folder copied or built elsewhere needs the same, or VITS looks for its speakers elsewhere.
        CoquiModels(progress_bar=False)._update_paths(folder, config_file)
    except OSError:
        pass  # a read-only folder whose paths are already right
    try:
        pipe = TTS(model_path=str(model_file), config_path=str(config_file), progress_bar=False).to(device)
    except FileNotFoundError as e:
        if "espeak" in str(e).lower():  # phoneme voices (the published VITS ones) need the system program
            raise ModelMissingError("This voice reads text as phonemes with espeak-ng, which is not installed on "
                                    "this machine: install the espeak-ng system package and restart the studio, "
                                    "or choose XTTS v2 or a tiny-tier voice.") from e
        raise
    pipe.eval()
    notices = []
    if dtype is not None and dtype != torch.float32:
        notices.append("Coqui TTS models run in fp32 here; the half-precision setting does not apply to them.")
    return pipe, notices


# ---- running -----------------------------------------------------------------------------------

def run(pipe, request: Request, progress: Progress) -> Result:
    """Say `request.text` in one voice; the artifact carries every parameter that made it."""
    import torch

    progress.check()
    info = describe(pipe)
    model = pipe.synthesizer.tts_model
    language = _language_of(info, request.language)
    speaker = _speaker_of(info, request)
    text = normalize_text(request.text)
    missing = unsupported_characters(pipe, text, language)
    if any(ch in READ_AS for ch in missing):  # read ordinary punctuation, never refuse it
        text = normalize_text(text.translate({ord(ch): READ_AS[ch] for ch in missing if ch in READ_AS}))
        missing = unsupported_characters(pipe, text, language)
    if missing:
        shown = " ".join(repr(ch) for ch in missing[:20])
        raise InputError(f"This voice cannot say these characters: {shown}. Spell them out or remove them"
                         f"{'' if info.family == 'xtts' else ', or choose XTTS v2'}.")
    limit, fits = _chunk_limits(model, info, language)
    limit = min(limit, request.chunk_chars or limit)
    chunks = chunk_text(text, limit, language, fits=fits)
    notices: list[str] = []
    total = len(chunks) + (1 if request.reference_path else 0)
    device = str(model.device)
    with _SYNTHESIS_LOCK, torch.random.fork_rng(devices=[model.device] if device.startswith("cuda") else []), \
            torch.inference_mode():
        torch.manual_seed(request.seed)
        say, clone = _voice(pipe, info, request, speaker, language, progress, total)
        wavs = []
        for i, chunk in enumerate(chunks):
            progress.update(total - len(chunks) + i, total, "speaking")
            wavs.append(say(chunk))
        progress.update(total, total, "speaking")
    if info.family not in ("xtts", "vits") and request.speed != 1.0:
        notices.append("This model cannot change its speed; it spoke at its own pace.")
    samples = join_chunks(wavs, info.sample_rate, request.pause_ms / 1000)
    if samples.size == 0:
        raise InputError("The model produced no sound for this text; try a longer sentence or another voice.")
    duration = samples.size / info.sample_rate
    params = _params(request, info, language, speaker, chunks, limit, duration, clone)
    artifacts: list = [AudioArtifact(samples[None, :], info.sample_rate, params, target_lufs=request.target_lufs)]
    if request.subtitles:
        cues = subtitles.build_cues(subtitles.joined_spans(wavs, chunks, info.sample_rate, request.pause_ms / 1000),
                                    request.subtitle_rules(), end_s=duration)
        params["subtitle_cues"] = len(cues)
        artifacts += subtitles.text_artifacts(cues, params) if cues else []
    return Result(artifacts, notices)


def _chunk_limits(model, info: VoiceInfo, language: str):
    """(most characters per chunk, a token check or None): XTTS's own per-language character limit and its
    GPT's text-token limit (number expansion makes text longer); a VITS-friendly length otherwise."""
    if info.family != "xtts":
        return DEFAULT_CHUNK_CHARS, None
    code, tokens = language.split("-")[0], model.args.gpt_max_text_tokens
    return (int(min(model.tokenizer.char_limits.get(code, 250), tokens)),
            lambda piece: len(model.tokenizer.encode(piece.strip().lower(), code)) < tokens - 2)


def _voice(pipe, info: VoiceInfo, request: Request, speaker, language: str, progress: Progress, total: int):
    """A function saying one chunk in the request's voice, and what a clone records (or None)."""
    model = pipe.synthesizer.tts_model
    if info.family == "xtts":
        clone = None
        if request.reference_path:
            progress.update(0, total, "analysing the reference voice")
            latent, embedding, clone = _clone_latents(model, info, request.reference_path)
        else:
            voice = model.speaker_manager.speakers[speaker]
            latent, embedding = voice["gpt_cond_latent"], voice["speaker_embedding"]
        c = model.config
        settings = dict(temperature=c.temperature, length_penalty=c.length_penalty,
                        repetition_penalty=c.repetition_penalty, top_k=c.top_k, top_p=c.top_p)
        return (lambda chunk: model.inference(chunk, language, latent, embedding, speed=request.speed,
                                              **settings)["wav"]), clone
    multilingual = len(info.languages) > 1
    if info.family == "vits":
        view = copy.copy(model)  # same weights; its own length_scale, so speed is per request
        view.length_scale = model.length_scale / request.speed

        def say(chunk):
            wav = view.synthesize(chunk, speaker=speaker, language=language if multilingual else None)["wav"]
            if model.config.audio.get("do_trim_silence"):
                wav = wav[: model.ap.find_endpoint(wav)]
            return wav

        return say, None
    return (lambda chunk: pipe.tts(chunk, speaker=speaker, language=language if multilingual else None,
                                   split_sentences=False)), None


def _clone_latents(model, info: VoiceInfo, path: str):
    """XTTS conditioning from the reference, converted to mono at the model's input rate first."""
    import soundfile as sf

    clip = read_reference(path, info.reference_rate)
    c = model.config
    with tempfile.TemporaryDirectory(prefix="studio-voice-") as tmp:
        mono = Path(tmp) / "reference.wav"
        sf.write(mono, clip.samples, clip.sample_rate, subtype="FLOAT")
        latent, embedding = model.get_conditioning_latents(
            audio_path=str(mono), max_ref_length=c.max_ref_len, gpt_cond_len=c.gpt_cond_len,
            gpt_cond_chunk_len=c.gpt_cond_chunk_len, sound_norm_refs=c.sound_norm_refs, load_sr=clip.sample_rate)
    record = {
        "cloned_voice": True,
        "attested": True,
        "attestation": ATTESTATION,
        "attested_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "reference_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        "reference_duration_s": round(clip.duration_s, 3),
        "reference_source": {"sample_rate": clip.source_rate, "channels": clip.source_channels},
        "reference_converted": {"sample_rate": clip.sample_rate, "channels": 1},
    }
    return latent, embedding, record


def _params(request: Request, info: VoiceInfo, language: str, speaker, chunks: list[str], limit: int,
            duration_s: float, clone: dict | None) -> dict[str, Any]:
    params: dict[str, Any] = dict(
        task=TASK, text=request.text, language=language, speaker=speaker or "",
        voice="cloned from the reference clip" if clone else (speaker or "the model's own voice"),
        speed=request.speed, seed=request.seed, pause_ms=request.pause_ms, target_lufs=request.target_lufs,
        chunks=len(chunks), chunk_limit_chars=limit, architecture=info.family,
        sample_rate=info.sample_rate, channels=1, duration_s=round(duration_s, 3))
    if clone:
        params["voice_clone"] = clone
    return params


# ---- audio in and out --------------------------------------------------------------------------

@dataclass(frozen=True)
class ReferenceClip:
    """A reference voice clip, decoded to mono float32."""

    samples: np.ndarray
    sample_rate: int
    duration_s: float
    source_rate: int
    source_channels: int


def read_reference(path: str, rate: int | None = None) -> ReferenceClip:
    """Decode a reference clip to mono (at `rate`, else its own) and check it is 3-30 s of sound.

    PyAV (FFmpeg) reads what browsers record and people upload: WAV, MP3, FLAC, OGG, M4A, WebM.
    Every problem is an `InputError` that says what to do.
    """
    import av

    lo, hi = REFERENCE_SECONDS
    # Type, damage and length from the header first: a long or disguised file is never decoded.
    probe_upload(path, AUDIO_KINDS, title="reference clip", max_audio_s=hi)
    try:
        sound = decode_audio(path, mono=True, rate=rate, max_seconds=hi + 1)   # enough to know it is too long
        if sound is None:
            raise ValueError("no audio stream")
    except (av.error.FFmpegError, OSError, ValueError, RuntimeError):
        raise InputError("The reference clip could not be read as audio (it may be corrupt or not a sound file). "
                         "Upload WAV, MP3, FLAC, OGG or M4A, or record it in the browser.") from None
    samples, out_rate = sound.samples[0], sound.rate
    samples = np.nan_to_num(samples)
    duration = samples.size / out_rate if out_rate else 0.0
    if duration < lo:
        raise InputError(f"The reference clip is {duration:.1f} s long; it needs {lo:g} to {hi:g} s of the speaker "
                         "talking.")
    if duration > hi:
        raise InputError(f"The reference clip is longer than {hi:g} s; trim it to {lo:g}-{hi:g} s of the speaker "
                         "talking.")
    if _sound_seconds(samples, out_rate) < MIN_SOUND_S:
        raise InputError("The reference clip is silent (or nearly): record the speaker talking, close to the "
                         "microphone, for 3-30 s.")
    return ReferenceClip(samples, out_rate, duration, sound.source_rate, sound.source_channels)


def _sound_seconds(samples: np.ndarray, rate: int) -> float:
    """Seconds of 50 ms frames louder than SILENCE_DBFS."""
    frame = max(1, rate // 20)
    usable = samples[: samples.size // frame * frame].reshape(-1, frame).astype(np.float64)
    rms = np.sqrt(np.mean(usable**2, axis=1))
    return float(np.sum(rms > 10 ** (SILENCE_DBFS / 20)) * frame / rate)


def join_chunks(wavs: list, rate: int, pause_s: float, fade_s: float = FADE_S) -> np.ndarray:
    """One mono float32 track: each chunk faded in and out (so no edge clicks), `pause_s` of silence between."""
    gap = np.zeros(int(round(pause_s * rate)), np.float32)
    pieces: list[np.ndarray] = []
    for wav in wavs:
        wav = np.nan_to_num(np.asarray(wav, dtype=np.float32).reshape(-1)).copy()
        n = min(int(fade_s * rate), wav.size // 2)
        if n:
            ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
            wav[:n] *= ramp
            wav[-n:] *= ramp[::-1]
        if pieces:
            pieces.append(gap)
        pieces.append(wav)
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


CONTRACT = Task(TASK, Request, artifacts=("audio", "text"), text_field="text", dtypes=SUPPORTED_DTYPES,
                is_downloaded=is_downloaded, download=download)
