"""A cache of loaded pipelines shared read-only by every visitor, LRU under a memory budget.

Loading is done once per key even when several visitors ask at the same moment. An evicted
pipeline that a running job still holds stays alive until that job ends (Python references);
its memory is then returned.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

log = logging.getLogger(__name__)


def estimate_bytes(obj: Any, _seen: set[int] | None = None) -> int:
    """Bytes held by the tensors of a model, a diffusers pipeline, or containers of them."""
    seen = _seen if _seen is not None else set()
    if obj is None or id(obj) in seen:
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
        return sum(estimate_bytes(v, seen) for v in obj.components.values())
    if isinstance(obj, dict):
        return sum(estimate_bytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(estimate_bytes(v, seen) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(estimate_bytes(getattr(obj, f.name), seen) for f in dataclasses.fields(obj))
    return 0


class PipelineCache:
    """Thread-safe LRU of loaded pipelines under `budget_bytes` (the newest entry always stays)."""

    def __init__(self, budget_bytes: int, on_evict: Callable[[Hashable, Any], None] | None = None,
                 size_of: Callable[[Any], int] = estimate_bytes):
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._on_evict = on_evict
        self._size_of = size_of

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The cached value for `key`, loading it (once, under a per-key lock) when absent."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][0]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key][0]
            value = load()
            size = self._size_of(value)
            with self._lock:
                self._entries[key] = (value, size)
                evicted = self._evict_over_budget()
            for k, v in evicted:
                log.info("evicted %s from the model cache", k)
                if self._on_evict:
                    self._on_evict(k, v)
            return value

    def _evict_over_budget(self) -> list[tuple[Hashable, Any]]:
        evicted = []
        while self.used_bytes > self.budget_bytes and len(self._entries) > 1:
            k, (v, _) = self._entries.popitem(last=False)
            evicted.append((k, v))
        return evicted

    @property
    def used_bytes(self) -> int:
        return sum(size for _, size in self._entries.values())

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
