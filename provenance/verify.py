"""Verify: examine any image, video, audio or text file the studio is given.

1. read the file's type from its bytes and decode it (a damaged file stops here, "Unreadable")
2. read and validate its C2PA manifest (embedded, or a `<file>.c2pa` sidecar beside it, or
   credentials stored at a URL the file names: fetched within the operator's policy); a text
   file (subtitles, a transcript) can only have a sidecar (provenance/text_files.py)
3. read the watermark (images, video frames, sound), scaling a resized image back when needed
4. find the file in the ledger (by watermark id, else by exact content hash); when the file's
   own credentials are gone or broken, recover the original manifest from there
5. the detector's verdict, when one is given
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from provenance import text_files, watermark
from provenance import remote_manifest
from provenance.codes import STATE_WORDS, explain
from provenance.ledger import Ledger, LedgerRecord
from provenance.probe import decode, kind_of, sniff_mime
from provenance.report import VerifyReport, generation_data, ingredient_tree, is_development, watermark_regions
from provenance.remote_manifest import RemoteFetchError, RemotePolicy
from provenance.signing import Credentials, read_credentials

# At most this many candidate sizes are tried when scaling a resized image back.
_MAX_RESCALES = 8
_ASPECT_TOLERANCE = 0.01
# The JUMBF label of a C2PA manifest store: every embedded store contains these bytes.
_STORE_MARK = b"c2pa"
_DEV_WORDS = {
    "Trusted": ("Content Credentials are intact and signed by this studio's own development identity. "
                "Only this studio trusts it: it is meant for testing and proves nothing elsewhere about who "
                "made the file."),
    "Valid": ("Content Credentials are intact, signed by a development identity (not trusted): it is meant "
              "for testing and proves nothing about who made the file."),
}


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path | str, ledger: Ledger | Path | str | None = None, trust_anchors_pem: str | None = None,
                *, detector: Callable[[Path], dict] | None = None,
                remote: RemotePolicy | None = None) -> VerifyReport:
    """Examine one file; never raises for a bad file (the report says what is wrong).

    `ledger` is a Ledger or the path of the studio database; `trust_anchors_pem` the CA
    certificates (PEM) to treat as trusted; `detector(path) -> dict` scores the file;
    `remote` whether and how credentials stored at a URL are fetched (default: RemotePolicy()).
    """
    path = Path(path)
    if isinstance(ledger, (str, Path)):
        ledger = Ledger(Path(ledger))
    report = VerifyReport(file_name=path.name, state="Unreadable")
    try:
        with path.open("rb") as f:
            head = f.read(64)
        report.size_bytes = path.stat().st_size
    except OSError as exc:
        report.message = f"The file could not be opened ({exc.strerror or 'not found'})."
        return report
    report.mime = sniff_mime(head) or (text_files.sniff_text(path) if head else None)
    if not head:
        report.message = "The file is empty."
        return report
    if report.mime is None:
        report.message = "This is not an image, video, audio or text format the studio can read."
        return report
    kind = kind_of(report.mime)
    report.sha256 = file_sha256(path)
    creds, report.manifest_source = _credentials(path, report.mime, trust_anchors_pem)
    if not creds.present:
        creds = _remote_credentials(report, path, creds, trust_anchors_pem, remote or RemotePolicy())
    elif report.manifest_source == "embedded":
        _name_remote_copy(report, path)
    decoded = decode(path, report.mime) if kind else None
    damaged = decoded is not None and not decoded.ok
    if damaged and (not creds.present or creds.error is not None):
        report.manifest_source = None
        report.message = decoded.problem
        return report
    _apply_credentials(report, creds)
    if damaged:
        # The credentials were readable, so they say what happened (usually a hash mismatch).
        report.message = _join(report.message, f"The content itself cannot be decoded: {decoded.problem}")
    elif kind in ("image", "video"):
        _read_watermark(report, decoded, kind, ledger)
    elif kind == "audio":
        # Imported here: it loads scipy (1-4 s), which Verify of an image or video never needs.
        from provenance import audio_watermark

        audio_watermark.note_in_report(report, path)
    _match_ledger(report, ledger, creds)
    if detector is not None and kind is not None and not damaged:
        report.verdict = detector(path)
    return report


def _credentials(path: Path, mime: str, anchors: str | None) -> tuple[Credentials, str | None]:
    # Nothing can be embedded in text; its words may even spell "c2pa", so only a sidecar counts.
    creds = Credentials(False) if text_files.is_text_mime(mime) else read_credentials(path, mime, anchors_pem=anchors)
    if creds.present and creds.error is not None and not _contains(path, _STORE_MARK):
        # c2pa could not parse the file, and there is no manifest store in it to be damaged.
        creds = Credentials(False)
    if creds.present:
        return creds, "embedded"
    sidecar = path.with_name(path.name + ".c2pa")
    if sidecar.is_file():
        return read_credentials(path, mime, anchors_pem=anchors, manifest_data=sidecar.read_bytes()), "sidecar"
    return creds, None


def _remote_credentials(report: VerifyReport, path: Path, creds: Credentials, anchors: str | None,
                        policy: RemotePolicy) -> Credentials:
    """Credentials the file says are stored at a URL: fetched and read against the file's bytes."""
    url = creds.remote_url or remote_manifest.find_reference(path)
    if not url:
        return creds
    host = remote_manifest.host_of(url)
    report.remote_manifest = {"url": url, "host": host, "fetched": False, "problem": None}
    try:
        data = remote_manifest.fetch(url, policy)
    except RemoteFetchError as exc:
        report.remote_manifest["problem"] = str(exc)
        return creds
    report.remote_manifest["fetched"] = True
    report.manifest_source = "remote"
    return read_credentials(path, report.mime, anchors_pem=anchors, manifest_data=data)


def _name_remote_copy(report: VerifyReport, path: Path) -> None:
    """A file with embedded credentials that also names a remote copy: the embedded ones are read."""
    url = remote_manifest.find_reference(path)
    if url:
        report.remote_manifest = {"url": url, "host": remote_manifest.host_of(url), "fetched": False,
                                  "problem": "not fetched: the embedded credentials were read"}


def _contains(path: Path, needle: bytes) -> bool:
    """Whether the file's bytes contain `needle` (read in chunks that overlap by its length)."""
    tail = b""
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle):]
    return False


def _apply_credentials(report: VerifyReport, creds: Credentials) -> None:
    remote = report.remote_manifest
    if not creds.present and remote and not remote["fetched"]:
        report.state = "Remote credentials"
        report.message = (f"Content Credentials for this file are stored at {remote['host']}, but they could not be "
                          f"fetched: {remote['problem']}.")
        report.failures = [("manifest.inaccessible", explain("manifest.inaccessible"))]
        return
    if not creds.present:
        report.state, report.message = "No credentials", STATE_WORDS["No credentials"]
        return
    if creds.error is not None:
        report.state = "Invalid"
        report.failures = [("manifest.unreadable", f"{explain('manifest.unreadable')} ({creds.error})")]
        report.message = STATE_WORDS["Invalid"]
        return
    report.state = creds.state if creds.state in ("Trusted", "Valid", "Invalid") else "Invalid"
    report.failures = _failures(creds.results or {})
    report.manifest = creds.active
    report.ingredients = ingredient_tree(creds.active, creds.store)
    report.development_identity = is_development(creds.active)
    report.message = STATE_WORDS[report.state]
    if report.development_identity and report.state != "Invalid":
        report.message = _DEV_WORDS[report.state]
    if report.manifest_source == "remote":
        report.message = _join(report.message, f"The credentials are stored at {remote['host']} and were fetched "
                                               "from there.")


def _failures(results: dict) -> list[tuple[str, str]]:
    out = []
    for status in (results.get("activeManifest") or {}).get("failure") or []:
        out.append((status.get("code", "unknown"), explain(status.get("code", ""), status.get("explanation"))))
    for delta in results.get("ingredientDeltas") or []:
        for status in (delta.get("validationDeltas") or {}).get("failure") or []:
            code = status.get("code", "unknown")
            if code == "signingCredential.untrusted":
                continue  # already said of the file itself when it applies; noise for ingredients
            out.append((f"ingredient: {code}", explain(code, status.get("explanation"))))
    return out


def _read_watermark(report: VerifyReport, decoded, kind: str, ledger: Ledger | None) -> None:
    report.watermark_checked = True
    if kind == "video":
        reading = watermark.read_frames(decoded.frames)
    else:
        reading = watermark.read(decoded.frames[0])
        if not reading.found:  # a fill's mark lives only in the region its soft binding names
            reading = watermark.read_in_boxes(decoded.frames[0], watermark_regions(report.manifest)) or reading
        if not reading.found:
            reading = _read_rescaled(report, decoded.frames[0], ledger) or reading
    if not reading.found and not watermark.can_carry(decoded.width, decoded.height):
        report.watermark_note = "too small to carry the studio's watermark (under 256x256 pixels)"
    if reading.found:
        report.watermark_id = reading.watermark_id
    report.watermark_confidence = round(reading.confidence, 3)


def _candidate_sizes(report: VerifyReport, width: int, height: int, ledger: Ledger | None) -> list[tuple[int, int]]:
    """Sizes to scale a resized image back to: the size its manifest recorded, then the
    sizes of the studio's outputs with the same aspect ratio."""
    sizes = []
    media = generation_data(report.manifest).get("media") or {}
    if media.get("width") and media.get("height"):
        sizes.append((int(media["width"]), int(media["height"])))
    if ledger is not None:
        aspect = width / height
        sizes += [(w, h) for w, h in ledger.image_sizes() if abs(w / h - aspect) <= _ASPECT_TOLERANCE * aspect]
    unique = []
    for size in sizes:
        if size != (width, height) and size not in unique and watermark.can_carry(*size):
            unique.append(size)
    return unique[:_MAX_RESCALES]


def _read_rescaled(report: VerifyReport, rgb: np.ndarray, ledger: Ledger | None):
    """A mark read after scaling back to a size the manifest recorded, or to one of the studio's
    output sizes when the ledger issued the id read (trying many sizes is many chances for a picture
    to read as a mark by accident, so a guessed size needs the id to be one the studio gave out)."""
    height, width = rgb.shape[:2]
    media = generation_data(report.manifest).get("media") or {}
    recorded = (media.get("width"), media.get("height"))
    for size in _candidate_sizes(report, width, height, ledger):
        scaled = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
        reading = watermark.read(scaled)
        if reading.found and (size == recorded or _issued(ledger, reading.watermark_id)):
            report.watermark_note = f"read after scaling the image back from {width}x{height} to {size[0]}x{size[1]}"
            return reading
    return None


def _issued(ledger: Ledger | None, watermark_id: str) -> bool:
    return ledger is not None and ledger.by_watermark(watermark_id) is not None


def _match_ledger(report: VerifyReport, ledger: Ledger | None, creds: Credentials) -> None:
    if ledger is None:
        return
    record: LedgerRecord | None = None
    if report.watermark_id:
        record = ledger.by_watermark(report.watermark_id)
        report.ledger_match = "watermark" if record else None
        if record is None:
            report.watermark_note = _join(report.watermark_note, "this id is not in this studio's ledger")
    if record is None and report.sha256:
        record = ledger.by_sha256(report.sha256)
        report.ledger_match = "exact copy" if record else None
    if record is None:
        return
    report.ledger_record = record.public_dict()
    intact = creds.present and creds.error is None and report.state != "Invalid"
    if not intact:
        store = record.manifest_store
        report.manifest = (store.get("manifests") or {}).get(store.get("active_manifest"))
        report.manifest_source = "ledger"
        report.ingredients = ingredient_tree(report.manifest, store)
        report.development_identity = is_development(report.manifest)
        report.message = _join(report.message, "The original credentials were recovered from the studio's ledger.")


def _join(first: str, second: str) -> str:
    if not first:
        return second
    return f"{first} {second}" if first.endswith(".") else f"{first}; {second}"
