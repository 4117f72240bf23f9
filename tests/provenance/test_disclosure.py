"""Disclosure off (STUDIO_DISCLOSE_PROMPT=0): none of the visitor's words reach what is handed out.

Every task runs through the studio on the tiny tier (Studio.produce, as the tabs call it; the
storyboard's exports through its service), with made-up words in each field a visitor types or
names: prompt (and so the styled prompt), negative prompt, spoken text, upload file names, board
title, shot text, camera notes and dialogue. The test then searches the downloaded file's bytes
and the manifest JSON that c2pa's Reader returns for them; each field must be there as a SHA-256.
"""
from __future__ import annotations

import json
from pathlib import Path

import c2pa
import numpy as np
import pytest
from PIL import Image

from pipelines.media import InputFile
from provenance.manifest import GENERATION_LABEL, sha256_text
from provenance.signing import c2pa_mime

# Made-up words that appear nowhere else: each stands for one field the visitor typed or named.
PROMPT, NEGATIVE, SPOKEN, FILE_NAME = "zorblaxian", "quimbrelish", "frumpledorf", "vexillomancer"
TITLE, SHOT, CAMERA, DIALOGUE = "glimmerwhisk", "snorkelbane", "wobblecrane", "pindlewort"
WORDS = (PROMPT, NEGATIVE, SPOKEN, FILE_NAME, TITLE, SHOT, CAMERA, DIALOGUE)
SESSION = "disclosure-session"


@pytest.fixture(scope="module")
def undisclosed(studio):
    """The session studio with prompt disclosure off for this module (the operator's setting)."""
    before = studio.publisher.cfg.disclose_prompt
    studio.publisher.cfg.disclose_prompt = False
    yield studio
    studio.publisher.cfg.disclose_prompt = before


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> Path:
    """Files a visitor uploads, named with a word of theirs."""
    folder = tmp_path_factory.mktemp("disclosure-uploads")
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:256, 0:256]
    smooth = np.stack([128 + 60 * np.sin(x / (17.0 + 5 * c)) + 40 * np.cos(y / 13.0) for c in range(3)], -1)
    Image.fromarray(np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8)).save(
        folder / f"{FILE_NAME} source.png")
    mask = Image.new("L", (256, 256), 0)
    mask.paste(255, (64, 64, 192, 192))
    mask.save(folder / "mask.png")
    import soundfile as sf

    t = np.arange(32000) / 32000
    sf.write(folder / f"{FILE_NAME} melody.wav", (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 32000)
    return folder


def _t2i(uploads):
    from pipelines.text_to_image import Request

    return Request(prompt=f"a {PROMPT} lighthouse", negative_prompt=NEGATIVE, style="cinematic", model="tiny-sd15",
                   steps=2, width=256, height=256, seed=1), []


def _fill(uploads):
    from pipelines.fill import Request

    source = uploads / f"{FILE_NAME} source.png"
    request = Request(image=str(source), mask=str(uploads / "mask.png"), prompt=f"a {PROMPT} kite",
                      negative_prompt=NEGATIVE, model="tiny-sd15-inpaint", steps=2, seed=2, source_name=source.name)
    return request, [InputFile(str(source), "parentOf", source.name)]


def _video(uploads):
    from pipelines.video import Request

    return Request(prompt=f"a {PROMPT} harbour", negative_prompt=NEGATIVE, model="tiny-ltx", seed=3, steps=2,
                   guidance=3.0, width=256, height=256, frames=9, fps=8), []


def _speech(uploads):
    from pipelines.speech import Request

    return Request(text=f"The {SPOKEN} lamp is lit tonight.", model="tiny-vits", speaker="tiny-cleo", seed=4), []


def _music(uploads):
    from pipelines.music import Request

    melody = uploads / f"{FILE_NAME} melody.wav"
    return (Request(prompt=f"{PROMPT} synth pop", model="tiny-musicgen-melody", duration_s=1.0, seed=4,
                    melody_path=str(melody)), [InputFile(str(melody), "inputTo", melody.name)])


def _sound_effects(uploads):
    from pipelines.sound_effects import Request

    return Request(prompt=f"{PROMPT} thunder", negative_prompt=NEGATIVE, model="tiny-audioldm2", duration_s=1.0,
                   steps=2, seed=9), []


def _variation(uploads):
    from pipelines.variation import Request

    source = uploads / f"{FILE_NAME} source.png"
    return (Request(image=str(source), prompt=f"a {PROMPT} tower", negative_prompt=NEGATIVE, amount="subtle",
                    model="tiny-sd15", steps=4, seed=5), [InputFile(str(source), "parentOf", source.name)])


def _control(uploads):
    from pipelines.control import Request

    source = uploads / f"{FILE_NAME} source.png"
    return (Request(image=str(source), prompt=f"a {PROMPT} bridge", negative_prompt=NEGATIVE, steps=2, seed=6,
                    width=256, height=256), [InputFile(str(source), "inputTo", source.name)])


def _upscale(uploads):
    from pipelines.upscale import Request

    source = uploads / f"{FILE_NAME} source.png"
    return Request(image=str(source), scale=2), [InputFile(str(source), "parentOf", source.name)]


TASKS = {"text_to_image": _t2i, "fill": _fill, "video": _video, "speech": _speech, "music": _music,
         "sound_effects": _sound_effects, "variation": _variation, "control": _control, "upscale": _upscale}


def manifest_json(path: str, mime: str) -> str:
    """The whole manifest store as c2pa's own Reader reports it (embedded or from the sidecar)."""
    sidecar = Path(path + ".c2pa")
    with open(path, "rb") as stream:
        data = sidecar.read_bytes() if sidecar.exists() else None
        with c2pa.Reader(c2pa_mime(mime), stream, data) as reader:
            return reader.json()


def assert_nothing_disclosed(studio, item, words=WORDS, *, search_file: bool = True) -> dict:
    """No word in the file's bytes (when asked), its sidecar, its manifest JSON or its ledger row."""
    text = manifest_json(item.path, item.mime)
    blobs = {"manifest JSON": text.lower(), "ledger": studio.publisher.ledger.get(item.id).manifest_json.lower()}
    if search_file:
        blobs["downloaded file"] = Path(item.path).read_bytes().decode("latin-1").lower()
    sidecar = Path(item.path + ".c2pa")
    if sidecar.exists():
        blobs["sidecar"] = sidecar.read_bytes().decode("latin-1").lower()
    for where, blob in blobs.items():
        found = [w for w in words if w in blob]
        assert not found, f"{found} in the {where} of {item.mime}"
    store = json.loads(text)
    active = store["manifests"][store["active_manifest"]]
    generation = next(a["data"] for a in active["assertions"] if a["label"] == GENERATION_LABEL)
    assert generation["prompt_disclosed"] is False
    return generation


@pytest.mark.parametrize("task", list(TASKS))
def test_no_word_of_the_visitor_in_any_output(undisclosed, uploads, task):
    request, inputs = TASKS[task](uploads)
    outcome = undisclosed.produce(task, request, SESSION, inputs=inputs, confirmed=True)
    assert outcome.items
    for item in outcome.items:
        # A take's subtitles are the visitor's own words, as asked for; their manifest carries none.
        generation = assert_nothing_disclosed(undisclosed, item, search_file=not item.path.endswith((".srt", ".vtt")))
        params = generation["parameters"]
        # Each text is there as its hash, so the visitor can still prove what they typed.
        if task == "speech":
            assert params["text_sha256"] == sha256_text(request.text)
        elif task != "upscale":  # an upscale takes no words, only the source named by the visitor
            assert generation["prompt_sha256"] == sha256_text(request.prompt)
        # What the studio itself chose stays readable.
        assert params["model"] == request.model and params["task"] == task
        if task == "variation":
            assert params["amount"] == "subtle"
        if task in ("text_to_image", "fill"):
            assert params["prompt_sent_sha256"] and params["negative_prompt_sent_sha256"]
            assert params["scheduler_class"]


def finish(events):
    """Run a board service generator to its end; returns its Finished event."""
    from studio.storyboard.service import Finished

    done = [e for e in events if isinstance(e, Finished)]
    assert done
    return done[-1]


@pytest.fixture(scope="module")
def board(undisclosed):
    from studio.storyboard.service import BoardService

    service = BoardService(undisclosed)
    script = (f"- [{CAMERA} wide, 1s] a {SHOT} on a pier\n"
              f"ANNA: {DIALOGUE} is here.\n"
              f"- [medium, 1s] an old {SHOT} mends a net\n")
    made = service.create(SESSION, script, title=f"The {TITLE} board", width=128, height=72, steps=2, fps=12,
                          seed_policy="sequential", seed=7)
    finish(service.generate_panels(SESSION, made.id))
    return service, service.get(SESSION, made.id)


@pytest.mark.parametrize("kind", ["pdf", "zip", "animatic"])
def test_no_word_of_the_board_in_its_signed_exports(undisclosed, board, kind):
    service, made = board
    done = finish(service.export(SESSION, made.id, kind))
    [item] = done.items
    # A contact sheet and a panels ZIP print the script: that is their content, which the visitor
    # asked for. Their credentials must not repeat it; the animatic's frames hold no text at all.
    generation = assert_nothing_disclosed(undisclosed, item, search_file=kind == "animatic")
    assert generation["title_sha256"] == sha256_text(f"The {TITLE} board — " + {
        "pdf": "contact sheet.pdf", "zip": "panels.zip", "animatic": "animatic.mp4"}[kind])
    assert all(i["title"].startswith("sha256:") for i in generation["inputs"])


def test_a_field_nobody_listed_is_hashed_not_shown():
    """The allow-list's point: a text field added tomorrow is withheld until someone lists it as safe."""
    from provenance.manifest import disclosed_parameters

    params = {"new_caption_field": f"{PROMPT} caption", "model": "tiny-sd15", "steps": 2, "strength": 0.5,
              "crops": [{"box": [0, 0, 64, 64], "note": SHOT}], "tags": [TITLE, 3], "enabled": True, "lora": None}
    out = disclosed_parameters(params, disclose_prompt=False)
    assert not any(w in json.dumps(out) for w in WORDS)
    assert out["new_caption_field_sha256"] == sha256_text(f"{PROMPT} caption")
    assert out["crops"] == [{"box": [0, 0, 64, 64], "note_sha256": sha256_text(SHOT)}]
    assert out["tags"] == [f"sha256:{sha256_text(TITLE)}", 3]
    assert disclosed_parameters({"amount": "subtle", "control_type": "canny"}, disclose_prompt=False) == {
        "amount": "subtle", "control_type": "canny"}  # the studio's own choices stay readable
    assert {k: out[k] for k in ("model", "steps", "strength", "enabled", "lora")} == {
        "model": "tiny-sd15", "steps": 2, "strength": 0.5, "enabled": True, "lora": None}
