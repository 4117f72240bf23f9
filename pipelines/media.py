"""What a pipeline hands to provenance: finished-in-memory media, one artifact per output file.

No torch here: the studio and provenance read these types too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from PIL import Image


@dataclass
class ImageArtifact:
    """One generated image and the exact parameters that made it."""

    image: Image.Image
    params: dict[str, Any]
    # An edit's changed area (L, image size, non-zero = generated): outside it the pixels are the
    # source's, and publishing keeps them byte for byte (the watermark goes only inside it).
    # None: the whole image was generated.
    changed_mask: Image.Image | None = None
    kind: Literal["image"] = "image"


@dataclass
class AudioArtifact:
    """Audio as float32 samples shaped (channels, samples) in [-1, 1]."""

    samples: np.ndarray
    sample_rate: int
    params: dict[str, Any]
    # Loudness the finished file is normalised to (LUFS); None keeps the level as generated.
    target_lufs: float | None = None
    kind: Literal["audio"] = "audio"

    @property
    def duration_s(self) -> float:
        return self.samples.shape[-1] / self.sample_rate


@dataclass
class VideoArtifact:
    """Frames (RGB uint8 arrays, all one size) played at `fps`, with an optional sound track."""

    frames: list[np.ndarray]
    fps: float
    params: dict[str, Any]
    audio: AudioArtifact | None = None
    # SRT text of a soft subtitle track (mov_text) the published MP4 carries, in `subtitle_language`
    # (ISO 639-2, "und": not said); None: no track.
    subtitles: str | None = None
    subtitle_language: str = "und"
    kind: Literal["video"] = "video"

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.frames[0].shape[:2]
        return w, h


@dataclass
class TextArtifact:
    """A text file handed out beside the media: subtitles (.srt, .vtt) or a transcript (.txt).

    `text` is written as UTF-8, exactly as given. C2PA cannot embed into text, so it is published
    with a sidecar manifest bound to its bytes (provenance/text_files.py).
    """

    text: str
    suffix: Literal[".srt", ".vtt", ".txt"]
    params: dict[str, Any]
    kind: Literal["text"] = "text"

    def __post_init__(self):
        if self.suffix not in (".srt", ".vtt", ".txt"):
            raise ValueError(f"a text artifact's suffix must be .srt, .vtt or .txt, not {self.suffix!r}")


Artifact = ImageArtifact | AudioArtifact | VideoArtifact | TextArtifact


@dataclass
class InputFile:
    """A file the visitor fed in, recorded as a C2PA ingredient of the output.

    relationship: "parentOf" (the output is an edit of it), "componentOf" (it was assembled
    into the output) or "inputTo" (it conditioned the generation).
    """

    path: str
    relationship: Literal["parentOf", "componentOf", "inputTo"]
    title: str = ""
    # The detector's verdict on the upload, when it was checked (a dict from provenance.detect).
    verdict: dict[str, Any] | None = None


@dataclass
class Result:
    """What `run(pipe, request, progress)` returns: the artifacts and any notices for the user."""

    artifacts: list[Artifact]
    notices: list[str] = field(default_factory=list)
