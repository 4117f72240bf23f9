"""File types come from the bytes, not from the name."""
import pytest

from provenance.probe import kind_of, sniff_mime


@pytest.mark.parametrize("head,mime", [
    (b"\x89PNG\r\n\x1a\n" + bytes(8), "image/png"),
    (b"\xff\xd8\xff\xe0" + bytes(12), "image/jpeg"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav"),
    (b"fLaC" + bytes(12), "audio/flac"),
    (b"ID3\x04" + bytes(12), "audio/mpeg"),
    (b"\xff\xfb\x90\x00" + bytes(12), "audio/mpeg"),
    (b"\xff\xf1\x50\x80" + bytes(12), None),  # AAC in ADTS, not MP3
    (b"\x00\x00\x00\x20ftypisom" + bytes(4), "video/mp4"),
    (b"\x00\x00\x00\x20ftypM4A " + bytes(4), "audio/mp4"),
    (b"%PDF-1.7" + bytes(8), "application/pdf"),
    (b"PK\x03\x04" + bytes(12), "application/zip"),
    (b"hello, world, not media", None),
])
def test_sniff(head, mime):
    assert sniff_mime(head) == mime


def test_kind():
    assert [kind_of(m) for m in ("image/png", "video/mp4", "audio/wav", "application/pdf", None)] == \
        ["image", "video", "audio", None, None]
