"""Jobs: one request of one visitor, run in a worker thread, streamed back as progress events.

Every job first waits for a turn on the device (`DeviceTurns`): turns go round the visitors,
so one visitor's second job waits behind every other visitor's first, and the waiting job's
progress text says how many go before it. Cancel acts only on the jobs of the session (and the
tab) that asks, and takes a job that is still waiting out of line before it ever runs. A
finished job's record keeps what the tabs show (task, checked inputs, outputs, outcome), never
its request, and only the newest few per session within an age.
"""
from __future__ import annotations

import heapq
import itertools
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
    request: Any                                              # dropped (None) once the job is over
    scope: str = ""                                           # the tab whose Cancel stops it (default: task)
    inputs_checked: list[dict] = field(default_factory=list)   # detector verdicts of uploads
    outputs: list[str] = field(default_factory=list)           # published ids
    notices: list[str] = field(default_factory=list)
    state: str = "queued"                                     # queued, running, done, failed, cancelled
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)


@dataclass
class JobDone:
    record: JobRecord
    value: Any


class DeviceTurns:
    """Turns on the device, round-robin between visitors (start-time fair queuing).

    At most `slots` jobs hold a turn at once. A job's rank is one more than its visitor's previous
    job still in line or running, and never below the rank being served; turns go by rank, then
    by arrival. Three visitors who each queue three jobs run as A1 B1 C1 A2 B2 C2 A3 B3 C3; a
    newcomer waits behind at most one job of each other visitor; being idle earns no credit.
    Hand-written: Gradio's queue is first come, first served, and Python has no fair lock.
    """

    def __init__(self, slots: int = 1):
        self.slots = max(1, int(slots))
        self._cond = threading.Condition()
        self._heap: list[tuple[int, int, str]] = []              # (rank, arrival, job id); withdrawn ids linger
        self._waiting: dict[str, tuple[int, int, str]] = {}       # job id -> (rank, arrival, session)
        self._holding: dict[str, str] = {}                        # job id -> session
        self._last_rank: dict[str, int] = {}                      # session -> rank of its newest job in play
        self._round = 0                                          # the highest rank served so far
        self._arrivals = itertools.count()

    def join(self, session_id: str, job_id: str) -> None:
        """Put a job in line behind this visitor's earlier ones; a free turn is taken at once."""
        with self._cond:
            rank = max(self._round, self._last_rank.get(session_id, self._round - 1) + 1)
            self._last_rank[session_id] = rank
            arrival = next(self._arrivals)
            self._waiting[job_id] = (rank, arrival, session_id)
            heapq.heappush(self._heap, (rank, arrival, job_id))
            self._grant()

    def wait(self, job_id: str, timeout: float) -> bool:
        """Wait up to `timeout` s for the job's turn; True when it holds one. Returns at once when
        the job is no longer in line (withdrawn by Cancel)."""
        with self._cond:
            self._cond.wait_for(lambda: job_id in self._holding or job_id not in self._waiting, timeout)
            return job_id in self._holding

    def take_if_idle(self, job_id: str) -> bool:
        """A low-priority turn (background work: library tagging), taken only when a turn is free and no
        visitor's job waits; never a place in line. `leave` frees it like any other."""
        with self._cond:
            if self._waiting or len(self._holding) >= self.slots:
                return False
            self._holding[job_id] = ""
            return True

    def place(self, job_id: str) -> int | None:
        """How many waiting jobs go before this one (0: it is next); None when it is not waiting."""
        with self._cond:
            key = self._waiting.get(job_id)
            return None if key is None else sum(1 for other in self._waiting.values() if other[:2] < key[:2])

    def withdraw(self, job_id: str) -> bool:
        """Take a waiting job out of line; a job holding a turn keeps it until it `leave`s."""
        with self._cond:
            if self._waiting.pop(job_id, None) is None:
                return False
            if len(self._heap) > 2 * len(self._waiting) + 64:   # withdrawn entries: keep the heap small
                self._heap = [entry for entry in self._heap if entry[2] in self._waiting]
                heapq.heapify(self._heap)
            self._cond.notify_all()
            return True

    def leave(self, job_id: str) -> None:
        """The job is over (done, failed, cancelled, abandoned): free its turn or its place."""
        with self._cond:
            self._holding.pop(job_id, None)
            self._waiting.pop(job_id, None)
            self._grant()
            # Only visitors with a job in play need their rank remembered: the table stays small.
            live = {s for *_, s in self._waiting.values()} | set(self._holding.values())
            self._last_rank = {s: r for s, r in self._last_rank.items() if s in live}

    def counts(self) -> dict[str, int]:
        with self._cond:
            return dict(waiting=len(self._waiting), holding=len(self._holding), visitors=len(self._last_rank),
                        heap=len(self._heap))

    def _grant(self) -> None:
        """Give free turns to the best-placed waiting jobs (the caller holds the condition)."""
        while len(self._holding) < self.slots and self._heap:
            rank, _, job_id = heapq.heappop(self._heap)
            entry = self._waiting.pop(job_id, None)
            if entry is None:
                continue  # withdrawn
            self._holding[job_id] = entry[2]
            self._round = max(self._round, rank)
        self._cond.notify_all()


WAITING_ROOM = 24


def waiting_text(place: int) -> str:
    """The progress line of a job waiting for its turn."""
    if place <= 0:
        return "waiting for a turn on the device: yours is next"
    jobs = f"{place} job{'s' if place > 1 else ''}"
    return f"waiting for a turn on the device: {jobs} before yours (turns go round the visitors)"


class JobManager:
    """Runs jobs in fair turns and knows which session (and tab) owns which job."""

    def __init__(self, history_per_session: int = 100, max_active_per_session: int = 2,
                 max_per_minute: int = 30, max_per_ip_minute: int = 0, *, slots: int = 1,
                 max_waiting: int = 0, history_max_age_s: float = 6 * 3600, heartbeat_s: float = 1.0):
        self._active: dict[str, dict[str, JobRecord]] = {}
        self._history: dict[str, list[JobRecord]] = {}
        self._started: dict[str, list[float]] = {}
        # Start times per network address: a stranger can mint a session per request, not an address.
        self._started_by_client: dict[str, list[float]] = {}
        self.history_limit = history_per_session
        self.history_max_age_s = history_max_age_s
        self.max_active_per_session = max_active_per_session
        self.max_per_minute = max_per_minute
        self.max_per_ip_minute = max_per_ip_minute  # 0: off
        self.max_waiting = max_waiting              # jobs waiting for a turn, all visitors (0: no limit)
        # A waiting job reports its place at least this often: each report hands Gradio's worker
        # thread back, so waiting jobs never starve the thread pool that Cancel itself needs.
        self.heartbeat_s = heartbeat_s
        self.turns = DeviceTurns(slots)
        # How many device events Gradio lets in at once: the jobs holding a turn and a waiting room in
        # which jobs take fair turns and can be cancelled; any more wait in Gradio's own FIFO queue.
        # Gradio processes at most 40 events in all (its thread count), so the room stays below that.
        self.events_in_flight = self.turns.slots + min(max_waiting or WAITING_ROOM, WAITING_ROOM)
        self._lock = threading.Lock()
        self._pruned = 0.0

    def active(self, session_id: str) -> list[JobRecord]:
        """This session's jobs waiting or running."""
        with self._lock:
            return list(self._active.get(session_id, {}).values())

    def history(self, session_id: str) -> list[JobRecord]:
        """This session's recent jobs, oldest first (requests dropped once over)."""
        with self._lock:
            return list(self._history.get(session_id, []))

    def sessions(self) -> list[str]:
        """The sessions with job records kept."""
        with self._lock:
            return list(self._history)

    def cancel(self, session_id: str, scope: str | None = None) -> int:
        """Stop this session's jobs in `scope` (a tab; None: all of them): a waiting job leaves the line
        and never runs, a running one stops at its next step. Returns how many were asked to stop."""
        with self._lock:
            jobs = [job for job in self._active.get(session_id, {}).values() if scope is None or job.scope == scope]
        for job in jobs:
            job.cancel.set()
            self.turns.withdraw(job.id)
        return len(jobs)

    def counts(self) -> dict[str, int]:
        """What the manager holds now (sessions and records): the soak checks that it stays bounded."""
        with self._lock:
            return dict(sessions=len(self._history), records=sum(len(h) for h in self._history.values()),
                        requests_kept=sum(r.request is not None and r.finished > 0 for h in self._history.values()
                                          for r in h),
                        active_sessions=len(self._active), started_sessions=len(self._started),
                        clients=len(self._started_by_client),
                        **{f"turns_{k}": v for k, v in self.turns.counts().items()})

    def _admit(self, session_id: str, client: str | None) -> None:
        """Enforce the fair-use limits (caller holds the lock): jobs at once (waiting or running) and per
        minute of this session, jobs per minute of its network address `client` (None: not counted),
        and jobs waiting over all visitors. A refused job counts against nothing."""
        now = time.time()
        self._prune(now)
        if len(self._active.get(session_id, {})) >= self.max_active_per_session:
            raise LimitError(f"You already have {self.max_active_per_session} job(s) running or waiting; wait for "
                             f"one to finish or cancel it.")
        recent = [t for t in self._started.get(session_id, []) if now - t < 60]
        if len(recent) >= self.max_per_minute:
            raise LimitError(f"You started {len(recent)} jobs in the last minute (the limit is {self.max_per_minute}); "
                             f"try again in {int(60 - (now - recent[0])) + 1} s.")
        if self.max_waiting and self.turns.counts()["waiting"] >= self.max_waiting:
            raise LimitError(f"The studio is busy: {self.max_waiting} jobs are already waiting for the device. "
                             f"Try again in a minute.")
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

    def prune(self, now: float | None = None) -> None:
        """Forget start times over a minute old and finished records past their age, and every session
        left with nothing. Jobs call it by themselves every half minute."""
        with self._lock:
            self._prune(time.time() if now is None else now, every_s=0)

    def _prune(self, now: float, every_s: float = 30.0) -> None:
        if now - self._pruned < every_s:  # caller holds the lock
            return
        self._pruned = now
        self._started = {s: kept for s, times in self._started.items() if (kept := [t for t in times if now - t < 60])}
        young = self.history_max_age_s
        self._history = {s: kept for s, records in self._history.items()
                         if (kept := [r for r in records if not r.finished or now - r.finished < young])}
        self._active = {s: jobs for s, jobs in self._active.items() if jobs}
        self._prune_clients(now)

    def _register(self, record: JobRecord, client: str | None) -> None:
        with self._lock:
            self._admit(record.session_id, client)
            self._active.setdefault(record.session_id, {})[record.id] = record
            history = self._history.setdefault(record.session_id, [])
            history.append(record)
            del history[:-self.history_limit]

    def _finish(self, record: JobRecord) -> None:
        """The job is over: drop its request (decoded uploads included) and its place among the active."""
        record.request = None
        record.finished = time.time()
        with self._lock:
            jobs = self._active.get(record.session_id)
            if jobs is not None:
                jobs.pop(record.id, None)
                if not jobs:
                    del self._active[record.session_id]

    def _wait_for_turn(self, record: JobRecord) -> Iterator[ProgressEvent]:
        """Yield the job's place in line until it holds a turn; `Cancelled` if it was taken out."""
        while not self.turns.wait(record.id, 0 if record.state == "queued" else self.heartbeat_s):
            place = self.turns.place(record.id)
            if record.cancel.is_set() or place is None:
                raise Cancelled()
            record.state = "waiting"
            yield ProgressEvent(0, 1, waiting_text(place), time.time() - record.started)
        if record.cancel.is_set():  # cancelled just as its turn came: it never runs
            raise Cancelled()

    def stream(self, session_id: str, task: str, request: Any, work: Callable[[JobRecord, Progress], Any],
               client: str | None = None, scope: str | None = None) -> Iterator[ProgressEvent | JobDone]:
        """Wait for a turn, then run `work(record, progress)` in a thread; yield the place in line and
        the work's progress events, then `JobDone`. `client` is the visitor's network address, for the
        per-address limit; `scope` names the tab whose Cancel stops this job (default: `task`).

        Errors from the work are re-raised here, in the caller's thread. If the caller stops
        iterating (the visitor left, or Gradio cancelled the event), the job is cancelled.
        """
        record = JobRecord(id=secrets.token_hex(8), session_id=session_id, task=task, request=request,
                           scope=scope or task)
        events: queue.Queue = queue.Queue()
        progress = Progress(listener=events.put, cancel=record.cancel)

        def target() -> None:
            try:
                events.put(JobDone(record, work(record, progress)))
            except BaseException as e:  # handed to the caller's thread
                events.put(e)
            finally:
                self.turns.leave(record.id)  # the turn is free only once the work has really stopped

        self._register(record, client)
        self.turns.join(session_id, record.id)
        thread = None
        try:
            yield from self._wait_for_turn(record)
            record.state = "running"
            thread = threading.Thread(target=target, name=f"job-{task}-{record.id}", daemon=True)
            thread.start()
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
            if thread is None:
                self.turns.leave(record.id)
            self._finish(record)
