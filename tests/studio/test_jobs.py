"""Jobs: progress streams back, Cancel acts only on the asking session, bugs become a reference."""
import threading
import time

import pytest

from pipelines.errors import Cancelled, InputError
from pipelines.progress import ProgressEvent
from studio.jobs import InternalError, JobDone, JobManager


def slow_work(record, progress, steps=50):
    for i in range(steps):
        progress.update(i + 1, steps)
        time.sleep(0.02)
    return "finished"


def test_events_then_done():
    events = list(JobManager().stream("s1", "t", None, lambda r, p: slow_work(r, p, 3)))
    assert [type(e) for e in events] == [ProgressEvent] * 3 + [JobDone]
    assert events[-1].value == "finished" and events[-1].record.state == "done"


def test_cancel_only_touches_the_asking_session():
    jobs = JobManager()
    outcome = {}

    def consume(session):
        try:
            outcome[session] = list(jobs.stream(session, "t", None, slow_work))[-1].value
        except Cancelled:
            outcome[session] = "cancelled"

    threads = [threading.Thread(target=consume, args=(s,)) for s in ("alice", "bob")]
    for t in threads:
        t.start()
    deadline = time.time() + 5
    while len(jobs.active("alice")) + len(jobs.active("bob")) < 2 and time.time() < deadline:
        time.sleep(0.01)
    assert jobs.cancel("alice") == 1
    for t in threads:
        t.join()
    assert outcome == {"alice": "cancelled", "bob": "finished"}
    assert jobs.history("alice")[-1].state == "cancelled"
    assert jobs.active("alice") == [] and jobs.active("bob") == []


def test_user_errors_pass_through_and_bugs_become_a_reference():
    jobs = JobManager()

    def bad_input(r, p):
        raise InputError("The prompt is empty.")

    with pytest.raises(InputError, match="prompt is empty"):
        list(jobs.stream("s", "t", None, bad_input))

    def bug(r, p):
        raise KeyError("oops")

    with pytest.raises(InternalError, match="reference") as info:
        list(jobs.stream("s", "t", None, bug))
    assert "oops" not in str(info.value)
    assert jobs.history("s")[-1].state == "failed"


def test_closing_the_stream_after_done_keeps_the_job_done():
    jobs = JobManager()
    stream = jobs.stream("s", "t", None, lambda r, p: slow_work(r, p, 2))
    done = next(e for e in stream if isinstance(e, JobDone))
    stream.close()   # what a caller that returns on JobDone does
    assert done.record.state == "done" and not done.record.cancel.is_set()


def test_abandoning_the_stream_cancels_the_job():
    jobs = JobManager()
    stream = jobs.stream("s", "t", None, slow_work)
    next(stream)
    record = jobs.active("s")[0]
    stream.close()
    assert record.cancel.is_set() and record.state == "cancelled"


def test_jobs_at_once_per_visitor_are_limited():
    from studio.jobs import LimitError

    jobs = JobManager(max_active_per_session=1)
    first = jobs.stream("alice", "t", None, slow_work)
    next(first)                                     # alice's first job is running
    with pytest.raises(LimitError, match="already have 1 job"):
        next(jobs.stream("alice", "t", None, slow_work))
    assert list(jobs.stream("bob", "t", None, lambda r, p: slow_work(r, p, 2)))[-1].value == "finished"
    first.close()
    assert list(jobs.stream("alice", "t", None, lambda r, p: slow_work(r, p, 2)))[-1].value == "finished"


def test_jobs_per_minute_are_limited_per_visitor():
    from studio.jobs import LimitError

    jobs = JobManager(max_per_minute=3)
    for _ in range(3):
        list(jobs.stream("alice", "t", None, lambda r, p: "ok"))
    with pytest.raises(LimitError, match=r"limit is 3\); try again in \d+ s"):
        list(jobs.stream("alice", "t", None, lambda r, p: "ok"))
    assert list(jobs.stream("bob", "t", None, lambda r, p: "ok"))[-1].value == "ok"
