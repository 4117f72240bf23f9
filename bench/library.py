"""Library search latency at 1,000 and 10,000 items, and tagging's cost per image against a generation.

Synthetic gallery rows (varied prompts, tasks, models, dates, tags) go in through the real index
code (GalleryStore rows, Library._insert, Library.set_tags); one visitor holds all of them (the worst
case: the whole library in one session) and another visitor as many again (rows the query must skip).
Each query is the Library.search a tab or API call makes: a page of 24 with its total, catching up
and board refresh included. Queries mix: everything newest first, one common word, two words, a
phrase, a prefix, filters (kind, task, date), relevance sort and a deep page.

Tagging (with --tagging): the tiny captioner and CLIP tagger through the production loader, on one
published tiny image, against one tiny text-to-image generation in the same run (tiny twins: the ratio
says how the work is shaped, not what real models cost).

usage: python bench/library.py [--queries 200] [--tagging]
Ends with `search_p95_ms_10k=<x>`.
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from _common import table  # noqa: F401 - sets sys.path and the offline environment

from studio.gallery import GalleryItem, GalleryStore
from studio.library import Filters, Library

WORDS = ("red fox snow forest castle dawn dusk river mountain city neon rain portrait cat dog owl dragon ship "
         "ocean storm desert market robot garden lantern bridge tower knight violin drum choir whisper thunder "
         "日本語 キツネ Müller grün café").split()
TASKS = (("text_to_image", "image/png", "tiny-sd15"), ("music", "audio/flac", "tiny-musicgen"),
         ("sound_effects", "audio/wav", "tiny-stable-audio"), ("video", "video/mp4", "tiny-ltx"),
         ("speech", "audio/wav", "tiny-vits"))
QUERIES = [("", {}), ("fox", {}), ("red fox", {}), ('"neon rain"', {}), ("cas*", {}), ("dragon", {"kind": "image"}),
           ("storm", {"task": "music"}), ("", {"date_from": "2026-06-01", "date_to": "2026-06-30"}),
           ("owl", {"sort": "relevance"}), ("", {"page": 20}), ("日本語", {}), ("lantern bridge tower", {})]


def fill(library: Library, folder: Path, session: str, count: int, rng: random.Random) -> None:
    """`count` published-looking rows for `session`, each with a file, tags and a caption."""
    start = 1767225600 - 365 * 86400   # a year of history
    files = folder / session
    files.mkdir(parents=True, exist_ok=True)
    with library._connect() as db:
        for n in range(count):
            task, mime, model = rng.choice(TASKS)
            path = files / f"{n}.{mime.split('/')[1]}"
            path.write_bytes(b"x")
            item = GalleryItem(f"{session}-{n}", session, task, str(path), mime, f"{model} · seed {n}",
                               {"prompt": " ".join(rng.choices(WORDS, k=rng.randint(4, 14))), "model": model,
                                "license": rng.choice(("MIT", "Apache-2.0", "CreativeML OpenRAIL-M"))},
                               start + rng.random() * 365 * 86400)
            db.execute("INSERT INTO gallery VALUES (?,?,?,?,?,?,?,?)", (item.id, item.session_id, item.task,
                       item.path, item.mime, item.caption, __import__("json").dumps(item.params), item.created))
            library._insert(db, item, rng.choice(("", "likely generated", "likely real")))
    for n in range(0, count, 3):   # a third tagged, as the tagger leaves them
        library.set_tags(f"{session}-{n}", " ".join(rng.choices(WORDS, k=6)), rng.sample(WORDS, 5))


def latencies(library: Library, session: str, queries: int) -> list[float]:
    out = []
    for i in range(queries):
        text, kw = QUERIES[i % len(QUERIES)]
        kw = dict(kw)
        sort, page = kw.pop("sort", "newest"), kw.pop("page", 0)
        t0 = time.perf_counter()
        library.search(session, text, Filters(**kw), sort=sort, page=page)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def search_bench(queries: int) -> float:
    rng = random.Random(0)
    rows, p95_10k = [], 0.0
    for size in (1_000, 10_000):
        with tempfile.TemporaryDirectory() as tmp:
            library = Library(GalleryStore(Path(tmp) / "studio.sqlite3"))
            fill(library, Path(tmp), "visitor", size, rng)
            fill(library, Path(tmp), "other", size, rng)
            latencies(library, "visitor", len(QUERIES))   # warm the page cache
            ms = latencies(library, "visitor", queries)
            p50, p95 = pct(ms, 50), pct(ms, 95)
            rows.append((f"{size:,}", f"{p50:.1f}", f"{p95:.1f}", f"{max(ms):.1f}"))
            if size == 10_000:
                p95_10k = p95
    print(f"search latency ({queries} queries, a page of 24 with its total; ms)")
    for size, p50, p95, top in [("items", "p50", "p95", "max"), *rows]:
        print(f"  {size:>8} {p50:>7} {p95:>7} {top:>7}")
    return p95_10k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--tagging", action="store_true", help="also time the tiny tagger against a generation")
    args = parser.parse_args()
    p95 = search_bench(args.queries)
    if args.tagging:
        from tagging_cost import tagging_bench  # noqa: PLC0415 - only with --tagging

        tagging_bench()
    print(f"search_p95_ms_10k={p95:.1f}")


if __name__ == "__main__":
    main()
