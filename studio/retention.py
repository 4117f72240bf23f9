"""Outputs older than the retention period are deleted, with their gallery rows.

The ledger keeps its records (hash, manifest, watermark id), so a copy that is still out in
the world can be verified after the studio has deleted its own file.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from studio.gallery import GalleryStore
from studio.sessions import SessionStore

log = logging.getLogger(__name__)


def sweep(outputs_dir: Path, gallery: GalleryStore, max_age_days: float, now: float | None = None) -> int:
    """Delete output files older than `max_age_days`; return how many were deleted."""
    if max_age_days <= 0 or not outputs_dir.is_dir():
        return 0
    cutoff = (now or time.time()) - max_age_days * 86400
    deleted = 0
    for path in outputs_dir.glob("*/*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except OSError:  # a file removed meanwhile, or not ours to remove
            continue
    for folder in outputs_dir.iterdir():
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    gallery.forget_missing()
    if deleted:
        log.info("retention: deleted %d output(s) older than %s days", deleted, max_age_days)
    return deleted


def start(outputs_dir: Path, gallery: GalleryStore, max_age_days: float, every_s: float = 3600,
          sessions: SessionStore | None = None) -> None:
    """Sweep now and then every `every_s` seconds in a daemon thread: outputs past retention, and
    sessions past their idle expiry (nothing when both are off)."""
    if max_age_days <= 0 and (sessions is None or sessions.idle_days <= 0):
        return

    def loop():
        while True:
            try:
                sweep(outputs_dir, gallery, max_age_days)
                if sessions is not None:
                    sessions.expire()
            except Exception:
                log.exception("retention sweep failed")
            time.sleep(every_s)

    threading.Thread(target=loop, name="retention", daemon=True).start()
