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


def _sized(budget: int, sizes: dict):
    """A cache whose values are their key's size in `sizes`, recording evictions in order."""
    evicted = []
    cache = PipelineCache(budget, on_evict=lambda k, v: evicted.append(k), size_of=lambda v: sizes[v])
    return cache, evicted


def test_room_is_made_before_the_load_least_recently_used_first():
    cache, evicted = _sized(300, {"a": 100, "b": 100, "c": 100, "d": 200})
    for key in ("a", "b", "c"):
        cache.get_or_load(key, lambda key=key: key, expected_bytes=100)
    cache.get_or_load("a", lambda: "never")  # a is now the most recent: b, c, a
    seen_at_load = []

    def load_d():
        seen_at_load.append(cache.keys())  # what was still loaded while d was being read
        return "d"

    cache.get_or_load("d", load_d, expected_bytes=200)
    assert evicted == ["b", "c"] and seen_at_load == [["a"]]
    assert cache.keys() == ["a", "d"] and cache.used_bytes == 300
    assert (cache.stats.loads, cache.stats.evictions, cache.stats.bytes_loaded) == (4, 2, 500)


def test_an_entry_in_use_is_never_evicted():
    cache, evicted = _sized(250, {"a": 100, "b": 200, "c": 200})
    held, release = threading.Event(), threading.Event()

    def job():
        with cache.lease("a", lambda: "a", expected_bytes=100) as value:
            assert value == "a"
            held.set()
            release.wait(10)

    worker = threading.Thread(target=job)
    worker.start()
    held.wait(10)
    cache.get_or_load("b", lambda: "b", expected_bytes=200)  # over budget: a is held, so it stays
    assert "a" in cache.keys() and evicted == [] and cache.in_use() == ["a"]
    release.set()
    worker.join()
    # once a is released the cache trims back to its budget; the most recent entry stays
    assert evicted == ["a"] and cache.keys() == ["b"]
    cache.get_or_load("c", lambda: "c", expected_bytes=200)
    assert evicted == ["a", "b"] and cache.keys() == ["c"]


def test_a_value_over_the_whole_budget_is_loaded_once_and_kept():
    cache, evicted = _sized(100, {"big": 500, "small": 10})
    cache.get_or_load("small", lambda: "small", expected_bytes=10)
    assert not cache.fits(500) and cache.fits(100)
    for _ in range(20):
        with cache.lease("big", lambda: "big", expected_bytes=500) as value:
            assert value == "big"
    assert cache.stats.loads == 2 and cache.stats.hits == 19 and evicted == ["small"]
    assert cache.keys() == ["big"]


def test_concurrent_leases_of_one_key_load_it_once():
    started, finish = threading.Event(), threading.Event()
    calls = []

    def load():
        calls.append(1)
        started.set()
        finish.wait(10)
        return object()

    cache = PipelineCache(budget_bytes=10**9, size_of=lambda v: 1)
    results = []

    def job():
        with cache.lease("k", load, expected_bytes=1) as value:
            results.append(value)

    threads = [threading.Thread(target=job) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait(10)
    finish.set()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 4 and len({id(r) for r in results}) == 1
    assert cache.in_use() == []


def test_a_failed_load_leaves_the_cache_consistent():
    cache, evicted = _sized(200, {"a": 100, "b": 100})
    cache.get_or_load("a", lambda: "a", expected_bytes=100)

    def broken():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    for _ in range(2):  # the key's lock was released: a second try does not hang
        try:
            with cache.lease("b", broken, expected_bytes=100):
                raise AssertionError("the block must not run")
        except torch.OutOfMemoryError:
            pass
    assert cache.keys() == ["a"] and cache.in_use() == [] and cache.used_bytes == 100
    assert cache.stats.failed_loads == 2 and cache.stats.loads == 1
    # nothing stays reserved by the failed loads: b now loads beside a without evicting it
    assert cache.get_or_load("b", lambda: "b", expected_bytes=100) == "b"
    assert cache.keys() == ["a", "b"] and evicted == []



def _load_all(cache, sizes: dict, keys: str) -> None:
    for key in keys:
        cache.get_or_load(key, lambda key=key: key, expected_bytes=sizes[key])


def test_an_older_small_entry_is_spared_when_a_large_one_alone_makes_the_room():
    # LRU order: decoder (5), model (100), detector (2); loading 95 more needs 82 freed: the model
    # alone frees it, so the older decoder stays instead of being read again on the next request
    sizes = {"p": 5, "M": 100, "d": 2, "N": 95}
    cache, evicted = _sized(120, sizes)
    _load_all(cache, sizes, "pMd")
    cache.get_or_load("N", lambda: "N", expected_bytes=95)
    assert evicted == ["M"]
    assert cache.keys() == ["p", "d", "N"] and cache.used_bytes == 102



def test_the_least_recently_used_entry_that_makes_the_room_alone_goes_before_several_older_ones():
    # 60 to free: a and b (30 each) would do together, big alone does: one reload instead of two
    sizes = {"a": 30, "b": 30, "big": 70, "n": 60}
    cache, evicted = _sized(130, sizes)
    _load_all(cache, sizes, ["a", "b", "big"])
    cache.get_or_load("n", lambda: "n", expected_bytes=60)
    assert evicted == ["big"] and cache.keys() == ["a", "b", "n"]

def test_victims_are_taken_least_recently_used_first_and_only_as_many_as_the_room_needs():
    sizes = {"a": 30, "b": 50, "c": 40, "d": 10, "x": 60, "y": 25}
    cache, evicted = _sized(130, sizes)
    _load_all(cache, sizes, "abcd")
    cache.get_or_load("x", lambda: "x", expected_bytes=60)   # 60 to free: a and b, both needed
    assert evicted == ["a", "b"] and cache.keys() == ["c", "d", "x"]
    cache.get_or_load("y", lambda: "y", expected_bytes=25)   # 5 to free: c, the least recent, alone
    assert evicted == ["a", "b", "c"] and cache.keys() == ["d", "x", "y"]


def test_of_two_victims_that_cannot_both_be_spared_the_larger_one_stays():
    # 75 to free from p (20), q (30), r (60) in LRU order: r is needed; then either p or q
    # suffices beside it, and q, the costlier to read again, is the one kept
    sizes = {"p": 20, "q": 30, "r": 60, "n": 75}
    cache, evicted = _sized(110, sizes)
    _load_all(cache, sizes, "pqr")
    cache.get_or_load("n", lambda: "n", expected_bytes=75)
    assert evicted == ["p", "r"] and cache.keys() == ["q", "n"] and cache.used_bytes == 105


def test_a_held_entry_is_never_a_victim_even_when_it_alone_would_make_the_room():
    sizes = {"small": 10, "big": 100, "new": 100}
    cache, evicted = _sized(110, sizes)
    _load_all(cache, sizes, ["small"])
    with cache.lease("big", lambda: "big", expected_bytes=100):
        cache.get_or_load("new", lambda: "new", expected_bytes=100)  # big is held: only small can go
        assert evicted == ["small"] and set(cache.keys()) == {"big", "new"}
    # big released: trimmed back under budget; new, the most recent, stays
    assert evicted == ["small", "big"] and cache.keys() == ["new"]


def test_trimming_after_a_load_without_an_estimate_spares_what_the_budget_does_not_need():
    # no expected_bytes: room is made after the load, from the real size; 11 over the budget,
    # taken in LRU order from t (1) and a (40): a alone is enough, t stays
    cache, evicted = _sized(100, {"t": 1, "a": 40, "b": 70})
    for key in "tab":
        cache.get_or_load(key, lambda key=key: key)
    assert evicted == ["a"] and cache.keys() == ["t", "b"] and cache.used_bytes == 71
