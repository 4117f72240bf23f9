"""A bounded loopback soak: does a shared demo stay flat in memory and disk over many calls?

N calls (default 1,000) across every tab's endpoints (tiny tier) from V simulated visitors (default
20), each its own gradio_client, against a studio on 127.0.0.1: one this script starts in a child
process with a fresh data folder, or one already running (--url, with --pid, --data-dir and
--cache-dir so it can be read). An outside reader samples the server process every --every calls
(default 50): its RSS and open files from /proc, the files in Gradio's cache, the data folder's
size. It prints the samples, the growth from call 100 to the end, and ends with the line

    rss_growth_pct=<x> disk_growth_mb=<y> cache_files=<n>

usage: python bench/soak.py [--calls 1000] [--visitors 20] [--every 50] [--mix all|fast]
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 100   # growth is counted from this call on: models load and caches fill before it


# ---- the outside reader ------------------------------------------------------------------------

def folder(path: Path, only: set[str] | None = None) -> tuple[int, int]:
    """(files, bytes) under `path` (only files named in `only`, if given); 0, 0 when it does not exist."""
    files = size = 0
    for root, _, names in os.walk(path):
        for name in names:
            if only is not None and name not in only:
                continue
            try:
                size += os.lstat(os.path.join(root, name)).st_size
                files += 1
            except FileNotFoundError:  # deleted while we walked
                pass
    return files, size


@dataclass
class Reader:
    """Reads a server process from outside: /proc for memory and files, the disk for its folders."""

    pid: int
    data_dir: Path
    cache_dir: Path
    samples: list[dict] = field(default_factory=list)
    # Count only cache files with these names (a cache shared with other servers); None: all of them.
    cache_names: Callable[[], set[str]] | None = None

    def sample(self, calls: int) -> dict:
        with open(f"/proc/{self.pid}/status") as f:
            rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        names = self.cache_names() if self.cache_names is not None else None
        cache_files, _ = folder(self.cache_dir, names)
        _, data_bytes = folder(self.data_dir)
        row = dict(calls=calls, rss_mb=round(rss_kb / 1024, 1), open_files=len(os.listdir(f"/proc/{self.pid}/fd")),
                   cache_files=cache_files, data_mb=round(data_bytes / 2**20, 2))
        self.samples.append(row)
        return row

    def growth(self) -> dict:
        """From the sample at call WARM_UP (or the first one) to the last."""
        start = next((s for s in self.samples if s["calls"] >= WARM_UP), self.samples[0])
        end = self.samples[-1]
        return dict(start_calls=start["calls"], end_calls=end["calls"],
                    rss_growth_pct=round(100 * (end["rss_mb"] - start["rss_mb"]) / start["rss_mb"], 2),
                    disk_growth_mb=round(end["data_mb"] - start["data_mb"], 2),
                    open_files_growth=end["open_files"] - start["open_files"],
                    cache_files_growth=end["cache_files"] - start["cache_files"], cache_files=end["cache_files"])


# ---- the calls ---------------------------------------------------------------------------------

def inputs(folder_: Path) -> dict[str, Path]:
    """The small files the calls upload: a picture, a fill mask for it."""
    from PIL import Image

    folder_.mkdir(parents=True, exist_ok=True)
    paths = {"image": folder_ / "picture.png", "mask": folder_ / "mask.png"}
    Image.radial_gradient("L").convert("RGB").resize((128, 128)).save(paths["image"])
    mask = Image.new("L", (128, 128), 0)
    mask.paste(255, (32, 32, 96, 96))
    mask.save(paths["mask"])
    return paths


def endpoints(files: dict[str, Path], mix: str = "all") -> list[tuple[str, dict]]:
    """(api name, keyword arguments) of one round over the tabs; "fast" keeps the cheapest (concept
    art, Verify, Detect, a storyboard, Cancel) for the in-suite soak."""
    from gradio_client import handle_file

    image, mask = str(files["image"]), str(files["mask"])
    fast = [
        ("/generate_image", dict(prompt="a lighthouse", negative_prompt="", model="tiny-sd15", steps=1, width=64,
                                 height=64)),
        ("/verify", dict(path=handle_file(image))),
        ("/detect", dict(path=handle_file(image))),
        ("/create_board", dict(script="- a red door\n- a blue window", title="", look="", seed=1, reference=None,
                               width=128, height=72, steps=1)),
        ("/cancel_image", {}),
    ]
    if mix == "fast":
        return fast
    return fast + [
        ("/fill_image", dict(upload=handle_file(image), source_id=None, editor_data=None,
                             mask_upload=handle_file(mask), mode="fill", prompt="a red kite", negative_prompt="",
                             steps=1, feather=0)),
        ("/generate_video", dict(mode="text", prompt="a paper boat", negative_prompt="", upload=None, still_id=None,
                                 steps=2, width=64, height=64, frames=9)),  # LTX fails at 1 step
        ("/speak", dict(text="Tea and/or coffee.", reference=None)),
        ("/generate_music", dict(prompt="lo-fi piano", melody=None, duration=1.0)),
        ("/generate_sound_effect", dict(prompt="rain on a roof", negative_prompt="", duration=1.0, steps=2)),
        ("/cancel_detect", {}),
    ]


class Soak:
    """V visitors share N calls (visitor v makes calls v, v+V, ...); the reader samples every `every`."""

    def __init__(self, url: str, reader: Reader, calls: int, visitors: int, every: int, plan: list[tuple[str, dict]],
                 on_sample=print):
        self.url, self.reader, self.calls, self.visitors, self.every = url, reader, calls, visitors, every
        self.plan, self.on_sample = plan, on_sample
        self.done = 0
        self.outcomes: Counter = Counter()
        self.errors: Counter = Counter()
        self.retries: Counter = Counter()  # calls sent again after a broken connection
        self._lock = threading.Lock()

    def run(self, deadline_s: float = 3600) -> None:
        from gradio_client import Client

        self.on_sample(self.reader.sample(0))
        deadline = time.time() + deadline_s
        # A long read timeout: twenty visitors take turns on one device, and uploads wait behind jobs.
        clients = [Client(self.url, verbose=False, httpx_kwargs={"timeout": 600}) for _ in range(self.visitors)]
        threads = [threading.Thread(target=self._visitor, args=(v, clients[v], deadline), daemon=True)
                   for v in range(self.visitors)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.reader.samples[-1]["calls"] != self.done:
            self.on_sample(self.reader.sample(self.done))

    def _visitor(self, v: int, client, deadline: float) -> None:
        for k in range(v, self.calls, self.visitors):
            if time.time() > deadline:
                return
            name, kwargs = self.plan[k % len(self.plan)]
            try:
                self._predict(client, name, kwargs)
                outcome = "ok"
            except Exception as e:  # noqa: BLE001 - a refusal is an outcome to count, not a reason to stop
                outcome = "error"
                with self._lock:
                    self.errors[f"{name}: {str(e).splitlines()[0][:120] if str(e) else type(e).__name__}"] += 1
            with self._lock:
                self.outcomes[(name, outcome)] += 1
                self.done += 1
                if self.done % self.every == 0:
                    self.on_sample(self.reader.sample(self.done))

    def _predict(self, client, name: str, kwargs: dict) -> None:
        """One call, sent again once when the connection broke under it (a kept-alive connection the
        server closed as the client reused it): what any HTTP client does; the retries are counted."""
        import httpx

        try:
            client.predict(api_name=name, **kwargs)
        except httpx.TransportError:
            with self._lock:
                self.retries[name] += 1
            client.predict(api_name=name, **kwargs)


# ---- the server ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, cache_dir: Path, visitors: int) -> tuple[subprocess.Popen, str]:
    """The studio in a child process (app.py) on a free loopback port, every visitor from 127.0.0.1."""
    port = free_port()
    env = dict(os.environ, STUDIO_DATA_DIR=str(data_dir), STUDIO_HOST="127.0.0.1", STUDIO_PORT=str(port),
               STUDIO_JOBS_PER_IP_MINUTE="0", STUDIO_JOBS_PER_MINUTE="100000", STUDIO_PREVIEW_EVERY="0",
               STUDIO_DTYPE="fp32", STUDIO_QUEUE_SIZE=str(max(64, 4 * visitors)), GRADIO_TEMP_DIR=str(cache_dir),
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    log = open(data_dir.parent / "server.log", "w")
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the studio exited at start; see {log.name}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, url
        except OSError:
            time.sleep(1)
    server.kill()
    raise RuntimeError("the studio did not start listening within 300 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--visitors", type=int, default=20)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--mix", choices=("all", "fast"), default="all")
    parser.add_argument("--url", help="a running studio (then --pid, --data-dir and --cache-dir say where to read)")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--deadline", type=float, default=3600, help="stop making calls after this many seconds")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    server = None
    if args.url:
        url, reader = args.url, Reader(args.pid, args.data_dir, args.cache_dir)
    else:
        data_dir, cache_dir = work / "data", work / "gradio-cache"
        data_dir.mkdir()
        server, url = start_server(data_dir, cache_dir, args.visitors)
        reader = Reader(server.pid, data_dir, cache_dir)
    print(f"soak: {args.calls} calls, {args.visitors} visitors, sampled every {args.every}, against {url}")
    header = "calls  rss_mb  open_files  cache_files  data_mb"
    print(header)
    soak = Soak(url, reader, args.calls, args.visitors, args.every, endpoints(inputs(work / "inputs"), args.mix),
                on_sample=lambda s: print(f"{s['calls']:5d}  {s['rss_mb']:6.1f}  {s['open_files']:10d}  "
                                          f"{s['cache_files']:11d}  {s['data_mb']:7.2f}", flush=True))
    t0 = time.time()
    try:
        soak.run(args.deadline)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
    print(f"\n{soak.done} calls in {time.time() - t0:.0f} s")
    for (name, outcome), n in sorted(soak.outcomes.items()):
        print(f"  {name:24s} {outcome:5s} {n}")
    if soak.retries:
        print(f"calls sent again after a broken connection: {dict(soak.retries)}")
    for message, n in soak.errors.most_common(10):
        print(f"  error x{n}: {message}")
    g = reader.growth()
    print(f"growth from call {g['start_calls']} to call {g['end_calls']}: RSS {g['rss_growth_pct']:+.2f} %, "
          f"data folder {g['disk_growth_mb']:+.2f} MB, open files {g['open_files_growth']:+d}, "
          f"cache files {g['cache_files_growth']:+d}")
    if server is not None:
        shutil.rmtree(work, ignore_errors=True)
    print(f"rss_growth_pct={g['rss_growth_pct']} disk_growth_mb={g['disk_growth_mb']} cache_files={g['cache_files']}")


if __name__ == "__main__":
    main()
