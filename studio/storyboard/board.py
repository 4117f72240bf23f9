"""The board model: a board's settings and its ordered shots, and the edits a visitor makes to them.

Plain dataclasses (no Gradio, no torch), turned to and from JSON by the store. Edits check their
arguments and raise `InputError` with a message that says what to do; they change the board in
memory, and the service saves it.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pipelines.checks import strip_controls
from pipelines.errors import InputError
from studio.storyboard.script import (DEFAULT_DURATION_S, DURATION_RANGE, MAX_SHOT_CHARS, NARRATOR, ParsedScript,
                                      estimate_duration, motion_for)

MOTIONS = ("none", "zoom_in", "zoom_out", "pan_left", "pan_right")
SEED_POLICIES = ("same", "sequential", "random")
SEED_POLICY_HELP = {
    "same": "every unlocked shot uses the board's seed (the most consistent look)",
    "sequential": "shot n uses the board's seed + n (consistent, but varied)",
    "random": "a fresh seed for every unlocked shot at every generation",
}
FPS_CHOICES = (12, 24, 25, 30)
SHOT_STATES = ("empty", "done", "failed", "stale")   # stale: edited since its panel was made


@dataclass
class Line:
    """One line of dialogue and, once made, its voice-over take (the signed WAV)."""

    speaker: str
    text: str
    audio_path: str = ""
    audio_id: str = ""
    duration_s: float = 0.0
    voice: str = ""
    error: str = ""


@dataclass
class Shot:
    """One panel of the board."""

    id: str
    prompt: str
    camera: str = ""
    duration_s: float = DEFAULT_DURATION_S
    dialogue: list[Line] = field(default_factory=list)
    scene: str = ""
    motion: str = "none"
    seed: int = 0
    seed_locked: bool = False
    panel_path: str = ""
    panel_id: str = ""
    status: str = "empty"
    error: str = ""

    def prompt_text(self, look: str = "") -> str:
        """What the model is asked for: camera note, the shot, the board's look notes."""
        return ", ".join(p for p in (self.camera.strip(), self.prompt.strip(), look.strip()) if p)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Shot":
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["dialogue"] = [Line(**{k: v for k, v in line.items() if k in {f.name for f in fields(Line)}})
                            for line in data.get("dialogue", [])]
        return cls(**data)


@dataclass
class Board:
    """A storyboard: whose it is, how its panels, voices and music are made, and its shots in order."""

    id: str
    session_id: str
    title: str
    shots: list[Shot] = field(default_factory=list)
    style: str = "storyboard-sketch"
    model: str = "tiny-sd15"
    look: str = ""                       # character / look notes added to every shot's prompt
    seed_policy: str = "same"
    seed: int = 0
    width: int = 256
    height: int = 144
    steps: int = 4
    fps: int = 24
    voice_model: str = ""
    voices: dict[str, str] = field(default_factory=dict)   # speaker -> the model's voice
    music_model: str = ""
    music_prompt: str = ""
    music_path: str = ""
    music_id: str = ""
    music_level_db: float = -12.0        # the bed under the voices, relative to its own loudness
    reference_path: str = ""             # the visitor's character/style reference, as uploaded
    reference_name: str = ""
    reference_verdict: dict[str, Any] = field(default_factory=dict)
    reference_strength: float = 0.6      # how strongly the reference steers panels (IP-Adapter scale)
    share_token: str = ""
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    SETTINGS = ("style", "model", "look", "seed_policy", "seed", "width", "height", "steps", "fps", "voice_model",
                "voices", "music_model", "music_prompt", "music_path", "music_id", "music_level_db",
                "reference_path", "reference_name", "reference_verdict", "reference_strength")

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.shots)

    def speakers(self) -> list[str]:
        """Everyone who speaks, in order of first line."""
        return list(dict.fromkeys(line.speaker for shot in self.shots for line in shot.dialogue))

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.SETTINGS}

    def shot(self, number: Any) -> Shot:
        """Shot `number` (1-based, as the visitor sees it)."""
        return self.shots[self.index(number)]

    def index(self, number: Any, *, allow_end: bool = False) -> int:
        n = whole("The shot number", number)
        top = len(self.shots) + (1 if allow_end else 0)
        if not 1 <= n <= top:
            raise InputError(f"There is no shot {n}: this board has {len(self.shots)} shot(s), numbered 1 to "
                             f"{len(self.shots)}.")
        return n - 1

    def seed_for(self, index: int, fresh: int) -> int:
        """The seed of the shot at `index` for a generation: locked seeds stay, others follow the policy."""
        shot = self.shots[index]
        if shot.seed_locked:
            return shot.seed
        if self.seed_policy == "same":
            return self.seed
        if self.seed_policy == "sequential":
            return (self.seed + index + 1) % 2**32
        return fresh


def new_id() -> str:
    return secrets.token_urlsafe(12)


def new_share_token() -> str:
    """Unguessable (192 bits): the only thing a read-only link carries."""
    return secrets.token_urlsafe(24)


def shots_from_script(parsed: ParsedScript, default_s: float, default_motion: str) -> list[Shot]:
    """Board shots from parsed drafts: durations estimated where not written, moves from camera notes."""
    return [Shot(id=new_id(), prompt=d.text, camera=d.camera, duration_s=estimate_duration(d, default_s),
                 dialogue=[Line(speaker, text) for speaker, text in d.dialogue], scene=d.scene,
                 motion=motion_for(d.camera, default_motion)) for d in parsed.shots]


# ---- edits -----------------------------------------------------------------------------------

def edit_shot(board: Board, number: Any, *, prompt: str | None = None, camera: str | None = None,
              duration_s: Any = None, dialogue: list[tuple[str, str]] | None = None, motion: str | None = None,
              seed: Any = None, seed_locked: bool | None = None) -> Shot:
    """Change a shot; a change to what it shows marks its panel stale. Returns the shot."""
    shot = board.shot(number)
    if prompt is not None:
        shot.prompt = check_prompt(prompt, f"Shot {number}")
    if camera is not None:
        shot.camera = str(camera).strip()[:200]
    if duration_s is not None:
        shot.duration_s = check_duration(duration_s)
    if dialogue is not None:
        old = {(line.speaker, line.text): line for line in shot.dialogue}
        # A line that did not change keeps its voice-over take.
        shot.dialogue = [old.get((speaker, text)) or Line(speaker, text) for speaker, text in dialogue]
    if motion is not None:
        shot.motion = check_choice("The camera move", motion, MOTIONS)
    if seed is not None:
        shot.seed = check_seed(seed)
    if seed_locked is not None:
        shot.seed_locked = bool(seed_locked)
    if shot.panel_path and (prompt is not None or camera is not None or seed is not None):
        shot.status = "stale"
    return shot


def insert_shot(board: Board, after: Any, prompt: str, max_shots: int) -> Shot:
    """A new shot after shot `after` (0: at the start), lasting the board's typical shot."""
    if len(board.shots) >= max_shots:
        raise InputError(f"This board already has {len(board.shots)} shots, the most a board holds; start another "
                         "board for the next sequence.")
    position = 0 if whole("The position", after) == 0 else board.index(after) + 1
    neighbour = board.shots[position - 1] if position else (board.shots[0] if board.shots else None)
    shot = Shot(id=new_id(), prompt=check_prompt(prompt, "The new shot"), scene=neighbour.scene if neighbour else "",
                duration_s=DEFAULT_DURATION_S)
    board.shots.insert(position, shot)
    return shot


def delete_shot(board: Board, number: Any) -> Shot:
    if len(board.shots) == 1:
        raise InputError("A board needs at least one shot: edit this one instead, or start a new board.")
    return board.shots.pop(board.index(number))


def move_shot(board: Board, number: Any, to: Any) -> Shot:
    """Move shot `number` so it becomes shot `to`."""
    shot = board.shots.pop(board.index(number))
    target = whole("The new position", to)
    if not 1 <= target <= len(board.shots) + 1:
        board.shots.insert(whole("The shot number", number) - 1, shot)
        raise InputError(f"Position {target} is outside the board: use 1 to {len(board.shots)}.")
    board.shots.insert(target - 1, shot)
    return shot


def fit_to_dialogue(board: Board, lead_s: float = 0.3, tail_s: float = 0.5, gap_s: float = 0.15) -> list[int]:
    """Lengthen every shot whose voice-over takes are longer than it; returns the shot numbers changed."""
    changed = []
    for n, shot in enumerate(board.shots, start=1):
        takes = [line.duration_s for line in shot.dialogue if line.audio_path]
        if not takes:
            continue
        needed = round(lead_s + sum(takes) + gap_s * (len(takes) - 1) + tail_s, 2)
        if needed > shot.duration_s:
            shot.duration_s = min(DURATION_RANGE[1], needed)
            changed.append(n)
    return changed


def assign_voices(board: Board, available: list[str]) -> dict[str, str]:
    """Give every speaker without a voice the next of the model's voices (one voice per speaker)."""
    voices = {k: v for k, v in board.voices.items() if not available or v in available}
    used = list(voices.values())
    for speaker in board.speakers():
        if speaker in voices:
            continue
        free = [v for v in available if v not in used] or available
        voices[speaker] = free[0] if free else ""
        used.append(voices[speaker])
    board.voices = voices
    return voices


def parse_voices(text: str) -> dict[str, str]:
    """The tab's voices box: one `SPEAKER = voice` per line."""
    voices = {}
    for no, raw in enumerate((text or "").splitlines(), start=1):
        if not raw.strip():
            continue
        speaker, sep, voice = raw.partition("=")
        if not sep or not speaker.strip():
            raise InputError(f"Voices line {no} ({raw.strip()!r}) should read SPEAKER = voice, e.g. ANNA = tiny-ada.")
        voices[speaker.strip().upper()] = voice.strip()
    return voices


def voices_text(voices: dict[str, str]) -> str:
    return "\n".join(f"{speaker} = {voice}" for speaker, voice in voices.items())


# ---- checks ----------------------------------------------------------------------------------

def whole(name: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be a whole number, not {value!r}.")
    return value


def check_prompt(prompt: Any, what: str) -> str:
    text = strip_controls(prompt).strip() if isinstance(prompt, str) else ""  # the text policy
    if not text:
        raise InputError(f"{what} has no description: say what the shot shows.")
    if len(text) > MAX_SHOT_CHARS:
        raise InputError(f"{what} is {len(text):,} characters; keep it under {MAX_SHOT_CHARS:,}.")
    return text


def check_duration(value: Any) -> float:
    lo, hi = DURATION_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InputError(f"The duration must be a number of seconds, not {value!r}.")
    if not lo <= value <= hi:
        raise InputError(f"The duration {value:g} s is out of range: a shot lasts {lo:g} to {hi:g} s.")
    return float(value)


def check_seed(value: Any) -> int:
    seed = whole("The seed", value)
    if not 0 <= seed < 2**32:
        raise InputError(f"Seed {seed} is out of range: use 0 to {2**32 - 1}.")
    return seed


def check_choice(what: str, value: Any, choices: tuple) -> Any:
    if value not in choices:
        raise InputError(f"{what} {value!r} is not one of: {', '.join(map(str, choices))}.")
    return value


def speaker_label(speaker: str) -> str:
    return "Narrator" if speaker == NARRATOR else speaker
