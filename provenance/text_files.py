"""Text outputs (subtitles, transcripts): their types, the facts a manifest records, and sniffing.

C2PA cannot embed a manifest into an SRT, WebVTT or plain-text file, so each one is handed out
with a sidecar manifest, `<file>.c2pa`, beside it. c2pa-rs binds a sidecar to the file with a
data hash (`c2pa.hash.data`) over every byte of the text: a changed byte reads as
`assertion.dataHash.mismatch`. A copy without its sidecar is still found in the ledger by its
SHA-256. The text itself is what the visitor asked for (their words, or words spoken from their
script); the manifest never carries it: with disclosure off it records only counts, the format
and hashes, like every other output's parameters.
"""
from __future__ import annotations

import codecs
import mimetypes
import re
import subprocess
import tempfile
from pathlib import Path

from pipelines.errors import ProvenanceError

# The suffixes a TextArtifact may have, and the MIME type each is published and read as.
TEXT_MIME = {".srt": "application/x-subrip", ".vtt": "text/vtt", ".txt": "text/plain"}
EXTENSION = {mime: suffix.lstrip(".") for suffix, mime in TEXT_MIME.items()}
# How much of a file is read to decide that it is text.
_SNIFF_BYTES = 64 * 1024
_SRT_START = re.compile(r"\A\s*\d+\s*\r?\n\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->")
# Control characters no subtitle or transcript holds (tab, newlines and form feed are fine).
_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
WATERMARK_INFO = {"applied": False,
                  "reason": "a text file carries no watermark; its sidecar manifest binds every byte by hash"}


def mime_for_suffix(suffix: str) -> str:
    """The MIME type of a text output with this suffix (".srt", ".vtt", ".txt"); ValueError otherwise."""
    try:
        return TEXT_MIME[suffix.lower()]
    except KeyError:
        raise ValueError(f"a text output's suffix must be one of {sorted(TEXT_MIME)}, not {suffix!r}") from None


def is_text_mime(mime: str | None) -> bool:
    """Whether `mime` is one of the studio's text output types."""
    return (mime or "").split(";", 1)[0].strip().lower() in EXTENSION


def text_media(text: str, mime: str) -> dict:
    """What a manifest records about a text file: its format and size, never its words."""
    media = {"format": mime, "characters": len(text), "bytes": len(text.encode("utf-8")),
             "lines": len(text.splitlines())}
    if mime != "text/plain":
        media["cues"] = len(re.findall(r"-->", text))
    return media


def sniff_text(path: Path) -> str | None:
    """The text MIME type of a file from its bytes (WebVTT, SRT, else plain UTF-8 text), or None
    when the file is not text (not UTF-8, or holding control characters), or when its name says
    it is a picture, a recording or a video (text there is a broken media file, not a transcript)."""
    named = mimetypes.guess_type(path.name)[0] or ""
    if named.split("/", 1)[0] in ("image", "audio", "video"):
        return None
    with open(path, "rb") as f:
        data = f.read(_SNIFF_BYTES)
    if not data:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        # A character cut by the read's end is no error; one cut by the file's end is.
        text = decoder.decode(data, final=len(data) < _SNIFF_BYTES)
    except UnicodeDecodeError:
        return None
    text = text.removeprefix("\ufeff")
    if _BINARY.search(text):
        return None
    if text.startswith("WEBVTT"):
        return "text/vtt"
    if _SRT_START.match(text):
        return "application/x-subrip"
    return "text/plain"


def add_subtitle_track(video: Path, srt_text: str, language: str = "und") -> None:
    """Mux SRT text into an MP4 in place as a soft subtitle track (3GPP timed text, `mov_text`,
    the one subtitle codec MP4 players read), its language an ISO 639-2 code. The picture and
    sound are copied, not re-encoded. Runs the ffmpeg that imageio-ffmpeg ships (PyAV has no
    subtitle encoder)."""
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory(prefix="studio-subs-") as tmp:
        subs, muxed = Path(tmp) / "track.srt", Path(tmp) / "muxed.mp4"
        subs.write_text(srt_text, encoding="utf-8")
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(video), "-f", "srt",
               "-i", str(subs), "-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text",
               "-metadata:s:s:0", f"language={language}", "-movflags", "+faststart", "-y", str(muxed)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise ProvenanceError(f"Could not add the subtitle track: {done.stderr.strip()[-300:]}")
        muxed.replace(video)
