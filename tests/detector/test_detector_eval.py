"""bench/detector_eval.py: the metrics on sets whose answers are known by hand, and a whole
run on a labelled folder built from the studio's own outputs and plain files."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from provenance.detect_verdict import LIKELY, NO_SIGN, UNSURE

BENCH = Path(__file__).resolve().parents[2] / "bench" / "detector_eval.py"


@pytest.fixture(scope="module")
def evaluator():
    spec = importlib.util.spec_from_file_location("detector_eval", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# labels 0 = real, 1 = generated. Worked by hand:
# ROC AUC: of the 16 (generated, real) pairs, 15 have the generated file scored higher -> 15/16.
# EER: at threshold 0.6 one real file of four is above (FPR 1/4) and one generated of four below (FNR 1/4).
# At likely = 0.5: real 0.6 is a false positive, generated 0.4 a false negative -> [[3, 1], [1, 3]], accuracy 6/8.
LABELS = [0, 0, 0, 0, 1, 1, 1, 1]
SCORES = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]


def test_metrics_on_a_set_worked_by_hand(evaluator):
    m = evaluator.metrics(LABELS, SCORES, likely=0.5, unsure_low=0.35)
    assert m["roc_auc"] == pytest.approx(15 / 16)
    assert m["eer"] == pytest.approx(0.25) and m["eer_threshold"] == pytest.approx(0.6)
    assert m["confusion_at_likely"]["matrix"] == [[3, 1], [1, 3]]
    assert m["accuracy_at_likely"] == pytest.approx(0.75)
    assert m["bands"]["real"] == {LIKELY: 1, UNSURE: 0, NO_SIGN: 3}
    assert m["bands"]["generated"] == {LIKELY: 3, UNSURE: 1, NO_SIGN: 0}


@pytest.mark.parametrize("scores, auc, eer", [
    ([0.1, 0.2, 0.8, 0.9], 1.0, 0.0),      # separated
    ([0.9, 0.8, 0.2, 0.1], 0.0, 1.0),      # exactly wrong
    ([0.5, 0.5, 0.5, 0.5], 0.5, 0.5),      # no information
])
def test_auc_and_eer_at_the_extremes(evaluator, scores, auc, eer):
    m = evaluator.metrics([0, 0, 1, 1], scores, likely=0.8, unsure_low=0.35)
    assert m["roc_auc"] == pytest.approx(auc) and m["eer"] == pytest.approx(eer)


def test_eer_interpolates_between_roc_points(evaluator):
    # real [0.1, 0.4], generated [0.3, 0.9]: FPR/FNR go (0, .5) at 0.9 -> (.5, .5) at 0.4: equal at 0.5.
    eer, threshold = evaluator.equal_error_rate([0, 0, 1, 1], [0.1, 0.4, 0.3, 0.9])
    assert eer == pytest.approx(0.5) and threshold == pytest.approx(0.4)
    # real [0.1, 0.2, 0.6], generated [0.5, 0.9]: (FPR, FNR) is (0, 1/2) at 0.9, (1/3, 1/2) at 0.6 and
    # (1/3, 0) at 0.5; the lines cross a third of the way from 0.6 to 0.5, where both are 1/3.
    eer, threshold = evaluator.equal_error_rate([0, 0, 0, 1, 1], [0.1, 0.2, 0.6, 0.5, 0.9])
    assert eer == pytest.approx(1 / 3) and threshold == pytest.approx(0.5)


def test_suggested_thresholds_meet_their_error_limits(evaluator):
    s = evaluator.suggest_thresholds(LABELS, SCORES, max_fpr=0.25, max_fnr=0.25)
    # likely: lowest score with <= 1/4 of real files at or above it -> 0.4; unsure_low: highest with
    # <= 1/4 of generated below -> 0.7. They cross, so they are swapped: both limits then hold.
    assert (s["likely"], s["unsure_low"]) == (0.7, 0.4)
    assert s["fpr_at_likely"] <= 0.25 and s["fnr_at_unsure_low"] <= 0.25
    # Ties at the rounded score (a random classifier's near-constant output) must not break the limits.
    tied = evaluator.suggest_thresholds([0, 0, 0, 1, 1, 1], [0.4998, 0.4998, 0.4997, 0.4997, 0.4997, 0.4998])
    assert tied["fpr_at_likely"] <= 0.05 and tied["fnr_at_unsure_low"] <= 0.05
    rng = np.random.default_rng(0)
    labels = [0] * 200 + [1] * 200
    scores = np.concatenate([rng.beta(2, 5, 200), rng.beta(5, 2, 200)])
    s = evaluator.suggest_thresholds(labels, scores, 0.05, 0.05)
    assert s["unsure_low"] <= s["likely"]
    assert (scores[:200] >= s["likely"]).mean() <= 0.05 and (scores[200:] < s["unsure_low"]).mean() <= 0.05


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory, media):
    root = tmp_path_factory.mktemp("labelled")
    layout = {"real": ["photo_png", "photo_jpg", "clip_mp4", "voice_wav", "voice_flac", "tiny_png", "silent_wav"],
              "generated": ["studio_png", "stripped_png", "stripped_jpg", "studio_mp4", "other_png", "studio_wav",
                            "studio_mp3", "other_wav"]}
    for label, keys in layout.items():
        (root / label / "sub").mkdir(parents=True)
        for key in keys:
            shutil.copy(media[key], root / label / "sub" / f"{key}{media[key].suffix}")
    return root


def test_combined_mode_on_a_folder_whose_answer_is_known(evaluator, detect_studio, labelled_folder, tmp_path, capsys):
    # Every generated file carries credentials or the watermark (score 1.0); the plain files get the
    # tiny classifier's scores, all below 0.8. So: separated, AUC 1, EER 0, no error at `likely`.
    out = tmp_path / "report.json"
    report = evaluator.main([str(labelled_folder), "--mode", "combined", "--data-dir",
                             str(detect_studio.settings.data_dir), "--dtype", "fp32", "--json", str(out),
                             "--chunk", "4"])
    image, audio = report["image"], report["audio"]
    assert image["cannot_judge"] == {"real": 1, "generated": 0} and audio["cannot_judge"] == {"real": 1, "generated": 0}
    assert image["metrics"]["confusion_at_likely"]["matrix"] == [[3, 0], [0, 5]]
    assert audio["metrics"]["confusion_at_likely"]["matrix"] == [[2, 0], [0, 3]]
    for group in (image, audio):
        assert group["metrics"]["roc_auc"] == 1.0 and group["metrics"]["eer"] == 0.0
        assert group["metrics"]["accuracy_at_likely"] == 1.0
        assert group["suggested"]["fpr_at_likely"] == 0.0 and group["suggested"]["fnr_at_unsure_low"] == 0.0
    printed = capsys.readouterr().out
    assert "ROC AUC 1.0000 · EER 0.0000" in printed and "suggested: likely" in printed
    assert len(json.loads(out.read_text())["files"]) == 15


def test_classifier_mode_reports_what_sklearn_computes_from_the_scores(evaluator, detect_studio, labelled_folder,
                                                                        tmp_path):
    from sklearn.metrics import roc_auc_score

    out = tmp_path / "report.json"
    report = evaluator.main([str(labelled_folder), "--data-dir", str(detect_studio.settings.data_dir),
                             "--dtype", "fp32", "--json", str(out)])
    rows = json.loads(out.read_text())["files"]
    for group in ("image", "audio"):
        judged = [r for r in rows if r["group"] == group and r["score"] is not None]
        expected = roc_auc_score([r["label"] for r in judged], [r["score"] for r in judged])
        assert report[group]["metrics"]["roc_auc"] == pytest.approx(expected)
    # Chunked (batched) scoring gives the scores that one file at a time gives.
    detector = evaluator.build_detector(type("Args", (), {"data_dir": detect_studio.settings.data_dir, "dtype": "fp32",
                                                          "mode": "classifier", "image_preset": None,
                                                          "audio_preset": None})())
    files = evaluator.labelled_files(labelled_folder)
    one_by_one = evaluator.score_files(detector, files, chunk=1)
    for a, b in zip(rows, one_by_one):
        assert a["verdict"] == b["verdict"] and (a["score"] is None) == (b["score"] is None)
        if a["score"] is not None:
            assert a["score"] == pytest.approx(b["score"], abs=1e-4)
    ratios = evaluator.speed_ratios(detector, [p for p, _ in files if p.suffix == ".png"][:3], repeat=1)
    assert ratios["detector_over_raw_pipeline"] > 0 and ratios["one_by_one_over_batched"] > 0


def test_a_folder_without_real_and_generated_is_refused(evaluator, tmp_path):
    with pytest.raises(SystemExit, match="real/"):
        evaluator.labelled_files(tmp_path)
