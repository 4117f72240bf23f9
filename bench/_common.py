"""Helpers for the benchmarks: interleaved timing and peak-RSS sampling in one process."""
from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(fn) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, peak RSS above the start in bytes) of one call.

    CPU seconds are the robust figure on a shared machine: other processes inflate wall time.
    """
    base, peak, done = rss_bytes(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes() - base)
            time.sleep(0.005)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    done.set()
    t.join()
    return elapsed, cpu, max(peak[0], rss_bytes() - base)


def interleave(candidates: dict, reps: int, warmup: int = 1) -> dict:
    """Run each candidate in turn `reps` times (after warm-up).

    Returns name -> (median wall s, median CPU s, max extra RSS bytes).
    """
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    wall = {k: [] for k in candidates}
    cpu = {k: [] for k in candidates}
    mem = {k: 0 for k in candidates}
    for _ in range(reps):
        for name, fn in candidates.items():
            w, c, extra = measure(fn)
            wall[name].append(w)
            cpu[name].append(c)
            mem[name] = max(mem[name], extra)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k]), mem[k]) for k in candidates}


def table(rows: list[list], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
