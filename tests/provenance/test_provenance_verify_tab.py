"""The Verify tab: wiring only (the examining is tested with provenance.verify)."""
import os
from types import SimpleNamespace

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
gr = pytest.importorskip("gradio")

from studio.tabs import verify as verify_tab  # noqa: E402


def test_build_adds_the_tab_with_an_api_endpoint(publisher):
    with gr.Blocks() as demo:
        with gr.Tabs():
            verify_tab.build(SimpleNamespace(publisher=publisher))
    config = demo.get_config_file()
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    assert "Verify" in labels
    types = [c["type"] for c in config["components"]]
    for kind in ("file", "button", "markdown", "json"):
        assert kind in types
    assert any(dep.get("api_name") == "verify" for dep in config["dependencies"])


def test_handler_returns_card_and_report(publisher, published_png):
    card, report = verify_tab.make_handler(publisher)(str(published_png.path))
    assert card.startswith("### ") and "Trusted" in card
    assert report["state"] == "Trusted" and report["watermark"]["id"] == published_png.watermark_id


def test_handler_errors_become_messages(publisher):
    handler = verify_tab.make_handler(publisher)
    with pytest.raises(gr.Error):
        handler(None)

    class Broken:
        def verify(self, path):
            from pipelines.errors import ProvenanceError
            raise ProvenanceError("the ledger is unavailable")

    with pytest.raises(gr.Error, match="ledger is unavailable"):
        verify_tab.make_handler(Broken())("/tmp/x.png")
