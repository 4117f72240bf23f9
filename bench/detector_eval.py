"""Calibrate the detector on your own labelled files: accuracy, ROC AUC, equal error rate,
the confusion matrix, and suggested thresholds for the preset's `detector` table.

    python bench/detector_eval.py FOLDER [--image-preset NAME] [--audio-preset NAME]
        [--mode classifier|combined] [--max-fpr 0.05] [--max-fnr 0.05] [--chunk 64]
        [--data-dir DIR] [--dtype fp32] [--json OUT] [--speed]

FOLDER holds `real/` and `generated/` (files at any depth below them). Images and videos are
scored by the image preset, audio by the audio preset, and each model gets its own report.
Files the detector cannot judge are counted and left out of the metrics. Files are scored a
chunk at a time, batched through the model.

--mode classifier (default) rates the classifier's score alone: that is what the thresholds
calibrate. --mode combined rates the studio's whole verdict: a file whose credentials or
watermark prove generation scores 1.0, the others their classifier score.

Suggested thresholds: `likely` is the lowest score at which at most --max-fpr of the real
files would be called "likely AI-generated"; `unsure_low` the highest score below which at
most --max-fnr of the generated files would be called "no sign of generation found". When
the two cross (a clean separation), they are swapped, so both limits hold and the "unsure"
band covers the gap.

--speed prints ratios measured in this process on the same loaded model: the detector's path
(decode + batched classify) against the raw transformers pipeline on already-decoded pictures,
and one file at a time against batched.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Iterable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provenance.detect_verdict import CREDENTIALS, LIKELY, NO_SIGN, UNSURE, WATERMARK  # noqa: E402

CLASSES = ("real", "generated")
AUDIO_SUFFIXES = {".wav", ".mp3", ".flac", ".m4a", ".ogg", ".aac"}


# ---------------------------------------------------------------- metrics (pure)

def equal_error_rate(labels: Iterable[int], scores: Iterable[float]) -> tuple[float, float]:
    """(EER, threshold): where the false-positive and false-negative rates are equal.

    scikit-learn gives the ROC points (roc_curve) but no EER; the crossing is found here by
    linear interpolation between the two ROC points around it, the usual definition.
    """
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(np.asarray(labels), np.asarray(scores, float), drop_intermediate=False)
    fnr = 1.0 - tpr
    gap = fnr - fpr  # falls from +1 (nothing flagged) to -1 (everything flagged)
    i = int(np.argmax(gap <= 0))
    if gap[i] == 0 or i == 0:
        return float(fpr[i]), float(min(thresholds[i], 1.0))
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    eer = (fpr[i - 1] + t * (fpr[i] - fpr[i - 1]) + fnr[i - 1] + t * (fnr[i] - fnr[i - 1])) / 2
    return float(eer), float(min(thresholds[i], 1.0))


def suggest_thresholds(labels: Iterable[int], scores: Iterable[float], max_fpr: float = 0.05,
                       max_fnr: float = 0.05) -> dict:
    """`likely` and `unsure_low` meeting the error limits (see the module docstring)."""
    y, s = np.asarray(labels, int), np.asarray(scores, float)
    real, gen = s[y == 0], s[y == 1]
    candidates = np.unique(np.concatenate([s, [min(1.0, np.nextafter(real.max(), np.inf))]]))
    fpr = np.array([(real >= t).mean() for t in candidates])
    likely = float(candidates[np.argmax(fpr <= max_fpr)])  # fpr falls as t rises: the first that fits
    fnr = np.array([(gen < t).mean() for t in candidates])
    unsure_low = float(candidates[np.nonzero(fnr <= max_fnr)[0].max()])
    if unsure_low > likely:
        likely, unsure_low = unsure_low, likely
    # Four decimals for the preset file, rounded the safe way (likely up, unsure_low down) and
    # nudged a step further when float error or ties at the rounded value would break a limit.
    likely = min(1.0, float(np.ceil(likely * 1e4 - 1e-9) / 1e4))
    while likely < 1.0 and (real >= likely).mean() > max_fpr:
        likely = min(1.0, round(likely + 1e-4, 4))
    unsure_low = float(np.floor(unsure_low * 1e4 + 1e-9) / 1e4)
    while unsure_low > 0.0 and (gen < unsure_low).mean() > max_fnr:
        unsure_low = max(0.0, round(unsure_low - 1e-4, 4))
    unsure_low = min(unsure_low, likely)
    return {"likely": likely, "unsure_low": unsure_low,
            "fpr_at_likely": float((real >= likely).mean()), "fnr_at_unsure_low": float((gen < unsure_low).mean()),
            "max_fpr": max_fpr, "max_fnr": max_fnr}


def metrics(labels: Iterable[int], scores: Iterable[float], likely: float, unsure_low: float) -> dict:
    """Accuracy (score >= likely counts as generated), ROC AUC, EER, the confusion matrix and the
    band counts per class, for labels 0 = real, 1 = generated."""
    from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score

    y, s = np.asarray(labels, int), np.asarray(scores, float)
    out: dict = {"n": {"real": int((y == 0).sum()), "generated": int((y == 1).sum())}}
    predicted = (s >= likely).astype(int)
    matrix = confusion_matrix(y, predicted, labels=[0, 1])
    out["confusion_at_likely"] = {"threshold": likely, "rows": "true real, true generated",
                                  "columns": "called real, called generated", "matrix": matrix.tolist()}
    out["accuracy_at_likely"] = float(accuracy_score(y, predicted))
    bands = np.where(s >= likely, LIKELY, np.where(s >= unsure_low, UNSURE, NO_SIGN))
    out["bands"] = {name: {band: int(((y == k) & (bands == band)).sum()) for band in (LIKELY, UNSURE, NO_SIGN)}
                    for k, name in enumerate(CLASSES)}
    if len(set(y.tolist())) < 2:
        out["note"] = "ROC AUC and EER need files of both classes"
        return out
    out["roc_auc"] = float(roc_auc_score(y, s))
    out["eer"], out["eer_threshold"] = equal_error_rate(y, s)
    out["accuracy_at_eer_threshold"] = float(accuracy_score(y, (s >= out["eer_threshold"]).astype(int)))
    return out


# ---------------------------------------------------------------- scoring a folder

def labelled_files(folder: Path) -> list[tuple[Path, int]]:
    """Every file under real/ (label 0) and generated/ (label 1), sorted."""
    found = []
    for label, name in enumerate(CLASSES):
        root = Path(folder) / name
        if not root.is_dir():
            raise SystemExit(f"{folder} has no {name}/ folder: put real files in real/ and generated ones in "
                             f"generated/")
        found += [(p, label) for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    return found


def score_files(detector, files: list[tuple[Path, int]], mode: str = "classifier", chunk: int = 64) -> list[dict]:
    """One row per file: its label, model group, score (None when it cannot be judged) and verdict."""
    rows = []
    for start in range(0, len(files), chunk):
        part = files[start:start + chunk]
        paths = [p for p, _ in part]
        verdicts = detector.check_files(paths) if mode == "combined" else detector.classify(paths)
        for (path, label), v in zip(part, verdicts):
            classifier = v.get("classifier") or v
            score = v.get("score")
            if mode == "combined" and v["verdict"] in (CREDENTIALS, WATERMARK):
                score = 1.0
            group = "audio" if classifier.get("kind") == "audio" or (
                classifier.get("kind") is None and path.suffix.lower() in AUDIO_SUFFIXES) else "image"
            rows.append({"file": str(path), "label": label, "group": group, "score": score, "verdict": v["verdict"],
                         "preset": classifier.get("preset")})
    return rows


def evaluate(rows: list[dict], thresholds: dict[str, dict], max_fpr: float, max_fnr: float) -> dict:
    """Per model group: counts, files that cannot be judged, metrics and suggested thresholds."""
    report = {}
    for group in ("image", "audio"):
        mine = [r for r in rows if r["group"] == group]
        if not mine:
            continue
        judged = [r for r in mine if r["score"] is not None]
        th = thresholds[group]
        entry: dict = {"preset": th["preset"], "files": len(mine),
                       "cannot_judge": {name: sum(1 for r in mine if r["score"] is None and r["label"] == k)
                                        for k, name in enumerate(CLASSES)},
                       "thresholds_in_use": {"likely": th["likely"], "unsure_low": th["unsure_low"]}}
        if judged:
            labels, scores = [r["label"] for r in judged], [r["score"] for r in judged]
            entry["metrics"] = metrics(labels, scores, th["likely"], th["unsure_low"])
            if len(set(labels)) == 2:
                entry["suggested"] = suggest_thresholds(labels, scores, max_fpr, max_fnr)
        report[group] = entry
    return report


def speed_ratios(detector, paths: list[Path], repeat: int = 3) -> dict:
    """Ratios on the same loaded image model: detector path / raw pipeline, one-by-one / batched."""
    from pipelines.detect_image import labels as _labels  # noqa: F401 - import the task module like the studio
    from provenance.detect_media import read_media

    loaded = detector.models.get("detect_image", detector.image_preset)
    pictures = [img for p in paths for img in read_media(p, min_size=1, min_duration_s=0).images]
    if not pictures:
        return {}
    batch = loaded.preset.defaults.get("batch_size", 8)

    def best(fn) -> float:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    detector.classify(paths)  # warm up (loads the model)
    raw = best(lambda: loaded.pipe(pictures, top_k=loaded.pipe.model.config.num_labels, batch_size=batch))
    studio = best(lambda: detector.classify(paths))
    single = best(lambda: [detector.classify([p]) for p in paths])
    return {"files": len(paths), "pictures": len(pictures), "detector_over_raw_pipeline": round(studio / raw, 2),
            "one_by_one_over_batched": round(single / studio, 2)}


# ---------------------------------------------------------------- command line

def _thresholds(detector, group: str) -> dict:
    from provenance.detect_verdict import Thresholds

    if group == "audio":
        task, name = "detect_audio", detector.audio_preset
    else:
        task, name = "detect_image", detector.image_preset
    th = Thresholds.from_preset(detector.models.preset(task, name))
    return {"preset": name, "likely": th.likely, "unsure_low": th.unsure_low}


def build_detector(args):
    """A Detector as the studio builds one, on the studio's data folder (tiny models, ledger)."""
    from pipelines.device import Runtime
    from pipelines.models import ModelManager
    from provenance.detector import DEFAULT_AUDIO_PRESET, DEFAULT_IMAGE_PRESET, Detector
    from studio.settings import load_settings

    settings = load_settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    models = ModelManager(settings.data_dir, Runtime(device=settings.device, dtype=args.dtype or settings.dtype),
                          settings.model_cache_gb, settings.model_dir)
    publisher = None
    if args.mode == "combined":
        from provenance.publish import Publisher, PublishConfig

        publisher = Publisher(PublishConfig.from_env(settings.data_dir))
    return Detector(models, publisher, args.image_preset or DEFAULT_IMAGE_PRESET,
                    args.audio_preset or DEFAULT_AUDIO_PRESET)


def format_report(report: dict) -> str:
    """The report as lines a person reads."""
    lines = []
    for group, e in report.items():
        lines.append(f"== {group} ({e['preset']}): {e['files']} files, cannot judge: {e['cannot_judge']}")
        m = e.get("metrics")
        if not m:
            lines.append("   nothing could be judged")
            continue
        lines.append(f"   judged: {m['n']}")
        if "roc_auc" in m:
            lines.append(f"   ROC AUC {m['roc_auc']:.4f} · EER {m['eer']:.4f} at score {m['eer_threshold']:.4f} "
                         f"(accuracy there {m['accuracy_at_eer_threshold']:.4f})")
        else:
            lines.append(f"   {m['note']}")
        c = m["confusion_at_likely"]
        (tn, fp), (fn, tp) = c["matrix"]
        lines.append(f"   at likely = {c['threshold']:.2f}: accuracy {m['accuracy_at_likely']:.4f}")
        lines.append(f"                      called real  called generated")
        lines.append(f"     real files       {tn:>11}  {fp:>16}")
        lines.append(f"     generated files  {fn:>11}  {tp:>16}")
        lines.append(f"   bands with the thresholds in use {e['thresholds_in_use']}: {m['bands']}")
        if e.get("suggested"):
            s = e["suggested"]
            lines.append(f"   suggested: likely = {s['likely']}, unsure_low = {s['unsure_low']} "
                         f"(false positives at likely {s['fpr_at_likely']:.3f} <= {s['max_fpr']}, "
                         f"false negatives below unsure_low {s['fnr_at_unsure_low']:.3f} <= {s['max_fnr']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder with real/ and generated/")
    parser.add_argument("--image-preset")
    parser.add_argument("--audio-preset")
    parser.add_argument("--mode", choices=("classifier", "combined"), default="classifier")
    parser.add_argument("--max-fpr", type=float, default=0.05)
    parser.add_argument("--max-fnr", type=float, default=0.05)
    parser.add_argument("--chunk", type=int, default=64, help="files decoded and scored together")
    parser.add_argument("--data-dir", type=Path, help="the studio's data folder (default: its settings)")
    parser.add_argument("--dtype", help="fp32, bf16, ... (calibrate with the dtype the studio serves with)")
    parser.add_argument("--json", type=Path, help="also write the report and per-file rows here")
    parser.add_argument("--speed", action="store_true", help="print speed ratios on the image model")
    args = parser.parse_args(argv)

    detector = build_detector(args)
    files = labelled_files(args.folder)
    rows = score_files(detector, files, args.mode, args.chunk)
    groups = {r["group"] for r in rows}
    report = evaluate(rows, {g: _thresholds(detector, g) for g in groups}, args.max_fpr, args.max_fnr)
    print(format_report(report))
    if args.speed:
        visual = [p for p, _ in files if p.suffix.lower() not in AUDIO_SUFFIXES]
        ratios = speed_ratios(detector, visual[:32])
        report["speed"] = ratios
        print(f"speed: {ratios}")
    if args.json:
        args.json.write_text(json.dumps({"mode": args.mode, "report": report, "files": rows}, indent=2))
    return report


if __name__ == "__main__":
    main()
