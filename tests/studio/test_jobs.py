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


def test_jobs_per_minute_are_limited_per_network_address_over_all_its_sessions():
    from studio.jobs import LimitError

    jobs = JobManager(max_per_minute=30, max_per_ip_minute=3)
    for session in ("fresh-1", "fresh-2", "fresh-3"):   # a stranger minting a session per request
        list(jobs.stream(session, "t", None, lambda r, p: "ok", client="203.0.113.7"))
    with pytest.raises(LimitError, match=r"Too many jobs from your network address in the last minute "
                                         r"\(3; the limit is 3 .*try again in \d+ s"):
        list(jobs.stream("fresh-4", "t", None, lambda r, p: "ok", client="203.0.113.7"))
    assert jobs.history("fresh-4") == []                 # refused: no job was recorded
    assert list(jobs.stream("fresh-4", "t", None, lambda r, p: "ok", client="198.51.100.2"))[-1].value == "ok"
    assert list(jobs.stream("fresh-5", "t", None, lambda r, p: "ok"))[-1].value == "ok"  # no address: not counted


def test_per_address_limit_off_and_a_refused_job_costs_nothing():
    from studio.jobs import LimitError

    unlimited = JobManager(max_per_ip_minute=0)
    for i in range(5):
        list(unlimited.stream(f"s{i}", "t", None, lambda r, p: "ok", client="203.0.113.7"))
    jobs = JobManager(max_per_minute=1, max_per_ip_minute=2)
    list(jobs.stream("alice", "t", None, lambda r, p: "ok", client="203.0.113.7"))
    with pytest.raises(LimitError, match="You started 1 jobs"):   # the session's limit refuses first ...
        list(jobs.stream("alice", "t", None, lambda r, p: "ok", client="203.0.113.7"))
    # ... and that refusal did not use up the address's budget: bob, same address, still gets one.
    assert list(jobs.stream("bob", "t", None, lambda r, p: "ok", client="203.0.113.7"))[-1].value == "ok"
    with pytest.raises(LimitError, match="network address"):
        list(jobs.stream("carol", "t", None, lambda r, p: "ok", client="203.0.113.7"))


def test_client_address_is_the_peer_unless_proxies_are_trusted():
    from types import SimpleNamespace

    from studio.settings import Settings
    from studio.widgets import client_address

    def request(peer, forwarded=None):
        headers = {"x-forwarded-for": forwarded} if forwarded else {}
        return SimpleNamespace(client=SimpleNamespace(host=peer), headers=headers)

    def studio(hops):
        return SimpleNamespace(settings=Settings(trusted_proxy_hops=hops))

    assert client_address(studio(0), request("127.0.0.1", "6.6.6.6")) == "127.0.0.1"    # never trusted by default
    assert client_address(studio(1), request("10.0.0.2", "6.6.6.6, 203.0.113.7")) == "203.0.113.7"
    assert client_address(studio(2), request("10.0.0.2", "6.6.6.6, 203.0.113.7, 10.0.0.9")) == "203.0.113.7"
    assert client_address(studio(1), request("10.0.0.2")) == "10.0.0.2"                  # no header: the peer


def test_sessions_from_one_address_share_its_budget_through_the_live_server(live_url, studio, tmp_path):
    """Two visitors (two sessions) from 127.0.0.1: the address's budget is theirs together, on the
    Detect tab's job path and on every generating tab's (widgets.stream_job) alike."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")                       # "cannot judge" at once: a job, but no model runs
    saved = studio.jobs
    studio.jobs = JobManager(max_active_per_session=2, max_per_minute=30, max_per_ip_minute=2)
    try:
        alice, bob = Client(live_url, verbose=False), Client(live_url, verbose=False)
        for visitor in (alice, bob):
            card, _, _ = visitor.predict(handle_file(str(empty)), api_name="/detect")
            assert "cannot judge" in card
        with pytest.raises(AppError, match="Too many jobs from your network address"):
            bob.predict(handle_file(str(empty)), api_name="/detect")
        with pytest.raises(AppError, match="Too many jobs from your network address"):
            Client(live_url, verbose=False).predict("a lighthouse", "", api_name="/generate_image")
    finally:
        studio.jobs = saved


def test_finished_records_drop_their_requests_and_stay_few_and_young():
    jobs = JobManager(history_per_session=5, max_per_minute=1000, history_max_age_s=3600)
    payload = bytearray(1_000_000)                        # a decoded upload travelling in the request
    for _ in range(12):
        list(jobs.stream("alice", "t", payload, lambda r, p: "ok"))
    history = jobs.history("alice")
    assert len(history) == 5 and all(r.request is None and r.finished for r in history)
    with pytest.raises(InputError):
        list(jobs.stream("alice", "t", payload, lambda r, p: (_ for _ in ()).throw(InputError("no"))))
    assert jobs.history("alice")[-1].request is None and jobs.history("alice")[-1].state == "failed"
    for n in range(50):                                   # fifty visitors come and go
        list(jobs.stream(f"visitor-{n}", "t", None, lambda r, p: "ok"))
    assert jobs.counts()["sessions"] == 51 and jobs.counts()["active_sessions"] == 0
    jobs.prune(now=time.time() + 3601)                    # an hour on: their records and start times are gone
    assert jobs.counts() == dict(sessions=0, records=0, requests_kept=0, active_sessions=0, started_sessions=0,
                                 clients=0, turns_waiting=0, turns_holding=0, turns_visitors=0, turns_heap=0)


def test_verify_runs_as_a_job_under_the_same_limits_through_the_live_server(live_url, studio, tmp_path):
    """Verify takes a device turn and counts against the per-address limit, like Detect and every tab."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    saved = studio.jobs
    studio.jobs = JobManager(max_per_minute=30, max_per_ip_minute=1)
    try:
        client = Client(live_url, verbose=False)
        card, _ = client.predict(handle_file(str(empty)), api_name="/verify")
        assert "empty" in card.lower()
        with pytest.raises(AppError, match="Too many jobs from your network address"):
            client.predict(handle_file(str(empty)), api_name="/verify")
        assert studio.jobs.counts()["records"] == 1
    finally:
        studio.jobs = saved
