"""Boards in the studio's SQLite database (<data_dir>/studio.sqlite3), in tables of their own.

A board's settings are one row; its shots are one row each, so a panel arriving from a job
rewrites only its own shot and never an edit the visitor made to another shot meanwhile. Every
read and write names the owner's session id: a visitor can reach only their own boards, except
through `get_shared` with a board's share token (read-only: the service never writes through it).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path


from pipelines.errors import InputError
from studio.db import connect, create_tables
from studio.storyboard.board import Board, Shot

_SCHEMA = """
CREATE TABLE IF NOT EXISTS storyboard_boards (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, title TEXT NOT NULL, settings TEXT NOT NULL,
    share_token TEXT UNIQUE, created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS storyboard_boards_session ON storyboard_boards(session_id, updated);
CREATE TABLE IF NOT EXISTS storyboard_shots (
    board_id TEXT NOT NULL, id TEXT NOT NULL, position INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (board_id, id));
CREATE INDEX IF NOT EXISTS storyboard_shots_order ON storyboard_shots(board_id, position);
CREATE TABLE IF NOT EXISTS storyboard_deleted_links (token_sha256 TEXT PRIMARY KEY, deleted REAL NOT NULL);
"""


class BoardStore:
    """Reads and writes boards. A connection per call: the studio is multi-threaded."""

    def __init__(self, db_path: Path):
        self.db_path = Path(db_path)
        create_tables(self.db_path, _SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.db_path)

    def save(self, board: Board) -> None:
        """Write the whole board: settings and every shot in its current order."""
        board.updated = time.time()
        with self._connect() as db:
            owner = db.execute("SELECT session_id FROM storyboard_boards WHERE id = ?", (board.id,)).fetchone()
            if owner and owner[0] != board.session_id:
                raise InputError("That board is not among your boards; nothing was changed.")
            db.execute("INSERT INTO storyboard_boards VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                       "title=excluded.title, settings=excluded.settings, share_token=excluded.share_token, "
                       "updated=excluded.updated",
                       (board.id, board.session_id, board.title, json.dumps(board.settings()),
                        board.share_token or None, board.created, board.updated))
            db.execute("DELETE FROM storyboard_shots WHERE board_id = ? AND id NOT IN (%s)"
                       % ",".join("?" * len(board.shots)), (board.id, *[s.id for s in board.shots]))
            db.executemany("INSERT OR REPLACE INTO storyboard_shots VALUES (?,?,?,?)",
                           [(board.id, s.id, i, json.dumps(s.to_dict())) for i, s in enumerate(board.shots)])

    def save_shot(self, board: Board, shot: Shot) -> bool:
        """Write one shot if it is still on the board (it may have been deleted meanwhile)."""
        with self._connect() as db:
            cur = db.execute("UPDATE storyboard_shots SET data = ? WHERE board_id = ? AND id = ? AND board_id IN "
                             "(SELECT id FROM storyboard_boards WHERE session_id = ?)",
                             (json.dumps(shot.to_dict()), board.id, shot.id, board.session_id))
            db.execute("UPDATE storyboard_boards SET updated = ? WHERE id = ?", (time.time(), board.id))
            return cur.rowcount == 1

    def save_settings(self, board: Board) -> None:
        """Write the board's settings only (voices, music, sharing), leaving its shots as they are."""
        board.updated = time.time()
        with self._connect() as db:
            db.execute("UPDATE storyboard_boards SET title = ?, settings = ?, share_token = ?, updated = ? "
                       "WHERE id = ? AND session_id = ?", (board.title, json.dumps(board.settings()),
                                                           board.share_token or None, board.updated, board.id,
                                                           board.session_id))

    def get(self, session_id: str, board_id: str) -> Board | None:
        """The board, only if it belongs to `session_id`."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM storyboard_boards WHERE id = ? AND session_id = ?",
                             (board_id, session_id)).fetchone()
            return self._board(db, row) if row else None

    def get_shared(self, token: str) -> Board | None:
        """The board a share token opens, whoever asks."""
        if not token:
            return None
        with self._connect() as db:
            row = db.execute("SELECT * FROM storyboard_boards WHERE share_token = ?", (token,)).fetchone()
            return self._board(db, row) if row else None

    def list(self, session_id: str) -> list[tuple[str, str, int, float]]:
        """(id, title, shot count, updated) of a session's boards, most recently changed first."""
        with self._connect() as db:
            return db.execute("SELECT b.id, b.title, COUNT(s.id), b.updated FROM storyboard_boards b "
                              "LEFT JOIN storyboard_shots s ON s.board_id = b.id WHERE b.session_id = ? "
                              "GROUP BY b.id ORDER BY b.updated DESC", (session_id,)).fetchall()

    def delete(self, session_id: str, board_id: str) -> bool:
        """Delete a board and its shots; its share link, if any, is remembered as deleted (by hash only)."""
        with self._connect() as db:
            row = db.execute("SELECT share_token FROM storyboard_boards WHERE id = ? AND session_id = ?",
                             (board_id, session_id)).fetchone()
            cur = db.execute("DELETE FROM storyboard_boards WHERE id = ? AND session_id = ?", (board_id, session_id))
            if cur.rowcount:
                db.execute("DELETE FROM storyboard_shots WHERE board_id = ?", (board_id,))
                if row and row[0]:
                    db.execute("INSERT OR REPLACE INTO storyboard_deleted_links VALUES (?, ?)",
                               (_token_hash(row[0]), time.time()))
            return cur.rowcount == 1

    def was_deleted(self, token: str) -> bool:
        """Whether `token` was the share link of a board since deleted."""
        with self._connect() as db:
            return db.execute("SELECT 1 FROM storyboard_deleted_links WHERE token_sha256 = ?",
                              (_token_hash(token),)).fetchone() is not None

    @staticmethod
    def _board(db: sqlite3.Connection, row) -> Board:
        board_id, session_id, title, settings, token, created, updated = row
        shots = [Shot.from_dict(json.loads(data)) for (data,) in db.execute(
            "SELECT data FROM storyboard_shots WHERE board_id = ? ORDER BY position", (board_id,))]
        known = set(Board.SETTINGS)
        values = {k: v for k, v in json.loads(settings).items() if k in known}
        return Board(id=board_id, session_id=session_id, title=title, shots=shots, share_token=token or "",
                     created=created, updated=updated, **values)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
