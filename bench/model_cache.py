"""Model-cache replay at real sizes: reloads and GB read against a cache that knows the future.

200 requests, in visitor bursts over the real-size presets whose published configs are in
presets/configs, go through the studio's PipelineCache as the model layer drives it: the model
held (a lease) while its preview decoder is used, then the image detector at publish. Sizes come
from the configs built on the meta device (pipelines/real_sizes.py); the model layer's own load
decision (pipelines.models.plan_load) places each preset, and the cache is charged what it keeps on
the device (model CPU offload: its largest component; sequential offload: its largest layer). Nothing is loaded and nothing sleeps: load
time is counted as bytes read at --disk-gbps.

The ideal is Belady's rule: on a miss, evict the entry whose next use lies farthest in the future
(never one the request in flight holds). For equal sizes that is the optimal cache; with sizes
as different as these it is the usual reference, not a lower bound: it evicts a 5 MB decoder
needed far ahead even when the 30 GB model it evicts next makes the room alone. The size-aware
ideal (also printed) knows the future and gives back every victim the room does not need; it is
a stronger reference, still not a proven optimum (that problem is NP-hard with sizes).

usage: python bench/model_cache.py [--requests 200] [--seed 0] [--budgets 16,24,48,80]
Prints a table per budget and ends with `reloads_over_ideal=<N>` for the 24 GB budget
(against Belady), after `reloads_over_size_aware_ideal=<N>`.
"""
from __future__ import annotations

import argparse
import functools
import random
from collections import Counter
from dataclasses import dataclass

from _common import table

GIB = 2**30
DETECTOR = ("detect_image", "sdxl-detector")
# (task, preset, weight): how often visitors pick each; a burst keeps one preset for 1-4 requests
MIX = [
    ("text_to_image", "sdxl", 24), ("text_to_image", "sdxl-lightning", 8), ("text_to_image", "sd15", 12),
    ("text_to_image", "flux-schnell", 10), ("text_to_image", "flux-dev", 8), ("text_to_image", "sd35-medium", 6),
    ("fill", "sdxl-inpaint", 5), ("fill", "sd15-inpaint", 4), ("fill", "flux-fill", 3),
    ("video", "ltx-video", 6), ("video", "ltx-video-distilled", 3), ("video", "wan21-t2v-1-3b", 5), ("video", "cogvideox-5b", 3),
    ("video", "svd-xt", 3), ("video", "wan22-t2v-a14b", 2),
]


@dataclass(frozen=True)
class Item:
    """One cache entry of the replay: a preset at its real size."""

    key: tuple[str, str]
    nbytes: int          # full size at its GPU dtype (what a load reads)


@dataclass(frozen=True)
class Request:
    model: Item
    preview: Item | None
    detector: Item

    def keys(self) -> list[tuple[str, str]]:
        return [i.key for i in (self.model, self.preview, self.detector) if i is not None]


@functools.lru_cache(maxsize=None)
def load_presets(task: str):
    from pipelines.presets import load_presets as read

    return read(task)


def sized(task: str, name: str) -> Item:
    from pipelines.real_sizes import preset_footprint

    return Item((task, name), preset_footprint(load_presets(task)[name]).nbytes)


def available_mix() -> list[tuple[str, str, int]]:
    """The MIX entries whose published configs are in presets/configs."""
    from pipelines.real_sizes import MissingConfig, preset_footprint

    out = []
    for task, name, weight in MIX:
        try:
            preset_footprint(load_presets(task)[name])
        except MissingConfig as e:
            print(f"left out: {e}")
            continue
        out.append((task, name, weight))
    return out


def workload(n: int, seed: int) -> list[Request]:
    """`n` requests in bursts of 1-4 on one preset, presets drawn by weight (deterministic)."""
    rng = random.Random(seed)
    mix = available_mix()
    items = {(t, p): sized(t, p) for t, p, _ in mix}
    detector = sized(*DETECTOR)
    out: list[Request] = []
    while len(out) < n:
        task, name, _ = rng.choices(mix, weights=[w for *_, w in mix])[0]
        preset = load_presets(task)[name]
        preview = sized("preview_decoder", preset.preview) if preset.preview else None
        out += [Request(items[(task, name)], preview, detector)] * rng.randint(1, 4)
    return out[:n]


def resident(item: Item, budget: int) -> int:
    """What the item keeps on a device of `budget` bytes (offloaded when it does not fit)."""
    from pipelines.real_sizes import placement

    return placement(load_presets(item.key[0])[item.key[1]], budget).resident


def replay(requests: list[Request], budget: int) -> tuple[Counter, int]:
    """(loads per key, bytes read) of the studio's PipelineCache over the requests."""
    from pipelines.cache import PipelineCache

    charge = {i.key: resident(i, budget) for r in requests for i in (r.model, r.preview, r.detector) if i}
    cache = PipelineCache(budget, size_of=lambda item: charge[item.key])
    loads: Counter = Counter()
    read = 0

    def use(item: Item):
        def load() -> Item:
            nonlocal read
            read += item.nbytes
            loads[item.key] += 1
            return item
        return cache.lease(item.key, load, expected_bytes=charge[item.key])

    for r in requests:
        with use(r.model):          # held while the denoiser runs and previews decode
            if r.preview:
                with use(r.preview):
                    pass
        with use(r.detector):       # publish: the detector scores the result
            pass
    assert cache.stats.loads == sum(loads.values())
    return loads, read


def accesses(requests: list[Request]) -> list[tuple[Item, set]]:
    """Each cache access in order, with the keys held at that moment (as `replay` holds them):
    the model while its preview decoder loads; the detector alone, after the model is released."""
    out = []
    for r in requests:
        out.append((r.model, {r.model.key}))
        if r.preview:
            out.append((r.preview, {r.model.key, r.preview.key}))
        out.append((r.detector, {r.detector.key}))
    return out


def belady(requests: list[Request], budget: int, spare: bool = False) -> tuple[Counter, int]:
    """(loads per key, bytes read) of a cache that knows the future, under the same charges: on a
    miss it evicts the unheld entries needed farthest ahead until the new one fits. With `spare`
    (the size-aware reference) it then gives back every victim whose bytes the room does not
    need, the one needed soonest first, as the studio's cache gives back its LRU victims."""
    seq = accesses(requests)
    charge = {item.key: resident(item, budget) for item, _ in seq}
    next_use: list[int] = [0] * len(seq)
    seen: dict = {}
    for pos in range(len(seq) - 1, -1, -1):
        next_use[pos] = seen.get(seq[pos][0].key, 10**9)
        seen[seq[pos][0].key] = pos
    held: dict = {}                 # key -> position of its next use
    loads: Counter = Counter()
    read = 0
    for pos, (item, in_flight) in enumerate(seq):
        if item.key not in held:
            loads[item.key] += 1
            read += item.nbytes
            over = sum(charge[k] for k in held) + charge[item.key] - budget
            victims = sorted((k for k in held if k not in in_flight), key=held.get, reverse=True)
            chosen, freed = [], 0
            for k in victims:
                if freed >= over:
                    break
                chosen.append(k)
                freed += charge[k]
            for k in sorted(chosen, key=held.get) if spare else []:
                if freed - charge[k] >= over:
                    chosen.remove(k)
                    freed -= charge[k]
            for k in chosen:
                del held[k]
        held[item.key] = next_use[pos]
    return loads, read


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budgets", default="16,24,48,80", help="GB (2**30 bytes, as model_cache_gb)")
    ap.add_argument("--disk-gbps", type=float, default=2.0, help="read speed that turns GB read into load time")
    args = ap.parse_args()
    requests = workload(args.requests, args.seed)
    rows, over, over_sized = [], {}, {}
    for gb in (float(b) for b in args.budgets.split(",")):
        budget = int(gb * GIB)
        loads, read = replay(requests, budget)
        ideal, ideal_read = belady(requests, budget)
        sized_ideal, sized_read = belady(requests, budget, spare=True)
        reloads, ideal_reloads = sum(loads.values()) - len(loads), sum(ideal.values()) - len(ideal)
        sized_reloads = sum(sized_ideal.values()) - len(sized_ideal)
        over[gb], over_sized[gb] = reloads - ideal_reloads, reloads - sized_reloads
        worst = ", ".join(f"{k[1]} {n - 1} ({ideal[k] - 1})" for k, n in loads.most_common(4) if n > 1)
        rows.append([f"{gb:g} GB", reloads, ideal_reloads, over[gb], sized_reloads, f"{read / GIB:.0f}",
                     f"{ideal_read / GIB:.0f}", f"{sized_read / GIB:.0f}", f"{read / GIB / args.disk_gbps:.0f} s", worst])
    print(f"{args.requests} requests over {len({r.model.key for r in requests})} presets "
          f"(seed {args.seed}; each: model + preview decoder + detector)")
    print(table(rows, ["budget", "reloads", "ideal reloads", "over ideal", "size-aware ideal", "GB read",
                       "ideal GB read", "size-aware GB read", f"load time at {args.disk_gbps:g} GB/s",
                       "most reloaded: reloads (ideal)"]))
    print("ideal: Belady (evict what is needed farthest ahead until the new entry fits); size-aware ideal: "
          "Belady, then every victim the room does not need given back. Negative: fewer than the reference.")
    print(f"reloads_over_size_aware_ideal={over_sized.get(24.0, 'n/a')}")
    print(f"reloads_over_ideal={over.get(24.0, 'n/a')}")


if __name__ == "__main__":
    main()
