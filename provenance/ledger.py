"""The provenance ledger: one row per published file, in the studio's SQLite database.

The database file is shared with other parts of the studio, so this module creates only its
own table (`CREATE TABLE IF NOT EXISTS`). Every call opens its own connection: the studio is
multi-threaded and sqlite3 connections must not cross threads. WAL mode lets readers (Verify)
run while a publish writes.

The ledger is what makes a stripped file recoverable: a re-saved image loses its embedded
manifest but keeps the watermark, and the watermark id leads back to the row holding the
original manifest (the idea behind C2PA soft bindings).
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

TABLE = "provenance_outputs"
_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        session_id TEXT NOT NULL,
        path TEXT NOT NULL,
        mime TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        watermark_id TEXT,
        width INTEGER,
        height INTEGER,
        manifest_json TEXT NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_watermark ON {TABLE}(watermark_id)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_sha256 ON {TABLE}(sha256)",
)
_COLUMNS = "id, created_at, session_id, path, mime, sha256, watermark_id, width, height, manifest_json"


@dataclass(frozen=True)
class LedgerRecord:
    """One published file as the ledger remembers it."""

    id: str
    created_at: str
    session_id: str
    path: str
    mime: str
    sha256: str
    watermark_id: str | None
    width: int | None
    height: int | None
    manifest_json: str  # the manifest store as read back from the signed file

    @property
    def manifest_store(self) -> dict:
        return json.loads(self.manifest_json)

    def public_dict(self) -> dict:
        """The record as shown to whoever verifies a file: no session id, no server path."""
        return {"id": self.id, "created_at": self.created_at, "mime": self.mime, "sha256": self.sha256,
                "watermark_id": self.watermark_id, "width": self.width, "height": self.height}


class Ledger:
    """Reads and writes ledger rows in `<data_dir>/studio.sqlite3` (or any given path)."""

    def __init__(self, db_path: Path):
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn, conn:
            conn.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                conn.execute(statement)

    def __repr__(self) -> str:
        return f"Ledger({str(self.db_path)!r})"

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    def record(self, rec: LedgerRecord) -> None:
        """Add one published file."""
        with closing(self._connect()) as conn, conn:
            conn.execute(f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (rec.id, rec.created_at, rec.session_id, rec.path, rec.mime, rec.sha256,
                          rec.watermark_id, rec.width, rec.height, rec.manifest_json))

    def _select(self, where: str, args: tuple) -> list[LedgerRecord]:
        with closing(self._connect()) as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM {TABLE} WHERE {where} ORDER BY created_at DESC",
                                args).fetchall()
        return [LedgerRecord(*row) for row in rows]

    def get(self, output_id: str) -> LedgerRecord | None:
        """The record with this output id, if any."""
        rows = self._select("id = ?", (output_id,))
        return rows[0] if rows else None

    def by_watermark(self, watermark_id: str) -> LedgerRecord | None:
        """The newest record carrying this watermark id (a video's outputs share none)."""
        rows = self._select("watermark_id = ?", (watermark_id,))
        return rows[0] if rows else None

    def by_sha256(self, sha256: str) -> LedgerRecord | None:
        """The record of a file with exactly these bytes."""
        rows = self._select("sha256 = ?", (sha256,))
        return rows[0] if rows else None

    def image_sizes(self, limit: int = 64) -> list[tuple[int, int]]:
        """Distinct (width, height) of watermarked outputs, most used first: the sizes to try
        when scaling a resized copy back before reading its watermark."""
        with closing(self._connect()) as conn:
            rows = conn.execute(
                f"SELECT width, height FROM {TABLE} WHERE watermark_id IS NOT NULL AND width IS NOT NULL "
                f"GROUP BY width, height ORDER BY COUNT(*) DESC LIMIT ?", (limit,)).fetchall()
        return [(int(w), int(h)) for w, h in rows]
