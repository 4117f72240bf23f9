"""Sessions of API callers through the live server: one per client (not per call), a token that lasts,
folder names that open nothing, outputs reached only through Gradio's cached copies, paged galleries."""
import shutil
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from studio.gallery import GalleryItem

ARGS = ("a lighthouse", "", "none", "tiny-sd15", "fixed", 5, 2, 5.0, 256, 256, 1, "default")


def generate(client: Client) -> list:
    gallery, _ = client.predict(*ARGS, api_name="/generate_image")
    return gallery


def folders(studio) -> set[str]:
    return {p.name for p in studio.settings.outputs_dir.iterdir() if p.is_dir()}


@pytest.fixture(scope="module")
def caller(live_url, studio):
    """An API client that made two images: (client, its galleries after each call, new output folders)."""
    before = folders(studio)
    client = Client(live_url, verbose=False)
    galleries = [generate(client), generate(client)]
    return client, galleries, folders(studio) - before


def test_an_api_client_keeps_one_session_and_one_folder(caller, studio):
    client, (first, second), new_folders = caller
    assert len(second) == len(first) + 1 == 2                       # the second call sees the first image
    token = client.predict(api_name="/session_token")
    folder = studio.sessions.find(token).id
    assert new_folders == {folder} and folder != token              # one folder, not named by the token


def test_the_token_brings_the_gallery_back_and_a_folder_name_opens_nothing(caller, live_url, studio):
    client, _, _ = caller
    token = client.predict(api_name="/session_token")
    again = Client(live_url, verbose=False, headers={"X-Studio-Session": token})   # e.g. after a restart
    assert len(again.predict("text_to_image", 0, api_name="/gallery_page")) == 2
    assert again.predict(api_name="/session_token") == token

    # someone who learned the folder name (a path in a log, the ledger) gets an empty session of their own
    folder = studio.sessions.find(token).id
    thief = Client(live_url, verbose=False, headers={"X-Studio-Session": folder})
    assert thief.predict("text_to_image", 0, api_name="/gallery_page") in ([], None)
    assert studio.sessions.find(thief.predict(api_name="/session_token")).id != folder


def test_outputs_are_served_only_through_gradios_cached_copies(caller, live_url, studio):
    _, (_, gallery), new_folders = caller
    output = next((studio.settings.outputs_dir / next(iter(new_folders))).glob("*.png"))
    for route in (f"gradio_api/file={output}", f"file={output}",
                  f"gradio_api/file={output.parent}/../{output.parent.name}/{output.name}"):
        r = httpx.get(live_url + route, timeout=10)
        assert r.status_code in (403, 404), (route, r.status_code)
    cached = Path(gallery[0]["image"])                              # what the client downloaded
    assert cached.read_bytes() == max(output.parent.glob("*.png"), key=lambda p: p.stat().st_mtime).read_bytes()


def test_a_generation_returns_the_newest_page_and_older_pages_on_demand(caller, studio, monkeypatch):
    client, _, _ = caller
    session_id = studio.sessions.find(client.predict(api_name="/session_token")).id
    made = studio.gallery.list(session_id)[0]
    for n in range(4):                                              # an older history
        copy = Path(made.path).with_name(f"older-{n}.png")
        shutil.copyfile(made.path, copy)
        studio.gallery.add(GalleryItem(f"older-{session_id}-{n}", session_id, made.task, str(copy), made.mime,
                                       "older", made.params, made.created - 1000 + n))
    monkeypatch.setattr(studio.gallery, "page_size", 3)
    gallery = generate(client)                                      # 7 items in all now
    assert len(gallery) == 3 and gallery[0]["caption"] != "older"
    pages = [client.predict("text_to_image", n, api_name="/gallery_page") for n in range(3)]
    assert [len(p) for p in pages] == [3, 3, 1]
