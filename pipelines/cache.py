"""A cache of loaded pipelines shared read-only by every visitor, LRU under a memory budget.

The policy, in the order a request meets it:
- A key is loaded once, even when several jobs ask for it at the same moment (a per-key lock).
- Room is made *before* a load, from the loader's size estimate (`expected_bytes`), by evicting
  entries that no running job holds: the least recently used one that makes the room alone, or
  when none does, least recently used ones until the new one fits, and no more: an entry whose
  bytes the room does not need is spared (a 5 MB preview decoder is not dropped beside the 13 GB
  model that makes the room). After the load the real size (`size_of`) replaces the estimate.
- An entry a job holds (`lease`) is never evicted. When everything else is held, the new entry
  is loaded over budget and the cache trims back once the leases end.
- A value bigger than the whole budget is still loaded (alone) and then stays: the most
  recently used entry is never trimmed. Deciding how to load such a value (CPU offload on CUDA,
  a refusal on a CPU) is the loader's business; `fits(nbytes)` answers the question for it.
- A failed load (an exception, out-of-memory included) leaves nothing behind: no entry, no
  reservation, no pin, the key's lock released, so a later request loads again.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator

log = logging.getLogger(__name__)


def estimate_bytes(obj: Any, seen: set[int] | None = None, _depth: int = 0) -> int:
    """Bytes held by the tensors of a model, a diffusers pipeline, a transformers pipeline, or
    containers of them (dicts, lists, dataclasses such as `Loaded`, plain objects holding a
    model); a tensor shared by several parts counts once."""
    seen = seen if seen is not None else set()
    if obj is None or id(obj) in seen or _depth > _MAX_DEPTH or isinstance(obj, _ATOMS):
        return 0
    seen.add(id(obj))
    if hasattr(obj, "parameters") and hasattr(obj, "buffers"):
        total = 0
        for t in list(obj.parameters()) + list(obj.buffers()):
            if id(t) not in seen:
                seen.add(id(t))
                total += t.numel() * t.element_size()
        return total
    if hasattr(obj, "components") and isinstance(getattr(obj, "components"), dict):
        parts = obj.components.values()
    elif isinstance(obj, dict):
        parts = obj.values()
    elif isinstance(obj, (list, tuple, set, frozenset)):
        parts = obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        parts = [getattr(obj, f.name) for f in dataclasses.fields(obj)]
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        parts = list(vars(obj).values())  # a transformers pipeline's `.model`, a wrapper's attributes
    else:
        return 0
    return sum(estimate_bytes(p, seen, _depth + 1) for p in parts)


_MAX_DEPTH = 8   # Loaded -> views -> Loaded -> VideoModel -> pipes -> pipeline -> components -> module
_ATOMS = (str, bytes, int, float, bool, type(threading.Lock()))


def parse_budget_gb(raw: Any) -> float | str:
    """The setting model_cache_gb as "auto" or a positive number of gigabytes (GiB); a clear
    ValueError otherwise. Used by the studio's settings (no torch there) and the model layer."""
    text = str(raw).strip().lower()
    if text == "auto":
        return "auto"
    try:
        gb = float(text)
    except ValueError:
        gb = float("nan")
    if not gb > 0 or gb == float("inf"):
        raise ValueError(f"model_cache_gb must be \"auto\" or a number of gigabytes above 0 (like 24), not {raw!r}")
    return gb


@dataclass
class CacheStats:
    """Counters since the cache was made (the bench and the tests read them)."""

    loads: int = 0           # values loaded (a failed load is not counted)
    evictions: int = 0       # entries dropped to make room or trim back to the budget
    bytes_loaded: int = 0    # sum of the real sizes of the values loaded
    hits: int = 0            # requests served by an entry already loaded
    failed_loads: int = 0    # loads that raised


@dataclass
class _Entry:
    value: Any
    size: int
    pins: int = 0            # running jobs holding it: never evicted while > 0


class PipelineCache:
    """Thread-safe LRU of loaded values under `budget_bytes`; see the module docstring for the policy."""

    def __init__(self, budget_bytes: int, on_evict: Callable[[Hashable, Any], None] | None = None,
                 size_of: Callable[[Any], int] = estimate_bytes):
        self.budget_bytes = int(budget_bytes)
        self.stats = CacheStats()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()   # least recently used first
        self._loading: dict[Hashable, int] = {}                          # bytes reserved by loads in flight
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._on_evict = on_evict
        self._size_of = size_of

    # ---- asking
    def fits(self, nbytes: int) -> bool:
        """Whether a value of `nbytes` fits in the budget at all (with everything else evicted)."""
        return nbytes <= self.budget_bytes

    @property
    def used_bytes(self) -> int:
        """Bytes charged by the entries loaded now."""
        return sum(e.size for e in self._entries.values())

    def keys(self) -> list[Hashable]:
        """Keys loaded now, least recently used first."""
        with self._lock:
            return list(self._entries)

    def in_use(self) -> list[Hashable]:
        """Keys a running job holds now."""
        with self._lock:
            return [k for k, e in self._entries.items() if e.pins]

    # ---- getting
    @contextmanager
    def lease(self, key: Hashable, load: Callable[[], Any], expected_bytes: int | None = None) -> Iterator[Any]:
        """The value for `key`, held (never evicted) until the block ends; loaded when absent.

        `expected_bytes` is the loader's estimate, used to make room before loading; without it
        room is made after the load, from the real size.
        """
        value = self._acquire(key, load, expected_bytes)
        try:
            yield value
        finally:
            self._release(key)

    def get_or_load(self, key: Hashable, load: Callable[[], Any], expected_bytes: int | None = None) -> Any:
        """The value for `key`, loading it when absent, without holding it (it may be evicted later)."""
        with self.lease(key, load, expected_bytes) as value:
            return value

    def _acquire(self, key: Hashable, load: Callable[[], Any], expected_bytes: int | None) -> Any:
        with self._lock:
            if (hit := self._pin_if_loaded(key)) is not None:
                return hit.value
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one load per key; the others wait here and find it loaded
            with self._lock:
                if (hit := self._pin_if_loaded(key)) is not None:
                    return hit.value
                evicted = self._make_room(expected_bytes or 0)
                self._loading[key] = expected_bytes or 0
            self._notify(evicted)
            try:
                value = load()
                size = int(self._size_of(value))
            except BaseException:
                with self._lock:
                    self._loading.pop(key, None)
                    self.stats.failed_loads += 1
                raise
            with self._lock:
                self._loading.pop(key, None)
                self._entries[key] = _Entry(value, size, pins=1)
                self.stats.loads += 1
                self.stats.bytes_loaded += size
                evicted = self._trim()
            self._notify(evicted)
            log.info("loaded %s into the model cache (%.2f GB; %.2f of %.2f GB used)", key, size / 2**30,
                     self.used_bytes / 2**30, self.budget_bytes / 2**30)
            return value

    def _pin_if_loaded(self, key: Hashable) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.pins += 1
            self._entries.move_to_end(key)
            self.stats.hits += 1
        return entry

    def _release(self, key: Hashable) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.pins -= 1
            # loads made while everything was held may have gone over budget: trim back now
            evicted = self._trim() if entry is not None and not entry.pins else []
        self._notify(evicted)

    # ---- evicting (called with self._lock held)
    def _make_room(self, nbytes: int) -> list[tuple[Hashable, Any]]:
        """Evict unheld entries until `nbytes` more fit (all of them when even that is not enough)."""
        over = self.used_bytes + sum(self._loading.values()) + nbytes - self.budget_bytes
        return [self._evict(k) for k in self._victims(over)]

    def _trim(self) -> list[tuple[Hashable, Any]]:
        """Back under budget by evicting unheld entries; the most recently used one always stays
        (a value over the whole budget is kept, not reloaded per request)."""
        keep = next(reversed(self._entries), None)
        return [self._evict(k) for k in self._victims(self.used_bytes - self.budget_bytes, keep)]

    def _victims(self, over: int, keep: Hashable | None = None) -> list[Hashable]:
        """The entries to evict to free `over` bytes, none of them held by a job nor `keep`: the
        least recently used entry that frees enough alone; when none does, entries in LRU order
        until they free enough, then every one whose bytes the room does not need given back,
        largest first (the slowest to read again). Without this, a 5 MB preview decoder that
        happened to be older went with the 13 GB model that alone makes the room, and was read
        again on the next request. Measured by bench/model_cache.py (README, "Performance")."""
        if over <= 0:
            return []
        candidates = [k for k, e in self._entries.items() if not e.pins and k != keep]
        size = {k: self._entries[k].size for k in candidates}
        alone = next((k for k in candidates if size[k] >= over), None)
        if alone is not None:
            return [alone]
        victims, freed = [], 0
        for key in candidates:
            if freed >= over:
                break
            victims.append(key)
            freed += size[key]
        for key in sorted(victims, key=size.get, reverse=True):
            if freed - size[key] >= over:
                victims.remove(key)
                freed -= size[key]
        return victims

    def _evict(self, key: Hashable) -> tuple[Hashable, Any]:
        entry = self._entries.pop(key)
        self.stats.evictions += 1
        return key, entry.value

    def _notify(self, evicted: list[tuple[Hashable, Any]]) -> None:
        for k, v in evicted:
            log.info("evicted %s from the model cache", k)
            if self._on_evict:
                self._on_evict(k, v)

    def clear(self) -> None:
        """Drop every entry no job holds."""
        with self._lock:
            evicted = [self._evict(k) for k in [k for k, e in self._entries.items() if not e.pins]]
        self._notify(evicted)
