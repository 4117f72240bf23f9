"""Library search latency at 1,000 and 10,000 items, and tagging's cost per image against a generation.

Synthetic gallery rows (varied prompts, tasks, models, dates, tags) go in through the real index
code (GalleryStore rows, Library._insert, Library.set_tags); one visitor holds all of them (the worst
case: the whole library in one session) and another visitor as many again (rows the query must skip).
Each query is the Library.search a tab or API call makes: a page of 24 with its total, catching up
and board refresh included. Queries mix: everything newest first, one common word, two words, a
phrase, a prefix, filters (kind, task, date), relevance sort and a deep page.

Tagging (with --tagging): the tiny captioner, CLIP tagger and CLAP sound tagger through the
production loader (the presets the library's LibraryTagger picks), on one published tiny image and
one tiny voice, against one tiny text-to-image generation in the same run, interleaved (tiny twins:
the ratio says how the work is shaped, not what real models cost).

usage: python bench/library.py [--queries 200] [--tagging]
Prints wall and CPU time per query (CPU time is the query's own cost on shared cores); with
--tagging `tagging_ms_per_image=<x>` and `tagging_share_of_generation=<x>`; ends with
`search_p95_cpu_ms_10k=<x>` then `search_p95_ms_10k=<x>` (wall).
"""
from __future__ import annotations

import argparse
import os
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


def latencies(library: Library, session: str, queries: int) -> tuple[list[float], list[float]]:
    """(wall ms, this process's CPU ms) per query. SQLite runs in this process, so CPU time is the
    query's own cost; wall time also holds whatever else the shared cores were doing."""
    wall, cpu = [], []
    for i in range(queries):
        text, kw = QUERIES[i % len(QUERIES)]
        kw = dict(kw)
        sort, page = kw.pop("sort", "newest"), kw.pop("page", 0)
        t0, c0 = time.perf_counter(), time.process_time()
        library.search(session, text, Filters(**kw), sort=sort, page=page)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def search_bench(queries: int) -> tuple[float, float]:
    """(wall p95, CPU p95) in ms at 10,000 items; prints the table for both sizes."""
    rng = random.Random(0)
    rows, at_10k = [], (0.0, 0.0)
    for size in (1_000, 10_000):
        with tempfile.TemporaryDirectory() as tmp:
            library = Library(GalleryStore(Path(tmp) / "studio.sqlite3"))
            fill(library, Path(tmp), "visitor", size, rng)
            fill(library, Path(tmp), "other", size, rng)
            latencies(library, "visitor", len(QUERIES))   # warm the page cache
            wall, cpu = latencies(library, "visitor", queries)
            rows.append((f"{size:,}", *(f"{v:.1f}" for v in (pct(wall, 50), pct(wall, 95), max(wall),
                                                           pct(cpu, 50), pct(cpu, 95)))))
            if size == 10_000:
                at_10k = (pct(wall, 95), pct(cpu, 95))
    print(f"search latency ({queries} queries, a page of 24 with its total; ms; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    for row in [("items", "wall p50", "wall p95", "wall max", "CPU p50", "CPU p95"), *rows]:
        print("  " + " ".join(f"{v:>9}" for v in row))
    return at_10k


def tagging_bench(reps: int = 5) -> tuple[float, float]:
    """Tiny captioner, CLIP tagger and CLAP tagger against one tiny generation, interleaved, medians;
    returns (tagging ms per image, its share of one generation's time)."""
    from pipelines.progress import NO_PROGRESS
    from pipelines.runner import execute
    from pipelines.speech import Request as SpeechRequest
    from pipelines.tagging import Request
    from pipelines.text_to_image import Request as ImageRequest
    from studio.library_tagging import LibraryTagger, first_picture, first_sound
    from studio.service import Studio
    from studio.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        studio = Studio(load_settings(env={}, data_dir=tmp, dtype="fp32", library_tagging=False))
        tagger = LibraryTagger(studio, start=False)
        request = ImageRequest(prompt="a red fox in the snow", model="tiny-sd15", seed=1, steps=4, width=64, height=64)
        image = studio.produce("text_to_image", request, session_id="bench").items[0]
        voice = studio.produce("speech", SpeechRequest(text="The tide is turning.", model="tiny-vits", seed=3),
                               session_id="bench").items[0]
        picture, sound = first_picture(image), first_sound(voice)
        tag = lambda **kw: execute(studio.models, "tagging", Request(**kw))  # noqa: E731
        steps = {"generation": lambda: studio.backend.execute("text_to_image", request, NO_PROGRESS),
                 "caption": lambda: tag(images=[picture], model=tagger.captioner),
                 "tags": lambda: tag(images=[picture], model=tagger.tagger),
                 "sound": lambda: tag(sounds=[sound], model=tagger.sound_tagger)}
        for step in steps.values():   # builds and loads every tiny model once
            step()
        times = {name: [] for name in steps}
        for _ in range(reps):
            for name, step in steps.items():
                t0 = time.perf_counter()
                step()
                times[name].append((time.perf_counter() - t0) * 1000)
        studio.close()
    ms = {name: statistics.median(values) for name, values in times.items()}
    image_ms, g = ms["caption"] + ms["tags"], ms["generation"]
    print(f"tagging (tiny twins, medians of {reps}, load average {os.getloadavg()[0]:.1f}): one image "
          f"{image_ms:.0f} ms (BLIP caption {ms['caption']:.0f} + CLIP tags over {len(_vocabulary())} words "
          f"{ms['tags']:.0f}); one sound "
          f"(CLAP, 48 kHz) {ms['sound']:.0f} ms; one tiny generation (4 steps, 64 px, unpublished) {g:.0f} ms")
    print(f"  share of a generation's time: image {image_ms / g:.0%}, sound {ms['sound'] / g:.0%}; a visitor who "
          f"arrives mid-item waits one model call at most ({max(ms['caption'], ms['tags'], ms['sound']):.0f} ms)")
    return image_ms, image_ms / g


def _vocabulary() -> list[str]:
    from pipelines.tagging import default_vocabulary

    return default_vocabulary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--tagging", action="store_true", help="also time the tiny tagger against a generation")
    args = parser.parse_args()
    p95, cpu_p95 = search_bench(args.queries)
    if args.tagging:
        image_ms, share = tagging_bench()
        print(f"tagging_ms_per_image={image_ms:.0f}")
        print(f"tagging_share_of_generation={share:.2f}")
    print(f"search_p95_cpu_ms_10k={cpu_p95:.1f}")
    print(f"search_p95_ms_10k={p95:.1f}")


if __name__ == "__main__":
    main()
