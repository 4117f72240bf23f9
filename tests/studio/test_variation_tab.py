"""The Variations tab's source: one of the visitor's own pictures, or a download of one uploaded again,
with its prompt filled in from the recorded parameters; never another visitor's."""
import shutil

from pipelines.text_to_image import Request
from studio.sessions import Session
from studio.tabs.variation import filled, own_output, picked


def test_the_visitors_own_picture_brings_its_prompt_and_anothers_brings_nothing(studio, tmp_path):
    request = Request(prompt="a red kite over dunes", negative_prompt="blur", model="tiny-sd15", seed=3, steps=2,
                      width=64, height=64)
    [item] = studio.produce("text_to_image", request, "variation-owner").items
    owner, stranger = Session("variation-owner"), Session("variation-stranger")

    path, prompt, negative, note = picked(studio, owner, item.id)
    assert path == item.path and prompt["value"] == "a red kite over dunes" and negative["value"] == "blur"
    assert "prompt is filled in" in note

    download = tmp_path / "kite.png"          # the file the visitor downloaded, uploaded again
    shutil.copyfile(item.path, download)
    assert own_output(studio, owner, str(download)).id == item.id
    assert filled(own_output(studio, owner, str(download)))[0]["value"] == "a red kite over dunes"

    assert own_output(studio, stranger, str(download)) is None     # another visitor's file fills nothing
    _, prompt, _, note = picked(studio, stranger, item.id)
    assert prompt == {"__type__": "update"} and note == ""
    other = tmp_path / "other.png"
    other.write_bytes(download.read_bytes() + b"\0")                # not a studio output's exact bytes
    assert own_output(studio, owner, str(other)) is None
