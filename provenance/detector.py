"""The AI-content and deepfake detector: one honest verdict per file.

    Detector(models, publisher, image_preset, audio_preset)
      .check_upload(path)          an upload used as an input: credentials, watermark, classifier
      .check_files(paths)          the same for many files, the classifier batched over all of them
      .classify(paths)             the classifier alone, batched (bench/detector_eval.py)
      .score_output(path, artifact)  the Publisher's hook: scores a finished output before signing

The evidence that needs no model comes from `Publisher.verify` (C2PA credentials, the studio's
watermark, the ledger). The classifiers are ordinary task modules (pipelines.detect_image for
pictures and the frames sampled from a video, pipelines.detect_audio for sound) loaded by the
model layer and run through `runner.execute`; their preset's `detector` table holds the
calibrated bands. How the pieces combine is in provenance.detect_verdict.

A Detector holds no per-request state: any number of visitors may use one at once.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from pipelines.errors import Cancelled, InputError, StudioError
from pipelines.progress import Progress
from provenance.detect_media import MediaInput, read_media
from provenance.detect_verdict import (Thresholds, cannot_judge, combine, evidence_from_report,
                                      publication_verdict)

log = logging.getLogger(__name__)

IMAGE_TASK, AUDIO_TASK = "detect_image", "detect_audio"
DEFAULT_IMAGE_PRESET, DEFAULT_AUDIO_PRESET = "tiny-vit-detector", "tiny-wav2vec2-detector"
# A video is judged by this many frames spread over its length, scored by the image model.
VIDEO_FRAMES = 8


class Detector:
    """Scores files with the presets' classifiers and combines them with provenance evidence."""

    def __init__(self, models, publisher=None, image_preset: str = DEFAULT_IMAGE_PRESET,
                 audio_preset: str = DEFAULT_AUDIO_PRESET, *, video_frames: int = VIDEO_FRAMES):
        self.models = models
        self.publisher = publisher
        self.image_preset = image_preset
        self.audio_preset = audio_preset
        self.video_frames = video_frames
        # Fail at start, not on the first upload, when a preset name or its bands are wrong.
        for task, name in ((IMAGE_TASK, image_preset), (AUDIO_TASK, audio_preset)):
            Thresholds.from_preset(models.preset(task, name))

    def __repr__(self) -> str:
        return f"Detector(image={self.image_preset!r}, audio={self.audio_preset!r})"

    # ------------------------------------------------------------------ public API

    def check_upload(self, path: Path, progress: Progress | None = None, *, image_preset: str | None = None,
                     audio_preset: str | None = None) -> dict:
        """The combined verdict for one file a visitor feeds in (see detect_verdict.combine)."""
        return self.check_files([Path(path)], progress, image_preset=image_preset, audio_preset=audio_preset)[0]

    def check_files(self, paths: Sequence[Path], progress: Progress | None = None, *, image_preset: str | None = None,
                    audio_preset: str | None = None) -> list[dict]:
        """Combined verdicts for many files; the classifier runs batched over all of them."""
        progress = progress or Progress()  # a fresh one: a shared default would share its cancel flag
        presets = self._presets(image_preset, audio_preset)
        evidence: list[dict | None] = []
        reused: dict[int, dict] = {}
        for i, path in enumerate(paths):
            progress.update(i, len(paths), "checking credentials")
            if self.publisher is None:
                evidence.append(None)
                continue
            report = self.publisher.verify(Path(path))
            evidence.append(evidence_from_report(report))
            # When this detector is also the publisher's hook, verify() has already scored the file.
            if _is_ours(report.verdict, presets):
                reused[i] = report.verdict
        todo = [i for i in range(len(paths)) if i not in reused]
        scored = dict(zip(todo, self.classify([paths[i] for i in todo], progress, image_preset=presets[0],
                                              audio_preset=presets[1]))) if todo else {}
        scored.update(reused)
        return [combine(evidence[i], scored[i]) for i in range(len(paths))]

    def classify(self, paths: Sequence[Path], progress: Progress | None = None, *, image_preset: str | None = None,
                 audio_preset: str | None = None) -> list[dict]:
        """The classifier's verdict for each file (no credentials or watermark), batched per model.

        A model that cannot be used (weights missing, out of memory, a wrong preset) makes
        "cannot judge: <why>" for the files that needed it; Cancelled and bugs propagate.
        """
        progress = progress or Progress()
        image_name, audio_name = self._presets(image_preset, audio_preset)
        image_preset_obj = self.models.preset(IMAGE_TASK, image_name)
        audio_preset_obj = self.models.preset(AUDIO_TASK, audio_name)
        media = [read_media(Path(p), min_size=image_preset_obj.limit("min_size", 64),
                            min_duration_s=audio_preset_obj.limit("min_duration_s", 0.5),
                            video_frames=self.video_frames) for p in paths]
        out: list[dict | None] = [None] * len(media)
        visual = [i for i, m in enumerate(media) if m.ok and m.kind in ("image", "video")]
        sound = [i for i, m in enumerate(media) if m.ok and m.kind == "audio"]
        for i, m in enumerate(media):
            if not m.ok:
                task, preset = (AUDIO_TASK, audio_preset_obj) if m.kind == "audio" else (IMAGE_TASK, image_preset_obj)
                out[i] = self._verdict(m, task, preset, None, cannot_judge(m.problem))
        if visual:
            self._score_visual([media[i] for i in visual], image_preset_obj, progress, out, visual)
        if sound:
            self._score_sound([media[i] for i in sound], audio_preset_obj, progress, out, sound)
        return out  # type: ignore[return-value]

    def score_output(self, path: Path, artifact: Any) -> dict:
        """The Publisher's `detector(path, artifact)` hook.

        For an output (artifact given) it scores the finished file before signing and returns
        the verdict that goes into the manifest: the file is about to carry this studio's
        signed credentials, so "AI-generated: signed credentials", with the classifier's score
        beside it. For an upload examined by `Publisher.verify` (artifact None) it returns the
        classifier's verdict alone (the report holds the rest). It never raises for a model
        problem: a missing detector model must not stop the studio from handing files out.
        """
        try:
            classifier = self.classify([Path(path)])[0]
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - logged; publication goes on without a score
            log.error("detector failed on %s", Path(path).name, exc_info=exc)
            classifier = {"verdict": cannot_judge("the detector failed (see the server log)"), "score": None}
        if artifact is None:
            return classifier
        return publication_verdict(classifier)

    # ------------------------------------------------------------------ scoring

    def _presets(self, image_preset: str | None, audio_preset: str | None) -> tuple[str, str]:
        return image_preset or self.image_preset, audio_preset or self.audio_preset

    def _score_visual(self, items: list[MediaInput], preset, progress: Progress, out: list, where: list[int]) -> None:
        from pipelines.detect_image import Request

        pictures = [img for m in items for img in m.images]
        request = Request(images=pictures, model=preset.name, **_defaults(preset, Request))
        result = self._execute(IMAGE_TASK, preset, request, progress)
        if isinstance(result, str):
            for i, m in zip(where, items):
                out[i] = self._verdict(m, IMAGE_TASK, preset, None, cannot_judge(result))
            return
        thresholds, loaded = result[1], result[2]
        scores = iter([thresholds.score(p) for p in result[0].probabilities])
        for i, m in zip(where, items):
            frame_scores = [next(scores) for _ in m.images]
            score = sum(frame_scores) / len(frame_scores)
            extra = {"frames": len(frame_scores), "frame_scores": [round(s, 4) for s in frame_scores]} \
                if m.kind == "video" else {}
            out[i] = self._verdict(m, IMAGE_TASK, preset, score, thresholds.band(score), loaded, extra)

    def _score_sound(self, items: list[MediaInput], preset, progress: Progress, out: list, where: list[int]) -> None:
        from pipelines.detect_audio import Request

        # Clips at different rates go to the model in one request per rate.
        by_rate: dict[int, list[int]] = {}
        for k, m in enumerate(items):
            by_rate.setdefault(m.sample_rate, []).append(k)
        for rate, ks in by_rate.items():
            request = Request(clips=[items[k].clip for k in ks], sample_rate=rate, model=preset.name,
                              **_defaults(preset, Request))
            result = self._execute(AUDIO_TASK, preset, request, progress)
            for j, k in enumerate(ks):
                m = items[k]
                if isinstance(result, str):
                    out[where[k]] = self._verdict(m, AUDIO_TASK, preset, None, cannot_judge(result))
                    continue
                scores, thresholds, loaded = result
                score = thresholds.score(scores.probabilities[j])
                out[where[k]] = self._verdict(m, AUDIO_TASK, preset, score, thresholds.band(score), loaded,
                                              {"windows": scores.windows[j]})

    def _execute(self, task: str, preset, request, progress: Progress):
        """Run the classifier through the model layer: (scores, thresholds, loaded), or the reason it could not run."""
        from pipelines.runner import execute

        try:
            thresholds = Thresholds.from_preset(preset)
            scores = execute(self.models, task, request, progress)
            loaded = self.models.get(task, preset.name)
            thresholds.check_labels(_labels(loaded.pipe), preset.name)
        except Cancelled:
            raise
        except InputError as exc:  # the request check refused these inputs: its words say why
            return str(exc).rstrip(".")
        except StudioError as exc:  # weights missing, out of memory, a wrong preset: said in the verdict
            log.warning("detector %s could not run: %s", preset.name, exc)
            return _reason(exc)
        return scores, thresholds, loaded

    def _verdict(self, media: MediaInput, task: str, preset, score: float | None, verdict: str,
                 loaded=None, extra: dict | None = None) -> dict:
        """The classifier's verdict dict for one file (JSON-safe; no server paths)."""
        thresholds = Thresholds.from_preset(preset)
        notes = list(media.notes)
        if preset.tier == "tiny":
            notes.append("a tiny random-weight test classifier: its score means nothing")
        result = {
            "verdict": verdict, "band": verdict if score is not None else None,
            "score": round(score, 4) if score is not None else None,
            "kind": media.kind, "task": task, "model": preset.label, "preset": preset.name,
            "model_id": preset.model_id, "license": preset.license, "thresholds": thresholds.as_dict(),
            "device": getattr(loaded, "device", None), "dtype": getattr(loaded, "dtype", None),
            "test_model": preset.tier == "tiny",
            **(extra or {}),
        }
        if notes:
            result["note"] = "; ".join(notes)
        return result


def _defaults(preset, request_type) -> dict:
    """The preset's request defaults that the request type has (presets are checked against them)."""
    names = set(request_type.__dataclass_fields__) - {"images", "clips", "model", "sample_rate"}
    return {k: v for k, v in preset.defaults.items() if k in names}


def _labels(pipe) -> list[str]:
    id2label = pipe.model.config.id2label
    return [id2label[i] for i in sorted(id2label)]


def _reason(exc: StudioError) -> str:
    text = str(exc).strip().rstrip(".")
    return f"the detector model could not run ({text[:1].lower()}{text[1:]})"


def _is_ours(verdict: Any, presets: tuple[str, str]) -> bool:
    """Whether a Verify report's verdict came from this detector's classifier with these presets."""
    return isinstance(verdict, dict) and "thresholds" in verdict and "band" in verdict and \
        verdict.get("preset") in presets
