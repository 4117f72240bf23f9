"""The invisible watermark: robustness, absence, and compatibility with invisible-watermark itself."""
import io

import numpy as np
import pytest
from imwatermark import WatermarkDecoder, WatermarkEncoder
from PIL import Image

from provenance import watermark


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


@pytest.fixture
def marked(picture):
    original = picture(320, 320)
    wm_id = watermark.new_watermark_id()
    return original, watermark.embed(original, wm_id), wm_id


def test_round_trip_and_invisibility(marked):
    original, image, wm_id = marked
    assert len(wm_id) == watermark.PAYLOAD_BITS // 4
    assert watermark.read(image).watermark_id == wm_id
    assert _psnr(original, image) > 38  # the library's own embedding measures ~29.5 dB


def test_survives_jpeg_85(marked):
    _, image, wm_id = marked
    assert watermark.read(_jpeg(image, 85)).watermark_id == wm_id


def test_survives_a_resize_scaled_back(marked):
    _, image, wm_id = marked
    small = Image.fromarray(image).resize((200, 200), Image.Resampling.LANCZOS)
    back = np.asarray(small.resize((320, 320), Image.Resampling.LANCZOS))
    assert watermark.read(back).watermark_id == wm_id


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_unmarked_images_read_as_absent(picture, seed):
    reading = watermark.read(picture(320, 320, seed=seed))
    assert not reading.found and reading.confidence < 0.4


@pytest.mark.parametrize("colour", ["orange", "black", "white"])
def test_a_flat_picture_reads_as_absent(colour):
    """Every block of a flat picture votes the same bit: without a guard it reads as a confident
    all-zero (or all-one) id, and a painted mask or a swatch would pass for the studio's output."""
    flat = np.asarray(Image.new("RGB", (320, 320), colour))
    assert not watermark.read(flat).found
    assert not watermark.read(_jpeg(flat, 85)).found
    # nor can a flat picture carry one: rounding its pixels back to whole levels undoes the mark
    assert not watermark.read(watermark.embed(flat, watermark.new_watermark_id())).found


def test_small_images_cannot_carry_it(picture):
    assert not watermark.can_carry(255, 256)
    with pytest.raises(ValueError):
        watermark.embed(picture(200, 200), watermark.new_watermark_id())
    assert not watermark.read(picture(200, 200)).found


def test_library_reads_our_watermark(marked):
    _, image, wm_id = marked
    decoder = WatermarkDecoder("bytes", watermark.PAYLOAD_BITS)
    assert decoder.decode(np.ascontiguousarray(image[:, :, ::-1]), "dwtDctSvd").hex() == wm_id


def test_we_read_the_library_watermark(picture):
    payload = bytes.fromhex("0123456789ab")
    encoder = WatermarkEncoder()
    encoder.set_watermark("bytes", payload)
    bgr = encoder.encode(np.ascontiguousarray(picture(320, 320)[:, :, ::-1]), "dwtDctSvd")
    assert watermark.read(np.ascontiguousarray(bgr[:, :, ::-1])).watermark_id == payload.hex()


def test_frames_pool_their_votes(picture):
    wm_id = "5a17c0ffee42"
    frames = [_jpeg(watermark.embed(picture(256, 256, seed=s), wm_id), 75) for s in range(4)]
    assert watermark.read_frames(frames).watermark_id == wm_id
    assert not watermark.read_frames([picture(256, 256, seed=9)]).found


def _drawing(size: int) -> np.ndarray:
    """Two flat colours, the kind of picture a visitor uploads as a reference or a logo."""
    from PIL import ImageDraw
    im = Image.new("RGB", (96, 96), (30, 90, 200))
    ImageDraw.Draw(im).rectangle((20, 20, 70, 60), fill=(250, 200, 20))
    return np.asarray(im.resize((size, size), Image.Resampling.LANCZOS))


@pytest.mark.parametrize("size", [256, 512, 1024])
def test_a_drawing_of_flat_colours_reads_as_absent(size):
    """Found in a full-suite run: such a drawing scaled to an output size read as a confident
    000000000000 (0.9-1.0), so an upload was called "AI-generated: studio watermark"."""
    reading = watermark.read(_drawing(size))
    assert not reading.found and reading.confidence > 0.4   # confident votes, but a content pattern


def test_issued_ids_are_balanced_and_read_back(picture):
    ids = [watermark.new_watermark_id() for _ in range(200)]
    assert all(16 <= int(i, 16).bit_count() <= 32 for i in ids) and len(set(ids)) == 200
    assert watermark.read(watermark.embed(picture(256, 256), ids[0])).watermark_id == ids[0]
