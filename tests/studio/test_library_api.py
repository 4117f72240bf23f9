"""The Library through gradio_client against the live server: what a visitor made is found by its words,
only by them, and downloads as a ZIP of the signed files themselves."""
import time
import zipfile

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.studio.test_concept_art_api import call


def search(client, query="", kind="", page=0, page_size=24, sort="newest", shared=""):
    return client.predict(query, kind, "", "", "", "", "", "", shared, sort, page, page_size,
                          api_name="/library_search")


@pytest.fixture(scope="module")
def made(live_url):
    """A visitor who made two images of a fox and one of an owl, through the concept-art endpoint."""
    client = Client(live_url, verbose=False)
    call(client, prompt="a red fox in deep snow", batch=2, seed=11)
    call(client, prompt="an owl on a birch branch", batch=1, seed=12)
    return client


def test_a_visitors_outputs_are_found_by_their_words(made):
    found = search(made, "fox snow", kind="image")
    assert found["total"] == 2
    assert {i["prompt"] for i in found["items"]} == {"a red fox in deep snow"}
    assert all(i["task"] == "text_to_image" and i["mime"] == "image/png" for i in found["items"])
    assert "path" not in str(found) and "/" not in "".join(i["id"] for i in found["items"])
    assert search(made, '"owl on"')["total"] == 1
    assert search(made, "fox", kind="audio")["total"] == 0
    assert search(made, "")["total"] >= 3


def test_another_visitor_finds_none_of_it(made, live_url):
    stranger = Client(live_url, verbose=False)
    assert search(stranger, "fox")["total"] == 0
    assert search(stranger, "")["total"] == 0


def test_bad_queries_are_messages(made):
    with pytest.raises(AppError, match="limit is 500"):
        search(made, "fox " * 2500)
    assert search(made, 'fox" OR "owl')["total"] == 0           # typed operators are words, not syntax
    assert search(made, 'fox) -snow:')["total"] == 2           # punctuation is not syntax either
    with pytest.raises(AppError, match="Sort"):
        search(made, "fox", sort="bm25; DROP TABLE gallery")


def test_download_a_selection_as_a_zip_of_signed_files(made, studio, tmp_path):
    ids = [i["id"] for i in search(made, "fox")["items"]]
    path = made.predict(",".join(ids), "", api_name="/library_download")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert len(names) == 2 and all(n.endswith(".png") for n in names)
        z.extractall(tmp_path)
    for name in names:
        report = studio.publisher.verify(tmp_path / name)
        assert report.state in ("Valid", "Trusted"), report.summary_lines()


def test_more_like_this_ranks_the_visitors_own_items(made, live_url, background_tagging):
    ids = [i["id"] for i in search(made, "")["items"]]
    deadline, found = time.time() + 120, None
    while time.time() < deadline:   # tagging runs in the background, in device-idle turns
        try:
            found = made.predict(ids[0], 24, api_name="/library_similar")
        except AppError as e:
            assert "waiting for its tags" in str(e)
        if found and len(found["items"]) == len(ids) - 1:
            break
        time.sleep(0.5)
    assert {i["id"] for i in found["items"]} == set(ids[1:])
    scores = [i["similarity"] for i in found["items"]]
    assert scores == sorted(scores, reverse=True) and all(i["own"] for i in found["items"])
    with pytest.raises(AppError, match="your own items"):
        Client(live_url, verbose=False).predict(ids[0], 24, api_name="/library_similar")


def test_api_endpoints_are_named(made):
    names = made.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/library_search", "/library_download", "/library_similar"} <= set(names)
