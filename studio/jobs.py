"""Jobs: one request of one visitor, run in a worker thread, streamed back as progress events.

The Gradio queue decides when a job starts (one concurrency group per accelerator); this
module runs it, forwards progress, and cancels it. Cancel acts only on the jobs of the session
that asks. Every job's record (task, inputs checked, outputs, outcome) is kept for the session.
"""
from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from pipelines.errors import Cancelled, StudioError
from pipelines.progress import Progress, ProgressEvent

log = logging.getLogger(__name__)


class InternalError(StudioError):
    """A bug: the visitor sees a reference to the server log, never a traceback."""


class LimitError(StudioError):
    """A visitor asked for more than the studio's fair-use limits allow."""


@dataclass
class JobRecord:
    id: str
    session_id: str
    task: str
    request: Any
    inputs_checked: list[dict] = field(default_factory=list)   # detector verdicts of uploads
    outputs: list[str] = field(default_factory=list)           # published ids
    notices: list[str] = field(default_factory=list)
    state: str = "queued"                                     # queued, running, done, failed, cancelled
    error: str = ""
    started: float = field(default_factory=time.time)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)


@dataclass
class JobDone:
    record: JobRecord
    value: Any


class JobManager:
    """Runs jobs and knows which session owns which running job."""

    def __init__(self, history_per_session: int = 200, max_active_per_session: int = 2,
                 max_per_minute: int = 30, max_per_ip_minute: int = 0):
        self._active: dict[str, dict[str, JobRecord]] = {}
        self._history: dict[str, list[JobRecord]] = {}
        self._started: dict[str, list[float]] = {}
        # Start times per network address: a stranger can mint a session per request, not an address.
        self._started_by_client: dict[str, list[float]] = {}
        self._history_limit = history_per_session
        self.max_active_per_session = max_active_per_session
        self.max_per_minute = max_per_minute
        self.max_per_ip_minute = max_per_ip_minute  # 0: off
        self._lock = threading.Lock()

    def active(self, session_id: str) -> list[JobRecord]:
        with self._lock:
            return list(self._active.get(session_id, {}).values())

    def history(self, session_id: str) -> list[JobRecord]:
        with self._lock:
            return list(self._history.get(session_id, []))

    def cancel(self, session_id: str) -> int:
        """Cancel the running jobs of this session only; returns how many were asked to stop."""
        jobs = self.active(session_id)
        for job in jobs:
            job.cancel.set()
        return len(jobs)

    def _admit(self, session_id: str, client: str | None) -> None:
        """Enforce the fair-use limits (caller holds the lock): jobs at once and per minute of this
        session, and jobs per minute of its network address `client` (None: not counted). A refused
        job counts against nothing."""
        now = time.time()
        if len(self._active.get(session_id, {})) >= self.max_active_per_session:
            raise LimitError(f"You already have {self.max_active_per_session} job(s) running; wait for one to "
                             f"finish or cancel it.")
        recent = [t for t in self._started.get(session_id, []) if now - t < 60]
        if len(recent) >= self.max_per_minute:
            raise LimitError(f"You started {len(recent)} jobs in the last minute (the limit is {self.max_per_minute}); "
                             f"try again in {int(60 - (now - recent[0])) + 1} s.")
        counted = bool(client) and self.max_per_ip_minute > 0
        if counted:
            by_client = self._prune_clients(now).get(client, [])
            if len(by_client) >= self.max_per_ip_minute:
                raise LimitError(f"Too many jobs from your network address in the last minute ({len(by_client)}; the "
                                 f"limit is {self.max_per_ip_minute} for everyone sharing it); try again in "
                                 f"{int(60 - (now - by_client[0])) + 1} s.")
            self._started_by_client[client] = [*by_client, now]
        recent.append(now)
        self._started[session_id] = recent

    def _prune_clients(self, now: float) -> dict[str, list[float]]:
        """Drop start times over a minute old, and addresses left with none (the table stays small)."""
        self._started_by_client = {c: kept for c, times in self._started_by_client.items()
                                   if (kept := [t for t in times if now - t < 60])}
        return self._started_by_client

    def stream(self, session_id: str, task: str, request: Any, work: Callable[[JobRecord, Progress], Any],
               client: str | None = None) -> Iterator[ProgressEvent | JobDone]:
        """Run `work(record, progress)` in a thread; yield its progress events, then `JobDone`.
        `client` is the visitor's network address, for the per-address limit.

        Errors from the work are re-raised here, in the caller's thread. If the caller stops
        iterating (the visitor left, or Gradio cancelled the event), the job is cancelled.
        """
        record = JobRecord(id=secrets.token_hex(8), session_id=session_id, task=task, request=request)
        events: queue.Queue = queue.Queue()
        progress = Progress(listener=events.put, cancel=record.cancel)

        def target() -> None:
            try:
                events.put(JobDone(record, work(record, progress)))
            except BaseException as e:  # handed to the caller's thread
                events.put(e)

        with self._lock:
            self._admit(session_id, client)
            self._active.setdefault(session_id, {})[record.id] = record
            history = self._history.setdefault(session_id, [])
            history.append(record)
            del history[:-self._history_limit]
        record.state = "running"
        thread = threading.Thread(target=target, name=f"job-{task}-{record.id}", daemon=True)
        thread.start()
        try:
            while True:
                item = events.get()
                if isinstance(item, JobDone):
                    record.state = "done"
                    yield item
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        except Cancelled:
            record.state = "cancelled"
            raise
        except StudioError as e:
            record.state, record.error = "failed", str(e)
            raise
        except GeneratorExit:
            if record.state != "done":  # closing the stream after JobDone is a normal end
                record.cancel.set()
                record.state = "cancelled"
            raise
        except Exception as e:
            ref = record.id
            log.error("job %s (%s) failed", ref, task, exc_info=e)
            record.state, record.error = "failed", f"internal error {ref}"
            raise InternalError(f"Something went wrong inside the studio (reference {ref}); the details are in "
                                f"the server log. Nothing you made before was lost.") from e
        finally:
            with self._lock:
                self._active.get(session_id, {}).pop(record.id, None)
