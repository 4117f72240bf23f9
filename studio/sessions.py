"""Visitor sessions, held on the server in SQLite (`<data_dir>/studio.sqlite3`).

A visitor holds only an opaque random *token* (the browser in its local storage, an API client in
a header or through Gradio's session hash). The server looks the token up and finds the session's
*id*: a separate random value that names the visitor's output folder and owns their gallery rows,
boards and jobs. The id is never sent to the visitor and cannot be derived from the token (nor the
token from the id: the database keeps only the token's SHA-256), so a leaked path opens nothing.
A token the server does not know, or one idle past the expiry, gets a new session; it is never
taken as an id. Creating sessions counts against the visitor's network address like jobs do.

Per-visitor working state (last seeds, selections, gallery pages shown) stays in `gr.State` as
a `Session`, which Gradio keeps on the server too.
"""
from __future__ import annotations

import hashlib
import math
import secrets
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from studio.db import connect, create_tables
from studio.jobs import LimitError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY, id TEXT NOT NULL, created REAL NOT NULL, last_seen REAL NOT NULL,
    client_sha256 TEXT, legacy INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS sessions_id ON sessions(id);
CREATE INDEX IF NOT EXISTS sessions_client ON sessions(client_sha256, created);
CREATE TABLE IF NOT EXISTS sessions_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Tables whose `session_id` column named a visitor's folder before sessions were held on the server.
_LEGACY_OWNERS = ("gallery", "storyboard_boards")
TOKEN_HEADER = "x-studio-session"          # API callers may carry their token in this header
_TOUCH_EVERY_S = 600                       # how stale `last_seen` may get before a use rewrites it


@dataclass
class Session:
    """One visitor's session: `id` names their folder and owns their work (never shown to them);
    `token` is what they hold. The rest is working state of the page."""

    id: str
    token: str = field(default="", repr=False)                  # kept out of logs and tracebacks
    last_seed: dict[str, int] = field(default_factory=dict)     # task -> seed of the last run
    selected: dict[str, str] = field(default_factory=dict)      # task -> gallery item id selected
    pages: int = 1                                              # gallery pages shown in each tab
    seen: float = 0.0                                           # when the store last recorded a use


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_token() -> str:
    """What a visitor holds: 256 random bits."""
    return secrets.token_urlsafe(32)


def new_session_id() -> str:
    """A session's id (its folder name): random, independent of the token."""
    return secrets.token_urlsafe(24)


def random_seed() -> int:
    return secrets.randbelow(2**32 - 16)


class SessionStore:
    """Sessions in SQLite: token (hashed) -> id, with creation and last-use times.

    `idle_days` (0: never) is how long an unused session lives; `per_ip_minute` (0: off) how many
    sessions one network address may create in a minute. A connection per call: the studio is
    multi-threaded.
    """

    def __init__(self, db_path: Path, idle_days: float = 30, per_ip_minute: int = 0,
                 clock: Callable[[], float] = time.time):
        self.db_path = Path(db_path)
        self.idle_days, self.per_ip_minute, self.clock = idle_days, per_ip_minute, clock
        self._create_lock = threading.Lock()    # the per-address count and the insert, as one step
        create_tables(self.db_path, _SCHEMA)
        self._migrate_legacy()

    def _connect(self) -> sqlite3.Connection:
        return connect(self.db_path)

    def open(self, token: str | None, client: str | None = None) -> Session:
        """The live session for `token`, or a new one (new token, new id) when the token is absent,
        unknown, forged or expired. `client` is the visitor's network address, for the creation limit."""
        found = self.find(token)
        return found if found is not None else self.create(client)

    def open_as(self, key: str, client: str | None = None) -> Session:
        """The session of a client that names itself (Gradio's session hash of an API client): created
        under that name on first use, so every call of one client shares one session."""
        found = self.find(key)
        if found is not None:
            return found
        with self._create_lock:  # a page's load and its first click may both get here at once
            found = self.find(key)
            return found if found is not None else self.create(client, token=key, locked=True)

    def find(self, token: str | None) -> Session | None:
        """The live session for `token`, or None. A migrated (pre-server-side) token is exchanged for
        a new one on first use, so the folder name it equals stops opening anything."""
        if not isinstance(token, str) or not 16 <= len(token) <= 256:
            return None
        now, digest = self.clock(), _sha256(token)
        with self._connect() as db:
            row = db.execute("SELECT id, last_seen, legacy FROM sessions WHERE token_sha256 = ?", (digest,)).fetchone()
            if row is None:
                return None
            session_id, last_seen, legacy = row
            if self._expired(last_seen, now):
                db.execute("DELETE FROM sessions WHERE token_sha256 = ?", (digest,))
                return None
            if legacy:
                token = new_token()
                db.execute("UPDATE sessions SET token_sha256 = ?, legacy = 0, last_seen = ? WHERE token_sha256 = ?",
                           (_sha256(token), now, digest))
            elif now - last_seen > _TOUCH_EVERY_S:  # a write per use would cost a commit per API call
                db.execute("UPDATE sessions SET last_seen = ? WHERE token_sha256 = ?", (now, digest))
            else:
                now = last_seen
        return Session(id=session_id, token=token, seen=now)

    def create(self, client: str | None = None, token: str | None = None, locked: bool = False) -> Session:
        """A new session; `LimitError` when `client` made `per_ip_minute` sessions in the last minute."""
        if not locked:
            with self._create_lock:
                return self.create(client, token, locked=True)
        now, token = self.clock(), token or new_token()
        client_digest = _sha256(client) if client else None
        with self._connect() as db:
            if client_digest and self.per_ip_minute > 0:
                made = db.execute("SELECT COUNT(*), MIN(created) FROM sessions WHERE client_sha256 = ? AND created > ?",
                                  (client_digest, now - 60)).fetchone()
                if made[0] >= self.per_ip_minute:
                    raise LimitError(f"Too many new sessions from your network address in the last minute ({made[0]}; "
                                     f"the limit is {self.per_ip_minute} for everyone sharing it); try again in "
                                     f"{max(1, math.ceil(60 - (now - made[1])))} s.")
            # OR IGNORE + read back: another server process may have created this client's session meanwhile
            db.execute("INSERT OR IGNORE INTO sessions VALUES (?,?,?,?,?,0)",
                       (_sha256(token), new_session_id(), now, now, client_digest))
            session_id = db.execute("SELECT id FROM sessions WHERE token_sha256 = ?", (_sha256(token),)).fetchone()[0]
        return Session(id=session_id, token=token, seen=now)

    def issue_token(self, session: Session) -> Session:
        """Another token for an existing session (a page adopting the session its client already has);
        not a new session, so it does not count against the address's limit."""
        now, token = self.clock(), new_token()
        with self._connect() as db:
            db.execute("INSERT INTO sessions VALUES (?,?,?,?,NULL,0)", (_sha256(token), session.id, now, now))
        return Session(id=session.id, token=token, seen=now)

    def touch(self, session: Session) -> None:
        """Record a use of a session held in a page, at most every few minutes (it keeps it from expiring)."""
        now = self.clock()
        if session.token and now - session.seen > _TOUCH_EVERY_S:
            session.seen = now
            with self._connect() as db:
                db.execute("UPDATE sessions SET last_seen = ? WHERE token_sha256 = ?", (now, _sha256(session.token)))

    def expire(self) -> int:
        """Forget sessions idle past the expiry (their outputs follow the retention setting)."""
        if self.idle_days <= 0:
            return 0
        with self._connect() as db:
            return db.execute("DELETE FROM sessions WHERE last_seen < ?",
                              (self.clock() - self.idle_days * 86400,)).rowcount

    def _expired(self, last_seen: float, now: float) -> bool:
        return self.idle_days > 0 and now - last_seen > self.idle_days * 86400

    def _migrate_legacy(self) -> None:
        """Once per database: every session id that owned work before sessions were held here (it was
        the token too) gets a row, so its holder keeps their gallery and boards; `find` then swaps
        that token for a fresh one."""
        with self._connect() as db:
            if db.execute("SELECT 1 FROM sessions_meta WHERE key = 'legacy_migrated'").fetchone():
                return
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            ids = {r[0] for t in _LEGACY_OWNERS if t in tables
                   for r in db.execute(f"SELECT DISTINCT session_id FROM {t}")}  # noqa: S608 - fixed names
            now = self.clock()
            db.executemany("INSERT OR IGNORE INTO sessions VALUES (?,?,?,?,NULL,1)",
                           [(_sha256(i), i, now, now) for i in sorted(ids)])
            db.execute("INSERT INTO sessions_meta VALUES ('legacy_migrated', ?)", (str(now),))


_SERVING: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # Blocks -> the Studio it serves


def serve(blocks, studio) -> None:
    """Tell `ensure` which studio's session store answers for events of `blocks` (one per server, so
    several studios can run in one process)."""
    _SERVING[blocks] = studio


def _event_context():
    """(studio, gr.Request) of the event being handled; (None, None) outside one."""
    from gradio.context import LocalContext  # Gradio sets it around every call of a handler

    blocks = LocalContext.blocks.get(None)
    return _SERVING.get(blocks) if blocks is not None else None, LocalContext.request.get(None)


def ensure(session: Session | None, request=None, login=None) -> Session:
    """The visitor's session, for an event handler.

    A page has its session from the page load (`gr.State`); using it keeps it from expiring. An API
    caller has none: see `resolve`. `login` is only used outside a served studio (direct calls).
    """
    studio, current = _event_context()
    request = request if request is not None else current
    if isinstance(session, Session):
        if studio is not None:
            studio.sessions.touch(session)
        return session
    if studio is None:  # a handler called outside a server: a session of its own (or the login's)
        user_session = login(request) if login is not None and request is not None else None
        return Session(id=user_session) if user_session else Session(id=new_session_id(), token=new_token())
    return resolve(studio, request)


def resolve(studio, request, saved_token: str | None = None, page: bool = False) -> Session:
    """The session for a request that has none in its page state (a page load, an API call).

    A signed-in visitor gets their login's session. Anyone else: the live session of the token in
    the `X-Studio-Session` header or of `saved_token` (the browser's). Without one (or with a token
    that opens nothing: unknown, forged, expired), the session of the client itself: Gradio's session
    hash, which gradio_client keeps for the life of a `Client` (one session per client, not one per
    call) and a page keeps until it is reloaded, so a click that beat the page load lands in the same
    session. A `page` load then gets a token of its own for that session, to keep in the browser.
    Too many new sessions from one network address get a `gr.Error` that says so.
    """
    import gradio as gr

    from studio.widgets import client_address

    user_session = studio.login_session(request) if request is not None else None
    if user_session:
        return Session(id=user_session)
    header_token = request.headers.get(TOKEN_HEADER) if request is not None else None
    found = studio.sessions.find(header_token or saved_token)
    if found is not None:
        return found
    client = client_address(studio, request) if request is not None else None
    session_hash = request.session_hash if request is not None else None
    try:
        if not session_hash:
            return studio.sessions.create(client)
        session = studio.sessions.open_as(f"gradio-session-hash:{session_hash}", client)
    except LimitError as e:
        raise gr.Error(str(e), print_exception=False) from None
    return studio.sessions.issue_token(session) if page else session
