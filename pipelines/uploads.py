"""One look at an uploaded file before anything decodes it: what it is (from its first bytes,
never from the name the visitor gave it) and how large or long its header says it is.

    probe_upload(path, ("audio",), title="melody", max_audio_s=600) -> Probe

Every refusal is an `InputError` that says what to do: a missing or empty file, a format this
studio does not take, a header that cannot be read, too many pixels, too long. Durations come
from headers only: soundfile.info for WAV and FLAC, PyAV's container and stream durations for
everything else, and where a container declares none (browser recordings), the timestamps of
its packets, demuxed without decoding and only up to the limit. Images are sized by Pillow's
Image.open, which reads the header alone. No torch here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pipelines.errors import InputError

# Header durations of compressed audio are estimates; this much over a limit is still let through.
DURATION_SLACK_S = 0.5
IMAGE_KINDS, AUDIO_KINDS, VIDEO_KINDS = ("image",), ("audio",), ("video",)
MEDIA_KINDS = ("image", "audio", "video")
# What the studio takes as an upload, by the type read from the bytes.
FORMAT_NAMES = {
    "image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WebP", "image/gif": "GIF",
    "audio/wav": "WAV", "audio/flac": "FLAC", "audio/mpeg": "MP3", "audio/ogg": "OGG", "audio/mp4": "M4A",
    "video/mp4": "MP4", "video/quicktime": "QuickTime", "video/webm": "WebM",
}
READ_AS = {"image": "an image", "audio": "audio", "video": "a video"}
CONTENT = {"image": "picture", "audio": "sound", "video": "video"}
TAKES = {"image": "a PNG, JPEG, WebP or GIF picture", "audio": "WAV, FLAC, MP3, OGG or M4A audio",
         "video": "an MP4, MOV or WebM video"}


class UploadTooLong(InputError):
    """An upload over a duration or pixel limit (the Verify and Detect tabs refuse only these)."""


def sniff_mime(head: bytes) -> str | None:
    """MIME type from a file's first 16+ bytes, or None for formats the studio does not know."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3") or _mpeg_audio_sync(head):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if head.startswith(b"GIF87a") or head.startswith(b"GIF89a"):
        return "image/gif"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    return None


def upload_mime(head: bytes) -> str | None:
    """`sniff_mime`, plus the containers browsers record sound in (OGG, WebM), which only the
    pipelines' PyAV readers take (provenance does not read or sign them)."""
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return sniff_mime(head)


def _mpeg_audio_sync(head: bytes) -> bool:
    """An MPEG audio frame header (11 sync bits); layer bits 00 would be AAC in ADTS, not MP3."""
    return len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and (head[1] >> 1) & 0x3 != 0


def kind_of(mime: str | None) -> str | None:
    """'image', 'video', 'audio' or None."""
    if not mime:
        return None
    top = mime.split("/", 1)[0]
    return top if top in ("image", "video", "audio") else None


def riff_shortfall(path: Path) -> int:
    """Bytes missing from a RIFF file (WAV, WebP), whose header states its full length.
    Decoders read a truncated WAV without complaint, so this is the check that catches it."""
    with open(path, "rb") as f:
        head = f.read(8)
    declared = int.from_bytes(head[4:8], "little") + 8 if len(head) == 8 else 0
    return max(0, declared - path.stat().st_size)


@dataclass(frozen=True)
class Probe:
    """What an upload's header says. `kind` is the track used: a video file given as sound is 'audio'."""

    mime: str
    kind: str
    format: str
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None


def probe_upload(path: str | Path | None, kinds: Iterable[str] = MEDIA_KINDS, *, title: str = "file",
                 max_audio_s: float | None = None, max_video_s: float | None = None,
                 max_pixels: int | None = None) -> Probe:
    """Check an upload from its header before it is decoded; `InputError` says what is wrong.

    `kinds` are what the caller takes ("image", "audio", "video"); a video container is taken
    as "audio" too when it has a sound track (a recording made in a browser is often WebM).
    Limits of None or 0 are off; an over-limit refusal is an `UploadTooLong`.
    """
    kinds = tuple(kinds)
    takes = " or ".join(TAKES[k] for k in kinds)
    unreadable = f"The {title} could not be read as {_noun(kinds, READ_AS)}"
    file = Path(path) if path else None
    if file is None or not file.is_file():
        raise InputError(f"The {title} did not arrive; upload it again.")
    if file.stat().st_size == 0:
        raise InputError(f"The {title} is empty (0 bytes); upload {takes}.")
    with open(file, "rb") as f:
        mime = upload_mime(f.read(64))
    kind = kind_of(mime)
    if kind == "video" and "video" not in kinds and "audio" in kinds:
        kind = "audio"  # its sound track is what the caller wants
    if mime not in FORMAT_NAMES:
        raise InputError(f"{unreadable}: it is not in a format this studio takes, whatever its name says. "
                         f"Upload {takes}.")
    name = FORMAT_NAMES[mime]
    if kind not in kinds:
        raise InputError(f"The {title} has no {_noun(kinds, CONTENT)} in it: it is a {name} file, whatever its "
                         f"name says. Upload {takes}.")
    if kind == "image":
        width, height = _image_size(file, unreadable, title, name, max_pixels)
        return Probe(mime, kind, name, width=width, height=height)
    if mime == "audio/wav" and riff_shortfall(file):
        raise InputError(f"{unreadable}: it is cut short (its header promises {riff_shortfall(file):,} more bytes "
                         f"than arrived). Upload the whole file again.")
    limit = max_video_s if kind == "video" else max_audio_s
    if mime in ("audio/wav", "audio/flac"):
        duration, width, height = _soundfile_duration(file, unreadable, name), None, None
    else:
        duration, width, height = _av_duration(file, kind, unreadable, title, name, limit)
    if duration is not None and duration <= 0:
        raise InputError(f"The {title} holds no {CONTENT[kind]} (0 s long); upload it again.")
    if limit and duration is not None and duration > limit + DURATION_SLACK_S:
        raise UploadTooLong(f"The {title} is longer than {limit:g} s ({duration:,.1f} s), the most this studio "
                            f"takes; trim it and upload it again.")
    return Probe(mime, kind, name, duration_s=duration, width=width, height=height)


def _noun(kinds: tuple[str, ...], words: dict[str, str]) -> str:
    names = [words[k] for k in kinds]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _image_size(file: Path, unreadable: str, title: str, name: str, max_pixels: int | None) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as im:  # the header only; pixels are decoded by whoever uses them
            width, height = im.size
    except Image.DecompressionBombError:
        raise UploadTooLong(f"The {title} declares far too many pixels to open safely; scale it down first.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InputError(f"{unreadable}: its {name} header is damaged. Upload the file again.") from None
    if width <= 0 or height <= 0:
        raise InputError(f"The {title} is {width}×{height} pixels: it holds no picture.")
    if max_pixels and width * height > max_pixels:
        raise UploadTooLong(f"The {title} is {width}×{height} ({width * height:,} pixels); this studio opens at most "
                        f"{max_pixels:,} pixels. Scale it down first.")
    return width, height


def _soundfile_duration(file: Path, unreadable: str, name: str) -> float:
    import soundfile as sf

    try:
        info = sf.info(str(file))
    except (sf.LibsndfileError, RuntimeError, ValueError):
        raise InputError(f"{unreadable}: its {name} header is damaged. Upload the file again.") from None
    return info.frames / info.samplerate if info.samplerate else 0.0


def _av_duration(file: Path, kind: str, unreadable: str, title: str, name: str,
                 limit: float | None) -> tuple[float | None, int | None, int | None]:
    """(duration, width, height) of the first `kind` track from the container's header; packet
    timestamps when the header declares no duration (demuxed, never decoded, up to the limit)."""
    import av

    try:
        with av.open(str(file)) as box:
            if not box.streams:  # a header cut off before it lists any track
                raise InputError(f"{unreadable}: its {name} header is damaged or cut short. Upload the file again.")
            streams = box.streams.video if kind == "video" else box.streams.audio
            if not streams:
                raise InputError(f"The {title} has no {CONTENT[kind]} in it (no {CONTENT[kind]} track); "
                                 f"upload {TAKES[kind]}.")
            stream = streams[0]
            width = stream.codec_context.width if kind == "video" else None
            height = stream.codec_context.height if kind == "video" else None
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base), width, height
            if box.duration:
                return box.duration / av.time_base, width, height
            return _demuxed_seconds(box, stream, limit), width, height
    except InputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, IndexError, AttributeError):
        raise InputError(f"{unreadable}: its {name} header is damaged or cut short. Upload the file "
                         f"again.") from None


def _demuxed_seconds(box, stream, limit: float | None) -> float | None:
    """Seconds covered by a stream's packets, read without decoding; stops once past `limit`."""
    first = last = None
    for packet in box.demux(stream):
        if packet.pts is None:
            continue
        end = packet.pts + (packet.duration or 0)
        first = packet.pts if first is None else min(first, packet.pts)
        last = end if last is None else max(last, end)
        if limit and (last - first) * stream.time_base > limit + DURATION_SLACK_S:
            break
    if first is None or not stream.time_base:
        return None
    return float((last - first) * stream.time_base)
