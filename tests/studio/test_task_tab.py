"""Tabs built from the task contract (studio/task_tab.py).

A task declared with an image input and `tab=` gets its tab in the studio with no studio edit: a
widget per field by kind, a named API endpoint taking the upload, uploads probed before any job;
a generic tab runs a real tiny model through a live server; Cancel stops one tab's jobs only.
"""
from __future__ import annotations

import sys
import threading
import time
import types
from dataclasses import dataclass, field

import gradio as gr
import pytest

from pipelines import registry
from pipelines.contract import Task, upload

FAKE = "photo_fix"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jobs_recorded(studio) -> int:
    return sum(len(studio.jobs.history(s)) for s in studio.jobs.sessions())


@dataclass
class PhotoRequest:
    """A task the studio has never seen: an image input, text, a bounded number, a count, a flag, a choice."""

    photo: str = field(default="", metadata=upload("image", title="photo", relationship="parentOf"))
    prompt: str = ""
    strength: float = field(default=0.4, metadata={"lo": 0.0, "hi": 1.0})
    passes: int = 2
    sharpen: bool = False
    look: str = field(default="warm", metadata={"choices": ("warm", "cool")})

    def check(self, preset) -> None:
        """Nothing to check: the test never runs this task."""


@pytest.fixture
def fake_task(monkeypatch):
    """Registers the task as the one registry line and a module would (no preset: it has no model field)."""
    module = types.ModuleType("fake_photo_fix")
    module.Request = PhotoRequest
    module.CONTRACT = Task(FAKE, PhotoRequest, artifacts=("image",), tab="Photo fix")
    monkeypatch.setitem(sys.modules, "fake_photo_fix", module)
    monkeypatch.setitem(registry.TASKS, FAKE, "fake_photo_fix")
    return module


def one_tab(studio, task, spec=None):
    from studio.sessions import serve
    from studio.task_tab import build_task_tab

    with gr.Blocks(analytics_enabled=False) as demo:
        state = gr.State(None)
        with gr.Tabs():
            handle = build_task_tab(studio, state, task, spec)
    serve(demo, studio)
    demo.queue()
    return demo, handle


def endpoint_parameters(demo, api_name):
    info = demo.get_api_info()["named_endpoints"][f"/{api_name}"]
    return {p["parameter_name"]: p["component"] for p in info["parameters"]}


def test_a_declared_image_input_gets_a_widget_and_an_api_parameter(studio, fake_task):
    from studio.task_tab import TaskForm, TabSpec

    demo, handle = one_tab(studio, FAKE)
    assert endpoint_parameters(demo, "generate_photo_fix") == {
        "photo": "File", "confirmed": "Checkbox", "prompt": "Textbox", "strength": "Slider", "passes": "Number",
        "sharpen": "Checkbox", "look": "Dropdown"}
    assert "/cancel_photo_fix" in demo.get_api_info()["named_endpoints"]
    with gr.Blocks():
        form = TaskForm(studio, fake_task.CONTRACT, TabSpec.derive(fake_task.CONTRACT))
    w = form.widgets
    assert w["photo"].file_types == ["image"] and (w["strength"].minimum, w["strength"].maximum) == (0.0, 1.0)
    assert w["look"].choices == [("warm", "warm"), ("cool", "cool")] and w["passes"].precision == 0
    assert handle.gallery is not None and handle.run_event is not None


def test_a_task_with_a_tab_appears_in_the_studio_before_the_storyboard(studio, fake_task, monkeypatch):
    """No edit to studio/: the registry line alone puts the tab in the page (after the creation tabs)."""
    from studio.ui import build_ui

    presets = studio.models.presets   # the Models tab lists every task's presets: this one has none
    monkeypatch.setattr(studio.models, "presets", lambda task: {} if task == FAKE else presets(task))
    demo = build_ui(studio)
    labels = [b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert labels.index("Photo fix") == labels.index("Storyboard") - 1
    assert labels.index("Photo fix") > labels.index("Sound effects")
    assert endpoint_parameters(demo, "generate_photo_fix")["photo"] == "File"


def test_a_declared_api_name_is_the_endpoint(studio, monkeypatch):
    module = types.ModuleType("fake_named")
    module.Request = PhotoRequest
    module.CONTRACT = Task("named", PhotoRequest, artifacts=("image",), tab="Named", api_name="fix_photo")
    monkeypatch.setitem(sys.modules, "fake_named", module)
    monkeypatch.setitem(registry.TASKS, "named", "fake_named")
    demo, _ = one_tab(studio, "named")
    assert "/fix_photo" in demo.get_api_info()["named_endpoints"]


@pytest.fixture
def live(studio, fake_task):
    """One server with the fake task's generic tab and the Sound effects task's, built only from its contract."""
    from gradio_client import Client

    from studio.sessions import serve
    from studio.task_tab import build_task_tab
    from studio.ui import launch_options

    with gr.Blocks(analytics_enabled=False) as demo:
        state = gr.State(None)
        with gr.Tabs():
            build_task_tab(studio, state, FAKE)
            handle = build_task_tab(studio, state, "sound_effects")
    serve(demo, studio)
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(studio))
    yield Client(f"http://127.0.0.1:{port}/", verbose=False), handle
    demo.close()


def test_a_generic_tab_runs_a_tiny_model_and_refuses_a_disguised_upload(live, studio, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client, _ = live
    player, preview, files, table, status = client.predict(
        "rain on a tin roof", "tiny-audioldm2", "", 1.0, 2, 3.0, "fixed", 11, -16, api_name="/generate_sound_effects")
    assert "file(s) made" in status and sorted(f.rsplit(".", 1)[1] for f in files) == ["mp3", "wav"]
    # what was made is said once for the WAV and its MP3: model, seed, duration
    assert status.count("Made: ") == 1 and "Made: Tiny AudioLDM 2 (random weights, test) · seed 11 · 1.0 s" in status
    assert studio.publisher.verify(player).state in ("Valid", "Trusted")
    assert table["data"][0][1:4] == ["rain on a tin roof", "Tiny AudioLDM 2 (random weights, test)", 11]
    fake = tmp_path / "photo.png"
    fake.write_text("not a picture at all")
    started = jobs_recorded(studio)
    with pytest.raises(AppError, match="photo"):
        client.predict(handle_file(str(fake)), False, "", 0.4, 2, False, "warm", api_name="/generate_photo_fix")
    assert jobs_recorded(studio) == started   # refused before any job was queued


def test_reuse_fills_the_form_from_an_items_parameters(studio):
    from studio.task_tab import CONFIRMED, SEED_MODE, TabSpec, TaskForm

    contract = registry.contract("music")
    with gr.Blocks():
        form = TaskForm(studio, contract, TabSpec.derive(contract))
    params = {"prompt": "slow strings", "model": "tiny-musicgen", "seed": 42, "duration_s": 2.5, "top_k": 50}
    values = dict(zip(form.names, form.reuse_values(params)))
    assert values[SEED_MODE] == "fixed" and values["seed"] == 42 and values["prompt"] == "slow strings"
    assert values["melody_path"] is None and values[CONFIRMED] is False and values["top_k"] == 50


def test_cancel_in_one_tab_leaves_the_visitors_job_in_another_running(live_url, studio):
    """Through the live server: the visitor's sound effect runs; Cancel in Music stops nothing, Cancel
    in Sound effects stops it."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(live_url, verbose=False)
    job = client.submit("a long low hum", "", "tiny-stable-audio", "fixed", 3, 5.0, 100, 7, -16,
                        api_name="/generate_sound_effect")
    record = wait_for_running(studio, "sound_effects", job)
    assert client.predict(api_name="/cancel_music") == "Nothing of yours is running."
    assert record.state == "running" and not record.cancel.is_set()
    assert client.predict(api_name="/cancel_sound_effect") == "⏹ Cancelled."
    with pytest.raises(AppError):
        job.result(timeout=120)
    assert record.state == "cancelled"


def wait_for_running(studio, task, job, timeout=300.0):
    """The running job of `task` (polling the job manager of the server this process hosts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not job.done():
        for session in studio.jobs.sessions():
            for record in studio.jobs.active(session):
                if record.task == task and record.state == "running":
                    return record
        threading.Event().wait(0.05)
    raise AssertionError(f"no {task} job started: {job.exception() if job.done() else 'timed out'}")


def test_a_model_change_sets_its_defaults_and_keeps_the_prompt(studio):
    from studio.tabs import sound_effects
    from studio.task_tab import TaskForm

    with gr.Blocks():
        form = TaskForm(studio, registry.contract("sound_effects"), sound_effects.spec(studio))
    preset = studio.models.preset("sound_effects", "tiny-audioldm2")
    licence, *updates = form.preset_values(preset.name)
    update = dict(zip(form.preset_fields(), updates))
    assert preset.license in licence
    assert "value" not in update["prompt"] and "value" not in update["negative_prompt"]
    assert update["steps"]["info"] == f"1 to {preset.limit('max_steps', 500)} with this model"
    assert update["duration_s"]["value"] == preset.defaults.get("duration_s", 5.0)


def test_a_joined_field_and_the_scheduler_offer_the_choices_of_the_models_family(studio):
    """Structure control's base model lists the text-to-image presets of the ControlNet's family (those
    not on this machine marked) and follows a model change; Variations' scheduler lists the family's."""
    from studio.tabs import control
    from studio.task_tab import TabSpec, TaskForm

    with gr.Blocks():
        form = TaskForm(studio, registry.contract("control"), control.spec(studio))
        variation = TaskForm(studio, registry.contract("variation"), TabSpec.derive(registry.contract("variation")))
    t2i = studio.models.presets("text_to_image")
    base = form.widgets["base_model"]
    assert isinstance(base, gr.Dropdown) and base.value == "tiny-sd15"
    assert {t2i[name].family for _, name in base.choices} == {"sd15"} and ("tiny-sd15" in dict(base.choices).values())
    assert all(("not downloaded" in label) != studio.models.is_available(t2i[name]) for label, name in base.choices)
    update = dict(zip(form.preset_fields(), form.preset_values("tiny-controlnet-sdxl")[1:]))["base_model"]
    assert update["value"] == "tiny-sdxl" and {t2i[name].family for _, name in update["choices"]} == {"sdxl"}

    scheduler = variation.widgets["scheduler"]
    assert isinstance(scheduler, gr.Dropdown) and ("euler_a", "euler_a") in scheduler.choices
    update = dict(zip(variation.preset_fields(), variation.preset_values("tiny-sd3")[1:]))["scheduler"]
    assert update["choices"] == ["default", "flow_euler", "flow_heun"] and update["value"] == "default"

    # an optional join of any family (dubbing's transcriber) offers "none" and every transcription preset
    with gr.Blocks():
        dubbing = TaskForm(studio, registry.contract("dubbing"), TabSpec.derive(registry.contract("dubbing")))
    transcriber = dubbing.widgets["transcriber"].choices
    assert transcriber[0] == ("none", "") and {n for _, n in transcriber[1:]} == set(studio.models.presets("transcribe"))


def square_picture(path, size=(160, 120), box=(50, 30, 110, 90)):
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", size, (0, 0, 0))
    ImageDraw.Draw(picture).rectangle(box, fill=(255, 255, 255))
    picture.save(path)
    return path


def assert_square_outline(edges, box=(50, 30, 110, 90), margin=3):
    """White only within `margin` px of the square's border, on all four sides."""
    import numpy as np

    lit = np.asarray(edges.convert("L")) > 127
    left, top, right, bottom = box
    near = np.zeros_like(lit)
    near[top - margin:bottom + margin + 1, left - margin:right + margin + 1] = True
    near[top + margin:bottom - margin + 1, left + margin:right - margin + 1] = False
    assert lit.any() and not (lit & ~near).any()
    mid_x, mid_y = (left + right) // 2, (top + bottom) // 2
    for side in (lit[top - margin:top + margin + 1, mid_x], lit[bottom - margin:bottom + margin + 1, mid_x],
                 lit[mid_y, left - margin:left + margin + 1], lit[mid_y, right - margin:right + margin + 1]):
        assert side.any()


def test_the_control_preview_is_the_edge_map_and_says_a_resize(live_url, tmp_path):
    """Through the live server's API: the preview of a drawn square is its outline at the output size;
    another output size is said; thresholds the wrong way round are refused with what to do."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    from PIL import Image

    client = Client(live_url, verbose=False)
    source = handle_file(str(square_picture(tmp_path / "square.png")))
    picture, note = client.predict(source, "tiny-controlnet-sd15", "canny", 100, 200, 160, 120,
                                   api_name="/preview_control")
    with Image.open(picture) as edges:
        assert edges.size == (160, 120)
        assert_square_outline(edges)
    assert "160×120" in note and "resized" not in note
    _, note = client.predict(source, "tiny-controlnet-sd15", "canny", 100, 200, 128, 128, api_name="/preview_control")
    assert "160×120 and the output 128×128: it was resized" in note
    _, note = client.predict(source, "tiny-controlnet-sd15", "depth", 100, 200, 128, 128, api_name="/preview_control")
    assert "estimated when you run" in note
    with pytest.raises(AppError, match="low one must be below the high one"):
        client.predict(source, "tiny-controlnet-sd15", "canny", 200, 100, 128, 128, api_name="/preview_control")


def test_a_drawn_scribble_becomes_the_control_source():
    """The canvas's strokes, whatever their colour, are white on black; an empty canvas is refused."""
    import gradio as gr
    import numpy as np
    from PIL import Image, ImageDraw

    from studio.tabs.control import drawing_file

    canvas = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).line((8, 8, 56, 56), fill=(0, 0, 0, 255), width=4)   # a black brush
    path, kind = drawing_file({"background": None, "layers": [canvas], "composite": canvas})
    drawn = np.asarray(Image.open(path).convert("L"))
    assert kind == "scribble" and drawn[32, 32] == 255 and drawn[8, 56] == 0
    on_white = Image.new("RGBA", (64, 64), (255, 255, 255, 255))   # the page's canvas is white
    ImageDraw.Draw(on_white).line((8, 8, 56, 56), fill=(200, 30, 30, 255), width=4)   # a red brush
    drawn = np.asarray(Image.open(drawing_file({"composite": on_white})[0]).convert("L"))
    assert drawn[32, 32] == 255 and drawn[8, 56] == 0
    for empty in (Image.new("RGBA", (64, 64), (0, 0, 0, 0)), Image.new("RGBA", (64, 64), (255, 255, 255, 255))):
        with pytest.raises(gr.Error, match="Draw something"):
            drawing_file({"composite": empty})
