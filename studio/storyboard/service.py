"""The board service: boards of a visitor, their edits, and the jobs that fill them.

Panels, voice-over takes and the music bed are made through `Studio.stream` (one job each, so
each is checked, run, published signed and added to the gallery like any other output, and a
failed one costs only itself). Exports are made as jobs of their own and published through the
Publisher. Long operations are generators of `Step` events ending with one `Finished`; every
problem a visitor can fix is an `InputError` with what to do.
"""
from __future__ import annotations

import shutil
import threading
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterator

from PIL import Image, UnidentifiedImageError

from pipelines import checks
from pipelines.errors import Cancelled, InputError
from pipelines.presets import load_styles
from pipelines.progress import ProgressEvent
from studio.gallery import GalleryItem
from studio.jobs import JobDone
from studio.service import NeedsConfirmation, Studio
from studio.sessions import random_seed
from studio.storyboard import board as bd
from studio.storyboard import making, panels, sharing
from studio.storyboard.board import Board
from studio.storyboard.events import (EXPORT_TASK, MUSIC_TASK, PANEL_TASK, SCOPE, VOICE_TASK, ExportRequest, Finished,
                                      Step)
from studio.storyboard.script import DEFAULT_DURATION_S, parse_dialogue_block, parse_script
from studio.storyboard.store import BoardStore

REFERENCE_MAX_BYTES = 40 * 2**20
REFERENCE_MAX_PIXELS = 40_000_000
REFERENCE_MIN_SIDE = 64
DELETED = "This board was deleted or never existed."
MAX_TITLE_CHARS, MAX_LOOK_CHARS = 120, 500   # the text policy's limits (pipelines.checks.text)
__all__ = ["BoardService", "Step", "Finished", "ExportRequest", "PANEL_TASK", "VOICE_TASK", "MUSIC_TASK",
           "EXPORT_TASK", "SCOPE", "DELETED", "check_reference_image", "frame_size", "token_from"]


class BoardService:
    """Storyboards of every visitor, each reachable only with its owner's session id (or a share token)."""

    def __init__(self, studio: Studio, client: Callable[[], str | None] | None = None):
        """`client` says the network address of the visitor being served (the tab reads it from the
        Gradio request), for the per-address job limit; without it (the CLI, tests) there is none."""
        self.studio = studio
        self._client = client
        self.store = BoardStore(studio.settings.db_path)
        self.folder = studio.settings.data_dir / "storyboards"
        self._stops: dict[str, threading.Event] = {}
        self._runs: dict[tuple[str, str], Any] = {}   # (session, board) -> its panels.PanelRun
        self._lock = threading.Lock()

    def client(self) -> str | None:
        """The address of the visitor this call serves, if the caller said how to find it."""
        return self._client() if self._client is not None else None

    @property
    def max_shots(self) -> int:
        return int(self.studio.settings.storyboard_max_shots)

    # ---- boards ---------------------------------------------------------------------------------

    def default_preset(self, task: str):
        presets = list(self.studio.models.presets(task).values())
        return next((p for p in presets if p.tier == self.studio.settings.default_tier), presets[0])

    def create(self, session_id: str, script: str, *, title: str = "", reference: str | None = None,
               confirmed: bool = False, duration_s: float = DEFAULT_DURATION_S, motion: str = "none",
               **settings: Any) -> Board:
        """A new board from a script; settings not given come from the model presets."""
        parsed = parse_script(script, self.max_shots)
        bd.check_duration(duration_s)
        bd.check_choice("The camera move", motion, bd.MOTIONS)
        board = Board(id=bd.new_id(), session_id=session_id, title=checks.text("The board title", title, MAX_TITLE_CHARS) or _title(parsed),
                      shots=bd.shots_from_script(parsed, duration_s, motion))
        panel = self.studio.models.preset(PANEL_TASK, settings["model"]) if settings.get("model") \
            else self.default_preset(PANEL_TASK)
        board.model, board.steps = panel.name, panel.defaults.get("steps", 25)
        board.width, board.height = frame_size(panel)
        board.voice_model = self.default_preset(VOICE_TASK).name
        board.music_model = self.default_preset(MUSIC_TASK).name
        board.seed = random_seed()
        self._apply_settings(board, {k: v for k, v in settings.items() if v is not None})
        if reference:
            self._attach_reference(board, reference, confirmed)
        self.store.save(board)
        return board

    def get(self, session_id: str, board_id: str) -> Board:
        board = self.store.get(session_id, board_id) if isinstance(board_id, str) and board_id else None
        if board is None:
            raise InputError("That board is not among your boards (it may belong to another visitor, or was "
                             "deleted): choose one of yours, or create a board from a script.")
        return board

    def list(self, session_id: str) -> list[tuple[str, str]]:
        """(label, board id) of the visitor's boards, most recently changed first."""
        return [(f"{title} · {count} shots", board_id) for board_id, title, count, _ in self.store.list(session_id)]

    def delete(self, session_id: str, board_id: str) -> Board:
        """Delete one of the visitor's boards: its shots, its share link and its own folder (the reference
        copy, export scratch). Panels, takes, music and exports stay in the visitor's gallery, signed
        outputs like any other, until the gallery's retention removes them."""
        board = self.get(session_id, board_id)
        with self._lock:
            run = self._runs.pop((session_id, board_id), None)
        if run is not None:
            run.cancelled.set()
        self.store.delete(session_id, board_id)
        shutil.rmtree(self.folder / board_id, ignore_errors=True)
        return board

    def update_settings(self, session_id: str, board_id: str, **settings: Any) -> Board:
        """Change how panels are made (style, model, look, seeds, size, steps, fps, title, music level);
        panels made with other settings are marked stale."""
        board = self.get(session_id, board_id)
        before = (board.style, board.model, board.look, board.width, board.height, board.steps,
                  board.reference_strength)
        if settings.get("title") is not None:
            board.title = checks.text("The board title", settings.pop("title"), MAX_TITLE_CHARS) or board.title
        self._apply_settings(board, {k: v for k, v in settings.items() if v is not None})
        if before != (board.style, board.model, board.look, board.width, board.height, board.steps,
                      board.reference_strength):
            for shot in board.shots:
                if shot.status == "done":
                    shot.status = "stale"
        self.store.save(board)
        return board

    def _apply_settings(self, board: Board, values: dict[str, Any]) -> None:
        unknown = set(values) - {"style", "model", "look", "seed_policy", "seed", "width", "height", "steps", "fps",
                                 "music_level_db", "reference_strength"}
        if unknown:
            raise InputError(f"Unknown board settings: {', '.join(sorted(unknown))}.")
        for name, value in values.items():
            setattr(board, name, value)
        styles = load_styles()
        if board.style not in styles:
            raise InputError(f"Unknown style {board.style!r}; choose one of: {', '.join(styles)}.")
        bd.check_choice("The seed policy", board.seed_policy, bd.SEED_POLICIES)
        board.seed = bd.check_seed(board.seed)
        board.fps = bd.whole("The frame rate", board.fps)
        bd.check_choice("The frame rate", board.fps, bd.FPS_CHOICES)
        board.look = checks.text("The look", board.look, MAX_LOOK_CHARS)
        if not -30 <= float(board.music_level_db) <= 0:
            raise InputError(f"The music level {board.music_level_db:g} dB is out of range: use -30 to 0 dB.")
        strength = board.reference_strength
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
            raise InputError(f"The reference strength {strength!r} is out of range: use 0 (ignore the reference) "
                             "to 1 (follow it closely); 0.5-0.7 keeps each shot's prompt in charge.")
        board.reference_strength = float(strength)
        from pipelines.text_to_image import Request

        preset = self.studio.models.preset(PANEL_TASK, board.model)  # PresetError names the choices
        for name in ("width", "height", "steps"):
            setattr(board, name, bd.whole(name.capitalize(), getattr(board, name)))
        # The panel request's own check, now, so a wrong size is reported before any job runs.
        Request(prompt="check", model=board.model, seed=board.seed, steps=board.steps, width=board.width,
                height=board.height).check(preset)

    # ---- the reference ----------------------------------------------------------------------------

    def set_reference(self, session_id: str, board_id: str, path: str | None, confirmed: bool = False) -> Board:
        """Attach (or with None, remove) the character/style reference image of a board."""
        board = self.get(session_id, board_id)
        if path:
            self._attach_reference(board, path, confirmed)
        else:
            board.reference_path, board.reference_name, board.reference_verdict = "", "", {}
        for shot in board.shots:  # made with another reference (or none)
            if shot.status == "done":
                shot.status = "stale"
        self.store.save(board)
        return board

    def _attach_reference(self, board: Board, path: str, confirmed: bool) -> None:
        source = Path(path)
        check_reference_image(source)
        dest = self.folder / board.id / f"reference{source.suffix.lower() or '.img'}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)  # the uploaded bytes, so its own credentials stay readable
        verdict = self.studio.check_upload(str(dest))
        if verdict.get("flagged") and not confirmed:
            dest.unlink(missing_ok=True)
            raise NeedsConfirmation(f"The reference image looks AI-generated or synthetic ({verdict.get('verdict')}). "
                                    "If you have the right to use it, tick the confirmation box and try again.")
        board.reference_path, board.reference_name = str(dest), source.name
        board.reference_verdict = {**verdict, "confirmed": bool(confirmed)}

    # ---- edits ------------------------------------------------------------------------------------

    def edit_shot(self, session_id: str, board_id: str, number: Any, *, dialogue_text: str | None = None,
                  **changes: Any) -> Board:
        board = self.get(session_id, board_id)
        if dialogue_text is not None:
            changes["dialogue"] = parse_dialogue_block(dialogue_text)
        bd.edit_shot(board, number, **changes)
        self.store.save(board)
        return board

    def insert_shot(self, session_id: str, board_id: str, after: Any, prompt: str) -> Board:
        board = self.get(session_id, board_id)
        bd.insert_shot(board, after, prompt, self.max_shots)
        self.store.save(board)
        return board

    def delete_shot(self, session_id: str, board_id: str, number: Any) -> Board:
        board = self.get(session_id, board_id)
        bd.delete_shot(board, number)
        self.store.save(board)
        return board

    def move_shot(self, session_id: str, board_id: str, number: Any, to: Any) -> Board:
        board = self.get(session_id, board_id)
        bd.move_shot(board, number, to)
        self.store.save(board)
        return board

    def fit_to_dialogue(self, session_id: str, board_id: str) -> tuple[Board, list[int]]:
        board = self.get(session_id, board_id)
        changed = bd.fit_to_dialogue(board)
        self.store.save(board)
        return board, changed

    def add_panels(self, session_id: str, board_id: str, items: list[GalleryItem]) -> Board:
        """New shots at the end of a board, each showing one of the visitor's published pictures as its
        panel (the Library's "Add to board"); a shot's description is the picture's prompt or caption."""
        board = self.get(session_id, board_id)
        if len(board.shots) + len(items) > self.max_shots:
            raise InputError(f"This board has {len(board.shots)} shots and holds at most {self.max_shots}: add "
                             f"{max(0, self.max_shots - len(board.shots))} or fewer, or start another board.")
        for item in items:
            words = str(item.params.get("prompt") or item.caption or "a picture from the library")
            shot = bd.insert_shot(board, len(board.shots), words[:bd.MAX_SHOT_CHARS], self.max_shots)
            shot.panel_path, shot.panel_id, shot.status = item.path, item.id, "done"
        self.store.save(board)
        return board

    # ---- sharing ----------------------------------------------------------------------------------

    def share(self, session_id: str, board_id: str) -> str:
        """The board's share token (made once): whoever has it can look, never change."""
        board = self.get(session_id, board_id)
        if not board.share_token:
            board.share_token = bd.new_share_token()
            self.store.save_settings(board)
        return board.share_token

    def unshare(self, session_id: str, board_id: str) -> None:
        board = self.get(session_id, board_id)
        board.share_token = ""
        self.store.save_settings(board)

    def shared(self, link_or_token: str) -> Board:
        """The board a share link (or its token) opens, for reading only."""
        token = token_from(link_or_token)
        board = self.store.get_shared(token)
        if board is None and token and self.store.was_deleted(token):
            raise InputError(DELETED)
        if board is None:
            raise InputError("This share link does not open a board: check that it was copied whole, or ask its "
                             "owner to share it again (they may have stopped sharing it).")
        return board

    def shared_view(self, link_or_token: str, viewer_id: str | None = None) -> sharing.SharedBoard:
        """The board a share link opens, as `viewer_id` may see it: whole for its owner (or while the
        operator discloses prompts), else with the visitor's words as their SHA-256 (sharing.py)."""
        board = self.shared(link_or_token)
        disclose = self.studio.publisher.cfg.disclose_prompt
        return sharing.for_viewer(board, self.exports(board), viewer_id, disclose)

    def exports(self, board: Board) -> list[GalleryItem]:
        """The board's published exports, newest first (read with the owner's session id)."""
        items = self.studio.gallery.list(board.session_id, EXPORT_TASK)
        return [i for i in reversed(items) if i.params.get("board_id") == board.id]

    # ---- cancelling -------------------------------------------------------------------------------

    def cancel(self, session_id: str) -> int:
        """Stop this visitor's board runs (panels: before the next one) and the job running now."""
        with self._lock:
            stop = self._stops.get(session_id)
            runs = [run for (owner, _), run in self._runs.items() if owner == session_id]
        if stop is not None:
            stop.set()
        for run in runs:
            run.cancelled.set()
        # The board's jobs only (panels, takes, music, exports), not the visitor's jobs in other tabs.
        return self.studio.jobs.cancel(session_id, SCOPE) + (1 if stop is not None else 0) + len(runs)

    def _begin(self, session_id: str) -> threading.Event:
        with self._lock:
            stop = self._stops[session_id] = threading.Event()
        return stop

    def _end(self, session_id: str, stop: threading.Event) -> None:
        with self._lock:
            if self._stops.get(session_id) is stop:
                del self._stops[session_id]

    def _run(self, session_id: str, task: str, request: Any, inputs=(), confirmed: bool = False,
             label: str = "", done: float = 0, total: float = 1):
        """One job through Studio.stream: yields Steps; returns (via StopIteration) its Outcome."""
        outcome = None
        # Read the stream to its end: leaving it at JobDone would close it, which marks the job cancelled.
        for event in self.studio.stream(task, request, session_id, inputs, confirmed, client=self.client(),
                                        scope=SCOPE):
            if isinstance(event, JobDone):
                outcome = event.value
            elif isinstance(event, ProgressEvent):
                detail = f"{event.stage} {int(event.done)}/{int(event.total)}" if event.total > 1 else event.stage
                yield Step(f"{label}: {detail}", done + event.fraction, total)
        if outcome is None:
            raise Cancelled()
        return outcome

    # ---- making panels, voices, music (generators; see studio.storyboard.making) ---------------------

    def generate_panels(self, session_id: str, board_id: str, numbers: list[int] | None = None, *,
                        only_missing: bool = False, new_take: bool = False,
                        confirmed: bool = False) -> Iterator[Step | Finished]:
        """Make the chosen panels (all by default) in this thread, one job each (CLI, tests, one panel)."""
        return panels.make_all(self, session_id, board_id, numbers, only_missing, new_take, confirmed)

    def plan_panels(self, session_id: str, board_id: str, *, only_missing: bool = False,
                    confirmed: bool = False):
        """Mark the panels to make (a `panels.PanelRun`); `next_panel` then makes one per call."""
        return panels.plan(self, session_id, board_id, None, only_missing, False, confirmed)

    def next_panel(self, session_id: str, board_id: str, run_id: str = "") -> Iterator[Step | Finished]:
        """Make the next panel of the visitor's run on this board (one job); `Finished.remaining` says
        how many are left. A run that was replaced (`run_id` no longer current) makes nothing."""
        board = self.get(session_id, board_id)
        run = panels.current(self, session_id, board_id)
        if run is None or (run_id and run.id != run_id):
            return iter([Finished(board, "No panels of this board are waiting to be made; press Generate all "
                                         "panels to make them.")])
        return panels.next_panel(self, run)

    def current_run(self, session_id: str, board_id: str):
        """The visitor's panel run on this board still under way, if any."""
        return panels.current(self, session_id, board_id)

    def reference_models(self) -> list[str]:
        """Board models whose panels can follow a reference image (through an IP-Adapter)."""
        return panels.reference_models(self)

    def generate_voices(self, session_id: str, board_id: str, *, voice_model: str | None = None,
                        voices: dict[str, str] | None = None, only_missing: bool = False) -> Iterator[Step | Finished]:
        return making.generate_voices(self, session_id, board_id, voice_model, voices, only_missing)

    def generate_music(self, session_id: str, board_id: str, *, prompt: str | None = None,
                       music_model: str | None = None) -> Iterator[Step | Finished]:
        return making.generate_music(self, session_id, board_id, prompt, music_model)

    def export(self, session_id: str, board_id: str, kind: str, *,
               burn_subtitles: bool = False) -> Iterator[Step | Finished]:
        """Make and publish an export ("pdf", "zip" or "animatic") as a job of this visitor; the animatic's
        subtitles are a soft track in the MP4, or burnt into its picture (`burn_subtitles`), and SRT
        and WebVTT files beside it either way."""
        return making.export(self, session_id, board_id, kind, burn_subtitles)


def check_reference_image(path: Path) -> None:
    """A usable reference picture, or an InputError saying what is wrong with it."""
    if not path.is_file():
        raise InputError("The reference image did not arrive; upload it again.")
    if path.stat().st_size > REFERENCE_MAX_BYTES:
        raise InputError(f"The reference image is {path.stat().st_size / 2**20:.0f} MB; upload a picture under "
                         f"{REFERENCE_MAX_BYTES // 2**20} MB.")
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > REFERENCE_MAX_PIXELS:
                raise InputError(f"The reference image is {w}×{h}; scale it below {REFERENCE_MAX_PIXELS:,} pixels.")
            im.load()
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError("The reference is not an image this studio can read: upload a PNG, JPEG or WebP picture "
                         "of the character or the style.") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InputError("The reference image is damaged or cut short and cannot be read; upload the file "
                         "again.") from None
    if min(w, h) < REFERENCE_MIN_SIDE:
        raise InputError(f"The reference image is {w}×{h}; it needs at least {REFERENCE_MIN_SIDE} px on each side.")


def frame_size(preset) -> tuple[int, int]:
    """A 16:9 panel size for a model: its default width, the height on its size grid."""
    width, multiple = preset.defaults.get("width", 512), max(8, preset.limit("size_multiple", 8))
    return width, max(preset.limit("min_size", 64), round(width * 9 / 16 / multiple) * multiple)


def token_from(link_or_token: str) -> str:
    """The share token in a pasted link (…?board=TOKEN) or the token itself."""
    text = (link_or_token or "").strip()
    if "board=" in text:
        query = urllib.parse.urlparse(text).query or text.split("?", 1)[-1]
        text = (urllib.parse.parse_qs(query).get("board") or [""])[0]
    return text if 20 <= len(text) <= 64 and all(c.isalnum() or c in "-_" for c in text) else ""


def _title(parsed) -> str:
    first = parsed.scenes[0] if parsed.scenes else parsed.shots[0].text
    return first if len(first) <= 60 else first[:59] + "…"
