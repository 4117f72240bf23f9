"""The studio's SQLite database (`<data_dir>/studio.sqlite3`): one connection per call, since the
studio is multi-threaded; WAL so readers never wait on a writer."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(db_path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(db_path, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    return db


def create_tables(db_path: Path, schema: str) -> None:
    """Create the database folder and a module's tables (CREATE TABLE IF NOT EXISTS ...)."""
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    with connect(db_path) as db:
        db.executescript(schema)
