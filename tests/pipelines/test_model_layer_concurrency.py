"""Concurrent jobs: a loaded pipeline runs one job at a time (a second waits, and can be
cancelled while it waits), and the shared sentence segmenter keeps no text between calls."""
from __future__ import annotations

import threading

from pipelines.errors import Cancelled
from pipelines.progress import Progress
from pipelines.runner import execute

from test_model_layer import FAKE, FakeRequest, fake  # noqa: F401  (the fake task fixture)


def _waiting_progress():
    """A job's Progress and an Event set when the job reports that it waits for the model."""
    waiting = threading.Event()

    def listener(event):
        if event.stage.startswith("waiting for another job"):
            waiting.set()

    return Progress(listener=listener), waiting


def test_two_jobs_on_one_model_run_one_after_the_other(fake):  # noqa: F811
    manager = fake.manager()
    entered, first_in, release = [], threading.Event(), threading.Event()

    def run(request):
        entered.append(request.tag)
        if request.tag == "first":
            first_in.set()
            assert release.wait(10)

    fake.on_run = run
    first = threading.Thread(target=execute, args=(manager, FAKE, FakeRequest("small", "first")))
    first.start()
    assert first_in.wait(10)
    progress, waiting = _waiting_progress()
    second = threading.Thread(target=execute, args=(manager, FAKE, FakeRequest("small", "second"), progress))
    second.start()
    assert waiting.wait(10)          # the second job reached the model and waits for it ...
    assert entered == ["first"]      # ... without running on it
    # a job on another model is not held up by it
    execute(manager, FAKE, FakeRequest("big", "other"))
    assert entered == ["first", "other"]
    release.set()
    first.join(10)
    second.join(10)
    assert entered == ["first", "other", "second"] and fake.loads == [("small", "none"), ("big", "none")]
    assert manager.cache.in_use() == []


def test_a_job_waiting_for_the_model_can_be_cancelled(fake):  # noqa: F811
    manager = fake.manager()
    first_in, release = threading.Event(), threading.Event()
    fake.on_run = lambda request: (first_in.set(), release.wait(10))
    first = threading.Thread(target=execute, args=(manager, FAKE, FakeRequest("small", "first")))
    first.start()
    assert first_in.wait(10)
    progress, waiting = _waiting_progress()
    errors = []

    def second():
        try:
            execute(manager, FAKE, FakeRequest("small", "second"), progress)
        except Cancelled as e:
            errors.append(e)

    waiter = threading.Thread(target=second)
    waiter.start()
    assert waiting.wait(10)
    progress.cancel_event.set()
    waiter.join(10)
    assert len(errors) == 1 and not waiter.is_alive()
    release.set()
    first.join(10)
    assert manager.cache.in_use() == []


def test_two_threads_segmenting_different_texts_get_their_own_sentences(monkeypatch):
    """pySBD keeps the text it segments on the segmenter; both threads are held inside `segment`
    at once (a barrier in its processor), so a segmenter shared between them would mix them."""
    import pysbd

    from pipelines.text_chunks import split_sentences

    barrier = threading.Barrier(2)
    real = pysbd.Segmenter.processor

    def processor(self, text):
        try:
            barrier.wait(timeout=5)  # a segmenter behind a lock never lets both in: then go on alone
        except threading.BrokenBarrierError:
            pass
        return real(self, text)

    monkeypatch.setattr(pysbd.Segmenter, "processor", processor)
    texts = {"a": "Dr. Smith arrived at 4.50 p.m. on Monday. He left early.",
             "b": "The fox ran. The dog slept. Nobody noticed the rain."}
    results = {}
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, split_sentences(texts[k]))) for k in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results["a"] == ["Dr. Smith arrived at 4.50 p.m. on Monday.", "He left early."]
    assert results["b"] == ["The fox ran.", "The dog slept.", "Nobody noticed the rain."]


def test_a_model_a_job_runs_on_is_not_unloaded_by_another_jobs_load(fake):  # noqa: F811
    manager = fake.manager()
    small_key = (FAKE, "small", "cpu", "fp32")
    running, release, seen = threading.Event(), threading.Event(), []

    def run(request):
        if request.tag == "long":
            running.set()
            assert release.wait(10)
        else:  # "big" (over the budget) loaded while "small" runs: small is held, so it stays
            seen.append(manager.cache.keys())

    fake.on_run = run
    job = threading.Thread(target=execute, args=(manager, FAKE, FakeRequest("small", "long")))
    job.start()
    assert running.wait(10)
    execute(manager, FAKE, FakeRequest("big"))
    assert small_key in seen[0] and manager.cache.stats.evictions == 0
    release.set()
    job.join(10)
    # the job ended: back under budget, the older model goes and the newest stays
    assert manager.cache.keys() == [(FAKE, "big", "cpu", "fp32")] and manager.cache.stats.evictions == 1
    assert fake.loads == [("small", "none"), ("big", "none")]
