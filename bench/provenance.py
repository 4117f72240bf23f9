"""What provenance costs per output: milliseconds and bytes added by watermarking + signing.

Builds its media synthetically (no models): a 512 px PNG, a 4 s 512 px MP4 with a sound track
and a 30 s WAV. For each it times the encoding alone (what any export costs) and the whole
`Publisher.publish` (finish, watermark, detect, sign, read back, ledger), and reports the
difference. Goals: under 100 ms and under 50 KB for the PNG.

    python bench/provenance.py [--repeat 5] [--fps 8]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.media import AudioArtifact, ImageArtifact, VideoArtifact  # noqa: E402
from provenance import encode, watermark  # noqa: E402
from provenance.publish import Publisher, PublishConfig  # noqa: E402

PARAMS = {"model": "bench", "model_id": "bench/synthetic", "revision": "0", "license": "apache-2.0",
          "seed": 0, "steps": 20, "guidance": 7.5, "scheduler": "DDIMScheduler",
          "prompt": "a synthetic benchmark picture of rolling hills at dawn"}


@dataclass
class Row:
    """One output kind: the baseline encoding and what provenance adds to it.

    Times are CPU milliseconds of this process (steady on a shared machine) unless named
    wall; each is the median over runs of (publish - encode alone) measured back to back.
    """

    name: str
    encode_ms: float
    watermark_ms: float
    added_ms: float
    added_wall_ms: float
    plain_bytes: int
    published_bytes: int
    goal_ms: float | None = None
    goal_bytes: int | None = None

    @property
    def added_bytes(self) -> int:
        return self.published_bytes - self.plain_bytes

    @property
    def sign_ms(self) -> float:
        return self.added_ms - self.watermark_ms


def share_of_generation(row: Row, generation_time_s: float) -> float:
    """Provenance's share (percent) of one generation that took `generation_time_s` seconds
    (for instance a tiny-tier text-to-image run), counting publish's added time only."""
    return 100.0 * (row.added_ms / 1000.0) / (generation_time_s + row.added_ms / 1000.0)


def _picture(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([128 + 60 * np.sin(x / (23.0 + 5 * c)) + 40 * np.cos(y / (17.0 + 3 * c)) for c in range(3)], -1)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)[None]


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _bench(name: str, pub: Publisher, artifact, encode_plain, wm_fn, repeat: int, tmp: Path, **goals) -> Row:
    """Run encode-alone, watermark-alone and publish back to back `repeat` times."""
    plain = tmp / f"plain-{name.split()[0]}"
    encode_cpu, wm_cpu, added_cpu, added_wall, outs = [], [], [], [], []
    for _ in range(repeat):
        w0, c0 = _clock()
        encode_plain(plain)
        w1, c1 = _clock()
        if wm_fn:
            wm_fn()
        w2, c2 = _clock()
        outs.append(pub.publish(artifact, task="bench", session_id="bench")[0])
        w3, c3 = _clock()
        encode_cpu.append(c1 - c0)
        wm_cpu.append(c2 - c1)
        added_cpu.append((c3 - c2) - (c1 - c0))
        added_wall.append((w3 - w2) - (w1 - w0))
    ms = lambda values: 1000 * statistics.median(values)  # noqa: E731
    return Row(name, ms(encode_cpu), ms(wm_cpu), ms(added_cpu), ms(added_wall), plain.stat().st_size,
               outs[-1].path.stat().st_size, **goals)


def run(repeat: int, fps: float) -> list[Row]:
    """Measure every output kind; returns the rows of the table."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-provenance-"))
    pub = Publisher(PublishConfig(data_dir=tmp / "data", audio_formats=("wav",)))
    thumb_pub = Publisher(PublishConfig(data_dir=tmp / "data", thumbnail=True))
    rows = []

    image = Image.fromarray(_picture(512, 512))
    art = ImageArtifact(image, {**PARAMS, "width": 512, "height": 512})
    wm_id = watermark.new_watermark_id()
    png = lambda p: encode.write_image(image, "png", p)  # noqa: E731
    rows.append(_bench("512 px PNG", pub, art, png, lambda: watermark.embed(np.asarray(image), wm_id),
                       repeat, tmp, goal_ms=100, goal_bytes=50_000))
    rows.append(_bench("512 px PNG, thumbnail on", thumb_pub, art, png, None, max(1, repeat // 2), tmp))

    frames = [np.roll(_picture(512, 512, seed=1), 4 * i, axis=1) for i in range(int(4 * fps))]
    sound = _tone(4.0, 44100)
    video = VideoArtifact(frames, fps, {**PARAMS, "num_frames": len(frames)}, audio=AudioArtifact(sound, 44100, {}))
    rows.append(_bench(f"4 s 512 px MP4 ({fps:g} fps, AAC)", pub, video,
                       lambda p: encode.write_video(iter(frames), fps, p, size=(512, 512), audio=sound,
                                                                audio_rate=44100),
                       lambda: [watermark.embed(f, wm_id) for f in frames], max(1, repeat // 2), tmp))

    speech = _tone(30.0, 44100)
    audio = AudioArtifact(speech, 44100, {**PARAMS, "duration_s": 30.0})
    rows.append(_bench("30 s WAV (44.1 kHz mono)", pub, audio,
                       lambda p: encode.write_audio(speech, 44100, "wav", p), None, repeat, tmp))
    return rows


def print_table(rows: list[Row]) -> None:
    """Print the rows as a Markdown table."""
    print(f"CPU ms of this process (median of back-to-back runs); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores, which inflates the wall-clock column")
    print("| output | encode alone ms | watermark ms | sign+record ms | added ms | added wall ms | added bytes "
          "| file bytes | goal |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        goal = ""
        if r.goal_ms is not None:
            ok = r.added_ms < r.goal_ms and r.added_bytes < r.goal_bytes
            goal = f"< {r.goal_ms:g} ms, < {r.goal_bytes // 1000} KB: {'met' if ok else 'MISSED'}"
        print(f"| {r.name} | {r.encode_ms:.1f} | {r.watermark_ms:.1f} | {r.sign_ms:.1f} | {r.added_ms:.1f} "
              f"| {r.added_wall_ms:.1f} | {r.added_bytes:,} | {r.published_bytes:,} | {goal} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (the median is shown)")
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate of the 4 s video")
    args = parser.parse_args()
    print_table(run(args.repeat, args.fps))


if __name__ == "__main__":
    main()
