"""Every upload used as an input goes through the detector before the pipeline runs (recorded
on the job record and in the output's manifest), and a flagged one needs the visitor's
confirmation. The kinds are those the issue names: the fill source, the image-to-video
still, the voice-cloning reference and storyboard reference images."""
from __future__ import annotations

import pytest

from pipelines.media import InputFile
from pipelines.text_to_image import Request
from provenance.detect_verdict import CREDENTIALS, WATERMARK
from provenance.report import generation_data
from studio.jobs import JobDone
from studio.service import NeedsConfirmation


def small_request(seed: int = 1) -> Request:
    return Request(prompt="a quiet harbour", model="tiny-sd15", steps=1, width=64, height=64, seed=seed)


def run_job(studio, inputs, confirmed=False, session="detect-inputs-session"):
    events = list(studio.stream("text_to_image", small_request(), session, inputs=inputs, confirmed=confirmed))
    done = events[-1]
    assert isinstance(done, JobDone)
    return done


def test_each_kind_of_upload_is_checked_and_recorded(detect_studio, media):
    inputs = [
        InputFile(str(media["photo_png"]), "parentOf", "fill source"),
        InputFile(str(media["photo_jpg"]), "inputTo", "image-to-video still"),
        InputFile(str(media["voice_wav"]), "inputTo", "voice reference"),
        InputFile(str(media["stripped_png"]), "inputTo", "storyboard reference 1"),
        InputFile(str(media["clip_mp4"]), "inputTo", "storyboard reference 2"),
    ]
    done = run_job(detect_studio, inputs)
    checked = done.record.inputs_checked
    assert [c["path"] for c in checked] == [i.path.rsplit("/", 1)[-1] for i in inputs]
    assert [c["relationship"] for c in checked] == [i.relationship for i in inputs]
    assert [c["kind"] for c in checked] == ["image", "image", "audio", "image", "video"]
    for c in checked:
        assert c["verdict"] and c["model"] and c["thresholds"] and "flagged" in c
    assert checked[3]["verdict"] == WATERMARK and not checked[3]["flagged"]  # the visitor's own output, re-saved
    # The verdicts travel into the output's signed manifest, one per ingredient.
    item = done.value.items[0]
    report = detect_studio.publisher.verify(item.path)
    assert report.state in ("Valid", "Trusted")
    recorded = generation_data(report.manifest)["inputs"]
    assert [r["verdict"]["verdict"] for r in recorded] == [c["verdict"] for c in checked]


@pytest.mark.parametrize("key, title", [("other_png", "storyboard reference"), ("other_wav", "voice reference")])
def test_a_flagged_reference_needs_confirmation(detect_studio, media, key, title):
    inputs = [InputFile(str(media[key]), "inputTo", title)]
    with pytest.raises(NeedsConfirmation, match=f"The {title} looks AI-generated") as info:
        run_job(detect_studio, inputs)
    assert CREDENTIALS in str(info.value) and "tick the confirmation box" in str(info.value)
    done = run_job(detect_studio, inputs, confirmed=True)
    assert done.record.inputs_checked[0]["flagged"] and done.record.inputs_checked[0]["verdict"] == CREDENTIALS
    assert detect_studio.publisher.verify(done.value.items[0].path).state in ("Valid", "Trusted")


def test_the_visitors_own_output_fed_back_needs_no_confirmation(detect_studio, media):
    done = run_job(detect_studio, [InputFile(str(media["studio_png"]), "parentOf", "fill source")])
    check = done.record.inputs_checked[0]
    assert check["verdict"] == CREDENTIALS and check["own_output"] and not check["flagged"]


def test_an_upload_that_cannot_be_judged_is_recorded_and_not_blocked(detect_studio, media):
    done = run_job(detect_studio, [InputFile(str(media["tiny_png"]), "inputTo", "storyboard reference")])
    assert done.record.inputs_checked[0]["verdict"].startswith("cannot judge: the image is 24×24 pixels")
