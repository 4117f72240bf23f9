"""Subtitles: cues from timed speech, common line rules, SRT and WebVTT through `srt` and `webvtt-py`.

The studio knows when each piece of speech starts and ends (a speech chunk as synthesized, a take
placed on an animatic's timeline): a `Span`. `build_cues` turns spans into cues that follow the
usual subtitling rules: at most `lines` lines of `line_chars` characters, each cue on screen
`min_s` to `max_s` seconds. A span too long for one cue is split between words, the split points
timed in proportion to the characters before them (the speech models give no word times); the
cues of one span together cover exactly its time, so a cue's first start and last end are the
speech's own. A cue shorter than `min_s` is held longer, into the silence after it, never over
the next cue.

No torch and no model here: the web app and provenance may import it.
"""
from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from pipelines.errors import InputError
from pipelines.media import TextArtifact

# The rules' ranges, for Request.check messages.
LINE_CHARS_RANGE = (16, 80)
LINES_RANGE = (1, 3)
CUE_SECONDS_RANGE = (0.5, 20.0)
# The smallest silence kept between two cues when a short cue is held longer (a frame at 24 fps,
# so players show the change).
MIN_GAP_S = 0.042
# Speech onset and offset from energy: a 10 ms frame louder than this is sound.
FRAME_S = 0.01
SOUND_DBFS = -45.0
# A cue may take up to this many words of the next one to end at a clause's end.
_PULL_WORDS = 3
_CLAUSE_END = ".!?;:,"


@dataclass(frozen=True)
class Rules:
    """Line length, lines per cue and how long a cue stays on screen."""

    line_chars: int = 42
    lines: int = 2
    min_s: float = 1.0
    max_s: float = 7.0

    def checked(self) -> "Rules":
        """These rules, or InputError naming the value out of range."""
        _in_range("Characters per subtitle line", self.line_chars, *LINE_CHARS_RANGE, whole=True)
        _in_range("Lines per subtitle", self.lines, *LINES_RANGE, whole=True)
        _in_range("The shortest subtitle", self.min_s, *CUE_SECONDS_RANGE, unit="s")
        _in_range("The longest subtitle", self.max_s, *CUE_SECONDS_RANGE, unit="s")
        if self.min_s > self.max_s:
            raise InputError(f"The shortest subtitle ({self.min_s:g} s) is longer than the longest "
                             f"({self.max_s:g} s): make the shortest no longer than the longest.")
        return self


def _in_range(name: str, value: Any, lo: float, hi: float, unit: str = "", whole: bool = False) -> None:
    kind_ok = isinstance(value, int) if whole else isinstance(value, (int, float))
    if isinstance(value, bool) or not kind_ok or not math.isfinite(value) or not lo <= value <= hi:
        unit = f" {unit}" if unit else ""
        what = "a whole number" if whole else "a number"
        raise InputError(f"{name} is {value!r}: use {what} from {lo:g} to {hi:g}{unit}.")


@dataclass(frozen=True)
class Span:
    """A piece of speech whose time is known: `text` said from `start_s` to `end_s`."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Cue:
    """One subtitle: `text` (lines joined by newlines) on screen from `start_s` to `end_s`."""

    start_s: float
    end_s: float
    text: str


# ---- line rules --------------------------------------------------------------------------------

def wrap(text: str, rules: Rules) -> str:
    """`text` in at most `rules.lines` lines of `rules.line_chars`, as even in length as the words
    allow (a bottom-heavy pyramid is the usual preference, so ties go to a longer second line)."""
    words = text.split()
    if len(" ".join(words)) <= rules.line_chars or rules.lines == 1:
        return " ".join(words)
    best: tuple[int, list[str]] | None = None
    for cut in _cuts(len(words), rules.lines):
        lines = [" ".join(words[a:b]) for a, b in zip((0, *cut), (*cut, len(words)))]
        widest = max(len(line) for line in lines)
        if widest <= rules.line_chars and (best is None or widest < best[0]):
            best = (widest, lines)
    if best is None:  # a word longer than a line: the cue still shows it, on lines as short as can be
        return "\n".join(_greedy_lines(words, rules.line_chars))
    return "\n".join(best[1])


def _cuts(n: int, lines: int) -> Iterable[tuple[int, ...]]:
    """Where to break n words into `lines` lines (every line non-empty), latest breaks first."""
    if lines == 2:
        return [(i,) for i in range(n - 1, 0, -1)]
    return [(i, j) for i in range(n - 2, 0, -1) for j in range(n - 1, i, -1)]


def _greedy_lines(words: list[str], width: int) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def fits(text: str, rules: Rules) -> bool:
    """Whether `text` fits one cue's lines."""
    wrapped = wrap(text, rules).split("\n")
    return len(wrapped) <= rules.lines and all(len(line) <= rules.line_chars for line in wrapped)


# ---- cues from timed speech --------------------------------------------------------------------

def split_span(span: Span, rules: Rules) -> list[Cue]:
    """One span as consecutive cues that fit the lines and last at most `max_s` each (timed by characters)."""
    words = span.text.split()
    if not words:
        return []
    duration = max(0.0, span.end_s - span.start_s)
    total = len(" ".join(words))
    # Time goes with characters (each piece counted with one space after it, of total + 1), so a
    # piece of at most `budget` characters lasts at most max_s.
    budget = total if duration <= rules.max_s else max(1, int((total + 1) * rules.max_s / duration) - 1)
    pieces = _pack(words, budget, rules)
    # As few cues as the rules allow, then as even as the words allow: no orphan word left on its own.
    for even in range(math.ceil(total / len(pieces)), budget):
        balanced = _pack(words, even, rules)
        if len(balanced) <= len(pieces):
            pieces = balanced
            break
    pieces = _prefer_sentence_ends(pieces, rules, budget)
    cues, done = [], 0
    for piece in pieces:
        text = " ".join(piece)
        start = span.start_s + duration * done / (total + 1)
        done += len(text) + 1
        end = span.start_s + duration * done / (total + 1)
        cues.append(Cue(start, span.end_s if piece is pieces[-1] else end, wrap(text, rules)))
    return cues


def _pack(words: list[str], budget: int, rules: Rules) -> list[list[str]]:
    """Words packed greedily into pieces of at most `budget` characters that fit a cue's lines."""
    pieces: list[list[str]] = []
    for word in words:
        joined = " ".join([*pieces[-1], word]) if pieces else ""
        if pieces and len(joined) <= budget and fits(joined, rules):
            pieces[-1].append(word)
        else:
            pieces.append([word])
    return pieces


def _prefer_sentence_ends(pieces: list[list[str]], rules: Rules, budget: int) -> list[list[str]]:
    """Break cues at punctuation where the words allow: a piece takes the next one's first few words up
    to a clause end, or hands the words after its last sentence end on to the next one, if both fit."""
    for i in range(len(pieces) - 1):
        head, tail = pieces[i], pieces[i + 1]
        pull = next((k for k, w in enumerate(tail[:_PULL_WORDS], 1) if w[-1] in _CLAUSE_END), 0)
        if pull and pull < len(tail) and _ok([*head, *tail[:pull]], rules, budget):
            pieces[i], pieces[i + 1] = [*head, *tail[:pull]], tail[pull:]
            continue
        ends = [k for k, w in enumerate(head[:-1], 1) if w[-1] in ".!?;:"]
        if ends and _ok([*head[ends[-1]:], *tail], rules, budget):
            pieces[i], pieces[i + 1] = head[:ends[-1]], [*head[ends[-1]:], *tail]
    return [p for p in pieces if p]


def _ok(words: list[str], rules: Rules, budget: int) -> bool:
    text = " ".join(words)
    return len(text) <= budget and fits(text, rules)


def build_cues(spans: Sequence[Span], rules: Rules = Rules(), end_s: float | None = None) -> list[Cue]:
    """Cues for timed speech, in time order; short cues held up to `min_s` without touching the next
    cue (or running past `end_s`, the end of the media)."""
    cues = [cue for span in sorted(spans, key=lambda s: s.start_s) for cue in split_span(span, rules)]
    held = []
    for i, cue in enumerate(cues):
        limit = cues[i + 1].start_s - MIN_GAP_S if i + 1 < len(cues) else (end_s if end_s is not None else math.inf)
        end = max(cue.end_s, min(cue.start_s + rules.min_s, limit))
        held.append(Cue(round(cue.start_s, 3), round(end, 3), cue.text))
    return held


def speech_span(samples: np.ndarray, rate: int, offset_s: float = 0.0) -> tuple[float, float] | None:
    """(onset, offset) in seconds of the sound in mono `samples` placed at `offset_s`: the first and
    last 10 ms frame louder than -45 dBFS; None when it is silent throughout."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    frame = max(1, int(rate * FRAME_S))
    n = x.size // frame
    if n == 0:
        return None
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms > 10 ** (SOUND_DBFS / 20))
    if loud.size == 0:
        return None
    return offset_s + loud[0] * frame / rate, offset_s + min(x.size, (loud[-1] + 1) * frame) / rate


def joined_spans(wavs: Sequence[np.ndarray], texts: Sequence[str], rate: int, pause_s: float) -> list[Span]:
    """Where each piece's sound lies once the pieces are joined end to end with `pause_s` of silence
    between them (as pipelines.speech.join_chunks does): from its first to its last audible 10 ms (a
    model's lead-in and trailing silence are not speech). Silent pieces are left out."""
    gap = int(round(pause_s * rate))
    spans, offset = [], 0
    for wav, text in zip(wavs, texts):
        wav = np.nan_to_num(np.asarray(wav, dtype=np.float32).reshape(-1))
        found = speech_span(wav, rate, offset / rate)
        if found:
            spans.append(Span(*found, text))
        offset += wav.size + gap
    return spans


# ---- files -------------------------------------------------------------------------------------

def to_srt(cues: Sequence[Cue]) -> str:
    """The cues as SubRip text (`srt.compose`)."""
    import srt

    return srt.compose([srt.Subtitle(i, dt.timedelta(seconds=c.start_s), dt.timedelta(seconds=c.end_s), c.text)
                        for i, c in enumerate(cues, 1)], reindex=False)


def to_vtt(cues: Sequence[Cue]) -> str:
    """The cues as WebVTT text (webvtt-py)."""
    import webvtt

    doc = webvtt.WebVTT()
    for c in cues:
        doc.captions.append(webvtt.Caption(_vtt_time(c.start_s), _vtt_time(c.end_s), c.text.split("\n")))
    return doc.content


def _vtt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def text_artifacts(cues: Sequence[Cue], params: dict[str, Any]) -> list[TextArtifact]:
    """The .srt and .vtt files of `cues`, each carrying `params` (the take's own, so they group with it)."""
    return [TextArtifact(to_srt(cues), ".srt", dict(params)), TextArtifact(to_vtt(cues), ".vtt", dict(params))]


def parse(text: str, name: str = "subtitle file") -> list[Cue]:
    """Cues read from SRT or WebVTT text (told apart by the WEBVTT header); InputError naming the line
    where a file does not parse."""
    body = text.removeprefix("\ufeff")
    return _parse_vtt(body, name) if body.startswith("WEBVTT") else _parse_srt(body, name)


def _parse_srt(text: str, name: str) -> list[Cue]:
    import srt

    try:
        cues = [Cue(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in srt.parse(text)]
    except srt.SRTParseError as exc:
        line = text.count("\n", 0, exc.expected_start) + 1
        raise InputError(f"The {name} does not parse as SubRip (SRT) at line {line}: expected a cue number, "
                         "then a 'HH:MM:SS,mmm --> HH:MM:SS,mmm' line, then its text.") from None
    if not cues:
        raise InputError(f"The {name} holds no subtitles: it is empty.")
    return cues


def _parse_vtt(text: str, name: str) -> list[Cue]:
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    try:
        captions = webvtt.from_buffer(io.StringIO(text)).captions
    except (MalformedFileError, MalformedCaptionError) as exc:
        raise InputError(f"The {name} does not parse as WebVTT: {exc}.") from None
    if not captions:
        lines = text.splitlines()
        stray = next((i for i, line in enumerate(lines[1:], 2) if line.strip()), None)
        where = f" at line {stray}: expected 'HH:MM:SS.mmm --> HH:MM:SS.mmm', then the cue's text" if stray else ""
        raise InputError(f"The {name} holds no WebVTT cues{where}.")
    return [Cue(_seconds(c.start), _seconds(c.end), c.text) for c in captions]


def _seconds(stamp: str) -> float:
    parts = [float(p) for p in stamp.replace(",", ".").split(":")]
    return sum(p * 60 ** k for k, p in enumerate(reversed(parts)))
