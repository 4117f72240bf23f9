"""More like this: the library ranks a visitor's own pictures by their CLIP image embeddings, stored
when the tagger (tiny CLIP through the model layer) tags them."""
from __future__ import annotations

import datetime as dt
import secrets

import numpy as np
import pytest
from PIL import Image

from pipelines.errors import InputError
from studio.gallery import GalleryItem, GalleryStore
from studio.library import Library
from studio.library_tagging import LibraryTagger


def publish_picture(library: Library, session: str, picture: Image.Image, prompt: str) -> GalleryItem:
    """A gallery row with a real PNG, indexed as the post-publish hook does."""
    folder = library.db_path.parent / "similar" / session
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(6)}.png"
    picture.save(path)
    item = GalleryItem(id=secrets.token_urlsafe(9), session_id=session, task="text_to_image", path=str(path),
                       mime="image/png", caption="tiny-sd15", created=dt.datetime.now(dt.timezone.utc).timestamp(),
                       params=dict(prompt=prompt, model="tiny-sd15", license="MIT"))
    library.gallery.add(item)
    library.add(item)
    return item


def noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)


def test_the_near_identical_picture_ranks_first_and_strangers_never_appear(studio):
    tagger = LibraryTagger(studio, start=False)
    base = noise(1)
    twin = base.copy()
    twin[:4, :4] = 0                                       # a few pixels differ
    other = np.zeros_like(base)
    other[:, :, 2] = np.linspace(0, 255, 64, dtype=np.uint8)  # a blue gradient: nothing like the noise
    me, stranger = f"similar-{secrets.token_hex(3)}", f"similar-{secrets.token_hex(3)}"
    items = {name: publish_picture(studio.library, me, Image.fromarray(a), name)
             for name, a in (("base", base), ("other", other), ("twin", twin))}
    theirs = publish_picture(studio.library, stranger, Image.fromarray(base), "base copy")   # the very same picture
    for item in [*items.values(), theirs]:
        tagger.tag(item)
    hits = studio.library.similar(me, items["base"].id)
    assert [h.item.id for h in hits] == [items["twin"].id, items["other"].id]
    assert hits[0].similarity > hits[1].similarity and hits[0].similarity > 0.99
    assert hits[0].to_dict()["similarity"] == hits[0].similarity
    assert theirs.id not in [h.item.id for h in studio.library.similar(me, items["twin"].id)]
    assert [h.item.id for h in studio.library.similar(stranger, theirs.id)] == []
    with pytest.raises(InputError, match="your own items"):
        studio.library.similar(stranger, items["base"].id)     # another visitor's item cannot be the query


@pytest.fixture
def library(tmp_path):
    return Library(GalleryStore(tmp_path / "studio.sqlite3"))


def unit(*values) -> bytes:
    v = np.asarray(values, dtype=np.float32)
    return (v / np.linalg.norm(v)).tobytes()


def test_ranking_limit_deletion_and_waiting_items(library):
    picture = Image.new("RGB", (8, 8))
    a, b, c, d = (publish_picture(library, "v", picture, p) for p in "abcd")
    for item, vector in ((a, unit(1, 0, 0)), (b, unit(0, 1, 0)), (c, unit(1, 0.1, 0)), (d, unit(1, 1, 0))):
        library.set_tags(item.id, "", [], vector)
    assert [h.item.id for h in library.similar("v", a.id)] == [c.id, d.id, b.id]
    assert [h.item.id for h in library.similar("v", a.id, limit=1)] == [c.id]
    library.delete("v", [c.id])                                # its vector goes with its gallery row
    assert [h.item.id for h in library.similar("v", a.id)] == [d.id, b.id]
    waiting = publish_picture(library, "v", picture, "e")
    with pytest.raises(InputError, match="waiting for its tags"):
        library.similar("v", waiting.id)
    library.set_tags(waiting.id, "", [], unit(1, 0))           # another model's size: never compared
    assert waiting.id not in [h.item.id for h in library.similar("v", a.id)]
