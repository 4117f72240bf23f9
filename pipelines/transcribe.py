"""Transcribe: an uploaded recording (audio, or a video's sound track) to text with Whisper.

Whisper through transformers (`WhisperForConditionalGeneration` + `WhisperProcessor`): the
language is detected from the first 30 s unless the request names one; a file longer than 30 s
goes through Whisper's own sequential long-form decoding (30-s windows, each starting where the
last timestamp of the one before ended), which reports each window to the job's progress, so a
Cancel stops the job between windows. Segments carry Whisper's timestamps, and words carry the
timestamps of the cross-attention alignment (the alignment heads named in the model's generation
config). `task="translate"` is Whisper's own translation into English.

The transcript is handed out as three text files, TXT, SRT and WebVTT (the WebVTT cues hold
each word's start as an inline timestamp), and kept on the result as `Transcript.segments` for
callers that go on with it (translation, dubbing).
"""
from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass, field
from typing import Any

import numpy as np
# torch and transformers are imported in the functions that run a model: the web app reads CONTRACT.

from pipelines.contract import Task, upload
from pipelines.errors import InputError, PresetError
from pipelines.media import Result, TextArtifact
from pipelines.presets import ModelPreset
from pipelines.progress import Progress
from pipelines.uploads import AUDIO_KINDS, UploadTooLong, probe_upload

TASK = "transcribe"
RATE = 16000                     # Whisper's feature extractor reads 16 kHz mono
WINDOW_S = 30.0
MAX_DURATION_S = 2 * 3600.0      # a preset's limits.max_duration_s overrides it
SILENCE_DBFS = -60.0
# Languages written without spaces: a word is each token that decodes to whole characters.
NO_SPACE_LANGUAGES = {"zh", "ja", "th", "lo", "my", "yue"}


@dataclass
class Request:
    """One transcription. `language` "" means detect it; `translate` asks for English text."""

    media_path: str = field(default="", metadata=upload("audio", flag="file", title="recording"))
    model: str = "tiny-whisper"
    language: str = ""
    translate: bool = False
    word_timestamps: bool = True

    def check(self, preset: ModelPreset) -> None:
        """Raise `InputError` for a missing, unreadable or too long recording (read from its header
        only, before anything is decoded), or a language that is not written as a code or name."""
        if not isinstance(self.media_path, str) or not self.media_path:
            raise InputError("There is no recording to transcribe: upload an audio or video file.")
        limit = float(preset.limit("max_duration_s", MAX_DURATION_S))
        try:
            probe_upload(self.media_path, AUDIO_KINDS, title="recording", max_audio_s=limit)
        except UploadTooLong:
            raise UploadTooLong(f"The recording is longer than {limit / 60:g} min, the most “{preset.label}” "
                                f"transcribes at once; cut it into parts and transcribe each.") from None
        language = self.language if isinstance(self.language, str) else ""
        self.language = "" if language.strip().lower() in ("", "auto", "detect") else language.strip().lower()
        self.translate = bool(self.translate)
        self.word_timestamps = bool(self.word_timestamps)


@dataclass
class Word:
    text: str
    start: float
    end: float


@dataclass
class Segment:
    """One of Whisper's timestamped segments, in seconds from the start of the recording."""

    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript(Result):
    """What `run` returns: the published files, plus the segments and the language for callers."""

    segments: list[Segment] = field(default_factory=list)
    language: str = ""
    duration_s: float = 0.0


# ------------------------------------------------------------------------------------ loading

@dataclass
class WhisperPipe:
    model: Any
    processor: Any


def load(source: str, device: str, dtype, runtime, **kwargs) -> tuple[WhisperPipe, list[str]]:
    """Load a Whisper checkpoint (model, feature extractor, tokenizer) from a hub id or a folder."""
    from transformers import AutoConfig, WhisperForConditionalGeneration, WhisperProcessor

    where = {k: v for k, v in kwargs.items() if k in ("revision", "local_files_only", "cache_dir", "token")}
    config = AutoConfig.from_pretrained(source, **where)
    if config.model_type != "whisper":
        raise PresetError(f"{source} is a {config.model_type!r} model, not Whisper; fix the preset.")
    model = WhisperForConditionalGeneration.from_pretrained(source, dtype=dtype, **kwargs).to(device).eval()
    return WhisperPipe(model, WhisperProcessor.from_pretrained(source, **where)), []


def languages(pipe: WhisperPipe) -> dict[str, int]:
    """The model's languages: code -> token id ({} for an English-only model)."""
    config = pipe.model.generation_config
    if not getattr(config, "is_multilingual", False):
        return {}
    return {token.strip("<|>"): token_id for token, token_id in config.lang_to_id.items()}


# ------------------------------------------------------------------------------------ running

def read_recording(path: str) -> np.ndarray:
    """The recording's sound as 16 kHz mono float32 (torchcodec decodes any container's audio track)."""
    from torchcodec.decoders import AudioDecoder

    try:
        samples = AudioDecoder(path, sample_rate=RATE, num_channels=1).get_all_samples()
    except (RuntimeError, ValueError) as e:
        raise InputError(f"The recording's sound could not be decoded ({str(e).splitlines()[0][:120]}); "
                         f"export it again as WAV, FLAC, MP3 or MP4.") from None
    audio = samples.data[0].numpy().astype(np.float32, copy=False)
    if not np.isfinite(audio).all():
        raise InputError("The recording is damaged (it decodes to invalid samples): export it again.")
    return audio


def resolve_language(pipe: WhisperPipe, request: Request) -> str | None:
    """The language code the request names, checked against the model's; None: detect it."""
    from transformers.models.whisper.tokenization_whisper import TO_LANGUAGE_CODE

    have = languages(pipe)
    if not have:
        if request.translate:
            raise InputError("This Whisper model is English-only: it cannot translate. Choose a multilingual preset.")
        if request.language not in ("", "en", "english"):
            raise InputError(f"This Whisper model is English-only; it does not transcribe {request.language!r}. "
                             f"Choose a multilingual preset.")
        return None
    if not request.language:
        return None
    code = TO_LANGUAGE_CODE.get(request.language, request.language)
    if code not in have:
        raise InputError(f"This model does not know the language {request.language!r}. It has: "
                         f"{', '.join(sorted(have))}.")
    return code


def detect_language(pipe: WhisperPipe, features) -> str:
    """The language Whisper hears in the first 30 s."""
    import torch

    with torch.inference_mode():
        token = int(pipe.model.detect_language(features[..., :3000])[0])
    by_id = {token_id: code for code, token_id in languages(pipe).items()}
    return by_id[token]


def run(pipe: WhisperPipe, request: Request, progress: Progress) -> Transcript:
    """Transcribe the recording: decode, skip silence, detect the language, decode windows, export."""
    progress.check()
    code = resolve_language(pipe, request)
    audio = read_recording(request.media_path)
    duration = audio.size / RATE
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    if rms <= 10 ** (SILENCE_DBFS / 20):
        silent = "The recording is silent: there is no speech to transcribe."
        return _finish(request, [], code or "", duration, [silent])
    features = _features(pipe, audio)
    notices = []
    if code is None and languages(pipe):
        code = detect_language(pipe, features["input_features"])
        notices.append(f"Detected language: {_language_name(code)} ({code}).")
    segments = _generate(pipe, request, features, code, duration, progress)
    if not segments:
        notices.append("No speech was recognised in the recording.")
    return _finish(request, segments, code or "en", duration, notices)


def _features(pipe: WhisperPipe, audio: np.ndarray) -> dict:
    long = audio.size > WINDOW_S * RATE
    # Past 30 s the features are kept whole (no truncation): generate then decodes window by window.
    features = pipe.processor.feature_extractor(audio, sampling_rate=RATE, return_tensors="pt",
                                                return_attention_mask=True, truncation=not long,
                                                padding="longest" if long else "max_length")
    return {k: v.to(pipe.model.device, dtype=pipe.model.dtype if k == "input_features" else v.dtype)
            for k, v in features.items()}


def _generate(pipe: WhisperPipe, request: Request, features: dict, code: str | None, duration: float,
              progress: Progress) -> list[Segment]:
    import torch

    config = copy.deepcopy(pipe.model.generation_config)  # per request: the shared model's stays as loaded
    words = request.word_timestamps and bool(getattr(config, "alignment_heads", None))
    total = int(features["input_features"].shape[-1])

    def window_started(seek) -> None:  # once per 30-s window: progress, and Cancel takes effect here
        progress.update(int(seek[0, 0]), total, "transcribing")

    kwargs: dict[str, Any] = dict(generation_config=config, return_timestamps=True, return_segments=True,
                                  return_token_timestamps=words, monitor_progress=window_started)
    if languages(pipe):
        kwargs.update(language=code, task="translate" if request.translate else "transcribe")
    with torch.inference_mode():
        output = pipe.model.generate(features["input_features"], attention_mask=features["attention_mask"], **kwargs)
    progress.update(total, total, "transcribing")
    tokenizer, end_of_text = pipe.processor.tokenizer, config.eos_token_id
    segments = []
    for raw in output["segments"][0]:
        start, end = min(float(raw["start"]), duration), min(float(raw["end"]), duration)
        tokens = [int(t) for t in raw["tokens"]]
        text = tokenizer.decode([t for t in tokens if t < end_of_text], skip_special_tokens=True).strip()
        if not text or start >= duration:
            continue  # a window's padding past the end of the recording holds nothing said
        times = raw["token_timestamps"].tolist() if words else []
        segment = Segment(start, max(end, min(start + 0.02, duration)), text)
        if words:
            segment.words = _words(tokenizer, tokens, times, segment, end_of_text, code or "en")
        segments.append(segment)
    return segments


def _words(tokenizer, tokens: list[int], times: list[float], segment: Segment, end_of_text: int,
           code: str) -> list[Word]:
    """Group a segment's text tokens into words, each from its first token's time to the next word's.

    A token that begins with a space starts a word (languages written without spaces: every token
    that decodes to whole characters is one); the times are clamped into the segment."""
    groups: list[tuple[list[int], float]] = []
    for token, time in zip(tokens, times):
        if token >= end_of_text:
            continue
        if groups and ("\ufffd" in tokenizer.decode(groups[-1][0])  # a character split across tokens
                       or (code not in NO_SPACE_LANGUAGES and not tokenizer.decode([token]).startswith(" "))):
            groups[-1][0].append(token)
        else:
            groups.append(([token], time))
    words = []
    for i, (ids, time) in enumerate(groups):
        start = min(max(time, segment.start), segment.end)
        end = groups[i + 1][1] if i + 1 < len(groups) else segment.end
        text = tokenizer.decode(ids).strip()
        if text:
            words.append(Word(text, start, min(max(end, start), segment.end)))
    return words


def _language_name(code: str) -> str:
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    return LANGUAGES.get(code, code).title()


def _finish(request: Request, segments: list[Segment], code: str, duration: float, notices: list[str]) -> Transcript:
    params = dict(task=TASK, language=code, whisper_task="translate" if request.translate else "transcribe",
                  duration_s=round(duration, 3), segments=len(segments),
                  words=sum(len(s.words) for s in segments), word_timestamps=request.word_timestamps)
    artifacts = [TextArtifact(text, suffix, dict(params, format=suffix.lstrip(".")))
                 for suffix, text in ((".txt", to_text(segments)), (".srt", to_srt(segments)),
                                      (".vtt", to_vtt(segments)))]
    return Transcript(artifacts, notices, segments=segments, language=code, duration_s=duration)


# ------------------------------------------------------------------------------------ exports

def to_text(segments: list[Segment]) -> str:
    """The transcript as plain text, one segment a line."""
    return "".join(f"{s.text}\n" for s in segments)


def to_srt(segments: list[Segment]) -> str:
    """The transcript as SubRip subtitles, one cue per segment."""
    import srt

    cues = [srt.Subtitle(i, datetime.timedelta(seconds=s.start), datetime.timedelta(seconds=s.end), s.text)
            for i, s in enumerate(segments, 1)]
    return srt.compose(cues, reindex=False) if cues else ""


def to_vtt(segments: list[Segment]) -> str:
    """The transcript as WebVTT, one cue per segment; each word after the first carries its start
    as an inline cue timestamp (players that know them highlight word by word; others ignore them)."""
    import webvtt

    vtt = webvtt.WebVTT()
    for s in segments:
        text = s.text
        if len(s.words) > 1:
            text = " ".join([s.words[0].text] + [f"<{vtt_time(w.start)}>{w.text}" for w in s.words[1:]])
        vtt.captions.append(webvtt.Caption(start=vtt_time(s.start), end=vtt_time(s.end), text=text))
    return vtt.content


def vtt_time(seconds: float) -> str:
    """Seconds as a WebVTT timestamp, HH:MM:SS.mmm."""
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"

# ------------------------------------------------------------------------------------ tiny twin

# The twin's vocabulary is learned from these lines (no Whisper vocabulary ships in any installed
# package, and the hub cannot be reached): byte-level BPE like Whisper's, so every byte decodes.
_TINY_CORPUS = ("hello there keeper the lamp is lit tonight and the ships are coming home",
                "one two three four five six seven eight nine ten", "a quick brown fox jumps over the lazy dog")


def _tiny_tokenizer():
    """A WhisperTokenizer with a small learned vocabulary and Whisper's special tokens in Whisper's
    order: <|endoftext|>, <|startoftranscript|>, one per language, <|translate|>, <|transcribe|>,
    <|startoflm|>, <|startofprev|>, <|nospeech|>, <|notimestamps|>, then <|0.00|> to <|30.00|>."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import AddedToken, WhisperTokenizer
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(_TINY_CORPUS, trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    learned = json.loads(bpe.to_str())["model"]
    tokenizer = WhisperTokenizer(vocab=learned["vocab"], merges=[tuple(m) for m in learned["merges"]])
    specials = (["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{code}|>" for code in LANGUAGES]
                + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                   "<|notimestamps|>"])
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in specials], special_tokens=True)
    # Timestamps are plain added tokens, as in Whisper's own tokenizer.json (decode filters them).
    tokenizer.add_tokens([AddedToken(f"<|{i * 0.02:.2f}|>", normalized=False) for i in range(1501)])
    return tokenizer


def build_tiny(folder) -> None:
    """Whisper at toy width (2+2 layers, d_model 32) with the published audio front end (80 mel bins,
    30-s windows of 1500 positions), timestamp and language tokens, and alignment heads for word
    timestamps; saved in the hub layout (config, generation config, weights, processor)."""
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration, WhisperProcessor)
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    tokenizer = _tiny_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    end, start = ids("<|endoftext|>"), ids("<|startoftranscript|>")
    model = WhisperForConditionalGeneration(WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=80, d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_source_positions=1500, max_target_positions=448, pad_token_id=end, bos_token_id=end, eos_token_id=end,
        decoder_start_token_id=start))
    model.generation_config = GenerationConfig(
        bos_token_id=end, eos_token_id=end, pad_token_id=end, decoder_start_token_id=start,
        # Random weights never say <|endoftext|>: a short budget per window keeps the twin quick
        # (Whisper's own is 448 tokens).
        max_length=448, max_new_tokens=24, begin_suppress_tokens=[ids("Ġ"), end], suppress_tokens=[],
        is_multilingual=True, lang_to_id={f"<|{c}|>": ids(f"<|{c}|>") for c in LANGUAGES},
        task_to_id={"translate": ids("<|translate|>"), "transcribe": ids("<|transcribe|>")},
        no_timestamps_token_id=ids("<|notimestamps|>"), prev_sot_token_id=ids("<|startofprev|>"),
        max_initial_timestamp_index=50, alignment_heads=[[1, 0], [1, 1]], return_timestamps=False)
    model.save_pretrained(folder)
    processor = WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer)
    processor.save_pretrained(folder)


CONTRACT = Task(TASK, Request, artifacts=("text",), text_field=None, tab="Transcribe")
