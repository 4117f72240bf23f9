"""Detection is worded honestly where visitors read it: the page header names the classifiers and
says they are test models (the tiny tier's random weights score at random) instead of promising
that every file passed a check; an output's verdict keeps "its own credentials say AI-generated"
apart from what the classifier scored, in the manifest, on the Verify card and on the Detect card."""
from __future__ import annotations

import json
import urllib.request

import pytest

from provenance.detect_verdict import CREDENTIALS
from provenance.report import generation_data

SESSION = "wording-session"
TEST_MODEL = "random weights: its score means nothing"


@pytest.fixture(scope="module")
def output(studio):
    from pipelines.text_to_image import Request

    [item] = studio.produce("text_to_image", Request(prompt="a quiet bay", model="tiny-sd15", steps=2, width=256,
                                                     height=256, seed=21), SESSION).items
    return item


def test_the_page_header_names_the_detector_and_says_it_is_a_test_model(live_url):
    config = json.loads(urllib.request.urlopen(f"{live_url}config", timeout=30).read())
    header = next(c["props"]["value"] for c in config["components"]
                  if c.get("type") == "markdown" and "# GenMedia" in str(c.get("props", {}).get("value", "")))
    assert "has passed an AI-content check" not in header  # the old promise
    assert "not a check that a file passed" in header
    assert "Tiny ViT detector" in header and "Tiny wav2vec2 detector" in header
    assert "test models with random weights: their scores mean nothing" in header


def test_an_outputs_manifest_says_apart_what_credentials_and_classifier_say(studio, output):
    verdict = generation_data(studio.publisher.verify(output.path).manifest)["detector"]
    assert verdict["verdict"] == CREDENTIALS and verdict["basis"] == "credentials"
    assert verdict["credentials_say"].startswith("AI-generated: this studio made the file")
    assert verdict["test_model"] is True and verdict["classifier"]["test_model"] is True
    assert verdict["classifier_says"].startswith("Tiny ViT detector (random weights, test) — a test model with "
                                                 + TEST_MODEL)
    assert f"score {verdict['classifier']['score']:.2f}" in verdict["classifier_says"]


def test_the_verify_card_keeps_them_apart(studio, output):
    card = studio.publisher.verify(output.path).card_markdown()
    line = next(x for x in card.split("\n\n") if x.startswith("- **Detector at publication:**") or
                "Detector at publication" in x)
    assert "its own credentials declare it" in line
    assert "Classifier, which decided nothing here: Tiny ViT detector" in line and TEST_MODEL in line


def test_the_detect_card_names_the_test_model(live_url, output):
    from gradio_client import Client, handle_file

    client = Client(live_url, verbose=False)
    card, verdict, _ = client.predict(handle_file(output.path), "tiny-vit-detector", "tiny-wav2vec2-detector",
                                      api_name="/detect")
    assert verdict["verdict"] == CREDENTIALS and CREDENTIALS in card
    assert "Tiny ViT detector" in card and "— a random-weight test model: its score means nothing" in card
