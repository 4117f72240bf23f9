"""The shared pipeline cache: LRU under a memory budget, one load per key under concurrency."""
import threading
import time

import torch

from pipelines.cache import PipelineCache, estimate_bytes


def test_lru_eviction_keeps_recently_used_under_budget():
    evicted = []
    cache = PipelineCache(budget_bytes=250, on_evict=lambda k, v: evicted.append(k), size_of=lambda v: 100)
    cache.get_or_load("a", lambda: "A")
    cache.get_or_load("b", lambda: "B")
    cache.get_or_load("a", lambda: "never")   # touch a: b is now least recent
    cache.get_or_load("c", lambda: "C")
    assert evicted == ["b"]
    assert cache.keys() == ["a", "c"]
    assert cache.used_bytes == 200


def test_a_single_entry_over_budget_stays_loaded():
    cache = PipelineCache(budget_bytes=10, size_of=lambda v: 100)
    assert cache.get_or_load("big", lambda: "X") == "X"
    assert cache.keys() == ["big"]


def test_concurrent_requests_load_once():
    calls = []

    def load():
        calls.append(1)
        time.sleep(0.2)
        return object()

    cache = PipelineCache(budget_bytes=10**9, size_of=lambda v: 1)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load("k", load))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len({id(r) for r in results}) == 1


def test_estimate_bytes_counts_tensors_once():
    layer = torch.nn.Linear(10, 10)  # 110 fp32 params
    assert estimate_bytes(layer) == 440
    assert estimate_bytes({"a": layer, "b": layer}) == 440
