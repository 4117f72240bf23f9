"""The Generative fill tab end to end: gradio_client against the live server (fill, iterate on the
result, extend, bad input), and headless Chromium painting a mask with the mouse."""
from __future__ import annotations

import re
import time

import numpy as np
import pytest
from fill_helpers import picture
from tests.studio.drawing import draw_stroke
from PIL import Image

COMMON = dict(mode="fill", prompt="a red kite", negative_prompt="", model="tiny-sd15-inpaint", aspect="", left=0,
              right=0, top=0, bottom=0, seed_mode="fixed", seed=5, strength=1.0, steps=2, guidance=5.0, feather=4,
              confirmed=False)


@pytest.fixture(scope="module")
def client(live_url):
    from gradio_client import Client

    return Client(live_url, verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fill-e2e")
    picture(300, 200, seed=4).save(folder / "source.png")
    layer = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    layer.paste((255, 0, 255, 140), (60, 50, 140, 120))
    layer.save(folder / "layer.png")
    return folder


def _item(studio, gallery_id: str):
    return next(i for i in studio.gallery.list(_session_of(studio, gallery_id), "fill") if i.id == gallery_id)


def _session_of(studio, gallery_id: str) -> str:
    import sqlite3

    with sqlite3.connect(studio.settings.db_path) as db:
        return db.execute("SELECT session_id FROM gallery WHERE id = ?", (gallery_id,)).fetchone()[0]


def test_fill_then_iterate_then_extend_through_the_api(studio, client, files):
    from gradio_client import handle_file

    editor = {"background": None, "layers": [handle_file(str(files / "layer.png"))], "composite": None}
    _, status, first, _ = client.predict(upload=handle_file(str(files / "source.png")), source_id=None,
                                         editor_data=editor, mask_upload=None, api_name="/fill_image", **COMMON)
    assert "1 file(s) made" in status
    assert (first["width"], first["height"], first["mask_pixels"], first["parent_id"]) == (300, 200, 80 * 70, "")
    item = _item(studio, first["id"])
    report = studio.publisher.verify(item.path)
    assert report.state in ("Valid", "Trusted")
    assert [i.get("relationship") for i in report.ingredients] == ["parentOf"]
    assert len(first["mask_sha256"]) == 64
    assert Image.open(item.path).size == (300, 200)

    # The result becomes the next source: same client, same session, its gallery id as the source.
    _, _, second, _ = client.predict(upload=None, source_id=first["id"], editor_data=editor, mask_upload=None,
                                     api_name="/fill_image", **COMMON)
    assert second["parent_id"] == first["id"] and second["id"] != first["id"]
    assert studio.publisher.verify(_item(studio, second["id"]).path).state in ("Valid", "Trusted")

    _, _, third, _ = client.predict(upload=None, source_id=second["id"], editor_data=None, mask_upload=None,
                                    api_name="/fill_image", **{**COMMON, "mode": "extend", "aspect": "16:9"})
    assert (third["width"], third["height"], third["parent_id"]) == (356, 200, second["id"])
    extended = _item(studio, third["id"])
    assert Image.open(extended.path).size == (356, 200)
    assert studio.publisher.verify(extended.path).state in ("Valid", "Trusted")


def test_bad_requests_get_messages_and_the_studio_keeps_serving(client, files):
    from gradio_client import handle_file

    upload = handle_file(str(files / "source.png"))
    for fields, message in ((dict(editor_data=None), "There is no mask"),
                            (dict(editor_data=None, mode="extend"), "0 px changes nothing"),
                            (dict(editor_data=None, mode="extend", right=9000), "over this model's limit"),
                            (dict(editor_data=None, upload=None), "no source image")):
        args = {**COMMON, "upload": upload, "source_id": None, "mask_upload": None, **fields}
        with pytest.raises(Exception, match=message):
            client.predict(api_name="/fill_image", **args)
    _, status, result, _ = client.predict(upload=upload, source_id=None, editor_data=None,
                                          mask_upload=handle_file(str(files / "layer.png")), api_name="/fill_image",
                                          **COMMON)
    assert "1 file(s) made" in status and result["mask_pixels"] == 80 * 70


@pytest.mark.browser
def test_painting_a_mask_with_the_mouse_in_chromium(studio, live_url, browser, files, artifacts_dir):
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    try:
        page.goto(live_url)
        tab = page.get_by_role("tab", name="Generative fill")
        tab.wait_for(timeout=60_000)
        tab.click()
        page.locator("#fill-source-file input[type=file]").set_input_files(str(files / "source.png"))
        canvas = page.locator("#fill-editor canvas").first
        deadline = time.time() + 30
        while time.time() < deadline and not (canvas.bounding_box() or {}).get("width"):
            time.sleep(0.25)
        time.sleep(1.5)  # the background image is drawn onto the canvas
        draw_stroke(page, canvas, (-60, -20), (60, 10), steps=3)
        page.locator("#fill-run").click()
        page.locator("#fill-status").get_by_text("file(s) made").wait_for(timeout=120_000)
        page.screenshot(path=str(artifacts_dir / "fill_tab_browser.png"), full_page=True)
        shown = page.locator("#fill-params").inner_text()
    finally:
        page.close()
    gallery_id = re.search(r'"id"\s*:\s*"([A-Za-z0-9_-]+)"', shown).group(1)
    item = _item(studio, gallery_id)
    assert item.params["mask_pixels"] > 500, "the painted stroke became the mask"
    assert item.params["source_name"] == "source.png"
    assert studio.publisher.verify(item.path).state in ("Valid", "Trusted")
    out, src = np.asarray(Image.open(item.path).convert("RGB")), np.asarray(Image.open(files / "source.png"))
    assert out.shape == src.shape
