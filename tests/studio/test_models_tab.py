"""The Models tab: its named endpoints through gradio_client on the live studio (a studio without
sign-in: downloads from the page are off), and its download and remove handlers against the loopback
hub of tests/pipelines/test_downloads.py with downloads on."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from pipelines.model_files import READY, TINY
from studio.tabs import models as tab
from tests.pipelines.test_downloads import hub, manager, tiny_sd15  # noqa: F401 - fixtures


def test_models_endpoints_through_gradio_client(live_url):
    from gradio_client import Client

    client = Client(live_url, verbose=False)
    table = client.predict(api_name="/models_list")
    rows = {(r[0], r[1]): r for r in table["data"]}
    assert rows[("text_to_image", "tiny-sd15")][3] == TINY
    assert rows[("text_to_image", "flux-dev")][3] == "not downloaded" and rows[("text_to_image", "flux-dev")][7] == "gated"
    assert "non-commercial" in rows[("text_to_image", "flux-dev")][6]
    card = client.predict("text_to_image/flux-dev", api_name="/models_details")
    card = card[0] if isinstance(card, (list, tuple)) else card
    assert "FLUX.1 [dev] Non-Commercial License" in card and "gated" in card and "not downloaded" in card
    with pytest.raises(Exception, match="text_to_image/nope is not in the list of choices"):  # Gradio checks the choice
        client.predict("text_to_image/nope", api_name="/models_details")
    with pytest.raises(Exception, match="off on this studio"):  # no sign-in: strangers cannot fill the disk
        client.predict("text_to_image/sd-turbo", api_name="/models_download")
    with pytest.raises(Exception, match="off on this studio"):
        client.predict("text_to_image/sd-turbo", api_name="/models_remove")


def test_downloads_from_the_page_follow_the_setting():
    settings = lambda choice, auth="": SimpleNamespace(page_model_downloads=choice, auth_file=None, auth_header=auth)  # noqa: E731
    assert not tab.allowed(settings("auto")) and tab.allowed(settings("auto", "X-User"))
    assert tab.allowed(settings("on")) and not tab.allowed(settings("off", "X-User"))


def test_download_streams_progress_turns_ready_and_remove_says_what_it_frees(hub, manager):  # noqa: F811
    studio = SimpleNamespace(models=manager, settings=SimpleNamespace(page_model_downloads="on", auth_file=None,
                                                                      auth_header=""))
    bars = []
    steps = list(tab.download_handler(studio)("text_to_image/hub-sd15-plain",
                                              progress=lambda value, **kw: bars.append(value)))
    assert any(s[0].startswith("⏳ Downloading “Hub SD 1.5”") and "of" in s[0] for s in steps[:-1])
    assert steps[-1][0].startswith("✅ “Hub SD 1.5”: ready")
    assert ["text_to_image", "hub-sd15-plain"] == steps[-1][1][1][:2] and steps[-1][1][1][3] == READY
    assert bars and bars[-1][0] == bars[-1][1]  # the bar ends full
    message, confirm = tab.removal_preview(studio, "text_to_image/hub-sd15-plain")
    assert "frees **" in message and confirm["visible"] is True
    message, _, rows = tab.remove_files(studio, "text_to_image/hub-sd15-plain")
    assert message.startswith("Removed “Hub SD 1.5”") and rows[1][3] == "not downloaded"


def test_cancel_from_the_tab_stops_the_download_and_keeps_what_was_fetched(hub, manager):  # noqa: F811
    import gradio as gr

    studio = SimpleNamespace(models=manager, settings=SimpleNamespace(page_model_downloads="on", auth_file=None,
                                                                      auth_header=""))
    steps = tab.download_handler(studio)("text_to_image/hub-sd15-plain", progress=lambda value, **kw: None)
    assert next(steps)[0].startswith("⏳ Downloading")
    assert tab.cancel_download(studio, "text_to_image/hub-sd15-plain").startswith("Stopping the download")
    with pytest.raises(gr.Error, match="Download cancelled; what was fetched is kept"):
        list(steps)
    state = manager.weights_state(manager.preset("text_to_image", "hub-sd15-plain"), online=False)
    assert state.state == "partly downloaded" and state.disk_bytes > 0
    assert tab.cancel_download(studio, "text_to_image/hub-sd15-plain") == "“Hub SD 1.5” is not downloading."
