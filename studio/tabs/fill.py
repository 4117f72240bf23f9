"""The Generative fill tab: a source (upload or one of my images), a mask painted in the image
editor or uploaded, and fill / remove / extend; results feed back as the next source."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from pipelines import fill
from pipelines.errors import InputError, StudioError
from pipelines.media import InputFile
from pipelines.uploads import IMAGE_KINDS
from studio.sessions import Session, ensure
from studio.service import Studio
from studio.widgets import (TabHandle, action_row, api_signature, default_preset, form_number, license_markdown,
                            model_picker, pick_item, resolve_seed, seed_controls, selected_item, status_markdown,
                            stream_job, wire_cancel, wire_run)

TASK = "fill"
ASPECTS = ["", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "1:1", "21:9"]
MODE_HELP = {
    "fill": "Repaint the painted area from the prompt.",
    "remove": "Erase what is painted; the surroundings continue into it (the prompt may describe the background).",
    "extend": "Add new image around the borders, by pixels per side or out to an aspect ratio.",
}


@dataclass
class Source:
    path: str
    parent_id: str
    name: str


def gallery_value(studio: Studio, session: Session) -> list[tuple[str, str]]:
    """The visitor's fill results, newest first, as (path, caption)."""
    return [(i.path, i.caption) for i in studio.gallery.newest(session.id, TASK, pages=session.pages)]


def source_choices(studio: Studio, session: Session) -> list[tuple[str, str]]:
    """(caption, gallery id) of every image the visitor made, in any tab, newest first."""
    items = reversed(studio.gallery.list(session.id, mime_prefix="image/"))
    return [(f"{i.task.replace('_', ' ')} · {i.caption} · {i.id[:8]}", i.id) for i in items]


def editor_value(path: str | None) -> dict | None:
    """An image editor value showing `path` as the background with nothing painted."""
    return {"background": path, "layers": [], "composite": path} if path else None


def resolve_source(studio: Studio, session: Session, upload: str | None, source_id: str | None,
                   editor: dict | None) -> Source:
    """The file to edit: an upload (its original bytes, so its credentials can be read), one of
    the visitor's gallery images (recorded as the parent), or the editor's own background."""
    if upload:
        return Source(upload, "", Path(upload).name)
    if source_id:
        item = studio.gallery.get(session.id, source_id)
        if item is None or not item.mime.startswith("image/"):
            raise InputError("That image is not among your images (it may belong to another session); "
                             "upload it as the source instead.")
        return Source(item.path, item.id, f"gallery {item.id}")
    background = (editor or {}).get("background")
    if background:
        return Source(background, "", "image in the editor")
    raise InputError("There is no source image: upload one, or pick one of your images, first.")


def save_mask(studio: Studio, session: Session, editor: dict | None, upload: str | None) -> str | None:
    """The mask to use as a PNG file: what was painted in the editor, the uploaded mask, or both
    together. None when there is neither."""
    painted = fill.mask_from_layers((editor or {}).get("layers") or [])
    if upload and painted is None:
        return upload
    if painted is None:
        return None
    if upload:
        notices: list[str] = []
        painted = fill.combine_masks([painted, fill.open_mask(upload, painted.size, notices)], painted.size)
    folder = studio.settings.data_dir / "inputs" / session.id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"mask-{secrets.token_hex(6)}.png"
    painted.save(path)
    return str(path)


def source_inputs() -> tuple:
    """The source (upload or one of my images), the editor to paint the mask in, and a mask upload."""
    with gr.Row():
        source_file = gr.File(label="Source image (upload)", file_types=["image"], type="filepath", height=110,
                              elem_id="fill-source-file")
        source_pick = gr.Dropdown([], value=None, label="…or one of my images", allow_custom_value=True,
                                  elem_id="fill-source-pick")
    editor = gr.ImageEditor(label="Paint over the area to change (eraser takes it back)", type="filepath",
                            image_mode="RGBA", format="png", sources=[], transforms=[], layers=False,
                            brush=gr.Brush(colors=[("#ff00ff", 0.55)], color_mode="fixed", default_size=24),
                            eraser=gr.Eraser(default_size=24), height=520, elem_id="fill-editor")
    mask_file = gr.File(label="Mask (optional upload; white = change)", file_types=["image"], type="filepath",
                        height=90, elem_id="fill-mask-file")
    return source_file, source_pick, editor, mask_file


def extend_inputs() -> tuple:
    """Extend: out to an aspect ratio, or by pixels per side (shown for the extend mode only)."""
    with gr.Group(visible=False) as extend_group:
        aspect = gr.Dropdown(ASPECTS, value="", allow_custom_value=True,
                             label="Extend to aspect ratio (or set pixels per side below)")
        with gr.Row():
            left, right = (gr.Number(value=0, precision=0, minimum=0, label=f"{s} (px)") for s in ("Left", "Right"))
            top, bottom = (gr.Number(value=0, precision=0, minimum=0, label=f"{s} (px)") for s in ("Top", "Bottom"))
    return extend_group, [aspect, left, right, top, bottom]


def fill_settings(preset) -> list:
    """Seed, strength, steps, guidance and feather."""
    d = preset.defaults
    with gr.Accordion("Settings", open=False):
        seed_mode, seed = seed_controls()
        strength = gr.Slider(0.05, 1, value=d.get("strength", 1.0), step=0.05, label="Strength")
        steps = gr.Slider(1, preset.limit("max_steps", 150), value=d.get("steps", 20), step=1, label="Steps")
        guidance = gr.Slider(0, 50, value=d.get("guidance", 7.0), step=0.5, label="Guidance")
        feather = gr.Slider(0, fill.MAX_FEATHER, value=d.get("feather", 8), step=1,
                            label="Feather (px of soft edge inside the mask; seam band when extending)")
    return [seed_mode, seed, strength, steps, guidance, feather]


def fill_request(studio: Studio, session: Session, upload, source_id, editor_data, mask_upload, mode, prompt,
                 negative_prompt, model, aspect, left, right, top, bottom, seed_mode, seed, strength, steps, guidance,
                 feather) -> tuple[fill.Request, Source]:
    """The checked request and its source; uploads are probed from their headers before anything decodes them."""
    for path, title in ((upload, "source image"), (mask_upload, "mask")):
        if path:
            studio.probe_upload(path, IMAGE_KINDS, title)
    source = resolve_source(studio, session, upload, source_id, editor_data)
    mask = save_mask(studio, session, editor_data, mask_upload) if mode != "extend" else None
    p = studio.models.preset(TASK, model)
    request = fill.Request(
        image=source.path, mask=mask, prompt=prompt or "", model=model, mode=mode,
        negative_prompt=negative_prompt or "", strength=form_number(strength, float), steps=form_number(steps),
        guidance=form_number(guidance, float), seed=resolve_seed(seed_mode, seed, session, TASK),
        feather=form_number(feather), extend_left=form_number(left), extend_right=form_number(right),
        extend_top=form_number(top), extend_bottom=form_number(bottom), aspect=aspect or "",
        scheduler=p.defaults.get("scheduler", "default"), parent_id=source.parent_id, source_name=source.name)
    # A clear message now, not after the queue: the numbers, the source and the mask.
    return studio.checked(TASK, request), source


def run_handler(studio: Studio):
    """The Fill event: the checked request, then the job, its previews in front of the gallery."""
    def run(session: Session, *values):
        *values, confirmed, progress = values
        session = ensure(session)
        try:
            request, source = fill_request(studio, session, *values)
        except StudioError as e:
            raise gr.Error(str(e), print_exception=False) from None
        # The mask is recorded by its hash in the parameters, not as an ingredient: ingredients go
        # through the upload check, and a black-and-white mask the visitor painted is no upload to judge
        # (the detector flags such flat pictures).
        inputs = [InputFile(source.path, "parentOf", "source image")]
        yield gr.update(), "⏳ Queued…", gr.update(), gr.update(), session
        for event in stream_job(studio, session, TASK, request, progress, inputs=inputs, confirmed=bool(confirmed)):
            if hasattr(event, "items"):
                session.last_seed[TASK] = request.seed
                newest = event.items[-1]
                yield (gallery_value(studio, session), status_markdown(event), {"id": newest.id, **newest.params},
                       gr.update(choices=source_choices(studio, session)), session)
            elif event.preview:  # the crop being repainted, in front of the visitor's gallery
                tiles = [(img, f"preview · step {int(event.done)}/{int(event.total)}") for img in event.preview]
                yield tiles + gallery_value(studio, session), f"⏳ {event.stage}…", gr.update(), gr.update(), session
            else:
                yield gr.update(), f"⏳ {event.stage}…", gr.update(), gr.update(), session

    names = ["session", "upload", "source_id", "editor_data", "mask_upload", "mode", "prompt", "negative_prompt",
             "model", "aspect", "left", "right", "top", "bottom", "seed_mode", "seed", "strength", "steps", "guidance",
             "feather", "confirmed"]
    run.__signature__ = api_signature(names)
    return run


def wire_source(studio: Studio, session_state: gr.State, tab, source_file, source_pick, editor) -> None:
    """An uploaded or picked source goes into the editor (and clears the other); opening the tab
    refreshes the visitor's images to pick from."""
    def on_pick(session: Session, source_id):
        session = ensure(session)
        item = studio.gallery.get(session.id, source_id) if source_id else None
        if item is None:
            return gr.update(), gr.update(), session
        return editor_value(item.path), None, session

    def on_tab(session: Session):
        session = ensure(session)
        return gr.update(choices=source_choices(studio, session)), session

    source_file.upload(lambda path: (editor_value(path), None), [source_file], [editor, source_pick],
                       api_name=False, queue=False)
    source_pick.input(on_pick, [session_state, source_pick], [editor, source_file, session_state], api_name=False,
                      queue=False)
    tab.select(on_tab, [session_state], [source_pick, session_state], api_name=False, queue=False)


def on_mode(mode: str):
    """The mode's help, the extend settings, and the run button named after the mode."""
    return gr.update(info=MODE_HELP.get(mode, "")), gr.update(visible=mode == "extend"), \
        gr.update(value={"fill": "Fill", "remove": "Remove", "extend": "Extend"}.get(mode, "Fill"))


def model_handler(studio: Studio):
    def on_model(name: str):
        p = studio.models.preset(TASK, name)
        d = p.defaults
        return (license_markdown(studio, p), gr.update(value=d.get("steps", 20), maximum=p.limit("max_steps", 150)),
                d.get("guidance", 7.0), d.get("strength", 1.0), d.get("feather", 8))

    return on_model


def wire_results(studio: Studio, session_state: gr.State, gallery, params, use_as_source, source_pick, editor,
                 source_file) -> None:
    """A selected result shows its parameters; "Use as the next source" puts it in the editor."""
    def on_select(session: Session, evt: gr.SelectData):
        session = ensure(session)
        item = pick_item(studio, session, TASK, evt)
        return ({"id": item.id, **item.params} if item else None), session

    def on_use(session: Session):
        item = selected_item(studio, session, TASK, "Select a result in the gallery first.")
        return (gr.update(choices=source_choices(studio, session), value=item.id), editor_value(item.path), None,
                session)

    gallery.select(on_select, [session_state], [params, session_state], api_name=False, queue=False)
    use_as_source.click(on_use, [session_state], [source_pick, editor, source_file, session_state],
                        api_name=False, queue=False)


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    preset = default_preset(studio, TASK)
    with gr.Tab("Generative fill", id=TASK) as tab:
        with gr.Row():
            with gr.Column(scale=3):
                source_file, source_pick, editor, mask_file = source_inputs()
            with gr.Column(scale=2):
                mode = gr.Radio(list(fill.MODES), value="fill", label="Mode", info=MODE_HELP["fill"])
                prompt = gr.Textbox(label="Prompt", lines=2, placeholder="a red vintage bicycle leaning on the wall")
                negative = gr.Textbox(label="Negative prompt", lines=1, placeholder="blurry, text")
                extend_group, extend = extend_inputs()
                model, license_md = model_picker(studio, TASK)
                confirmed = gr.Checkbox(label="I have the right to use this source even if it looks AI-generated")
                run_button, cancel = action_row("Fill", "fill-run", "fill-cancel")
                settings = fill_settings(preset)
                status = gr.Markdown(elem_id="fill-status", elem_classes=["studio-status"])
        gallery = gr.Gallery(label="My fills", columns=4, height=360, object_fit="contain", elem_id="fill-gallery",
                             buttons=["download", "fullscreen"], preview=False, interactive=False)
        with gr.Row():
            use_as_source = gr.Button("Use the selected result as the next source", elem_id="fill-use-source")
        params = gr.JSON(label="Selected result: id and exact parameters", elem_id="fill-params")

        form = [source_file, source_pick, editor, mask_file, mode, prompt, negative, model, *extend, *settings,
                confirmed]
        run_event = wire_run(studio, run_handler(studio), [session_state, *form],
                             [gallery, status, params, source_pick, session_state], status, run_button, "fill_image",
                             submit=prompt)
        wire_cancel(studio, cancel, session_state, status, TASK, "cancel_fill")
        wire_source(studio, session_state, tab, source_file, source_pick, editor)
        mode.change(on_mode, [mode], [mode, extend_group, run_button], api_name=False, queue=False)
        model.change(model_handler(studio), [model], [license_md, *settings[3:5], settings[2], settings[5]],
                     api_name=False, queue=False)
        wire_results(studio, session_state, gallery, params, use_as_source, source_pick, editor, source_file)
    return TabHandle(tab, refresh=lambda session: gallery_value(studio, session), gallery=gallery, run_event=run_event)
