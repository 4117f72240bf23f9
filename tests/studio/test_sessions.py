"""Sessions held on the server: the token a visitor holds is only a lookup key, never their folder."""
import hashlib
import time

import pytest

from studio.gallery import GalleryItem, GalleryStore
from studio.jobs import LimitError
from studio.sessions import SessionStore


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def store(tmp_path):
    clock = Clock()
    s = SessionStore(tmp_path / "studio.sqlite3", idle_days=2, per_ip_minute=3, clock=clock)
    s.clock_value = clock
    return s


def test_token_and_folder_id_are_separate_and_the_database_keeps_no_token(store):
    session = store.open(None, "10.0.0.1")
    assert session.token and session.id and session.token != session.id
    assert session.id not in session.token and session.token not in session.id
    assert hashlib.sha256(session.token.encode()).hexdigest() != session.id
    assert session.token.encode() not in store.db_path.read_bytes()      # only its SHA-256 is stored
    assert session.token not in repr(session)                            # nor written to logs
    again = store.open(session.token, "10.0.0.1")
    assert (again.id, again.token) == (session.id, session.token)


def test_a_forged_token_or_a_folder_name_opens_a_new_session(store):
    victim = store.open(None)
    for forged in (victim.id, "A" * 43, "../" + victim.id, "", None, "x" * 10_000):
        other = store.open(forged)
        assert other.id != victim.id and other.token != forged        # never taken as an id
    assert store.find(victim.id) is None


def test_an_expired_token_gets_a_new_session(store):
    session = store.open(None)
    store.clock_value.t += 1 * 86400
    assert store.open(session.token).id == session.id                  # used within the idle time: kept
    store.clock_value.t += 2 * 86400 + 1
    fresh = store.open(session.token)
    assert fresh.id != session.id and fresh.token != session.token
    assert store.open(session.token).id != session.id                  # the old token stays dead


def test_a_session_in_use_is_touched_and_the_sweep_forgets_idle_ones(store):
    kept, idle = store.open(None), store.open(None)
    store.clock_value.t += 1.5 * 86400
    store.touch(kept)                                                   # a page still using it
    store.clock_value.t += 1 * 86400
    assert store.expire() == 1
    assert store.find(kept.token).id == kept.id and store.find(idle.token) is None


def test_new_sessions_per_address_are_limited(store):
    for _ in range(3):
        store.open(None, "10.0.0.9")
    with pytest.raises(LimitError, match="Too many new sessions from your network address"):
        store.open("never-issued-token-0123456789", "10.0.0.9")
    assert store.open(None, "10.0.0.10").id                             # another address is not affected
    store.clock_value.t += 61
    assert store.open(None, "10.0.0.9").id                              # a minute later it may again


def test_work_of_a_pre_server_side_session_is_migrated_and_its_token_exchanged(tmp_path):
    db = tmp_path / "studio.sqlite3"
    old_token = "legacyToken_abcdefghijklmnopqrstuvwx"                  # was token and folder name at once
    GalleryStore(db).add(GalleryItem("i1", old_token, "text_to_image", str(tmp_path / "a.png"), "image/png", "",
                                     {}, time.time()))
    store = SessionStore(db)
    migrated = store.open(old_token)
    assert migrated.id == old_token and migrated.token != old_token     # same folder, new token
    assert store.open(migrated.token).id == old_token
    assert store.open(old_token).id != old_token                        # the folder name no longer opens it
    assert SessionStore(db).open(old_token).id != old_token             # nor after a restart (migrated once)


def test_gallery_pages_carry_the_newest_items_only(tmp_path):
    gallery = GalleryStore(tmp_path / "db.sqlite3", page_size=3)
    for n in range(5):
        path = tmp_path / f"{n}.png"
        path.write_bytes(b"x")
        gallery.add(GalleryItem(f"i{n}", "s", "t", str(path), "image/png", "", {}, 100.0 + n))
    assert [i.id for i in gallery.newest("s", "t")] == ["i4", "i3", "i2"]
    assert [i.id for i in gallery.newest("s", "t", pages=2)] == ["i4", "i3", "i2", "i1", "i0"]
    assert gallery.count("s", "t") == 5 and gallery.newest("other") == []


def test_gradios_cache_is_cleaned_on_the_outputs_retention():
    from studio.settings import load_settings
    from studio.ui import cache_cleanup

    assert cache_cleanup(load_settings(env={}, retention_days=2)) == (3600, 2 * 86400)
    assert cache_cleanup(load_settings(env={}, retention_days=0)) == (3600, 86400)   # outputs kept: a day


def test_show_older_adds_a_page_to_every_gallery():
    from studio.sessions import Session
    from studio.ui import show_more

    class Handle:
        def refresh(self, session):
            return f"{session.pages} page(s)"

    session, *galleries = show_more(Session(id="s"), [Handle(), Handle()])
    assert session.pages == 2 and galleries == ["2 page(s)", "2 page(s)"]
