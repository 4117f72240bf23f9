"""The ledger: its own table in the shared database, WAL mode, safe from many threads."""
import sqlite3
import threading

from provenance.ledger import TABLE, Ledger, LedgerRecord


def _record(i: int, wm: str | None = None) -> LedgerRecord:
    return LedgerRecord(id=f"id{i}", created_at=f"2026-01-01T00:00:{i:02d}", session_id="s", path=f"/x/{i}.png",
                        mime="image/png", sha256=f"{i:064x}", watermark_id=wm, width=512, height=512 + i % 2,
                        manifest_json='{"active_manifest": "m", "manifests": {"m": {"title": "t"}}}')


def test_shares_the_database_with_other_tables(tmp_path):
    db = tmp_path / "studio.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE gallery (id TEXT PRIMARY KEY)")
        conn.execute("INSERT INTO gallery VALUES ('g1')")
    Ledger(db)
    Ledger(db)  # a second start finds its table in place
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"gallery", TABLE}
        assert conn.execute("SELECT id FROM gallery").fetchall() == [("g1",)]


def test_lookups(tmp_path):
    ledger = Ledger(tmp_path / "studio.sqlite3")
    ledger.record(_record(1, wm="aaaaaaaaaaaa"))
    ledger.record(_record(2))
    assert ledger.by_watermark("aaaaaaaaaaaa").id == "id1"
    assert ledger.by_watermark("bbbbbbbbbbbb") is None
    assert ledger.by_sha256(f"{2:064x}").id == "id2"
    assert ledger.get("id2").manifest_store["manifests"]["m"]["title"] == "t"
    assert ledger.image_sizes() == [(512, 513)]  # only watermarked outputs count
    assert "session_id" not in ledger.get("id1").public_dict()


def test_concurrent_writers(tmp_path):
    ledger = Ledger(tmp_path / "studio.sqlite3")
    errors = []

    def write(start: int) -> None:
        try:
            for i in range(start, start + 20):
                ledger.record(_record(i, wm=f"{i:012x}"))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with sqlite3.connect(tmp_path / "studio.sqlite3") as conn:
        assert conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0] == 80
