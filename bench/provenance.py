"""What provenance costs per output: milliseconds and bytes added by watermarking + signing,
and what the audio watermark survives.

Builds its media synthetically (no models): a 512 px PNG, a 4 s 512 px MP4 with a sound track
and a 30 s WAV. For each it times the encoding alone (what any export costs) and the whole
`Publisher.publish` (finish, watermark, detect, sign, read back, ledger), and reports the
difference. Goals: under 100 ms and under 50 KB for the PNG.

The audio watermark table (printed first) gives the
bit accuracy of the id after each attack (MP3 128 kbit/s through the bundled ffmpeg, resampling
to 44.1 and 22.05 kHz, the first second cut, -6 dB) on music-like sound, noise and espeak-ng
speech, the mark's SNR against the host, and whether unmarked sound reads as marked.

Last, `studio verify` as a user runs it (a fresh `python -m studio.cli verify` process) on signed
512 px PNGs, with and without `--detect`: one file and all N files in one run each, so start-up
(Python, imports, the detector's model) and the seconds per further file are told apart. The
final line gives both.

    python bench/provenance.py [--repeat 5] [--fps 8] [--audio-only] [--seconds 8] [--verify-files 20]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.media import AudioArtifact, ImageArtifact, VideoArtifact  # noqa: E402
from provenance import audio_watermark, encode, watermark  # noqa: E402
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


def _notes(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Music-like sound: decaying harmonic notes, four a second (each rings for 2 s)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    y = 0.01 * rng.standard_normal(n)
    ring = np.arange(2 * rate) / rate
    for k in range(int(seconds * 4)):
        f0, start = 110 * 2 ** (rng.integers(0, 24) / 12), int(k * 0.25 * rate)
        note = np.exp(-ring * 3) * sum(np.sin(2 * np.pi * f0 * h * ring) / h for h in range(1, 6))
        y[start:start + len(ring)] += note[:n - start]
    return (0.3 * y / np.abs(y).max()).astype(np.float32)[None]


# ----- the audio watermark: bit accuracy after attacks ---------------------------------------

def _mp3_128k(x: np.ndarray, rate: int, kbps: int = 128) -> tuple[np.ndarray, int]:
    """Encode as MP3 at 128 kbit/s with imageio-ffmpeg's bundled ffmpeg, decode again."""
    import imageio_ffmpeg
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        wav, mp3 = Path(tmp) / "in.wav", Path(tmp) / "out.mp3"
        sf.write(wav, np.clip(x, -1, 1).T, rate, subtype="PCM_16")
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(wav), "-b:a", f"{kbps}k",
                        str(mp3)], check=True)
        data, out_rate = sf.read(mp3, dtype="float32", always_2d=True)
    return data.T, out_rate


def _resampled(x: np.ndarray, rate: int, new_rate: int) -> tuple[np.ndarray, int]:
    from scipy import signal

    g = np.gcd(rate, new_rate)
    return signal.resample_poly(x, new_rate // g, rate // g, axis=-1), new_rate


AUDIO_ATTACKS = {
    "none": lambda x, r: (x, r),
    "MP3 128k": _mp3_128k,
    "44.1 kHz": lambda x, r: _resampled(x, r, 44100),
    "22.05 kHz": lambda x, r: _resampled(x, r, 22050),
    "first 1 s cut": lambda x, r: (x[:, r:], r),
    "-6 dB": lambda x, r: (0.5 * x, r),
    "cut + MP3": lambda x, r: _mp3_128k(x[:, r:], r),
    # Beyond what it is built for, to show where it stops:
    "MP3 64k": lambda x, r: _mp3_128k(x, r, 64),
    "noise at 20 dB SNR": lambda x, r: (x + np.random.default_rng(3).standard_normal(x.shape) * np.sqrt(
        np.mean(x ** 2) / 100), r),
    "lowpass 3.4 kHz": lambda x, r: _lowpass(x, r, 3400),
    "speed +2 %": lambda x, r: (_resampled(x, r * 50 // 51 * 51 // 50, r * 50 // 51)[0], r),
}


def _lowpass(x: np.ndarray, rate: int, hz: float) -> tuple[np.ndarray, int]:
    from scipy import signal

    return signal.sosfiltfilt(signal.butter(8, hz, fs=rate, output="sos"), x, axis=-1), rate


def _espeak(seconds: float) -> tuple[np.ndarray, int] | None:
    """espeak-ng speech (22.05 kHz), about `seconds` long, or None without espeak-ng."""
    import soundfile as sf

    if shutil.which("espeak-ng") is None:
        return None
    words = ("Every file that leaves the studio is signed, and the sound now carries a quiet mark as well, "
             "which a reader can find again after compression, resampling or a cut. ") * 4
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(path), words], check=True)
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    return data.T[:, :int(seconds * rate)], rate


def _sine(seconds: float, rate: int) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 1000 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)[None]


def audio_hosts(seconds: float) -> dict[str, tuple[np.ndarray, int]]:
    """The sounds the audio watermark is measured on."""
    hosts = {"music-like, 32 kHz": (_notes(seconds, 32000, seed=1), 32000),
             "white noise, 16 kHz": ((0.1 * np.random.default_rng(2).standard_normal((1, int(seconds * 16000))))
                                     .astype(np.float32), 16000)}
    speech = _espeak(seconds)
    if speech is not None:
        hosts["espeak-ng speech, 22.05 kHz"] = speech
    return hosts


def _accuracy(bits: np.ndarray | None, watermark_id: str) -> float:
    if bits is None:
        return 0.0
    return float(np.mean(bits == np.unpackbits(np.frombuffer(bytes.fromhex(watermark_id), np.uint8))))


def print_audio_table(seconds: float, ids: int = 3) -> None:
    """Per host and attack: mean bit accuracy over `ids` random ids and how many were read
    exactly (found with a wrong id counted apart); the mark's SNR; what unmarked sound reads as."""
    print(f"Audio watermark ({audio_watermark.SCHEME}): mean bit accuracy of the 48-bit id after each attack "
          f"over {ids} ids, and ids read exactly ({seconds:g} s hosts; CPU ms per second of sound)")
    print("| host | SNR dB | embed ms/s | read ms/s | " + " | ".join(AUDIO_ATTACKS) + " | unmarked / after MP3 |")
    print("|---|---:|---:|---:|" + "---|" * len(AUDIO_ATTACKS) + "---|")
    for name, (host, rate) in audio_hosts(seconds).items():
        acc = {a: [] for a in AUDIO_ATTACKS}
        exact = {a: 0 for a in AUDIO_ATTACKS}
        wrong = {a: 0 for a in AUDIO_ATTACKS}
        embed_s = read_s = snr = 0.0
        for _ in range(ids):
            wm_id = audio_watermark.new_watermark_id()
            c0 = time.process_time()
            marked = audio_watermark.embed(host, rate, wm_id)
            embed_s += time.process_time() - c0
            snr += audio_watermark.mark_snr_db(host, marked) / ids
            for label, attack in AUDIO_ATTACKS.items():
                x, r = attack(marked, rate)
                bits, _ = audio_watermark.decode_bits(x, r)
                c0 = time.process_time()
                found = audio_watermark.read(x, r).watermark_id
                read_s += time.process_time() - c0
                acc[label].append(_accuracy(bits, wm_id))
                exact[label] += found == wm_id
                wrong[label] += found is not None and found != wm_id
        cells = [f"{np.mean(acc[a]):.3f} {exact[a]}/{ids}" + (f" ({wrong[a]} wrong)" if wrong[a] else "")
                 for a in AUDIO_ATTACKS]
        unmarked = [audio_watermark.read(x, r) for x, r in ((host, rate), _mp3_128k(host, rate))]
        false = " / ".join(f"{'FOUND' if u.found else 'no'} ({u.confidence:.2f})" for u in unmarked)
        per_s = 1000 / (host.shape[1] / rate)
        print(f"| {name} | {snr:.1f} | {embed_s * per_s / ids:.0f} | {read_s * per_s / ids / len(AUDIO_ATTACKS):.0f} | "
              + " | ".join(cells) + f" | {false} |")
    for name, sound, rate in (("1 kHz sine, 24 kHz", _sine(seconds, 24000), 24000),
                              ("silence, 16 kHz", np.zeros((1, int(seconds * 16000)), np.float32), 16000)):
        u = audio_watermark.read(sound, rate)
        print(f"| {name} (unmarked only) | | | | " + " | ".join("" for _ in AUDIO_ATTACKS)
              + f" | {'FOUND' if u.found else 'no'} ({u.confidence:.2f}) |")
    print()


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

    # Harmonic notes rather than a low tone, so that the sound can carry the audio watermark.
    speech = _notes(30.0, 44100)
    audio = AudioArtifact(speech, 44100, {**PARAMS, "duration_s": 30.0})
    rows.append(_bench("30 s WAV (44.1 kHz mono)", pub, audio,
                       lambda p: encode.write_audio(speech, 44100, "wav", p),
                       lambda: audio_watermark.embed(speech, 44100, wm_id), repeat, tmp))
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


# ----- `studio verify`: start-up and seconds per file ----------------------------------------

def signed_pngs(data_dir: Path, count: int) -> list[Path]:
    """`count` different 512 px PNGs, published (watermarked, signed, in the ledger) with the
    configuration `studio --data-dir data_dir` reads, so verify finds their ledger records."""
    from studio.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    pub = Publisher(PublishConfig.from_env(settings.data_dir, **settings.publish_overrides()))
    out = []
    for i in range(count):
        image = Image.fromarray(_picture(512, 512, seed=100 + i))
        art = ImageArtifact(image, {**PARAMS, "seed": i, "width": 512, "height": 512})
        out.append(pub.publish(art, task="bench", session_id="bench-verify")[0].path)
    return out


def _verify_run(data_dir: Path, files: list[Path], detect: bool) -> tuple[float, float]:
    """(wall s, CPU s of the child) of one `studio verify` process over `files`."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    cmd = [sys.executable, "-m", "studio.cli", "--data-dir", str(data_dir), "verify", *map(str, files)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    done = subprocess.run(cmd + (["--detect"] if detect else []), cwd=Path(__file__).resolve().parents[1], env=env,
                          capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or len(lines) != len(files):
        raise RuntimeError(f"studio verify failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@dataclass
class VerifyCost:
    """Seconds of one `studio verify` process: its start-up, and each file after the first."""

    detect: bool
    files: int
    startup_wall: float
    per_file_wall: float
    startup_cpu: float
    per_file_cpu: float


def verify_cost(data_dir: Path, files: list[Path], detect: bool, repeat: int) -> VerifyCost:
    """Time one file and all `files` (medians of `repeat` runs, back to back); the difference
    over the extra files is the cost per file, the rest of the one-file run is start-up."""
    if detect:
        _verify_run(data_dir, files[:1], True)  # builds the tiny detector on first use: not timed
    one = [_verify_run(data_dir, files[:1], detect) for _ in range(repeat)]
    every = [_verify_run(data_dir, files, detect) for _ in range(repeat)]
    med = lambda runs, k: statistics.median(r[k] for r in runs)  # noqa: E731
    per_wall = (med(every, 0) - med(one, 0)) / (len(files) - 1)
    per_cpu = (med(every, 1) - med(one, 1)) / (len(files) - 1)
    return VerifyCost(detect, len(files), med(one, 0) - per_wall, per_wall, med(one, 1) - per_cpu, per_cpu)


def print_verify(costs: list[VerifyCost]) -> None:
    """The table, then the final line of the bench."""
    print(f"`studio verify` on signed 512 px PNGs (fresh process per run; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores)")
    print("| run | files | start-up wall s | per file wall s | start-up CPU s | per file CPU s |")
    print("|---|---:|---:|---:|---:|---:|")
    for c in costs:
        print(f"| {'--detect' if c.detect else 'credentials + watermark'} | {c.files} | {c.startup_wall:.2f} | "
              f"{c.per_file_wall:.3f} | {c.startup_cpu:.2f} | {c.per_file_cpu:.3f} |")
    plain, detect = costs
    cost = lambda c: (f"start-up {c.startup_cpu:.2f} s CPU ({c.startup_wall:.2f} s wall), "  # noqa: E731
                      f"{c.per_file_cpu:.3f} s CPU ({c.per_file_wall:.3f} s wall) per file")
    print(f"studio verify: {cost(plain)}; with --detect: {cost(detect)} ({plain.files} files, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def run_verify(count: int, repeat: int) -> list[VerifyCost]:
    """Sign `count` PNGs in a fresh data folder and time `studio verify` on them, then with --detect."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-verify-")) / "data"
    files = signed_pngs(data_dir, count)
    return [verify_cost(data_dir, files, detect, repeat) for detect in (False, True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (the median is shown)")
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate of the 4 s video")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each audio watermark host")
    parser.add_argument("--ids", type=int, default=3, help="random ids per audio host")
    parser.add_argument("--audio-only", action="store_true", help="only the audio watermark table")
    parser.add_argument("--verify-files", type=int, default=20, help="signed files `studio verify` reads (at least 2)")
    parser.add_argument("--verify-repeat", type=int, default=2, help="runs per `studio verify` measurement")
    parser.add_argument("--verify-only", action="store_true", help="only the `studio verify` timings")
    args = parser.parse_args()
    if not args.verify_only:
        print_audio_table(args.seconds, args.ids)
    if not (args.audio_only or args.verify_only):
        print_table(run(args.repeat, args.fps))
        print()
    if not args.audio_only:
        print_verify(run_verify(max(2, args.verify_files), args.verify_repeat))


if __name__ == "__main__":
    main()
