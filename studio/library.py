"""The library: search over everything a visitor made, in the studio's SQLite database.

Beside the gallery table sit `library_items` (one row per gallery item: its filters, the automatic
caption and tags) and `library_fts`, an FTS5 table over its words (prompt, task, model, board and
shot text, caption, tags). A gallery row's deletion removes its index rows by trigger, whatever
deletes it (the Library tab, retention); a published item is indexed by the studio's post-publish
hook, and any gallery row the index does not have yet (a storyboard export, rows from before the
library) is indexed on the owner's next search. An accepted upload is indexed too (task "upload",
studio/library_uploads.py): its file row lives in `library_uploads`, with the gallery's columns, so
every read of an item's file looks in both (FILE_TABLES).

A visitor's words are data, never query syntax: each word becomes a quoted FTS5 string, so quotes,
AND/OR/NOT/NEAR, `-`, `^`, `:` and parentheses typed by a visitor are only text. The syntax a
visitor has is ours: "a phrase" in double quotes, and a trailing * for a prefix (fox*). Chinese and
Japanese characters are indexed one per token (SQLite's unicode61 tokenizer would take a whole
unspaced run as one word), so a query inside a longer run finds it, as a phrase.

Private per session: every query names the owner's session id; items of another visitor's board
are found only through that board's share link, and only while the board is shared.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from pipelines.errors import InputError
from studio.db import connect, create_tables
from studio.gallery import GalleryItem, GalleryStore

MAX_QUERY_CHARS = 500
MAX_PAGE_SIZE = 100
MAX_ZIP_ITEMS = 200
MAX_SIMILAR = 100
SORTS = ("newest", "oldest", "relevance")
KINDS = ("image", "audio", "video", "text")
PROMPT_KEYS = ("prompt", "text", "lyrics", "description")   # the visitor's own words in an item's params
UPLOAD_TASK = "upload"    # an accepted upload's task in the index (studio/library_uploads.py)
FILE_TABLES = ("gallery", "library_uploads")   # where an indexed item's file row lives (same columns)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS library_items (
    rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, session_id TEXT NOT NULL, task TEXT NOT NULL,
    kind TEXT NOT NULL, model TEXT NOT NULL, license TEXT NOT NULL, verdict TEXT NOT NULL DEFAULT '',
    board_id TEXT NOT NULL DEFAULT '', created REAL NOT NULL, caption TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]', tagged INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS library_session ON library_items(session_id, created);
CREATE INDEX IF NOT EXISTS library_board ON library_items(board_id);
CREATE INDEX IF NOT EXISTS library_untagged ON library_items(tagged, created);
CREATE VIRTUAL TABLE IF NOT EXISTS library_fts USING fts5(
    prompt, task, model, board, caption, tags, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS library_vectors (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS library_vectors_session ON library_vectors(session_id);
CREATE TRIGGER IF NOT EXISTS library_vectors_delete AFTER DELETE ON gallery BEGIN
    DELETE FROM library_vectors WHERE id = old.id;
END;
CREATE TABLE IF NOT EXISTS library_uploads (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, task TEXT NOT NULL, path TEXT NOT NULL,
    mime TEXT NOT NULL, caption TEXT NOT NULL, params TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS library_uploads_session ON library_uploads(session_id);
CREATE TRIGGER IF NOT EXISTS library_uploads_delete AFTER DELETE ON library_uploads BEGIN
    DELETE FROM library_vectors WHERE id = old.id;
    DELETE FROM library_fts WHERE rowid IN (SELECT rowid FROM library_items WHERE id = old.id);
    DELETE FROM library_items WHERE id = old.id;
END;
CREATE TABLE IF NOT EXISTS library_boards_seen (board_id TEXT PRIMARY KEY, updated REAL NOT NULL);
CREATE TRIGGER IF NOT EXISTS library_gallery_delete AFTER DELETE ON gallery BEGIN
    DELETE FROM library_fts WHERE rowid IN (SELECT rowid FROM library_items WHERE id = old.id);
    DELETE FROM library_items WHERE id = old.id;
END;
"""

# Han, kana and CJK punctuation ranges: scripts written without spaces between words.
_UNSPACED = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_WORD = re.compile(r"[^\W_]+")
_TERM = re.compile(r'"([^"]*)"|(\S+)')


def segment(text: str) -> str:
    """Text as the index stores it: each Chinese/Japanese character a word of its own."""
    return _UNSPACED.sub(lambda m: f" {m.group()} ", text or "")


def fts_query(text: str) -> str | None:
    """The visitor's search words as an FTS5 query that can only match words (None: no words).

    Every word must match; "quoted words" must match as a phrase; a word ending in * matches as a
    prefix. Anything else a visitor types (quotes left open, operators, punctuation) is text."""
    if not isinstance(text, str):
        text = ""
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(f"The search is {len(text):,} characters; the limit is {MAX_QUERY_CHARS}. "
                         f"Search with a few words.")
    terms = []
    for phrase, word in _TERM.findall(text):
        prefix = bool(word) and len(word) > 1 and word.endswith("*")
        words = _WORD.findall(segment(phrase or word))
        if words:
            # Only word characters go inside the quotes, so nothing a visitor types can close them.
            terms.append('"' + " ".join(words) + '"' + (" *" if prefix else ""))
    return " AND ".join(terms) or None


@dataclass
class Filters:
    """What a search is narrowed to; empty strings mean any."""

    kind: str = ""           # image, audio, video, text
    task: str = ""
    model: str = ""          # preset name
    date_from: str = ""      # YYYY-MM-DD (UTC), inclusive
    date_to: str = ""        # YYYY-MM-DD (UTC), inclusive
    verdict: str = ""        # the detector's verdict recorded at publication
    license: str = ""        # words the model's licence contains (case-insensitive)
    board: str = ""          # a board id: its panels and takes only

    def where(self) -> tuple[str, list]:
        """SQL conditions on library_items `i` and their arguments; `InputError` for a bad value."""
        sql, args = [], []
        if self.kind:
            if self.kind not in KINDS:
                raise InputError(f"Kind {self.kind!r} is not one of: {', '.join(KINDS)}.")
            sql.append("i.kind = ?")
            args.append(self.kind)
        for column, value in (("task", self.task), ("model", self.model), ("verdict", self.verdict),
                              ("board_id", self.board)):
            if value:
                sql.append(f"i.{column} = ?")
                args.append(str(value))
        if self.license:
            sql.append("i.license LIKE ? ESCAPE '\\'")
            args.append("%" + re.sub(r"([%_\\])", r"\\\1", str(self.license)) + "%")
        if self.date_from:
            sql.append("i.created >= ?")
            args.append(_day_start(self.date_from, "From"))
        if self.date_to:
            sql.append("i.created < ?")
            args.append(_day_start(self.date_to, "To") + 86400)
        return " AND ".join(sql), args


def _day_start(text: str, name: str) -> float:
    try:
        day = dt.date.fromisoformat(str(text).strip()[:10])
    except ValueError:
        raise InputError(f"{name} date {text!r}: write it as YYYY-MM-DD, e.g. 2026-12-01.") from None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()


@dataclass
class Hit:
    """One found item: the gallery item, and what the library knows about it."""

    item: GalleryItem
    tags: list[str] = field(default_factory=list)
    auto_caption: str = ""
    verdict: str = ""
    board_id: str = ""
    own: bool = True          # False: an item of a board shared with the visitor (read-only)
    withheld: bool = False    # the owner's words are shown as their SHA-256 (prompt disclosure off)
    similarity: float | None = None   # "more like this": cosine similarity to the chosen item

    def to_dict(self) -> dict[str, Any]:
        """What the API and CLI hand out: no server paths, no session ids."""
        from provenance.manifest import withheld

        it, hide = self.item, (lambda text: withheld(text, False)) if self.withheld else (lambda text: text)
        return {"id": it.id, "task": it.task, "mime": it.mime, "caption": it.caption,
                "auto_caption": hide(self.auto_caption), "tags": [hide(t) for t in self.tags],
                "verdict": self.verdict, "model": it.params.get("model", ""), "license": it.params.get("license", ""),
                "prompt": hide(prompt_text(it.params)), "created": dt.datetime.fromtimestamp(
                    it.created, dt.timezone.utc).isoformat(timespec="seconds"), "own": self.own,
                **({} if self.similarity is None else {"similarity": self.similarity})}


@dataclass
class Page:
    hits: list[Hit]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def prompt_text(params: dict) -> str:
    """The visitor's own words in an item's parameters."""
    return " ".join(str(params[k]) for k in PROMPT_KEYS if isinstance(params.get(k), str) and params[k].strip())


def kind_of_mime(mime: str) -> str:
    head = (mime or "").split("/")[0]
    return head if head in KINDS else "other"


class Library:
    """The search index beside a gallery. A connection per call: the studio is multi-threaded."""

    def __init__(self, gallery: GalleryStore, disclose_prompt: bool = True):
        self.gallery = gallery
        # Off: a shared board's viewers browse its items, but its owner's words (prompts, captions,
        # tags) are neither shown to them nor searchable by them, as on the shared board itself.
        self.disclose_prompt = disclose_prompt
        self.on_add: Callable[[], None] | None = None   # the background tagger's wake-up (library_tagging)
        self.db_path = gallery.db_path
        create_tables(self.db_path, _SCHEMA)   # the gallery table exists: the trigger names it

    def _connect(self) -> sqlite3.Connection:
        return connect(self.db_path)

    # ---- keeping the index in step ------------------------------------------------------------

    def add(self, item: GalleryItem, verdict: dict | None = None) -> None:
        """Index a published item (the studio's post-publish hook); `verdict` is the detector's."""
        with self._connect() as db:
            self._insert(db, item, (verdict or {}).get("verdict", ""))
        if self.on_add is not None:
            self.on_add()

    def add_upload(self, item: GalleryItem, verdict: str = "") -> None:
        """Index an accepted upload (studio/library_uploads.py made its copy): its file row goes beside the
        gallery's, in `library_uploads`, so it is searchable and tagged without being a gallery output."""
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO library_uploads VALUES (?,?,?,?,?,?,?,?)",
                       (item.id, item.session_id, item.task, item.path, item.mime, item.caption,
                        json.dumps(item.params, default=str), item.created))
            self._insert(db, item, verdict)
        if self.on_add is not None:
            self.on_add()

    @staticmethod
    def _insert(db: sqlite3.Connection, item: GalleryItem, verdict: str) -> None:
        p = item.params
        model = str(p.get("model") or "")
        cur = db.execute("INSERT OR IGNORE INTO library_items (id, session_id, task, kind, model, license, verdict, "
                         "board_id, created) VALUES (?,?,?,?,?,?,?,?,?)",
                         (item.id, item.session_id, item.task, kind_of_mime(item.mime), model,
                          str(p.get("license") or ""), str(verdict or ""), str(p.get("board_id") or ""), item.created))
        if cur.rowcount:
            db.execute("INSERT INTO library_fts (rowid, prompt, task, model, board, caption, tags) "
                       "VALUES (?,?,?,?,?,?,?)",
                       (cur.lastrowid, segment(prompt_text(p)), item.task.replace("_", " "),
                        segment(f"{model} {p.get('model_label') or ''} {item.caption}"), "", "", ""))

    def _catch_up(self, db: sqlite3.Connection, session_ids: Iterable[str]) -> None:
        """Index the gallery rows of these sessions that the index does not have yet."""
        for session_id in session_ids:
            counts = db.execute("SELECT (SELECT COUNT(*) FROM gallery WHERE session_id = ?) + (SELECT COUNT(*) "
                                "FROM library_uploads WHERE session_id = ?), (SELECT COUNT(*) FROM library_items "
                                "WHERE session_id = ?)", (session_id, session_id, session_id)).fetchone()
            if counts[0] == counts[1]:  # the usual case: nothing to look for
                continue
            rows = db.execute("SELECT g.* FROM gallery g LEFT JOIN library_items l ON l.id = g.id "
                              "WHERE g.session_id = ? AND l.id IS NULL", (session_id,)).fetchall()
            for r in rows:
                self._insert(db, GalleryItem(*r[:6], json.loads(r[6]), r[7]), "")

    def _index_boards(self, db: sqlite3.Connection, session_id: str) -> None:
        """Give the panels and voice takes of this session's boards their board and shot text (only
        boards changed since they were last read)."""
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'storyboard_boards'").fetchone():
            return
        changed = db.execute("SELECT b.id, b.title, b.updated FROM storyboard_boards b LEFT JOIN library_boards_seen s "
                             "ON s.board_id = b.id WHERE b.session_id = ? AND (s.updated IS NULL OR s.updated < "
                             "b.updated)", (session_id,)).fetchall()
        for board_id, title, updated in changed:
            for (data,) in db.execute("SELECT data FROM storyboard_shots WHERE board_id = ?", (board_id,)).fetchall():
                shot = json.loads(data)
                lines = shot.get("dialogue") or []
                text = segment(" ".join([title, shot.get("prompt", ""), shot.get("camera", ""), shot.get("scene", ""),
                                         *(f"{ln.get('speaker', '')} {ln.get('text', '')}" for ln in lines)]))
                ids = [shot.get("panel_id")] + [ln.get("audio_id") for ln in lines]
                for item_id in filter(None, ids):
                    row = db.execute("SELECT rowid FROM library_items WHERE id = ? AND session_id = ?",
                                     (item_id, session_id)).fetchone()
                    if row:
                        db.execute("UPDATE library_items SET board_id = ? WHERE rowid = ?", (board_id, row[0]))
                        db.execute("UPDATE library_fts SET board = ? WHERE rowid = ?", (text, row[0]))
            db.execute("INSERT OR REPLACE INTO library_boards_seen VALUES (?, ?)", (board_id, updated))

    def set_tags(self, item_id: str, caption: str, tags: list[str], vector: bytes | None = None) -> bool:
        """Store an item's automatic caption and tags (the tagging job's result) and, for "more like this",
        its unit-length image embedding as float32 bytes; False if the item is gone."""
        with self._connect() as db:
            row = db.execute("SELECT rowid, session_id FROM library_items WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                return False
            if vector:
                db.execute("INSERT OR REPLACE INTO library_vectors VALUES (?, ?, ?)", (item_id, row[1], vector))
            db.execute("UPDATE library_items SET caption = ?, tags = ?, tagged = 1 WHERE rowid = ?",
                       (caption, json.dumps(tags, ensure_ascii=False), row[0]))
            db.execute("UPDATE library_fts SET caption = ?, tags = ? WHERE rowid = ?",
                       (segment(caption), segment(" ".join(tags)), row[0]))
        return True

    def mark_tagged(self, item_id: str) -> None:
        """An item the tagger cannot read (or a kind it does not tag): not tried again."""
        with self._connect() as db:
            db.execute("UPDATE library_items SET tagged = 1 WHERE id = ?", (item_id,))

    def untagged(self, limit: int = 8) -> list[GalleryItem]:
        """The newest items still waiting for tags: what a visitor has just made is findable first, however
        long the queue behind it (the queue survives a restart)."""
        with self._connect() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM library_items WHERE tagged = 0 ORDER BY created DESC "
                                            "LIMIT ?", (limit,))]
            files = _file_rows(db, ids)
        return [_item(files[i]) for i in ids if i in files]

    # ---- searching ---------------------------------------------------------------------------

    def search(self, session_id: str, query: str = "", filters: Filters | None = None, sort: str = "newest",
               page: int = 0, page_size: int = 24, shared: Iterable[str] = ()) -> Page:
        """One page of the session's items matching `query` and `filters`. `shared`: share links or
        tokens of boards the visitor was given; their items are found too while the board is shared."""
        match = fts_query(query)
        if sort not in SORTS:
            raise InputError(f"Sort {sort!r} is not one of: {', '.join(SORTS)}.")
        page, page_size = max(0, int(page)), min(MAX_PAGE_SIZE, max(1, int(page_size)))
        extra, args = (filters or Filters()).where()
        with self._connect() as db:
            self._catch_up(db, [session_id])
            self._index_boards(db, session_id)
            boards = self._shared_boards(db, shared) if self.disclose_prompt or not match else []
            scope = "(i.session_id = ?" + (f" OR i.board_id IN ({','.join('?' * len(boards))}))" if boards else ")")
            where = " AND ".join(filter(None, [scope, extra, "library_fts MATCH ?" if match else ""]))
            params = [session_id, *boards, *args, *([match] if match else [])]
            # The full-text match drives the join (CROSS JOIN keeps SQLite from putting it inside a scan
            # of the session's rows, which would run the match once per row).
            source = "library_fts CROSS JOIN library_items i ON i.rowid = library_fts.rowid" if match \
                else "library_items i"
            total = db.execute(f"SELECT COUNT(*) FROM {source} WHERE {where}", params).fetchone()[0]
            order = {"newest": "i.created DESC, i.rowid DESC", "oldest": "i.created, i.rowid",
                     "relevance": ("library_fts.rank, " if match else "") + "i.created DESC, i.rowid DESC"}[sort]
            # The page's rowids first, then only their rows: the gallery rows (with their parameters)
            # of the thousands of matches off the page are never read.
            ids = [r[0] for r in db.execute(f"SELECT i.rowid FROM {source} WHERE {where} ORDER BY {order} "
                                            f"LIMIT ? OFFSET ?", [*params, page_size, page * page_size])]
            hits = self._hits(db, session_id, ids)
        return Page(hits, total, page, page_size)

    def _hits(self, db: sqlite3.Connection, session_id: str, ids: list[int]) -> list[Hit]:
        """The hits for these library rowids, in their order (rows gone or files missing left out)."""
        found = {r[0]: r[1:] for table in FILE_TABLES for r in db.execute(
            "SELECT i.rowid, g.*, i.tags, i.caption, i.verdict, i.board_id, i.session_id = ? FROM library_items i "
            f"JOIN {table} g ON g.id = i.id WHERE i.rowid IN ({','.join('?' * len(ids))})", [session_id, *ids])}
        rows = [found[rowid] for rowid in ids if rowid in found]
        return [Hit(GalleryItem(*r[:6], json.loads(r[6]), r[7]), json.loads(r[8]), r[9], r[10], r[11], bool(r[12]),
                    withheld=not r[12] and not self.disclose_prompt) for r in rows if Path(r[3]).exists()]

    def similar(self, session_id: str, item_id: str, limit: int = 24) -> list[Hit]:
        """More like this: the visitor's own items ranked by the cosine similarity of their image
        embeddings to `item_id`'s, most alike first (the item itself left out). Numpy over the session's
        vectors: 10,000 items of 512 floats is one 20 MB matrix product."""
        import numpy as np

        limit = min(MAX_SIMILAR, max(1, int(limit)))
        with self._connect() as db:
            row = db.execute("SELECT vector FROM library_vectors WHERE id = ? AND session_id = ?",
                             (str(item_id or ""), session_id)).fetchone()
            if row is None:
                known = db.execute("SELECT 1 FROM library_items WHERE id = ? AND session_id = ?",
                                   (str(item_id or ""), session_id)).fetchone()
                raise InputError("That item is still waiting for its tags; try again in a moment." if known else
                                 "Select one of your own items (tick it in the list) to find more like it.")
            query = np.frombuffer(row[0], dtype=np.float32)
            # Vectors only (no join): a vector's row goes with its gallery row, by trigger.
            others = db.execute("SELECT id, vector FROM library_vectors WHERE session_id = ? AND id != ? "
                                "AND length(vector) = ?", (session_id, item_id, len(row[0]))).fetchall()
            if not others:
                return []
            matrix = np.frombuffer(b"".join(r[1] for r in others), dtype=np.float32).reshape(len(others), -1)
            scores = matrix @ query
            order = np.argsort(-scores, kind="stable")[:limit]
            top = [others[j][0] for j in order]
            rowids = dict(db.execute(f"SELECT id, rowid FROM library_items WHERE id IN ({','.join('?' * len(top))})",
                                     top).fetchall())
            hits = self._hits(db, session_id, [rowids[i] for i in top if i in rowids])
        by_id = {others[j][0]: float(scores[j]) for j in order}
        for hit in hits:
            hit.similarity = round(by_id[hit.item.id], 4)
        return hits

    @staticmethod
    def _shared_boards(db: sqlite3.Connection, shared: Iterable[str]) -> list[str]:
        """Ids of the boards these share links open (a link whose board stopped being shared opens none)."""
        from studio.storyboard.service import token_from

        tokens = [token_from(s) for s in shared if isinstance(s, str)]
        if not any(tokens) or not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'storyboard_boards'").fetchone():
            return []
        return [r[0] for t in tokens[:20] if t for r in db.execute(
            "SELECT id FROM storyboard_boards WHERE share_token = ?", (t,))]

    def facets(self, session_id: str) -> dict[str, list[str]]:
        """The values the session's items have for each filter (the tab's dropdown choices)."""
        with self._connect() as db:
            self._catch_up(db, [session_id])
            return {column: [r[0] for r in db.execute(
                f"SELECT DISTINCT {column} FROM library_items WHERE session_id = ? AND {column} != '' "  # noqa: S608
                f"ORDER BY {column}", (session_id,))] for column in ("task", "model", "verdict", "license")}

    # ---- acting on a selection ---------------------------------------------------------------

    def owned(self, session_id: str, ids: Iterable[str], shared: Iterable[str] = ()) -> list[GalleryItem]:
        """The selected items the visitor may read (their own, and those of boards shared with them)."""
        # One over the ZIP's limit is enough to say the selection is too large.
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i))[:MAX_ZIP_ITEMS + 1]
        with self._connect() as db:
            boards = self._shared_boards(db, shared)
            readable = {r[0] for r in db.execute(
                f"SELECT id FROM library_items WHERE id IN ({','.join('?' * len(wanted))}) AND (session_id = ? OR "
                f"board_id IN ({','.join('?' * len(boards))}))", (*wanted, session_id, *boards))}
            files = _file_rows(db, [i for i in wanted if i in readable])
        return [_item(files[i]) for i in wanted if i in files and Path(files[i][3]).exists()]

    def zip(self, session_id: str, ids: Iterable[str], dest: Path, shared: Iterable[str] = ()) -> tuple[Path, int]:
        """Write the selected signed files, as they were published, into a ZIP at `dest`; returns
        (path, files). A sidecar manifest (.c2pa) goes beside its file. The ZIP itself is not signed."""
        chosen = self.owned(session_id, ids, shared)
        # Only what the studio published (and signed) is handed out; an upload is the visitor's own copy.
        items = [i for i in chosen if i.task != UPLOAD_TASK]
        if not items:
            raise InputError("Uploads are not put in the ZIP (it holds the studio's signed files): tick items the "
                             "studio made." if chosen else "Select one or more items first (tick them in the list).")
        if len(items) > MAX_ZIP_ITEMS:
            raise InputError(f"{len(items)} items selected; a download holds at most {MAX_ZIP_ITEMS}.")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED) as archive:  # media is compressed
            for item in items:
                path = Path(item.path)
                name = f"{item.task}-{item.id}{path.suffix}"
                archive.write(path, name)
                sidecar = path.with_name(path.name + ".c2pa")
                if sidecar.exists():
                    archive.write(sidecar, name + ".c2pa")
        return dest, len(items)

    def delete(self, session_id: str, ids: Iterable[str]) -> int:
        """Delete the visitor's own selected items: the files (and sidecars) and their gallery rows
        (the index follows by trigger). Items of a shared board are not theirs to delete."""
        count = 0
        for item_id in dict.fromkeys(i for i in ids if isinstance(i, str)):
            with self._connect() as db:
                for table in FILE_TABLES:
                    row = db.execute(f"SELECT path FROM {table} WHERE id = ? AND session_id = ?",  # noqa: S608
                                     (item_id, session_id)).fetchone()
                    if row is None:
                        continue
                    path = Path(row[0])
                    path.unlink(missing_ok=True)
                    path.with_name(path.name + ".c2pa").unlink(missing_ok=True)
                    count += db.execute(f"DELETE FROM {table} WHERE id = ? AND session_id = ?",  # noqa: S608
                                        (item_id, session_id)).rowcount
        return count


def _file_rows(db: sqlite3.Connection, ids: list[str]) -> dict[str, tuple]:
    """id -> its file row (a gallery row, or an upload's row of the same columns), for these ids."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return {r[0]: r for table in FILE_TABLES
            for r in db.execute(f"SELECT * FROM {table} WHERE id IN ({marks})", ids)}  # noqa: S608


def _item(row: tuple) -> GalleryItem:
    return GalleryItem(*row[:6], json.loads(row[6]), row[7])
