"""Accepted uploads in the Library: each file a visitor feeds in, once it passed the upload checks,
becomes an item of task "upload" in their own library, found by its name and what it was used for,
and captioned and tagged later like the studio's outputs.

The index keeps a copy of the uploaded bytes in the visitor's session folder (Gradio's temporary
upload is cleaned away), named by their hash, so the same file fed in twice is one item. Its row lives
in `library_uploads` (the gallery's columns), never in the gallery: an upload is not an output of any
tab, is not signed by the studio, and is never put in the Library's ZIP. Retention removes the copy
with the session's outputs.
"""
from __future__ import annotations

import hashlib
import logging
import re
import shutil
from pathlib import Path
from typing import Sequence

from pipelines.media import InputFile
from pipelines.uploads import upload_mime
from studio.gallery import GalleryItem, now
from studio.library import UPLOAD_TASK, Library, kind_of_mime

log = logging.getLogger(__name__)
_SAFE_SESSION = re.compile(r"[A-Za-z0-9_-]{1,128}")
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif",
              "audio/wav": ".wav", "audio/flac": ".flac", "audio/mpeg": ".mp3", "audio/ogg": ".ogg",
              "audio/mp4": ".m4a", "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm"}


def index_uploads(library: Library, session_id: str, task: str, inputs: Sequence[InputFile],
                  outputs_dir: Path) -> list[GalleryItem]:
    """Index each accepted upload among `inputs` in the visitor's library. A file the studio made (inside
    `outputs_dir`, reused as an input) is in the library already and is skipped; a copy that cannot be
    written costs only its own entry: the visitor's job goes on."""
    items = []
    for inp in inputs:
        try:
            item = index_upload(library, session_id, task, inp, Path(outputs_dir))
        except OSError as e:
            log.warning("library: upload %s not indexed: %s", Path(inp.path).name, e)
            continue
        if item is not None:
            items.append(item)
    return items


def index_upload(library: Library, session_id: str, task: str, inp: InputFile, outputs_dir: Path) -> GalleryItem | None:
    """The upload `inp` (already checked and accepted) as a library item of `session_id`; None when it is
    not an upload (a studio output) or not a picture, sound or video."""
    source, root = Path(inp.path), outputs_dir.resolve()
    if not _SAFE_SESSION.fullmatch(session_id or "") or source.resolve().is_relative_to(root):
        return None
    with source.open("rb") as f:
        mime = upload_mime(f.read(32)) or ""
    if kind_of_mime(mime) == "other":
        return None
    item_id = "upload-" + hashlib.sha256(f"{session_id}:{file_digest(source)}".encode()).hexdigest()[:32]
    dest = root / session_id / f"{item_id}{EXTENSIONS[mime]}"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.partial")
        shutil.copyfile(source, partial)
        partial.replace(dest)   # whole or not at all
    title = (inp.title or "uploaded file").strip()
    params = {"name": source.name, "used_for": f"{title} · {task.replace('_', ' ')}",
              "verdict": (inp.verdict or {}).get("verdict", "")}
    item = GalleryItem(item_id, session_id, UPLOAD_TASK, str(dest), mime, f"Upload · {title} · {source.name}",
                       params, now())
    library.add_upload(item, params["verdict"])
    return item


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
