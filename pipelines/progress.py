"""Progress reporting and cooperative cancellation for one job.

A pipeline calls `progress.update(...)` between steps; when the visitor pressed Cancel, the
call raises `Cancelled`, which unwinds the pipeline without touching shared state.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from pipelines.errors import Cancelled


@dataclass
class ProgressEvent:
    done: float
    total: float
    stage: str
    elapsed_s: float
    preview: Any = None  # a PIL image (or list of them) decoded cheaply mid-run

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def eta_s(self) -> float | None:
        if not self.done or not self.total:
            return None
        return self.elapsed_s * (self.total - self.done) / self.done


class Progress:
    """Passed to `run`; forwards events to a listener and carries the job's cancel flag."""

    def __init__(self, listener: Callable[[ProgressEvent], None] | None = None,
                 cancel: threading.Event | None = None):
        self._listener = listener
        self.cancel_event = cancel or threading.Event()
        self._t0 = time.perf_counter()
        # Set by the runner: the live-preview decoder (pipelines.diffusion.Previewer) when previews
        # are on, and the shared prompt-embedding cache (pipelines.embeddings.EmbeddingCache).
        self.previewer: Any = None
        self.embeddings: Any = None

    def check(self) -> None:
        """Raise `Cancelled` if the visitor asked to stop."""
        if self.cancel_event.is_set():
            raise Cancelled()

    def update(self, done: float, total: float, stage: str = "denoising", preview: Any = None) -> None:
        self.check()
        if self._listener is not None:
            self._listener(ProgressEvent(done, total, stage, time.perf_counter() - self._t0, preview))


# Reports nowhere. Never attach per-job state to it: the runner gives each job its own Progress.
NO_PROGRESS = Progress()
