"""Invisible watermark carrying a short id: invisible-watermark's `dwtDctSvd` scheme.

The scheme (ShieldMnt/invisible-watermark 0.2.0, `EmbedDwtDctSvd`): take the U channel of
YUV, a one-level Haar DWT, cut the approximation band into 4x4 blocks, and quantise each
block's largest singular value so that `s0 mod 36` falls in the lower (bit 0) or upper (bit 1)
half of the step; bit i of the payload goes into every block whose index is i mod the payload
length. A reader takes the majority vote per bit.

Written here rather than called through `imwatermark.WatermarkEncoder` for two reasons, both
checked by the tests against the library itself (each reads the other's marks):
- speed: the library loops over 4x4 blocks in Python (~80 ms for 512 px); the same
  arithmetic batched in numpy takes ~15 ms. Two steps are shortcuts with identical results:
  the library's DCT of each block is dropped because an orthonormal DCT does not change
  singular values, and the Haar transform is written out (its approximation band is the
  2x2 block sum / 2, and a change d to that band is a change d / 2 to each of the block's four
  pixels), so the detail bands never need computing.
- quality: the library's inverse DWT swaps the horizontal and vertical detail bands
  (`idwt2((ca, (v, h, d)))`), which costs ~12 dB of PSNR (29.5 vs 41.5 dB here) and carries no
  watermark (readers only look at the approximation band). Here the bands stay in place.
The reader also returns how decisive the votes were, so "no watermark" can be told apart
from "a watermark with a different id": an unmarked image gives votes near 50/50.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import cv2
import numpy as np

SCHEME = "invisible-watermark dwtDctSvd"
PAYLOAD_BITS = 48
# The library refuses images with fewer pixels than this; the same limit applies here so that
# its reader can always read what this module wrote.
MIN_PIXELS = 256 * 256
_SCALE = 36.0
_BLOCK = 4
# Mean distance of the per-bit vote from 50/50 above which the marks count as present.
# Unmarked images measure ~0.04-0.09, marked ones ~0.3-0.45 (also after JPEG 85).
_FOUND_MARGIN = 0.2
# How many of an id's bits are ones. A picture of a few flat colours (a logo, a drawing) votes the
# same bit in every block of one colour whatever bit the block carries, so its "id" comes out with
# (nearly) all bits equal and confident: 000000000000 at 0.9 for a two-colour drawing scaled to
# 256 px. The studio only issues ids with ISSUED ones, and a reading outside READ counts as that
# content pattern, not a mark (a random 48-bit id falls outside 12..36 once in ~3,500).
ISSUED_ONES = (16, 32)
READ_ONES = (12, 36)


def new_watermark_id() -> str:
    """A fresh random id of PAYLOAD_BITS bits, as lowercase hex, with between ISSUED_ONES ones."""
    while True:
        candidate = secrets.token_hex(PAYLOAD_BITS // 8)
        if ISSUED_ONES[0] <= int(candidate, 16).bit_count() <= ISSUED_ONES[1]:
            return candidate


def can_carry(width: int, height: int) -> bool:
    """Whether an image of this size is large enough to carry the watermark."""
    return width * height >= MIN_PIXELS


def _id_bits(watermark_id: str) -> np.ndarray:
    raw = bytes.fromhex(watermark_id)
    if len(raw) * 8 != PAYLOAD_BITS:
        raise ValueError(f"watermark id must be {PAYLOAD_BITS // 4} hex digits")
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8)).astype(np.float64)


def _blocks(band: np.ndarray) -> tuple[np.ndarray, int, int]:
    rows, cols = band.shape[0] // _BLOCK, band.shape[1] // _BLOCK
    view = band[:rows * _BLOCK, :cols * _BLOCK]
    return view.reshape(rows, _BLOCK, cols, _BLOCK).transpose(0, 2, 1, 3).reshape(-1, _BLOCK, _BLOCK), rows, cols


def _u_channel(rgb: np.ndarray) -> tuple[np.ndarray, int, int]:
    """YUV of the image (as the library computes it) and the size that the DWT covers."""
    yuv = cv2.cvtColor(np.ascontiguousarray(rgb[:, :, ::-1]), cv2.COLOR_BGR2YUV)
    return yuv, rgb.shape[0] // 4 * 4, rgb.shape[1] // 4 * 4


def embed(rgb: np.ndarray, watermark_id: str) -> np.ndarray:
    """Return a copy of an RGB uint8 image (H, W, 3) carrying `watermark_id`.

    Raises ValueError when the image is smaller than MIN_PIXELS (check `can_carry` first).
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("embed expects an RGB uint8 array shaped (H, W, 3)")
    if not can_carry(rgb.shape[1], rgb.shape[0]):
        raise ValueError("image too small to carry a watermark")
    bits = _id_bits(watermark_id)
    yuv, h, w = _u_channel(rgb)
    approx = _haar_approx(yuv[:h, :w, 1])
    blocks, rows, cols = _blocks(approx)
    u, s, vt = np.linalg.svd(blocks)
    wanted = bits[np.arange(len(blocks)) % len(bits)]
    s0 = s[:, 0]
    target = (s0 // _SCALE + 0.25 + 0.5 * wanted) * _SCALE
    # Changing only s0 is a rank-one update along the first singular vectors.
    change = (target - s0)[:, None, None] * u[:, :, :1] * vt[:, :1, :]
    delta = np.zeros_like(approx)
    delta[:rows * _BLOCK, :cols * _BLOCK] = (
        change.reshape(rows, cols, _BLOCK, _BLOCK).transpose(0, 2, 1, 3).reshape(rows * _BLOCK, cols * _BLOCK))
    # Inverse Haar with unchanged detail bands: each pixel moves by half its band value's change.
    channel = yuv[:h, :w, 1] + np.repeat(np.repeat(delta / 2.0, 2, axis=0), 2, axis=1)
    yuv[:h, :w, 1] = np.clip(np.rint(channel), 0, 255)
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)[:, :, ::-1].copy()


def _haar_approx(channel: np.ndarray) -> np.ndarray:
    """The approximation band of a one-level Haar DWT (pywt.dwt2(x, "haar")[0]) of an
    even-sized array: each 2x2 block's sum divided by 2."""
    x = channel.astype(np.float64)
    return (x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2]) / 2.0


def vote(rgb: np.ndarray, region: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-bit vote counts (ones, totals) read from one RGB uint8 image.

    `region` (a boolean array of the image's height and width) limits the vote to blocks whose
    8x8 pixels all lie inside it: a fill marks only the area it generated, and the blocks
    outside it would vote at chance and drown the mark.
    """
    yuv, h, w = _u_channel(rgb)
    blocks, rows, cols = _blocks(_haar_approx(yuv[:h, :w, 1]))
    s0 = np.linalg.svd(blocks, compute_uv=False)[:, 0]
    index = np.arange(len(blocks)) % PAYLOAD_BITS
    if region is not None:
        side = 2 * _BLOCK  # a block of the half-size band covers 8x8 pixels
        inside = np.asarray(region, bool)[:rows * side, :cols * side]
        keep = inside.reshape(rows, side, cols, side).all(axis=(1, 3)).reshape(-1)
        s0, index = s0[keep], index[keep]
    empty = np.zeros(PAYLOAD_BITS)
    if len(s0) == 0 or np.percentile(s0, 95) - np.percentile(s0, 5) < _SCALE / 4:
        # A flat picture (a painted mask, a colour swatch): every block reads the same bit, which
        # looks like a confident all-zero or all-one id. Such a picture cannot carry a mark either
        # (rounding the pixels undoes it), so it reads as absent: no votes at all.
        return empty, empty.copy()
    ones = ((s0 % _SCALE) > _SCALE * 0.5).astype(np.float64)
    return (np.bincount(index, weights=ones, minlength=PAYLOAD_BITS),
            np.bincount(index, minlength=PAYLOAD_BITS).astype(np.float64))


@dataclass(frozen=True)
class WatermarkReading:
    """What a reader made of one image (or several frames): the id and how sure it is."""

    watermark_id: str | None  # None when the votes are too undecided to call it a watermark
    confidence: float  # mean distance of the votes from 50/50, scaled to 0..1

    @property
    def found(self) -> bool:
        return self.watermark_id is not None


def decide(ones: np.ndarray, totals: np.ndarray) -> WatermarkReading:
    """Turn vote counts (possibly summed over several frames) into a reading."""
    if totals.min() <= 0:
        return WatermarkReading(None, 0.0)
    share = ones / totals
    confidence = float(np.abs(share - 0.5).mean() * 2)
    if confidence < 2 * _FOUND_MARGIN:
        return WatermarkReading(None, confidence)
    bits = share > 0.5
    if not READ_ONES[0] <= int(bits.sum()) <= READ_ONES[1]:
        return WatermarkReading(None, confidence)   # flat colours' pattern, never an issued id
    return WatermarkReading(np.packbits(bits.astype(np.uint8)).tobytes().hex(), confidence)


def read(rgb: np.ndarray, region: np.ndarray | None = None) -> WatermarkReading:
    """Read the watermark of one RGB uint8 image (within `region`, a boolean mask, when given);
    images below MIN_PIXELS read as absent."""
    if not can_carry(rgb.shape[1], rgb.shape[0]):
        return WatermarkReading(None, 0.0)
    return decide(*vote(rgb, region))


def embed_within(rgb: np.ndarray, watermark_id: str, region: np.ndarray) -> np.ndarray:
    """`embed`, then every pixel outside `region` (boolean, True = may change) put back as it was:
    the mark lives only where the picture was generated, and the rest keeps its exact bytes."""
    marked = embed(rgb, watermark_id)
    return np.where(np.asarray(region, bool)[..., None], marked, rgb)


def box_mask(shape: tuple[int, ...], box: tuple[int, int, int, int]) -> np.ndarray:
    """A boolean mask of `shape[:2]`, True inside the rectangle (x, y, width, height)."""
    x, y, w, h = (int(v) for v in box)
    mask = np.zeros(shape[:2], bool)
    mask[max(0, y):y + h, max(0, x):x + w] = True
    return mask


def read_in_boxes(rgb: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> WatermarkReading | None:
    """The first reading found within one of `boxes` (the regions a manifest's soft binding names),
    or None: a fill marks only the area it generated, which a whole-image read can miss."""
    for box in boxes:
        reading = read(rgb, box_mask(rgb.shape, box))
        if reading.found:
            return reading
    return None


def region_box(region: np.ndarray) -> tuple[int, int, int, int] | None:
    """The bounding rectangle (x, y, width, height) of a boolean mask's True pixels; None if empty."""
    ys, xs = np.nonzero(region)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def read_frames(frames: list[np.ndarray]) -> WatermarkReading:
    """Read the watermark of a video from some of its frames, pooling their votes."""
    ones = np.zeros(PAYLOAD_BITS)
    totals = np.zeros(PAYLOAD_BITS)
    for frame in frames:
        if can_carry(frame.shape[1], frame.shape[0]):
            o, t = vote(frame)
            ones += o
            totals += t
    return decide(ones, totals)
