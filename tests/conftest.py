"""Shared fixtures: one studio on the tiny tier for the whole run (as in production: one studio,
many visitors), a live server on a free loopback port, and headless Chromium."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def patient_launches():
    """Every server a test starts waits for its page as `studio serve` does (studio.ui.patient_startup_probe):
    on a loaded machine Gradio's own 3 s check failed the launch before any test ran."""
    from studio.ui import patient_startup_probe

    with patient_startup_probe():
        yield


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("studio-data")


@pytest.fixture(scope="session")
def studio(data_dir):
    """The studio as production builds it, with its data folder in a temporary directory."""
    from studio.service import Studio
    from studio.settings import load_settings

    # Every visitor of the test server comes from 127.0.0.1, so the per-address limit is off here;
    # tests/studio/test_jobs.py turns it on for its own checks (test_sessions.py for new sessions).
    studio = Studio(load_settings(env={}, data_dir=data_dir, dtype="fp32", jobs_per_ip_minute=0,
                                  sessions_per_ip_minute=0))
    # The Library's tagger would tag each of the suite's ~230 outputs beside the tests that follow
    # (~0.5 s of CPU each on this tiny tier); the tests of tagging turn it on (`background_tagging`).
    studio.tagging.pause(float("inf"))
    return studio


@pytest.fixture
def background_tagging(studio):
    """The shared studio's Library tagger at work for this test (newest item first), paused again
    after it (it finishes the item in hand)."""
    studio.tagging.resume()
    yield studio.tagging
    studio.tagging.pause(float("inf"))


@pytest.fixture(scope="session")
def live_url(studio):
    """The studio served on a free 127.0.0.1 port for gradio_client and the browser."""
    from studio.ui import build_ui, launch_options

    demo = build_ui(studio)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(studio))
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright (a browser download cannot work here)."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed (make test installs it)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests keep screenshots for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


_EXIT = {"status": None}


def pytest_sessionfinish(session, exitstatus):
    _EXIT["status"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Leave with pytest's own exit status once everything is reported.

    After a passing run the interpreter's teardown sometimes aborts with "terminate called without
    an active exception" (rc 134): a native thread pool (torch's, under a background tagging or
    synthesis thread still alive at exit) destroyed while joinable. The tests are over and their
    result printed by then; exiting here keeps that result the process's exit status.
    """
    if _EXIT["status"] is not None and os.environ.get("STUDIO_TEST_HARD_EXIT", "1") == "1":
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT["status"])
