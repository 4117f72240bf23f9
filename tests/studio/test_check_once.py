"""A job checks its request once, on a copy: the caller's request is never changed, and the
early check (a tab's, before the queue) is the one the job runs with, through the real
text-to-image pipeline on the tiny model."""
from __future__ import annotations

import copy
import dataclasses

import pytest

from pipelines import text_to_image
from pipelines.errors import InputError
from pipelines.runner import execute
from studio.jobs import JobDone

SESSION = "check-once"


@pytest.fixture
def checks(monkeypatch) -> list[str]:
    """The prompts `Request.check` was called with, one per call."""
    calls: list[str] = []
    original = text_to_image.Request.check

    def counted(self, preset):
        calls.append(self.prompt)
        return original(self, preset)

    monkeypatch.setattr(text_to_image.Request, "check", counted)
    return calls


def request(**changes) -> text_to_image.Request:
    # A control character (the text policy removes it) and a style (the runner applies it): both
    # change the request that runs, neither may reach the caller's.
    fields = dict(prompt="a light\x07house", style="cinematic", model="tiny-sd15", seed=1, steps=1, width=64,
                  height=64)
    return text_to_image.Request(**{**fields, **changes})


def test_produce_checks_once_and_leaves_the_callers_request_as_it_was(studio, checks):
    mine = request()
    before = copy.copy(vars(mine))
    outcome = studio.produce("text_to_image", mine, session_id=SESSION)
    assert checks == ["a lighthouse"]  # once, on the cleaned copy
    assert vars(mine) == before and mine.styled_prompt == ""
    params = outcome.items[0].params
    assert params["prompt"] == "a lighthouse" and params["style"] == "cinematic"


def test_the_tabs_early_check_is_the_jobs_check(studio, checks):
    mine = request(seed=2)
    checked = studio.checked("text_to_image", mine)  # what a tab does before queuing the job
    assert checks == ["a lighthouse"] and mine.prompt == "a light\x07house" and checked is not mine
    events = list(studio.stream("text_to_image", checked, SESSION))
    assert isinstance(events[-1], JobDone) and len(events[-1].value.items) == 1
    assert checks == ["a lighthouse"]  # not again: not by the service, not by the runner
    list(studio.stream("text_to_image", request(seed=3), SESSION))  # a request not checked yet: once
    assert len(checks) == 2


def test_the_runner_checks_a_changed_request_again(studio, checks):
    mine = request(seed=4)
    checked = studio.checked("text_to_image", mine)
    execute(studio.models, "text_to_image", checked)
    assert len(checks) == 1
    execute(studio.models, "text_to_image", dataclasses.replace(checked, seed=5))  # a new request: checked
    assert len(checks) == 2
    with pytest.raises(InputError, match="multiple of 8"):
        execute(studio.models, "text_to_image", dataclasses.replace(checked, width=100))


def test_bad_input_is_refused_before_the_job_takes_a_place_in_the_queue(studio, checks):
    history = len(studio.jobs.history(SESSION))
    with pytest.raises(InputError, match="multiple of 8"):
        studio.stream("text_to_image", request(width=100), SESSION)  # raised by the call, not by the job
    assert len(studio.jobs.history(SESSION)) == history and not studio.jobs.active(SESSION)
