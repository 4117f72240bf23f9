"""Making a board's panels fairly: a run is planned at once, then made one panel per queued event.

"Generate all" only plans a `PanelRun` (which shots, in order). Each panel is then made by its
own call of `next_panel` — in the tab, its own event in the device queue, which re-triggers
itself while panels remain, so another visitor's job waits for one panel, never for a whole
board. A failed panel is marked on its shot with the message and the run goes on; a cancelled
run stops before its next panel and keeps what was made. In-process callers (the CLI, tests,
benchmarks) use `make_all`, the same steps in a loop.

With a reference image, panels are made by the adapter preset matching the board's model (an
IP-Adapter on the same weights, its own pipeline); a model without one still makes the panels,
records the reference as an ingredient, and says which models can follow it.
"""
from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Iterator

from pipelines.errors import Cancelled, InputError, StudioError
from pipelines.media import InputFile
from studio.gallery import GalleryItem
from studio.service import NeedsConfirmation
from studio.sessions import random_seed
from studio.storyboard.board import Board
from studio.storyboard.events import PANEL_TASK, BoardHost, Finished, Step
from studio.storyboard.making import merge_notices

REFERENCE_SIDE = 1024   # the adapter's image encoder sees 224 px; a smaller copy travels in the request


@dataclass
class PanelRun:
    """The panels a visitor asked for on one board and not made yet."""
    id: str
    session_id: str
    board_id: str
    shot_ids: list[str]            # still to make, in board order when planned
    total: int
    new_take: bool = False
    confirmed: bool = False
    made: int = 0
    failed: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    items: list[GalleryItem] = field(default_factory=list)
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def remaining(self) -> int:
        return len(self.shot_ids)

    @property
    def chain(self) -> str:
        """The tab's hidden value naming this run and how far it got (a new value re-triggers it)."""
        return f"{self.board_id}:{self.id}:{self.made + len(self.failed)}"

    def summary(self) -> str:
        message = f"Made {self.made} of {self.total} panel(s)."
        if self.failed:
            message += " Failed (the others are kept; fix and regenerate these): " + "; ".join(self.failed)
        return message


def reference_model(service: BoardHost, model: str) -> str | None:
    """The preset that follows a reference on `model`'s weights: itself, or its IP-Adapter twin."""
    presets = service.studio.models.presets(PANEL_TASK)
    preset = service.studio.models.preset(PANEL_TASK, model)
    if preset.ip_adapter:
        return preset.name
    weights = lambda p: (p.repo, p.revision, p.variant, p.local_dir, p.tiny, sorted(p.lora.items()))  # noqa: E731
    return next((p.name for p in presets.values() if p.ip_adapter and weights(p) == weights(preset)), None)


def reference_models(service: BoardHost) -> list[str]:
    """Board models whose panels can follow a reference (the plain ones with an adapter twin, and the twins)."""
    return [name for name in service.studio.models.presets(PANEL_TASK) if reference_model(service, name)]


def plan(service: BoardHost, session_id: str, board_id: str, numbers=None, only_missing: bool = False,
         new_take: bool = False, confirmed: bool = False) -> PanelRun:
    """Which panels to make (all by default); replaces the visitor's earlier run on this board."""
    board = service.get(session_id, board_id)
    service.studio.models.preset(PANEL_TASK, board.model)
    indices = [board.index(n) for n in numbers] if numbers else list(range(len(board.shots)))
    if only_missing:
        indices = [i for i in indices if board.shots[i].status != "done"]
    run = PanelRun(id=secrets.token_hex(4), session_id=session_id, board_id=board_id,
                   shot_ids=[board.shots[i].id for i in indices], total=len(indices), new_take=new_take,
                   confirmed=confirmed or bool(board.reference_verdict.get("confirmed")))
    run.notices += reference_notices(service, board)
    with service._lock:
        old = service._runs.get((session_id, board_id))
        if old is not None:
            old.cancelled.set()
        if run.total:
            service._runs[(session_id, board_id)] = run
    return run


def current(service: BoardHost, session_id: str, board_id: str) -> PanelRun | None:
    with service._lock:
        return service._runs.get((session_id, board_id))


def _close(service: BoardHost, run: PanelRun) -> None:
    with service._lock:
        if service._runs.get((run.session_id, run.board_id)) is run:
            del service._runs[(run.session_id, run.board_id)]


def next_panel(service: BoardHost, run: PanelRun) -> Iterator[Step | Finished]:
    """Make the run's next panel (one job); ends with a `Finished` whose `remaining` says what is left."""
    if run.cancelled.is_set() or not run.shot_ids:
        _close(service, run)
        board = service.get(run.session_id, run.board_id)
        message = (f"Cancelled after {run.made} of {run.total} panel(s); the panels made are kept."
                   if run.cancelled.is_set() else run.summary())
        yield Finished(board, message, run.notices, run.items)
        return
    board = service.get(run.session_id, run.board_id)
    k = run.total - run.remaining
    shot_id = run.shot_ids.pop(0)
    index = next((i for i, s in enumerate(board.shots) if s.id == shot_id), None)
    if index is not None:  # a shot deleted since the run was planned is skipped
        yield from _make(service, run, board, index, k)
    if run.cancelled.is_set() or not run.shot_ids:
        yield from next_panel(service, run)
        return
    yield Finished(service.get(run.session_id, run.board_id),
                   f"Panel {k + 1} of {run.total} done; {run.remaining} to go (each waits its turn in the queue).",
                   run.notices, [], remaining=run.remaining)


def _make(service: BoardHost, run: PanelRun, board: Board, i: int, k: int) -> Iterator[Step]:

    shot = board.shots[i]
    seed = (shot.seed if shot.seed_locked else random_seed()) if run.new_take else board.seed_for(i, random_seed())
    label = f"Panel {i + 1} ({k + 1} of {run.total})"
    yield Step(f"{label}: queued", k, run.total)
    try:
        request, inputs = panel_request(service, board, shot.prompt_text(board.look), seed)
        outcome = yield from service._run(run.session_id, PANEL_TASK, request, inputs, run.confirmed, label, k,
                                          run.total)
    except Cancelled:
        run.cancelled.set()
        return
    except NeedsConfirmation:
        _close(service, run)
        raise
    except StudioError as e:
        run.failed.append(f"shot {i + 1}: {e}")
        yield Step(f"{label}: failed", k + 1, run.total, _record_panel(service, board, shot.id, error=str(e)))
        return
    image = next(item for item in outcome.items if item.mime.startswith("image/"))
    run.items.append(image)
    merge_notices(run.notices, outcome.notices)
    run.made += 1
    yield Step(f"{label}: done", k + 1, run.total,
               _record_panel(service, board, shot.id, item=image, seed=seed, prompt=shot.prompt))


def make_all(service: BoardHost, session_id: str, board_id: str, numbers=None, only_missing: bool = False,
             new_take: bool = False, confirmed: bool = False) -> Iterator[Step | Finished]:
    """Plan and make every panel in this thread, one job each (the CLI, tests and benchmarks)."""
    run = plan(service, session_id, board_id, numbers, only_missing, new_take, confirmed)
    if not run.total:
        yield Finished(service.get(session_id, board_id), NOTHING_TO_MAKE)
        return
    while True:
        for event in next_panel(service, run):
            if isinstance(event, Finished):
                if not event.remaining:
                    yield event
                    return
            else:
                yield event


NOTHING_TO_MAKE = ("Every shot already has an up-to-date panel; untick 'only shots without a panel' to make them "
                   "all again.")


def panel_request(service: BoardHost, board: Board, prompt: str, seed: int):
    """The text-to-image request of one panel and its inputs (the reference, as an ingredient)."""
    from pipelines.text_to_image import Request

    model, reference = board.model, None
    inputs = [InputFile(board.reference_path, "inputTo", f"reference: {board.reference_name}")] \
        if board.reference_path else []
    if inputs and reference_model(service, board.model):
        model, reference = reference_model(service, board.model), load_reference(board.reference_path)
    return Request(prompt=prompt, model=model, style=board.style, seed=seed, steps=board.steps, width=board.width,
                   height=board.height, reference=reference, reference_strength=board.reference_strength), inputs


def load_reference(path: str):
    """The reference as the adapter takes it: RGB, at most REFERENCE_SIDE px a side."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("RGB", (REFERENCE_SIDE, REFERENCE_SIDE))
            image = im.convert("RGB")
    except OSError:
        raise InputError("The board's reference image can no longer be read; upload it again in the board "
                         "settings.") from None
    image.thumbnail((REFERENCE_SIDE, REFERENCE_SIDE))
    return image


def reference_notices(service: BoardHost, board: Board) -> list[str]:
    """What the visitor should know about the board's reference for this run."""
    if not board.reference_path:
        return []
    twin = reference_model(service, board.model)
    if twin:
        label = service.studio.models.preset(PANEL_TASK, twin).label
        return [f"The panels follow the reference image at strength {board.reference_strength:g} through "
                f"“{label}” (IP-Adapter); the reference is recorded as an ingredient of every panel."]
    preset = service.studio.models.preset(PANEL_TASK, board.model)
    return [f"The reference image is recorded as an ingredient of every panel, but “{preset.label}” cannot follow "
            f"it (no IP-Adapter for it); the style and seeds carry the look. Models that can: "
            f"{', '.join(reference_models(service))}."]


def _record_panel(service, board: Board, shot_id: str, *, item: GalleryItem | None = None, seed: int = 0,
                  prompt: str = "", error: str = "") -> Board:
    """Write a panel (or its failure) to its shot, as the shot is now in the store."""
    fresh = service.store.get(board.session_id, board.id) or board
    shot = next((s for s in fresh.shots if s.id == shot_id), None)
    if shot is None:  # deleted while its panel was being made; the image stays in the gallery
        return fresh
    if item is None:
        shot.status, shot.error = "failed", error
    else:
        shot.panel_path, shot.panel_id, shot.seed, shot.error = item.path, item.id, seed, ""
        shot.status = "done" if shot.prompt == prompt else "stale"
    service.store.save_shot(fresh, shot)
    return fresh
