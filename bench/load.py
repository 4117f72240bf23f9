"""N simulated visitors through gradio_client against a studio on loopback (tiny tier).

Each visitor is its own client (its own session) and asks for images with seeds only it uses,
so every image it gets back can be traced: a caption with another visitor's seed means one
visitor received another's output. Prints throughput, p50/p95 latency, per-visitor completions
(fairness: nobody starved), and the leak check. Traffic stays on 127.0.0.1; the run is bounded
by --requests per visitor and --timeout.

usage: python bench/load.py [--visitors 6] [--requests 3] [--jobs-per-device 1]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _common import table


def serve(jobs_per_device: int) -> tuple[str, object]:
    import socket

    from studio.service import Studio
    from studio.settings import load_settings
    from studio.ui import build_ui, launch_options

    studio = Studio(load_settings(env={}, data_dir=Path(tempfile.mkdtemp(prefix="bench-load-")),
                                  jobs_per_device=jobs_per_device, preview_every=0))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_ui(studio)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(studio))
    return f"http://127.0.0.1:{port}/", demo


def visitor(url: str, index: int, requests: int, deadline: float, out: dict) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    mine = {index * 1000 + k for k in range(requests)}
    latencies, leaks, done = [], 0, 0
    for k in range(requests):
        if time.time() > deadline:
            break
        t0 = time.perf_counter()
        gallery, _ = client.predict(f"visitor {index} request {k}", "", "none", "tiny-sd15", "fixed",
                                    index * 1000 + k, 2, 5.0, 256, 256, 1, "default", api_name="/generate_image")
        latencies.append(time.perf_counter() - t0)
        done += 1
        for entry in gallery:
            seed = int(entry["caption"].split("seed ")[1].split(" ")[0])
            leaks += seed not in mine
    out[index] = dict(latencies=latencies, leaks=leaks, done=done)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--visitors", type=int, default=6)
    ap.add_argument("--requests", type=int, default=3)
    ap.add_argument("--jobs-per-device", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()

    url, demo = serve(args.jobs_per_device)
    results: dict = {}
    deadline = time.time() + args.timeout
    t0 = time.perf_counter()
    threads = [threading.Thread(target=visitor, args=(url, i, args.requests, deadline, results))
               for i in range(args.visitors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    demo.close()

    latencies = sorted(x for r in results.values() for x in r["latencies"])
    done = [results[i]["done"] for i in sorted(results)]
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    rows = [[args.visitors, sum(done), f"{sum(done) / wall:.2f}", f"{statistics.median(latencies):.2f}", f"{p95:.2f}",
             f"{min(done)}-{max(done)} of {args.requests}", sum(r["leaks"] for r in results.values())]]
    print(table(rows, ["visitors", "images", "images/s", "p50 s", "p95 s", "per-visitor done", "leaked outputs"]))


if __name__ == "__main__":
    main()
