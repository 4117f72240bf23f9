"""Translate: a transcript or a subtitle file's text into another language, keeping every cue's timing.

The input is text: SubRip (SRT) or WebVTT subtitles, recognised from their content, or a plain
transcript (one line a cue, no times). Subtitles are checked line by line first, so a file that
does not parse is refused with the number of the line at fault; the `srt` and `webvtt-py`
libraries then read the cues. Each cue's text (its lines joined) is translated on its own, in
batches, and the translation is wrapped again into subtitle lines of at most 42 characters;
the cue times do not change. Output: SRT and WebVTT for subtitles, TXT for a transcript.

Models through transformers: MarianMT (`opus-mt-*`: one language pair, or one source and several
targets chosen with a `>>xx<<` token) and NLLB-200 (`M2M100ForConditionalGeneration`; 200
languages written as `fra_Latn`, the target forced as the first token). Languages may be given as
ISO 639-1 or 639-3 codes or as the model's own codes; one the model does not have is refused with
the list of those it has.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

# torch and transformers are imported in the functions that run a model: the web app reads CONTRACT.

from pipelines.checks import text as checked_text
from pipelines.contract import Task
from pipelines.errors import InputError, PresetError
from pipelines.media import Result, TextArtifact
from pipelines.presets import ModelPreset
from pipelines.progress import Progress

TASK = "translate"
MAX_CHARS = 200_000
LINE_CHARS = 42
BATCH = 16
# ISO 639-1 -> 639-3, for models that name languages by three letters (NLLB, some opus-mt).
ISO3 = {"ar": "arb", "bg": "bul", "ca": "cat", "cs": "ces", "da": "dan", "de": "deu", "el": "ell", "en": "eng",
        "es": "spa", "et": "est", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hr": "hrv",
        "hu": "hun", "id": "ind", "it": "ita", "ja": "jpn", "ko": "kor", "lt": "lit", "lv": "lvs", "nl": "nld",
        "no": "nob", "pl": "pol", "pt": "por", "ro": "ron", "ru": "rus", "sk": "slk", "sl": "slv", "sv": "swe",
        "sw": "swh", "th": "tha", "tr": "tur", "uk": "ukr", "vi": "vie", "zh": "zho"}
_SRT_TIME = r"\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}"
_VTT_TIME = r"(?:\d{1,}:)?\d{2}:\d{2}\.\d{3}"
SRT_TIMING = re.compile(rf"^\s*{_SRT_TIME}\s*-->\s*{_SRT_TIME}(\s.*)?$")
_STAMP = re.compile(r"\d{1,2}:\d{2}:\d{2}[,.]\d")
VTT_TIMING = re.compile(rf"^\s*{_VTT_TIME}\s+-->\s+{_VTT_TIME}(\s.*)?$")


@dataclass
class Request:
    """One translation: `text` is SRT or WebVTT subtitles, or a transcript (one line a cue)."""

    text: str = ""
    model: str = "tiny-marian"
    source_language: str = ""   # "" = the model's only source language (NLLB needs one)
    target_language: str = ""   # "" = the model's only target language
    beams: int = 4

    def check(self, preset: ModelPreset) -> None:
        """Raise `InputError` for empty or over-long text, subtitles that do not parse (with the line
        number), or a beam count out of range. Languages are checked against the loaded model in `run`."""
        self.text = checked_text("The text to translate", self.text, preset.limit("max_chars", MAX_CHARS))
        if not self.text:
            raise InputError("There is nothing to translate: paste a transcript, or the text of an SRT or WebVTT file.")
        parse_cues(self.text)
        self.source_language = (self.source_language or "").strip() if isinstance(self.source_language, str) else ""
        self.target_language = (self.target_language or "").strip() if isinstance(self.target_language, str) else ""
        if isinstance(self.beams, float) and self.beams.is_integer():
            self.beams = int(self.beams)
        if isinstance(self.beams, bool) or not isinstance(self.beams, int) or not 1 <= self.beams <= 8:
            raise InputError(f"Beams {self.beams!r} is out of range: use 1 (fastest) to 8.")


@dataclass
class Cue:
    """A piece of text and its time in seconds (None for a transcript line, which has no time)."""

    text: str
    start: float | None = None
    end: float | None = None


@dataclass
class Translation(Result):
    """What `run` returns: the published files, the translated cues and the input's format."""

    cues: list[Cue] = field(default_factory=list)
    format: str = "txt"


# ------------------------------------------------------------------------------------ reading

def subtitle_format(text: str) -> str:
    """"vtt", "srt" or "txt", from the content."""
    lines = text.lstrip("\ufeff").splitlines()
    if lines and lines[0].startswith("WEBVTT"):
        return "vtt"
    # A timestamp near the top means subtitles, even with a broken timing line (which is then named).
    if any(_STAMP.search(line) for line in [line for line in lines if line.strip()][:3]):
        return "srt"
    return "txt"


def parse_cues(text: str) -> tuple[str, list[Cue]]:
    """The format and the cues of `text`; `InputError` naming the first line that does not fit."""
    text = text.lstrip("\ufeff")
    kind = subtitle_format(text)
    if kind == "txt":
        return kind, [Cue(line.strip()) for line in text.splitlines() if line.strip()]
    _check_blocks(text, kind)
    if kind == "srt":
        import srt

        try:
            return kind, [Cue(c.content, c.start.total_seconds(), c.end.total_seconds()) for c in srt.parse(text)]
        except srt.SRTParseError as e:
            raise InputError(f"The SRT file does not parse at line {text.count(chr(10), 0, e.actual_start) + 1}: "
                             f"each cue is a number, a timing line and its text.") from None
    import webvtt

    try:
        captions = webvtt.from_string(text).captions
    except (webvtt.errors.MalformedFileError, webvtt.errors.MalformedCaptionError) as e:
        raise InputError(f"The WebVTT file does not parse: {e}.") from None
    return kind, [Cue(c.text, _seconds(c.start), _seconds(c.end)) for c in captions]


def _check_blocks(text: str, kind: str) -> None:
    """Walk the blank-line separated blocks: each cue needs a timing line (after an optional
    number or identifier) whose end is after its start; the first line that breaks this is named."""
    timing = SRT_TIMING if kind == "srt" else VTT_TIMING
    block: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines() + [""], 1):
        if line.strip():
            block.append((number, line))
            continue
        if block:
            _check_block(block, timing, kind)
        block = []


def _check_block(block: list[tuple[int, str]], timing: re.Pattern, kind: str) -> None:
    first = block[0][1].strip()
    if kind == "vtt" and (first.startswith(("WEBVTT", "NOTE", "STYLE", "REGION"))):
        return
    at = 0 if "-->" in block[0][1] else 1   # past the cue number / identifier (which never holds "-->")
    name, example = (("SRT", "00:00:01,000 --> 00:00:02,500") if kind == "srt"
                     else ("WebVTT", "00:00:01.000 --> 00:00:02.500"))
    if at >= len(block) or not timing.match(block[at][1]):
        number = block[min(at, len(block) - 1)][0]
        raise InputError(f"The {name} file does not parse at line {number}: expected a cue timing like "
                         f"“{example}”, found “{block[min(at, len(block) - 1)][1].strip()[:60]}”.")
    start, end = (_seconds(t) for t in re.findall(_SRT_TIME if kind == "srt" else _VTT_TIME, block[at][1])[:2])
    if end < start:
        raise InputError(f"The {name} file does not parse at line {block[at][0]}: the cue ends before it starts.")


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    return sum(float(p) * 60 ** i for i, p in enumerate(reversed(parts)))


# ------------------------------------------------------------------------------------ loading

@dataclass
class TranslatePipe:
    """A loaded translation model, its tokenizer, and the languages it reads and writes."""

    model: Any
    tokenizer: Any
    family: str                         # "marian" or "nllb"
    sources: tuple[str, ...]
    targets: tuple[str, ...]


def load(source: str, device: str, dtype, runtime, **kwargs) -> tuple[TranslatePipe, list[str]]:
    """Load a MarianMT or NLLB checkpoint from a hub id or a folder, with its languages."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

    where = {k: v for k, v in kwargs.items() if k in ("revision", "local_files_only", "cache_dir", "token")}
    config = AutoConfig.from_pretrained(source, **where)
    if config.model_type not in ("marian", "m2m_100"):
        raise PresetError(f"{source} is a {config.model_type!r} model, not MarianMT or NLLB; fix the preset.")
    model = AutoModelForSeq2SeqLM.from_pretrained(source, dtype=dtype, **kwargs).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(source, **where)
    if config.model_type == "m2m_100":
        nllb_code = re.compile(r"[a-z]{3}_[A-Z][a-z]{3}")
        codes = tuple(sorted(t for t in tokenizer.additional_special_tokens if nllb_code.fullmatch(t)))
        return TranslatePipe(model, tokenizer, "nllb", codes, codes), []
    return TranslatePipe(model, tokenizer, "marian", *_marian_languages(tokenizer, source)), []


def _marian_languages(tokenizer, source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A Marian model's languages: its tokenizer config's pair, its `>>xx<<` target tokens, or the
    pair in its opus-mt name."""
    named = re.search(r"opus-mt-([a-zA-Z_]+)-([a-zA-Z_]+)", source)
    sources = (tokenizer.source_lang,) if tokenizer.source_lang else ((named.group(1),) if named else ())
    if tokenizer.supported_language_codes:
        return sources, tuple(code[2:-2] for code in tokenizer.supported_language_codes)
    targets = (tokenizer.target_lang,) if tokenizer.target_lang else ((named.group(2),) if named else ())
    return sources, targets


def pick_language(asked: str, have: tuple[str, ...], side: str) -> str:
    """The model's code for the language `asked` ("" picks the only one); `InputError` naming those it has."""
    if not asked:
        if len(have) == 1:
            return have[0]
        raise InputError(f"Name the {side} language: this model has {len(have)} ({', '.join(have[:40])}"
                         f"{', ...' if len(have) > 40 else ''}).")
    wanted = asked.lower()
    for code in have:
        base = code.split("_")[0].lower()
        if wanted in (code.lower(), base) or ISO3.get(wanted) == base or ISO3.get(base) == wanted:
            return code
    raise InputError(f"This model has no {side} language {asked!r}. It has: {', '.join(have)}.")


# ------------------------------------------------------------------------------------ running

def run(pipe: TranslatePipe, request: Request, progress: Progress) -> Translation:
    """Translate every cue in batches (progress and Cancel between batches); the timing stays."""
    kind, cues = parse_cues(request.text)
    source = pick_language(request.source_language, pipe.sources, "source")
    target = pick_language(request.target_language, pipe.targets, "target")
    texts = [" ".join(c.text.split()) for c in cues]
    out: list[str] = []
    for start in range(0, len(texts), BATCH):
        progress.update(start, len(texts), "translating")
        out += translate_batch(pipe, texts[start:start + BATCH], source, target, request.beams)
    progress.update(len(texts), len(texts), "translating")
    empty = [i for i, t in enumerate(out, 1) if not t]
    notices = [f"{len(empty)} cue(s) came out of the model empty and keep their own text (cue {empty[0]} first)."
               ] if empty else []
    out = [t or source_text for t, source_text in zip(out, texts)]
    translated = [Cue("\n".join(textwrap.wrap(t, LINE_CHARS)) or t, c.start, c.end) for t, c in zip(out, cues)]
    params = dict(task=TASK, source_language=source, target_language=target, cues=len(cues), input_format=kind,
                  beams=request.beams)
    suffixes = (".srt", ".vtt") if kind != "txt" else (".txt",)
    artifacts = [TextArtifact(export(translated, s), s, dict(params, format=s.lstrip("."))) for s in suffixes]
    return Translation(artifacts, notices, cues=translated, format=kind)


def translate_batch(pipe: TranslatePipe, texts: list[str], source: str, target: str, beams: int) -> list[str]:
    """Translate a batch of one-line texts from `source` into `target`."""
    import torch

    tokenizer, kwargs = pipe.tokenizer, {}
    if pipe.family == "nllb":
        tokenizer.src_lang = source  # NllbTokenizer reads it when encoding; the job holds the model alone
        kwargs["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(target)
    elif len(pipe.targets) > 1:
        texts = [f">>{target}<< {t}" for t in texts]
    batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True).to(pipe.model.device)
    longest = int(batch["input_ids"].shape[1])
    with torch.inference_mode():
        ids = pipe.model.generate(**batch, num_beams=beams, max_new_tokens=min(2 * longest + 16, 512), **kwargs)
    return [t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True)]


def export(cues: list[Cue], suffix: str) -> str:
    """Cues as SRT, WebVTT or plain text."""
    from pipelines.transcribe import Segment, to_srt, to_text, to_vtt

    segments = [Segment(c.start or 0.0, c.end or 0.0, c.text) for c in cues]
    return {".srt": to_srt, ".vtt": to_vtt, ".txt": to_text}[suffix](segments)


# ------------------------------------------------------------------------------------ tiny twin

_TINY_SOURCE = ("hello there keeper", "the lamp is lit tonight", "the ships are coming home", "one two three four")
_TINY_TARGET = ("hallo da waerter", "die lampe brennt heute nacht", "die schiffe kommen heim", "eins zwei drei vier")


def _tiny_spm(lines: tuple[str, ...], path) -> list[str]:
    """Train a small SentencePiece model on `lines` into `path`; its pieces."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines * 4), model_writer=model, vocab_size=48,
                                   model_type="unigram", hard_vocab_limit=False, num_threads=1, minloglevel=2,
                                   bos_id=-1, eos_id=-1, unk_id=0, character_coverage=1.0)
    path.write_bytes(model.getvalue())
    processor = spm.SentencePieceProcessor(model_file=str(path))
    return [processor.id_to_piece(i) for i in range(processor.get_piece_size())]


def build_tiny(folder) -> None:
    """MarianMT at toy width (1+1 layers, d_model 16), English to German, with a Marian tokenizer
    made of two SentencePiece models trained here on a few lines and one shared vocabulary;
    saved in the opus-mt layout (config, generation config, weights, source/target.spm, vocab.json)."""
    import json
    from pathlib import Path

    from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

    folder = Path(folder)
    pieces = _tiny_spm(_TINY_SOURCE, folder / "source.spm") + _tiny_spm(_TINY_TARGET, folder / "target.spm")
    vocab = {"</s>": 0, "<unk>": 1}
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    vocab["<pad>"] = len(vocab)   # Marian's pad is its last id, and decoding starts from it
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    tokenizer = MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json"),
                                source_lang="en", target_lang="de")
    pad = vocab["<pad>"]
    config = MarianConfig(vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                          max_position_embeddings=128, pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad)
    model = MarianMTModel(config)
    model.generation_config = GenerationConfig(pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad,
                                               bad_words_ids=[[pad]], max_length=128, num_beams=4)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


CONTRACT = Task(TASK, Request, artifacts=("text",), text_field="text", tab="Translate")
