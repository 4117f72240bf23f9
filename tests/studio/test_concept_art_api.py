"""The concept-art tab through gradio_client against a live server on a loopback port."""
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

ARGS = dict(prompt="a lighthouse on a cliff", negative_prompt="", style="none", model="tiny-sd15",
            seed_mode="fixed", seed=5, steps=2, guidance=6.0, width=256, height=256, batch=2, scheduler="euler")


def call(client, **kw):
    a = {**ARGS, **kw}
    return client.predict(a["prompt"], a["negative_prompt"], a["style"], a["model"], a["seed_mode"], a["seed"],
                          a["steps"], a["guidance"], a["width"], a["height"], a["batch"], a["scheduler"],
                          api_name="/generate_image")


@pytest.fixture(scope="module")
def client(live_url):
    return Client(live_url, verbose=False)


def test_generate_returns_signed_images_with_captions(live_url, studio):
    gallery, status = call(Client(live_url, verbose=False))
    assert len(gallery) == 2
    assert "2 file(s) made" in status
    assert {"seed 5", "seed 6"} <= {part for g in gallery for part in g["caption"].split(" · ")}
    for entry in gallery:
        # the file the visitor downloads is the signed file, byte for byte (no re-encode on the way)
        report = studio.publisher.verify(entry["image"])
        assert report.state in ("Valid", "Trusted"), report.summary_lines()


@pytest.mark.parametrize("kw, message", [
    (dict(prompt=""), "prompt is empty"),
    (dict(width=250), "multiple of 8"),
    (dict(batch=12), "Batch 12|greater than maximum value 8"),
    (dict(model="no-such-model"), "Unknown model preset|not in the list of choices"),
    (dict(model="sd15"), "studio models pull sd15"),
    (dict(guidance=-5.0), "Guidance|less than minimum value"),
])
def test_bad_input_is_an_api_error_with_the_message_and_the_studio_keeps_serving(client, kw, message):
    before, _ = call(client, batch=1)
    with pytest.raises(AppError, match=message):
        call(client, **kw)
    after, status = call(client, batch=1)   # the same visitor's gallery grows by one
    assert len(after) == len(before) + 1 and "1 file(s) made" in status


def test_api_endpoints_are_named(client):
    names = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/generate_image" in names and "/verify" in names
