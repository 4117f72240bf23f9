"""The Structure control tab: the generic tab of the control task (studio/task_tab.py) with the
control image shown before the run.

"Preview control image" makes the edge or scribble map through the task's own `Request.check`
(pipelines/control.py, pipelines/control_maps.py: OpenCV and Pillow, no torch), so the preview is
the picture the ControlNet will get, at the output size, with the same notices (a resize is said).
It follows the form: a new upload, another control type, a threshold let go, or a size entered
redraws it. Depth is estimated by the model loaded with the ControlNet, so its preview says it is
made at run.
"""
from __future__ import annotations

from dataclasses import replace

import gradio as gr
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
PREVIEW_FIELDS = ("image", "model", "control_type", "canny_low", "canny_high", "width", "height")


def spec(studio: Studio) -> TabSpec:
    """The generic Structure control tab, with threshold help and the control-image preview."""
    contract = registry.contract(TASK)
    looks = {
        "canny_low": Look(label="Canny low threshold", info="Edges only: lower keeps fainter edges."),
        "canny_high": Look(label="Canny high threshold", info="Edges only: above it an edge always counts."),
        "conditioning_scale": Look(label="Conditioning strength", step=0.05),
    }
    return replace(TabSpec.derive(contract), looks=looks, parts=lambda parts: preview_part(studio, parts))


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


def preview_part(studio: Studio, parts: TabParts) -> None:
    """The preview button, picture and note below the results, wired to the form's widgets."""
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
