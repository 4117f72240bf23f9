"""The gallery index: every published file of a session, with its parameters, in SQLite."""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.db import connect, create_tables


@dataclass
class GalleryItem:
    id: str
    session_id: str
    task: str
    path: str
    mime: str
    caption: str
    params: dict[str, Any]
    created: float


_SCHEMA = """
CREATE TABLE IF NOT EXISTS gallery (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, task TEXT NOT NULL, path TEXT NOT NULL,
    mime TEXT NOT NULL, caption TEXT NOT NULL, params TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS gallery_session ON gallery(session_id, created);
"""


class GalleryStore:
    """Per-session gallery rows. A connection per call: the studio is multi-threaded."""

    def __init__(self, db_path: Path, page_size: int = 24):
        self.db_path = Path(db_path)
        self.page_size = max(1, int(page_size))  # items a response carries per page shown
        create_tables(self.db_path, _SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.db_path)

    def add(self, item: GalleryItem) -> None:
        with self._connect() as db:
            db.execute("INSERT INTO gallery VALUES (?,?,?,?,?,?,?,?)",
                       (item.id, item.session_id, item.task, item.path, item.mime, item.caption,
                        json.dumps(item.params, default=str), item.created))

    def list(self, session_id: str, task: str | None = None, mime_prefix: str | None = None) -> list[GalleryItem]:
        """A session's items, oldest first; optionally one task's or one media kind's."""
        query, args = self._where(session_id, task, mime_prefix)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created, rowid", args).fetchall()
        return [GalleryItem(*r[:6], json.loads(r[6]), r[7]) for r in rows if Path(r[3]).exists()]

    def newest(self, session_id: str, task: str | None = None, mime_prefix: str | None = None,
               pages: int = 1) -> list[GalleryItem]:
        """A session's newest `pages` pages of items, newest first: what a response carries, so a
        call's cost does not grow with the visitor's whole history."""
        query, args = self._where(session_id, task, mime_prefix)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created DESC, rowid DESC LIMIT ?",
                              [*args, self.page_size * max(1, int(pages))]).fetchall()
        return [GalleryItem(*r[:6], json.loads(r[6]), r[7]) for r in rows if Path(r[3]).exists()]

    def page(self, session_id: str, task: str | None = None, number: int = 0) -> list[GalleryItem]:
        """Page `number` (0: the newest) of a session's items, newest first."""
        query, args = self._where(session_id, task, None)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?",
                              [*args, self.page_size, self.page_size * max(0, int(number))]).fetchall()
        return [GalleryItem(*r[:6], json.loads(r[6]), r[7]) for r in rows if Path(r[3]).exists()]

    def count(self, session_id: str, task: str | None = None, mime_prefix: str | None = None) -> int:
        """How many items a session has (of one task or media kind)."""
        query, args = self._where(session_id, task, mime_prefix)
        with self._connect() as db:
            return db.execute(query.replace("SELECT *", "SELECT COUNT(*)", 1), args).fetchone()[0]

    @staticmethod
    def _where(session_id: str, task: str | None, mime_prefix: str | None) -> tuple[str, list]:
        query, args = "SELECT * FROM gallery WHERE session_id = ?", [session_id]
        if task:
            query += " AND task = ?"
            args.append(task)
        if mime_prefix:
            query += " AND mime LIKE ?"
            args.append(mime_prefix + "%")
        return query, args

    def forget_missing(self) -> int:
        """Drop rows whose file is gone (retention, or removed by an operator)."""
        with self._connect() as db:
            rows = db.execute("SELECT id, path FROM gallery").fetchall()
            gone = [(i,) for i, p in rows if not Path(p).exists()]
            db.executemany("DELETE FROM gallery WHERE id = ?", gone)
        return len(gone)

    def get(self, session_id: str, item_id: str) -> GalleryItem | None:
        """One item, only if it belongs to `session_id`."""
        with self._connect() as db:
            r = db.execute("SELECT * FROM gallery WHERE session_id = ? AND id = ?", (session_id, item_id)).fetchone()
        return GalleryItem(*r[:6], json.loads(r[6]), r[7]) if r else None


def now() -> float:
    return time.time()
