"""What the board runs share with the service and the tab: the task names, the events a run
yields, the record of an export job, and the narrow part of the service a run may use.

A module of its own so that panels.py and making.py (the runs) and service.py (which calls them)
import it and not each other: the service imports the runs, the runs import nothing back.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

from studio.gallery import GalleryItem
from studio.service import Studio
from studio.storyboard.board import Board
from studio.storyboard.store import BoardStore

PANEL_TASK, VOICE_TASK, MUSIC_TASK, EXPORT_TASK = "text_to_image", "speech", "music", "storyboard"
SCOPE = EXPORT_TASK  # the Storyboard tab's jobs (exports have it as their task): its Cancel stops these only


@dataclass
class Step:
    """Progress of a board operation; `board` is set when something on the board changed."""

    label: str
    done: float
    total: float
    board: Board | None = None


@dataclass
class Finished:
    board: Board
    message: str
    notices: list[str] = field(default_factory=list)
    items: list[GalleryItem] = field(default_factory=list)
    remaining: int = 0          # panels of the run still to make (each its own queued event)


@dataclass
class ExportRequest:
    """What an export job records (the job manager keeps one per job)."""

    board_id: str
    kind: str


class BoardHost(Protocol):
    """What a run uses of `BoardService`: the studio, the store, the board folder, one job at a time,
    the visitor's stop flag and the panel runs under way (guarded by `_lock`)."""

    studio: Studio
    store: BoardStore
    folder: Path
    _lock: threading.Lock
    _runs: dict[tuple[str, str], Any]

    def get(self, session_id: str, board_id: str) -> Board: ...

    def client(self) -> str | None: ...

    def _run(self, session_id: str, task: str, request: Any, inputs=(), confirmed: bool = False,
             label: str = "", done: float = 0, total: float = 1) -> Iterator[Step]: ...

    def _begin(self, session_id: str) -> threading.Event: ...

    def _end(self, session_id: str, stop: threading.Event) -> None: ...
