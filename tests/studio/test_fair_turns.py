"""Device turns go round the visitors; Cancel takes a waiting job out of line before it runs."""
import threading
import time

import pytest

from pipelines.errors import Cancelled
from studio.jobs import DeviceTurns, JobManager


class Device:
    """A job manager whose device is held by a blocker job until `release()`; records which
    jobs' work started, in order."""

    def __init__(self, **limits):
        self.jobs = JobManager(max_active_per_session=3, max_per_minute=100, **limits)
        self.started: list[str] = []
        self.outcome: dict[str, str] = {}
        self._free = threading.Event()
        self._threads: list[threading.Thread] = []
        self.submit("blocker", "hold", work=lambda r, p: self._free.wait(10))
        wait_until(lambda: self.started == ["hold"])

    def submit(self, session: str, label: str, scope: str | None = None, work=None):
        def default_work(record, progress):
            self.started.append(label)
            return label

        def hold(record, progress):
            self.started.append(label)
            return work(record, progress)

        def consume():
            try:
                events = list(self.jobs.stream(session, "t", {"label": label}, hold if work else default_work,
                                               scope=scope))
                self.outcome[label] = events[-1].record.state
            except Cancelled:
                self.outcome[label] = "cancelled"

        waiting = self.jobs.turns.counts()["waiting"]
        thread = threading.Thread(target=consume)
        thread.start()
        self._threads.append(thread)
        if work is None:  # in line before the next one is submitted
            wait_until(lambda: self.jobs.turns.counts()["waiting"] == waiting + 1)

    def release(self):
        self._free.set()
        for thread in self._threads:
            thread.join(10)


def wait_until(condition, timeout=5.0):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.005)


def test_three_visitors_three_jobs_each_start_round_robin():
    device = Device()
    for visitor in "ABC":          # the worst case for first come, first served: A queues all of hers first
        for n in (1, 2, 3):
            device.submit(visitor, f"{visitor}{n}")
    places = {r.request["label"]: device.jobs.turns.place(r.id) for v in "ABC" for r in device.jobs.active(v)}
    assert places == {"A1": 0, "B1": 1, "C1": 2, "A2": 3, "B2": 4, "C2": 5, "A3": 6, "B3": 7, "C3": 8}
    device.release()
    assert device.started == ["hold", "A1", "B1", "C1", "A2", "B2", "C2", "A3", "B3", "C3"]
    assert set(device.outcome.values()) == {"done"}


def test_a_newcomer_waits_behind_one_job_of_each_visitor_not_all_of_them():
    turns = DeviceTurns(slots=1)
    turns.join("heavy", "h0")                  # running
    for n in range(1, 8):
        turns.join("heavy", f"h{n}")
    turns.join("light", "l1")
    assert turns.place("l1") == 0 and turns.place("h2") == 2   # heavy had this round's turn: light goes next
    order = []
    for _ in range(8):
        running = next(j for j in ["h0", *[f"h{n}" for n in range(1, 8)], "l1"] if turns.wait(j, 0))
        order.append(running)
        turns.leave(running)
    assert order == ["h0", "l1", "h1", "h2", "h3", "h4", "h5", "h6"]


def test_the_waiting_job_shows_its_place_in_its_progress_text():
    device = Device()
    device.submit("A", "A1")
    stream = device.jobs.stream("B", "t", None, lambda r, p: "B1")
    first = next(stream)
    assert first.stage == "waiting for a turn on the device: 1 job before yours (turns go round the visitors)"
    stream.close()                               # the visitor left: the job leaves the line
    assert device.jobs.turns.counts()["waiting"] == 1
    device.release()
    assert device.started == ["hold", "A1"]


def test_cancel_takes_a_queued_job_out_of_line_and_its_work_never_runs():
    device = Device()
    called = []
    device.submit("alice", "alice-job", work=lambda r, p: called.append("ran"))
    wait_until(lambda: device.jobs.turns.counts()["waiting"] == 1)
    [record] = device.jobs.active("alice")
    assert record.state == "waiting" and device.jobs.cancel("alice") == 1
    wait_until(lambda: "alice-job" in device.outcome)
    assert device.outcome["alice-job"] == "cancelled" and device.jobs.turns.counts()["waiting"] == 0
    device.release()
    assert called == [] and "alice-job" not in device.started
    assert device.jobs.history("alice")[-1].state == "cancelled" and device.jobs.active("alice") == []


def test_cancel_in_one_tab_stops_that_tabs_job_only():
    device = Device()
    device.submit("alice", "image", scope="text_to_image")
    device.submit("alice", "music", scope="music")
    device.submit("bob", "bob-music", scope="music")
    assert device.jobs.cancel("alice", "music") == 1
    device.release()
    assert device.outcome == {"hold": "done", "image": "done", "music": "cancelled", "bob-music": "done"}


def test_ten_thousand_queued_cancels_stay_cheap():
    """A flood of queued jobs withdrawn one by one: the line and its heap end empty, nothing is granted."""
    turns = DeviceTurns(slots=1)
    turns.join("holder", "running")
    for n in range(10_000):
        turns.join(f"s{n}", f"j{n}")
    assert turns.place("j9999") == 9_999
    for n in range(10_000):
        assert turns.withdraw(f"j{n}")
    assert turns.counts()["waiting"] == 0 and turns.counts()["heap"] <= 64
    turns.leave("running")
    assert turns.counts() == dict(waiting=0, holding=0, visitors=0, heap=0)
    jobs = JobManager()
    assert sum(jobs.cancel("alice") for _ in range(10_000)) == 0


def test_a_cancel_just_as_the_turn_comes_still_never_runs_the_work():
    jobs = JobManager()
    called = []
    jobs.turns.join("other", "hold")                # the device is busy
    with pytest.raises(Cancelled):
        for event in jobs.stream("alice", "t", None, lambda r, p: called.append("ran")):
            jobs.active("alice")[0].cancel.set()    # Cancel pressed, and before it withdraws the job ...
            jobs.turns.leave("hold")                # ... the job's turn comes
    assert called == [] and jobs.turns.counts()["holding"] == 0


def test_the_storyboards_cancel_leaves_the_visitors_other_tabs_alone(studio):
    """A board's jobs are the Storyboard tab's: its Cancel stops them, not a concept-art job."""
    from studio.storyboard.service import SCOPE, BoardService

    free, outcome = threading.Event(), {}
    saved = studio.jobs
    studio.jobs = JobManager(max_active_per_session=3)
    try:
        def work(record, progress):  # like a pipeline: a running job stops at its next step
            free.wait(10)
            progress.check()

        def consume(label, scope):
            try:
                events = list(studio.jobs.stream("owner", "text_to_image", None, work, scope=scope))
                outcome[label] = events[-1].record.state
            except Cancelled:
                outcome[label] = "cancelled"

        threads = [threading.Thread(target=consume, args=args) for args in (("concept art", None), ("panel", SCOPE))]
        for t in threads:
            t.start()
        wait_until(lambda: len(studio.jobs.active("owner")) == 2)
        BoardService(studio).cancel("owner")
        free.set()
        for t in threads:
            t.join(10)
        assert outcome == {"concept art": "done", "panel": "cancelled"}
    finally:
        studio.jobs = saved
