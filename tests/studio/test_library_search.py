"""The library's search index: FTS words, visitor text as data, filters, paging, privacy, deletion.

Rows go in through the gallery (GalleryStore.add) and the library's own indexing, the path a published
item takes; no model is needed.
"""
from __future__ import annotations

import datetime as dt
import secrets
import zipfile

import pytest

from pipelines.errors import InputError
from studio.gallery import GalleryItem, GalleryStore
from studio.library import MAX_QUERY_CHARS, Filters, Library, fts_query


@pytest.fixture
def library(tmp_path):
    gallery = GalleryStore(tmp_path / "studio.sqlite3")
    return Library(gallery)


def publish(library: Library, session: str, prompt: str, *, task="text_to_image", mime="image/png",
            model="tiny-sd15", license="MIT", created=None, verdict="", folder=None, **params) -> GalleryItem:
    """A gallery row with a real file, indexed as the post-publish hook does."""
    folder = folder or library.db_path.parent / session
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(6)}.{mime.split('/')[1]}"
    path.write_bytes(b"signed bytes of " + prompt.encode())
    item = GalleryItem(id=secrets.token_urlsafe(9), session_id=session, task=task, path=str(path), mime=mime,
                       caption=f"{model} · seed 1", created=created or dt.datetime.now(dt.timezone.utc).timestamp(),
                       params=dict(prompt=prompt, model=model, license=license, **params))
    library.gallery.add(item)
    library.add(item, {"verdict": verdict} if verdict else None)
    return item


def found(library, session, query="", **kw) -> list[str]:
    return [h.item.params["prompt"] for h in library.search(session, query, **kw).hits]


def test_words_match_all_terms_in_any_order(library):
    publish(library, "a", "a red fox in the snow")
    publish(library, "a", "a grey wolf at night")
    assert found(library, "a", "fox red") == ["a red fox in the snow"]
    assert found(library, "a", "FOX") == ["a red fox in the snow"]
    assert found(library, "a", "fox wolf") == []


def test_phrase_and_prefix(library):
    publish(library, "a", "red fox jumps")
    publish(library, "a", "fox red jumps")
    assert found(library, "a", '"red fox"') == ["red fox jumps"]
    assert sorted(found(library, "a", "jum*")) == ["fox red jumps", "red fox jumps"]
    assert found(library, "a", "jum") == []        # a word is a whole word unless it ends in *


def test_non_latin_text(library):
    publish(library, "a", "夕焼けの日本語のキツネ")
    publish(library, "a", "Müller's grüne Brücke")
    publish(library, "a", "лиса в лесу")
    assert found(library, "a", "日本語") == ["夕焼けの日本語のキツネ"]
    assert found(library, "a", "キツネ") == ["夕焼けの日本語のキツネ"]
    assert found(library, "a", "中国") == []
    assert found(library, "a", "brücke") == ["Müller's grüne Brücke"]
    assert found(library, "a", "BRUCKE") == ["Müller's grüne Brücke"]   # diacritics folded
    assert found(library, "a", "лиса") == ["лиса в лесу"]


@pytest.mark.parametrize("typed", ['fox OR wolf', 'NOT fox', 'fox AND', '"fox', 'fox"', 'prompt:fox', '(fox',
                                   'fox -wolf', '^fox', 'NEAR(fox wolf)', '*', '"', '""', "fox' OR 1=1 --", 'f*x',
                                   '{prompt}: fox', 'fox + wolf', '***'])
def test_query_syntax_typed_by_a_visitor_is_text(library, typed):
    publish(library, "a", "red fox")
    publish(library, "a", "grey wolf")
    publish(library, "a", "fox or wolf, near the not-so-dark prompt")
    # Never an error; every result contains every word typed.
    hits = library.search("a", typed).hits
    words = [w.lower() for w in fts_query(typed).replace('"', " ").replace("*", " ").split() if w != "AND"] \
        if fts_query(typed) else []
    for hit in hits:
        text = hit.item.params["prompt"].lower()
        assert all(w in text for w in words), (typed, text)


def test_operators_are_words(library):
    publish(library, "a", "red fox")
    publish(library, "a", "fox or wolf")
    assert found(library, "a", "fox OR wolf") == ["fox or wolf"]
    assert found(library, "a", '"fox') == ["fox or wolf", "red fox"] or \
        sorted(found(library, "a", '"fox')) == ["fox or wolf", "red fox"]


def test_empty_query_is_everything_and_long_query_is_refused(library):
    for i in range(3):
        publish(library, "a", f"take {i}")
    assert library.search("a", "").total == 3
    assert library.search("a", "   ").total == 3
    with pytest.raises(InputError, match=f"limit is {MAX_QUERY_CHARS}"):
        library.search("a", "x" * 10_000)


def test_filters_and_sort(library):
    day = dt.datetime(2026, 11, 20, 12, tzinfo=dt.timezone.utc).timestamp()
    publish(library, "a", "fox picture", created=day, license="CreativeML OpenRAIL-M", verdict="likely real")
    publish(library, "a", "fox howl", task="sound_effects", mime="audio/wav", model="tiny-stable-audio",
            created=day + 86400, license="Apache-2.0")
    publish(library, "a", "fox run", task="video", mime="video/mp4", model="tiny-ltx", created=day + 2 * 86400)
    assert found(library, "a", "fox", filters=Filters(kind="audio")) == ["fox howl"]
    assert found(library, "a", filters=Filters(task="video")) == ["fox run"]
    assert found(library, "a", filters=Filters(model="tiny-stable-audio")) == ["fox howl"]
    assert found(library, "a", filters=Filters(license="openrail")) == ["fox picture"]
    assert found(library, "a", filters=Filters(verdict="likely real")) == ["fox picture"]
    assert found(library, "a", filters=Filters(date_from="2026-11-21", date_to="2026-11-21")) == ["fox howl"]
    assert found(library, "a", "fox", sort="oldest") == ["fox picture", "fox howl", "fox run"]
    assert found(library, "a", "fox", sort="newest") == ["fox run", "fox howl", "fox picture"]
    assert library.facets("a")["task"] == ["sound_effects", "text_to_image", "video"]
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        library.search("a", filters=Filters(date_from="yesterday"))
    with pytest.raises(InputError, match="Kind"):
        library.search("a", filters=Filters(kind="hologram"))
    with pytest.raises(InputError, match="Sort"):
        library.search("a", sort="random")


def test_relevance_puts_the_better_match_first(library):
    publish(library, "a", "fox fox fox fox in a fox den")
    publish(library, "a", "a dog, a cat, a bird and one fox among many other animals in a field")
    assert found(library, "a", "fox", sort="relevance")[0] == "fox fox fox fox in a fox den"


def test_two_visitors_never_see_each_other(library):
    publish(library, "alice", "alice's red fox")
    publish(library, "bob", "bob's red fox")
    assert found(library, "alice", "fox") == ["alice's red fox"]
    assert found(library, "bob", "fox") == ["bob's red fox"]
    assert found(library, "eve", "") == []
    theirs = library.search("bob", "fox").hits[0].item.id
    assert library.delete("alice", [theirs]) == 0                      # not hers to delete
    assert library.owned("alice", [theirs]) == []                      # nor to download
    assert found(library, "bob", "fox") == ["bob's red fox"]


def test_paging_with_a_deletion_between_pages(library):
    base = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc).timestamp()
    items = [publish(library, "a", f"fox take {i}", created=base + i) for i in range(7)]
    first = library.search("a", "fox", page=0, page_size=3)
    assert (first.total, first.pages) == (7, 3)
    assert [h.item.id for h in first.hits] == [i.id for i in items[6:3:-1]]
    victim = items[2]                                                  # on the next page
    assert library.delete("a", [victim.id]) == 1
    second = library.search("a", "fox", page=1, page_size=3)
    assert victim.id not in [h.item.id for h in second.hits]
    assert second.total == 6
    assert not library.search("a", "take", page=5, page_size=3).hits  # past the end: empty, no error
    # A file removed from disk behind the studio's back is simply absent too.
    import os
    os.unlink(items[0].path)
    assert items[0].id not in [h.item.id for h in library.search("a", "fox", page=0, page_size=10).hits]


def test_deleting_removes_the_file_and_the_index_rows(library):
    item = publish(library, "a", "doomed fox")
    assert library.delete("a", [item.id]) == 1
    assert not (library.db_path.parent / "a").joinpath(item.path).exists()
    with library._connect() as db:
        assert db.execute("SELECT COUNT(*) FROM library_items").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM library_fts").fetchone()[0] == 0


def test_retention_forgetting_a_row_drops_it_from_the_index(library):
    import os
    item = publish(library, "a", "old fox")
    os.unlink(item.path)
    library.gallery.forget_missing()
    with library._connect() as db:
        assert db.execute("SELECT COUNT(*) FROM library_fts").fetchone()[0] == 0


def test_rows_published_before_the_library_are_caught_up(library):
    path = library.db_path.parent / "x.png"
    path.write_bytes(b"x")
    library.gallery.add(GalleryItem("old1", "a", "text_to_image", str(path), "image/png", "",
                                    {"prompt": "an owl from before"}, 1.0))
    assert found(library, "a", "owl") == ["an owl from before"]


def test_tags_and_caption_are_searchable(library):
    item = publish(library, "a", "untitled")
    assert library.set_tags(item.id, "a small orange cat on a sofa", ["cat", "sofa", "日本"])
    assert found(library, "a", "orange cat") == ["untitled"]
    assert found(library, "a", "sofa") == ["untitled"]
    hit = library.search("a", "日本").hits[0]
    assert hit.tags == ["cat", "sofa", "日本"] and hit.auto_caption.startswith("a small")
    assert library.untagged() == []
    assert not library.set_tags("gone", "x", [])


def test_zip_holds_the_signed_files_themselves(library, tmp_path):
    a = publish(library, "a", "fox one")
    b = publish(library, "a", "fox two", task="music", mime="audio/flac")
    theirs = publish(library, "b", "fox three")
    path, count = library.zip("a", [a.id, b.id, theirs.id], tmp_path / "out" / "library.zip")
    assert count == 2
    with zipfile.ZipFile(path) as z:
        names = sorted(z.namelist())
        assert names == sorted([f"text_to_image-{a.id}.png", f"music-{b.id}.flac"])
        assert z.read(f"text_to_image-{a.id}.png") == open(a.path, "rb").read()
    with pytest.raises(InputError, match="Select"):
        library.zip("a", [theirs.id], tmp_path / "none.zip")


def test_a_shared_boards_items_reach_whoever_holds_its_link(library):
    from studio.storyboard.board import Board, Shot
    from studio.storyboard.store import BoardStore

    store = BoardStore(library.db_path)
    panel = publish(library, "owner", "castle at dawn", board_id="")
    publish(library, "owner", "private sketch")
    board = Board(id="b1", session_id="owner", title="The Siege", shots=[
        Shot(id="s1", prompt="castle at dawn", camera="wide shot", panel_id=panel.id, status="done")])
    store.save(board)
    assert found(library, "owner", "siege") == ["castle at dawn"]      # board text is searchable
    assert found(library, "owner", filters=Filters(board="b1")) == ["castle at dawn"]
    token = "t" * 32
    assert found(library, "team", "castle", shared=[token]) == []        # not shared yet
    board.share_token = token
    store.save_settings(board)
    link = f"http://studio.example/?board={token}"
    assert found(library, "team", "", shared=[link]) == ["castle at dawn"]
    hit = library.search("team", "castle", shared=[link]).hits[0]
    assert not hit.own
    assert library.delete("team", [hit.item.id]) == 0                   # read-only for the team
    board.share_token = ""
    store.save_settings(board)
    assert found(library, "team", "", shared=[link]) == []


def test_with_disclosure_off_a_teams_view_withholds_the_owners_words(tmp_path):
    from studio.storyboard.board import Board, Shot
    from studio.storyboard.store import BoardStore

    library = Library(GalleryStore(tmp_path / "studio.sqlite3"), disclose_prompt=False)
    panel = publish(library, "owner", "secret castle plan")
    token = "s" * 32
    BoardStore(library.db_path).save(Board(id="b2", session_id="owner", title="Plans", share_token=token, shots=[
        Shot(id="s1", prompt="secret castle plan", panel_id=panel.id, status="done")]))
    assert found(library, "owner", "secret") == ["secret castle plan"]   # the owner sees their own words
    assert library.search("team", "secret", shared=[token]).hits == []  # the team cannot search by them
    hit = library.search("team", "", shared=[token]).hits[0]
    shown = hit.to_dict()
    assert shown["prompt"].startswith("sha256:") and "secret" not in str(shown)
