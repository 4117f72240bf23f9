"""Script parsing: a pasted script or shot list becomes shot drafts (text, camera, duration, dialogue).

One grammar covers both forms the tab accepts:

* one shot per line: every non-empty line is a shot;
* a simple markdown form: `#`/`##` scene headings (or screenplay sluglines, INT./EXT.), shot
  lines (plain, or bulleted `-`/`*`/`1.`/`Shot 3:`), and dialogue lines marked with the speaker:
  `ANNA: Who's there?`, `**Anna:** Who's there?`, `> Anna: Who's there?`. A dialogue line
  without a speaker (`> Who's there?` or a line that is only a quotation) is the narrator's.

Inside a shot line, `[close-up, 2.5s]` gives the camera note and the duration, a leading shot
type (`CU: Anna looks up`, `WIDE - the harbour`) gives the camera note, and `(3s)` the duration.
Written by hand (regular expressions) because screenplay formats such as Fountain need a full
parser for much more than this, and a markdown library would not know speakers or shots.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipelines.checks import strip_controls
from pipelines.errors import InputError

NARRATOR = "NARRATOR"
MAX_SCRIPT_CHARS = 200_000
MAX_SHOT_CHARS = 1000       # a shot's text becomes a prompt; the model's own limit is larger
MAX_LINE_CHARS = 1000       # one dialogue line is one voice-over take
DURATION_RANGE = (0.5, 60.0)
DEFAULT_DURATION_S = 3.0
WORDS_PER_SECOND = 2.5      # unhurried speech (150 words a minute) for timing shots with dialogue

# Shot types a camera note may start with; longest first, so "extreme close-up" wins over "close-up".
CAMERA_TERMS = sorted([
    "extreme wide shot", "extreme wide", "establishing shot", "establishing", "wide shot", "wide", "long shot",
    "full shot", "medium shot", "medium close-up", "medium close up", "medium", "close-up", "close up", "closeup",
    "extreme close-up", "extreme close up", "two-shot", "two shot", "over the shoulder", "over-the-shoulder",
    "point of view", "insert", "aerial", "tracking shot", "tracking", "dolly", "crane", "pan", "tilt", "zoom",
    "push in", "pull out", "overhead", "low angle", "high angle", "dutch angle", "ews", "ws", "ls", "fs", "ms",
    "mcu", "cu", "ecu", "ots", "pov",
], key=len, reverse=True)
_TERMS = "|".join(re.escape(t) for t in CAMERA_TERMS)
_CAMERA_PREFIX = re.compile(rf"^(?P<cam>(?:{_TERMS})(?:[ ,/&]+(?:{_TERMS}))*)\s*[:\-–—]\s+(?P<rest>.+)$", re.I)
_DURATION = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(?:s|sec|secs|second|seconds)\s*$", re.I)
_PAREN_DURATION = re.compile(r"[(\{]\s*(\d+(?:[.,]\d+)?)\s*(?:s|sec|secs|second|seconds)\s*[)\}]", re.I)
_BRACKET = re.compile(r"\[([^\]]*)\]")
_HEADING = re.compile(r"^#{1,6}\s+(?P<text>.+?)\s*#*$")
_SLUGLINE = re.compile(r"^(?:INT|EXT|INT\.?/EXT|I/E)[.\s]", re.I)
_BULLET = re.compile(r"^(?:[-*+]\s+|\d{1,4}[.)]\s+|(?:shot|panel)\s*#?\d{1,4}\s*[:.)\-–—]\s*)", re.I)
_EXTENSION = r"(?:\s*\((?:[A-Z][A-Z.' ]*)\))?"       # (V.O.), (O.S.), (CONT'D)
_CAPS_SPEAKER = re.compile(rf"^(?P<speaker>[A-Z][A-Z0-9 .'\-]{{0,39}}?){_EXTENSION}\s*:\s+(?P<text>.+)$")
_BOLD_SPEAKER = re.compile(r"^\*\*(?P<speaker>[^*:]{1,40}?)(?::\*\*|\*\*\s*:)\s*(?P<text>.+)$")
_QUOTE_SPEAKER = re.compile(rf"^(?P<speaker>[A-Za-z][\w .'\-]{{0,39}}?){_EXTENSION}\s*:\s+(?P<text>.+)$")
_QUOTED = re.compile(r"^[\"“«„'](?P<text>.+)[\"”»“']$")
_SKIP = re.compile(r"^(?:<!--.*-->|//.*|-{3,}|\*{3,}|_{3,})$")


@dataclass
class ShotDraft:
    """One shot as written: its text, camera note, duration (None: not given) and dialogue."""

    text: str
    camera: str = ""
    duration_s: float | None = None
    dialogue: list[tuple[str, str]] = field(default_factory=list)   # (speaker, line)
    scene: str = ""
    line_no: int = 0


@dataclass
class ParsedScript:
    shots: list[ShotDraft]
    form: str                     # "lines" (one shot per line) or "markdown"
    speakers: list[str]           # in order of first appearance
    scenes: list[str]


def parse_script(text: str, max_shots: int) -> ParsedScript:
    """Split a script into shot drafts; every problem is an `InputError` naming the line."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("The script is empty: paste one shot per line, or a markdown shot list "
                         "(## scene headings, - shot lines, NAME: dialogue lines).")
    text = strip_controls(text)  # the text policy: no control characters but newline and tab
    if len(text) > MAX_SCRIPT_CHARS:
        raise InputError(f"The script is {len(text):,} characters; the limit is {MAX_SCRIPT_CHARS:,}. "
                         "Split it into parts, one board per sequence.")
    shots: list[ShotDraft] = []
    scenes: list[str] = []
    speakers: dict[str, None] = {}
    scene, markdown = "", False
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or _SKIP.match(line):
            continue
        heading = _HEADING.match(line)
        if heading or _SLUGLINE.match(line):
            scene = _clean(heading.group("text") if heading else line)
            scenes.append(scene)
            markdown = True
            continue
        said = parse_dialogue_line(line)
        if said is not None:
            markdown = True
            if not shots:
                raise InputError(f"Line {no} is dialogue ({said[0]}) before any shot: put the shot it belongs to "
                                 "on a line above it.")
            _check_length(said[1], MAX_LINE_CHARS, f"The dialogue on line {no}")
            shots[-1].dialogue.append(said)
            speakers.setdefault(said[0])
            continue
        if _BULLET.match(line):
            markdown = True
        shot = parse_shot_line(line, no)
        shot.scene = scene
        shots.append(shot)
    if len(shots) > max_shots:
        raise InputError(f"The script has {len(shots):,} shots; a board holds at most {max_shots}. "
                         "Split it into parts (one board per scene or sequence).")
    if not shots:
        raise InputError("The script has no shot lines, only headings or dialogue: add a line describing "
                         "what each shot shows.")
    return ParsedScript(shots, "markdown" if markdown else "lines", list(speakers), scenes)


def parse_shot_line(line: str, no: int = 0) -> ShotDraft:
    """A shot line: its camera note (brackets or a leading shot type), duration and text."""
    body = _BULLET.sub("", line.strip(), count=1)
    camera_parts: list[str] = []
    duration = None

    def bracket(m: re.Match) -> str:
        nonlocal duration
        for part in (p.strip() for p in m.group(1).split(",")):
            d = _DURATION.match(part)
            if d:
                duration = _seconds(d.group(1), no)
            elif part:
                camera_parts.append(part)
        return " "

    body = _BRACKET.sub(bracket, body)
    paren = _PAREN_DURATION.search(body)
    if paren:
        duration = _seconds(paren.group(1), no)
        body = body[:paren.start()] + " " + body[paren.end():]
    body = _clean(body)
    prefix = _CAMERA_PREFIX.match(body)
    if prefix:
        camera_parts.insert(0, prefix.group("cam"))
        body = prefix.group("rest").strip()
    where = f" on line {no}" if no else ""
    if not body:
        raise InputError(f"The shot{where} has a camera note but no description: say what the shot shows.")
    _check_length(body, MAX_SHOT_CHARS, f"The shot{where}")
    return ShotDraft(text=body, camera=", ".join(camera_parts), duration_s=duration, line_no=no)


def parse_dialogue_line(line: str) -> tuple[str, str] | None:
    """(speaker, text) when `line` is dialogue, else None. Unmarked quotations are the narrator's."""
    line = line.strip()
    if line.startswith(">"):
        inner = line.lstrip(">").strip()
        m = _BOLD_SPEAKER.match(inner) or _QUOTE_SPEAKER.match(inner)
        if m and not _is_camera(m.group("speaker")):
            return _said(m.group("speaker"), m.group("text"))
        return _said(NARRATOR, inner) if inner else None
    m = _BOLD_SPEAKER.match(line) or _CAPS_SPEAKER.match(line)
    if m and not _is_camera(m.group("speaker")) and not _BULLET.match(line):
        return _said(m.group("speaker"), m.group("text"))
    quoted = _QUOTED.match(line)
    if quoted and len(line) > 2:
        return _said(NARRATOR, quoted.group("text"))
    return None


def parse_dialogue_block(text: str) -> list[tuple[str, str]]:
    """The shot editor's dialogue box: one line each, `NAME: words`; unmarked lines are the narrator's."""
    lines = []
    for no, raw in enumerate(strip_controls(text or "").splitlines(), start=1):
        if not raw.strip():
            continue
        said = parse_dialogue_line(raw) or _mixed_case_speaker(raw) or _said(NARRATOR, raw)
        _check_length(said[1], MAX_LINE_CHARS, f"Dialogue line {no}")
        lines.append(said)
    return lines


def dialogue_text(dialogue) -> str:
    """The editor's text for a shot's dialogue (the inverse of `parse_dialogue_block`)."""
    return "\n".join(f"{speaker}: {text}" for speaker, text in dialogue)


def estimate_duration(draft: ShotDraft, default_s: float) -> float:
    """The shot's duration: as written, else long enough to speak its dialogue, else the default."""
    if draft.duration_s is not None:
        return draft.duration_s
    words = sum(len(text.split()) for _, text in draft.dialogue)
    spoken = round(words / WORDS_PER_SECOND + 1.0, 1) if words else 0.0
    return min(DURATION_RANGE[1], max(default_s, spoken))


MOTION_WORDS = [("zoom_in", ("push in", "zoom in", "dolly in", "push-in", "creep in")),
                ("zoom_out", ("pull out", "zoom out", "pull back", "dolly out", "pull-out")),
                ("pan_left", ("pan left", "pans left")),
                ("pan_right", ("pan right", "pans right", "pan"))]


def motion_for(camera: str, default: str) -> str:
    """The animatic move a camera note asks for ("slow push in" -> zoom_in), else `default`."""
    note = camera.lower()
    for motion, words in MOTION_WORDS:
        if any(w in note for w in words):
            return motion
    return default


def _is_camera(speaker: str) -> bool:
    return bool(re.fullmatch(rf"(?:{_TERMS})(?:[ ,/&]+(?:{_TERMS}))*", speaker.strip(), re.I))


def _mixed_case_speaker(line: str) -> tuple[str, str] | None:
    m = _QUOTE_SPEAKER.match(line.strip())
    return _said(m.group("speaker"), m.group("text")) if m and not _is_camera(m.group("speaker")) else None


def _said(speaker: str, text: str) -> tuple[str, str] | None:
    text = _clean(text)
    quoted = _QUOTED.match(text)
    if quoted:
        text = quoted.group("text").strip()
    if not text:
        return None
    name = re.sub(r"\s+", " ", speaker.replace("*", "")).strip().upper() or NARRATOR
    return name, text


def _clean(text: str) -> str:
    """Markdown emphasis and code marks removed, spaces collapsed."""
    return re.sub(r"\s+", " ", text.replace("**", "").replace("`", "")).strip(" \t-–—:")


def _seconds(raw: str, no: int) -> float:
    value = float(raw.replace(",", "."))
    lo, hi = DURATION_RANGE
    if not lo <= value <= hi:
        where = f"line {no}" if no else "the shot"
        raise InputError(f"The duration on {where} is {value:g} s; a shot lasts {lo:g} to {hi:g} s.")
    return value


def _check_length(text: str, limit: int, what: str) -> None:
    if len(text) > limit:
        raise InputError(f"{what} is {len(text):,} characters; keep it under {limit:,} (split it into more "
                         "shots or lines).")
