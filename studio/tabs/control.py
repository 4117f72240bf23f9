"""The Structure control tab: the generic tab of the control task (studio/task_tab.py) with the
control image shown before the run.

"Preview control image" makes the edge or scribble map through the task's own `Request.check`
(pipelines/control.py, pipelines/control_maps.py: OpenCV and Pillow, no torch), so the preview is
the picture the ControlNet will get, at the output size, with the same notices (a resize is said).
It follows the form: a new upload, another control type, a threshold let go, or a size entered
redraws it. "Draw a scribble" is a canvas in the page: its strokes become the scribble control
image (white on black) and the control source. Depth is estimated by the model loaded with the ControlNet, so its preview says it is
made at run.
"""
from __future__ import annotations

import hashlib
import tempfile
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from pipelines import registry
from pipelines.errors import StudioError
from studio.service import Studio
from studio.task_tab import Look, TabParts, TabSpec
from studio.widgets import raise_for_user

TASK = "control"
SOURCE_TITLE = "control source"
# The prompt does not shape the control image; the preview runs the request's check without asking for one.
PREVIEW_PROMPT = "control image preview"
MAP_NAMES = {"lineart": "Line art", "scribble": "The scribble"}   # how the note names a control image
STROKE_INK = 32   # how much darker than the white canvas (0-255) a pixel is to count as drawn
SCRIBBLES = Path(tempfile.gettempdir()) / "studio-scribbles"   # Gradio hands these out from its own cache
PREVIEW_FIELDS = ("image", "model", "control_type", "canny_low", "canny_high", "width", "height")


def spec(studio: Studio) -> TabSpec:
    """The generic Structure control tab, with threshold help and the control-image preview."""
    contract = registry.contract(TASK)
    looks = {
        "canny_low": Look(label="Canny low threshold", info="Edges only: lower keeps fainter edges."),
        "canny_high": Look(label="Canny high threshold", info="Edges only: above it an edge always counts."),
        "conditioning_scale": Look(label="Conditioning strength", step=0.05),
    }
    return replace(TabSpec.derive(contract), looks=looks, parts=lambda parts: control_parts(studio, parts))


def control_parts(studio: Studio, parts: TabParts) -> None:
    """A scribble drawn in the browser, and the control-image preview."""
    refresh = preview_part(studio, parts)
    sketch_part(parts, refresh)


def control_preview(studio: Studio, image: str | None, model: str, control_type: str, canny_low, canny_high,
                    width, height) -> tuple[Image.Image | None, str]:
    """(the control image a run with these values would use, a line saying what it is); depth gives
    no picture (it is estimated at run). Bad input raises the studio's error with its message."""
    if not image:
        raise StudioError("Upload a control source first: the control image is made from it.")
    studio.probe_upload(image, ("image",), title=SOURCE_TITLE)   # before anything decodes it
    preset = studio.models.preset(TASK, model)
    request = registry.contract(TASK).request(
        image=image, prompt=PREVIEW_PROMPT, model=model, control_type=control_type, canny_low=canny_low,
        canny_high=canny_high, width=width, height=height)
    request.check(preset)
    source, control, notices = request.take_prepared()
    if control is None:
        return None, (f"The {source.width}×{source.height} source is read; depth is estimated when you run, by "
                      "the depth model loaded with the ControlNet.")
    what = (f"Canny edges, thresholds {request.canny_low} and {request.canny_high}"
            if control_type == "canny" else MAP_NAMES.get(control_type, control_type.capitalize()))
    lines = [f"{what}, {control.width}×{control.height}: the control image the run will use.", *notices]
    return control, "  \n".join(lines)


def preview_part(studio: Studio, parts: TabParts):
    """The preview button, picture and note below the results, wired to the form's widgets; returns
    a function that redraws the preview after another event."""
    widgets = parts.form.widgets
    with gr.Group():
        button = gr.Button("Preview control image", elem_id="control-preview-run")
        picture = gr.Image(label="Control image (what the ControlNet will see)", type="pil", format="png",
                           interactive=False, elem_id="control-preview", buttons=["fullscreen"], height=360)
        note = gr.Markdown(elem_id="control-preview-note")
    inputs = [widgets[name] for name in PREVIEW_FIELDS]

    def asked(*values):
        return raise_for_user(control_preview, studio, *values)

    def followed(*values):
        # Redrawn as the form changes: no upload yet is no error, a bad value is said in the note.
        if not values[0]:
            return gr.update(), gr.update()
        try:
            return control_preview(studio, *values)
        except StudioError as e:
            return None, f"⚠ {e}"

    button.click(asked, inputs, [picture, note], api_name="preview_control", queue=False)
    for event in (widgets["image"].upload, widgets["control_type"].change, widgets["canny_low"].release,
                  widgets["canny_high"].release, widgets["width"].submit, widgets["height"].submit):
        event(followed, inputs, [picture, note], api_name=False, queue=False)
    return lambda event: event.then(followed, inputs, [picture, note], api_name=False, queue=False)


def drawing_file(value: dict | None) -> tuple[str, str]:
    """(a PNG of the drawing as a scribble control image, "scribble"): every stroke darker than the
    canvas's white (or drawn on a transparent one), whatever its colour, white on black, as scribble
    ControlNets are trained on. An empty canvas is refused."""
    composite = (value or {}).get("composite")
    strokes = None if composite is None else stroke_mask(composite)
    if strokes is None or strokes.getbbox() is None:
        raise gr.Error("Draw something on the canvas first: its strokes become the scribble.")
    SCRIBBLES.mkdir(exist_ok=True)
    path = SCRIBBLES / f"{hashlib.sha256(strokes.tobytes()).hexdigest()[:24]}.png"   # one file per drawing
    Image.merge("RGB", (strokes, strokes, strokes)).save(path)
    return str(path), "scribble"


def stroke_mask(picture: Image.Image) -> Image.Image:
    """L: 255 where something was drawn (opaque and darker than white), else 0."""
    rgba = np.asarray(picture.convert("RGBA")).astype(np.float32)
    ink = (255 - rgba[..., :3].mean(axis=2)) * rgba[..., 3] / 255
    return Image.fromarray(np.where(ink > STROKE_INK, 255, 0).astype(np.uint8))


def sketch_part(parts: TabParts, refresh) -> None:
    """A canvas to draw a scribble on; "Use this drawing" makes it the control source (type scribble)."""
    widgets = parts.form.widgets
    with gr.Accordion("Draw a scribble", open=False):
        pad = gr.Sketchpad(type="pil", image_mode="RGBA", canvas_size=(512, 512), format="png",
                           label="Draw the shapes to keep; the strokes become white lines on black",
                           elem_id="control-sketch")
        use = gr.Button("Use this drawing as the scribble", elem_id="control-sketch-use")
    refresh(use.click(drawing_file, [pad], [widgets["image"], widgets["control_type"]], api_name=False,
                      queue=False))
