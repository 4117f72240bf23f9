"""bench/soak.py at a small size in the suite: 100 fast calls from 20 visitors against the live
server, read from outside every 50 calls. Job records stay few and drop their requests; the
device line empties; Gradio's cache grows at most by the files the calls themselves brought."""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "soak.py"
CALLS, VISITORS, EVERY = 100, 20, 50


def load_soak():
    spec = importlib.util.spec_from_file_location("soak", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def output_names(studio) -> set[str]:
    """File names of the outputs the studio's recorded jobs published."""
    names = set()
    for session in studio.jobs.sessions():
        for record in studio.jobs.history(session):
            for item_id in record.outputs:
                item = studio.gallery.get(session, item_id)
                if item is not None:
                    names.add(Path(item.path).name)
    return names


@pytest.mark.slow
def test_a_small_soak_keeps_job_records_and_cache_files_bounded(live_url, studio, tmp_path):
    soak_module = load_soak()
    cache_dir = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    # Other test runs may share Gradio's cache folder: count only the files of this soak, its two
    # uploads and the outputs of its jobs.
    reader = soak_module.Reader(os.getpid(), studio.settings.data_dir, cache_dir,
                                cache_names=lambda: {"picture.png", "mask.png", *output_names(studio)})
    plan = soak_module.endpoints(soak_module.inputs(tmp_path), mix="fast")
    soak = soak_module.Soak(live_url, reader, CALLS, VISITORS, EVERY, plan, on_sample=lambda s: None)
    soak.run(deadline_s=600)
    assert soak.done == CALLS and [s["calls"] for s in reader.samples] == [0, 50, 100]
    assert not soak.errors, soak.errors
    assert sum(soak.retries.values()) <= 2, soak.retries   # a broken kept-alive connection, sent again
    counts = studio.jobs.counts()
    # Every job is over: nothing waits for the device, no session holds an active job, and no
    # finished record keeps its request (uploads included).
    assert counts["turns_waiting"] == counts["turns_holding"] == counts["active_sessions"] == 0
    assert counts["requests_kept"] == 0 and counts["records"] <= studio.jobs.history_limit * counts["sessions"]
    studio.jobs.prune(now=time.time() + studio.jobs.history_max_age_s + 1)   # past their age, all go
    assert studio.jobs.counts()["records"] == 0 and studio.jobs.counts()["started_sessions"] == 0
    # Gradio's cache holds what calls uploaded and what they got back, each once: at most a few files per
    # call (a response that carried the whole growing gallery would add more per call as the soak goes on).
    first, last = reader.samples[1], reader.samples[-1]
    assert last["cache_files"] - first["cache_files"] <= 3 * (last["calls"] - first["calls"])
    print(reader.growth())
