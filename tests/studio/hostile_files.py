"""Good and hostile upload files, built in memory, for the upload probe and the hostile-upload suite."""
from __future__ import annotations

import io
import struct
import zlib

import av
import numpy as np
import soundfile as sf
from PIL import Image


def png_bytes(size=(300, 300)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(size=(300, 300)) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(png_bytes(size))).save(buf, "JPEG")
    return buf.getvalue()


def pixel_bomb() -> bytes:
    """A valid PNG whose header claims 100,000 x 100,000 pixels (the data is one tiny IDAT)."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def fits_bytes() -> bytes:
    """A FITS header (astronomy images), which Pillow can identify: an unexpected format."""
    cards = ["SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    0", "END"]
    return "".join(c.ljust(80) for c in cards).ljust(2880).encode()


def wav_bytes(seconds: float = 3.0, rate: int = 16000, subtype: str = "PCM_16", fmt: str = "WAV",
              silent: bool = False) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    data = np.zeros_like(t) if silent else 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    buf = io.BytesIO()
    sf.write(buf, data.astype("float32"), rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def mp3_bytes(seconds: float = 3.0) -> bytes:
    return wav_bytes(seconds, 16000, subtype="MPEG_LAYER_III", fmt="MP3")


def long_flac(seconds: float) -> bytes:
    """Minutes of digital silence at 8 kHz: a few kilobytes of FLAC (an over-long file, made cheaply)."""
    return wav_bytes(seconds, 8000, subtype="PCM_16", fmt="FLAC", silent=True)


def mp4_bytes(frames: int = 8, fps: int = 8, size=(64, 64)) -> bytes:
    """A tiny MPEG-4 video (no sound)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as box:
        stream = box.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            rgb = np.full((size[1], size[0], 3), (i * 30) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return buf.getvalue()


def truncated_mp4() -> bytes:
    """An MP4 that stops inside its header (ftyp, then a moov box cut off)."""
    return b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2" + b"\0\0\x10\0moov" + b"\0" * 64


def hostile_files() -> dict[str, bytes]:
    """name -> bytes of every hostile upload the suite feeds each entry point."""
    return {
        "pixel-bomb.png": pixel_bomb(),
        "fits-in-disguise.png": fits_bytes(),
        "truncated.png": png_bytes()[:300],
        "truncated.jpg": jpeg_bytes()[:400],
        "truncated.mp4": truncated_mp4(),
        "truncated.wav": wav_bytes()[:2000],
        "empty.png": b"",
        "empty.wav": b"",
        "wav-named.png": wav_bytes(),
        "png-named.wav": png_bytes(),
    }
