"""Accepted uploads in the Library: an image fed to the Fill tab through the live server is an item of the
visitor's own library, found by its file name at once and by its automatic tags once tagging has run;
never another visitor's, never in the ZIP of signed files, and deletable like any item."""
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from pipelines.media import InputFile
from studio.library_uploads import index_uploads


def search(client, query="", task="", kind=""):
    return client.predict(query, kind, task, "", "", "", "", "", "", "newest", 0, 24, api_name="/library_search")


def wait_tagged(studio, item_id: str, seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and item_id in [i.id for i in studio.library.untagged(500)]:
        time.sleep(0.5)


@pytest.fixture(scope="module")
def uploaded(live_url, tmp_path_factory):
    """A visitor who filled a picture they uploaded as `harbour-sketch.png` (with an uploaded mask)."""
    root = tmp_path_factory.mktemp("library-uploads")
    source, mask = root / "harbour-sketch.png", root / "mask.png"
    Image.new("RGB", (64, 64), (30, 90, 160)).save(source)
    Image.new("L", (64, 64), 255).save(mask)
    client = Client(live_url, verbose=False)
    client.predict(upload=handle_file(str(source)), source_id=None, editor_data=None,
                   mask_upload=handle_file(str(mask)), prompt="a red bicycle", negative_prompt="",
                   api_name="/fill_image")
    return client


def test_an_upload_is_found_by_its_name_then_by_its_tags(uploaded, studio, live_url, background_tagging):
    found = search(uploaded, "harbour sketch")
    assert found["total"] == 1
    item = found["items"][0]
    assert item["task"] == "upload" and item["mime"] == "image/png" and "harbour-sketch.png" in item["caption"]
    assert search(uploaded, "", task="upload")["total"] == 1          # the source (the mask is no ingredient)
    assert search(uploaded, "", task="fill")["total"] == 1            # the output, as before
    wait_tagged(studio, item["id"])
    tagged = search(uploaded, "harbour sketch")["items"][0]
    assert tagged["tags"] and tagged["auto_caption"] is not None
    by_tag = search(uploaded, f'"{tagged["tags"][0]}"', task="upload")
    assert item["id"] in [i["id"] for i in by_tag["items"]]
    assert search(Client(live_url, verbose=False), "harbour")["total"] == 0   # private to the session


def test_an_upload_is_not_put_in_the_zip_of_signed_files(uploaded):
    ids = [i["id"] for i in search(uploaded, "", task="upload")["items"]]
    with pytest.raises(AppError, match="Uploads are not put in the ZIP"):
        uploaded.predict(",".join(ids), "", api_name="/library_download")


def test_the_same_file_twice_is_one_item_and_a_studio_output_is_not_an_upload(studio, tmp_path):
    picture = tmp_path / "fox.png"
    Image.new("RGB", (32, 32), (200, 80, 20)).save(picture)
    outputs = studio.publisher.cfg.outputs_dir
    source = [InputFile(str(picture), "parentOf", "source")]
    first = index_uploads(studio.library, "uploads-twice", "fill", source, outputs)
    again = index_uploads(studio.library, "uploads-twice", "fill", source, outputs)
    assert [i.id for i in first] == [i.id for i in again]
    assert studio.library.search("uploads-twice", "fox").total == 1
    assert first[0].path.startswith(str(outputs / "uploads-twice"))
    reused = index_uploads(studio.library, "uploads-twice", "video", [InputFile(first[0].path, "inputTo", "still")],
                           outputs)
    assert reused == []                                                # already the studio's own file
    assert index_uploads(studio.library, "../escape", "fill", [InputFile(str(picture), "parentOf")], outputs) == []


def test_deleting_an_upload_removes_its_copy_and_its_index_rows(studio, tmp_path):
    picture = tmp_path / "owl.png"
    Image.new("RGB", (32, 32), (10, 10, 10)).save(picture)
    (item,) = index_uploads(studio.library, "uploads-delete", "fill", [InputFile(str(picture), "parentOf")],
                            studio.publisher.cfg.outputs_dir)
    assert studio.library.delete("someone-else", [item.id]) == 0
    assert studio.library.delete("uploads-delete", [item.id]) == 1
    assert studio.library.search("uploads-delete", "owl").total == 0
    assert not Path(item.path).exists()
