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
from studio.widgets import (TabHandle, default_preset, license_markdown, model_picker, resolve_seed, seed_controls,
                            mark_failures, status_markdown, stream_job, form_number, selected_item)

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


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    preset = default_preset(studio, TASK)
    d = preset.defaults
    with gr.Tab("Generative fill", id=TASK) as tab:
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    source_file = gr.File(label="Source image (upload)", file_types=["image"], type="filepath",
                                          height=110, elem_id="fill-source-file")
                    source_pick = gr.Dropdown([], value=None, label="…or one of my images", allow_custom_value=True,
                                              elem_id="fill-source-pick")
                editor = gr.ImageEditor(label="Paint over the area to change (eraser takes it back)", type="filepath",
                                        image_mode="RGBA", format="png", sources=[], transforms=[], layers=False,
                                        brush=gr.Brush(colors=[("#ff00ff", 0.55)], color_mode="fixed", default_size=24),
                                        eraser=gr.Eraser(default_size=24), height=520, elem_id="fill-editor")
                mask_file = gr.File(label="Mask (optional upload; white = change)", file_types=["image"],
                                    type="filepath", height=90, elem_id="fill-mask-file")
            with gr.Column(scale=2):
                mode = gr.Radio(list(fill.MODES), value="fill", label="Mode", info=MODE_HELP["fill"])
                prompt = gr.Textbox(label="Prompt", lines=2, placeholder="a red vintage bicycle leaning on the wall")
                negative = gr.Textbox(label="Negative prompt", lines=1, placeholder="blurry, text")
                with gr.Group(visible=False) as extend_group:
                    aspect = gr.Dropdown(ASPECTS, value="", allow_custom_value=True,
                                         label="Extend to aspect ratio (or set pixels per side below)")
                    with gr.Row():
                        left, right = (gr.Number(value=0, precision=0, minimum=0, label=f"{s} (px)") for s in ("Left", "Right"))
                        top, bottom = (gr.Number(value=0, precision=0, minimum=0, label=f"{s} (px)") for s in ("Top", "Bottom"))
                model, license_md = model_picker(studio, TASK)
                confirmed = gr.Checkbox(label="I have the right to use this source even if it looks AI-generated")
                with gr.Row():
                    run_button = gr.Button("Fill", variant="primary", elem_id="fill-run")
                    cancel = gr.Button("Cancel", variant="stop", elem_id="fill-cancel")
                with gr.Accordion("Settings", open=False):
                    seed_mode, seed = seed_controls()
                    strength = gr.Slider(0.05, 1, value=d.get("strength", 1.0), step=0.05, label="Strength")
                    steps = gr.Slider(1, preset.limit("max_steps", 150), value=d.get("steps", 20), step=1, label="Steps")
                    guidance = gr.Slider(0, 50, value=d.get("guidance", 7.0), step=0.5, label="Guidance")
                    feather = gr.Slider(0, fill.MAX_FEATHER, value=d.get("feather", 8), step=1,
                                        label="Feather (px of soft edge inside the mask; seam band when extending)")
                status = gr.Markdown(elem_id="fill-status", elem_classes=["studio-status"])
        gallery = gr.Gallery(label="My fills", columns=4, height=360, object_fit="contain", elem_id="fill-gallery",
                             buttons=["download", "fullscreen"], preview=False, interactive=False)
        with gr.Row():
            use_as_source = gr.Button("Use the selected result as the next source", elem_id="fill-use-source")
        params = gr.JSON(label="Selected result: id and exact parameters", elem_id="fill-params")

        form = [source_file, source_pick, editor, mask_file, mode, prompt, negative, model, aspect, left, right, top,
                bottom, seed_mode, seed, strength, steps, guidance, feather, confirmed]

        def run(session: Session, upload, source_id, editor_data, mask_upload, mode, prompt, negative_prompt, model,
                aspect, left, right, top, bottom, seed_mode, seed, strength, steps, guidance, feather, confirmed,
                progress=gr.Progress()):
            session = ensure(session)
            try:
                for path, title in ((upload, "source image"), (mask_upload, "mask")):
                    if path:  # type, damage and pixels from the header, before anything decodes it
                        studio.probe_upload(path, IMAGE_KINDS, title)
                source = resolve_source(studio, session, upload, source_id, editor_data)
                mask = save_mask(studio, session, editor_data, mask_upload) if mode != "extend" else None
                seed_value = resolve_seed(seed_mode, seed, session, TASK)
                p = studio.models.preset(TASK, model)
                request = fill.Request(
                    image=source.path, mask=mask, prompt=prompt or "", model=model, mode=mode,
                    negative_prompt=negative_prompt or "", strength=form_number(strength, float), steps=form_number(steps),
                    guidance=form_number(guidance, float), seed=seed_value, feather=form_number(feather),
                    extend_left=form_number(left), extend_right=form_number(right), extend_top=form_number(top),
                    extend_bottom=form_number(bottom), aspect=aspect or "", scheduler=p.defaults.get("scheduler", "default"),
                    parent_id=source.parent_id, source_name=source.name)
                # A clear message now, not after the queue: the numbers, the source and the mask.
                request.check(p)
            except StudioError as e:
                raise gr.Error(str(e), print_exception=False) from None
            # The mask is recorded by its hash in the parameters, not as an ingredient: ingredients go
            # through the upload check, and a black-and-white mask the visitor painted is no upload to judge
            # (the detector flags such flat pictures).
            inputs = [InputFile(source.path, "parentOf", "source image")]
            yield gr.update(), "⏳ Queued…", gr.update(), gr.update(), session
            for event in stream_job(studio, session, TASK, request, progress, inputs=inputs, confirmed=bool(confirmed)):
                if hasattr(event, "items"):
                    session.last_seed[TASK] = seed_value
                    newest = event.items[-1]
                    yield (gallery_value(studio, session), status_markdown(event), {"id": newest.id, **newest.params},
                           gr.update(choices=source_choices(studio, session)), session)
                elif event.preview:  # the crop being repainted, in front of the visitor's gallery
                    tiles = [(img, f"preview · step {int(event.done)}/{int(event.total)}") for img in event.preview]
                    yield (tiles + gallery_value(studio, session), f"⏳ {event.stage}…", gr.update(), gr.update(),
                           session)
                else:
                    yield gr.update(), f"⏳ {event.stage}…", gr.update(), gr.update(), session

        outputs = [gallery, status, params, source_pick, session_state]
        run_event = run_button.click(run, [session_state, *form], outputs, api_name="fill_image",
                                     concurrency_id="device", concurrency_limit=studio.settings.jobs_per_device)
        submit_event = prompt.submit(run, [session_state, *form], outputs, api_name=False, concurrency_id="device",
                                     concurrency_limit=studio.settings.jobs_per_device)
        mark_failures(status, run_event, submit_event)

        def stop(session: Session):
            n = studio.jobs.cancel(session.id, TASK) if session else 0  # this tab's jobs only
            return "⏹ Cancelled." if n else "Nothing of yours is running."

        cancel.click(stop, [session_state], [status], queue=False, api_name="cancel_fill")

        def on_upload(path):
            return editor_value(path), None

        source_file.upload(on_upload, [source_file], [editor, source_pick], api_name=False, queue=False)

        def on_pick(session: Session, source_id):
            session = ensure(session)
            item = studio.gallery.get(session.id, source_id) if source_id else None
            if item is None:
                return gr.update(), gr.update(), session
            return editor_value(item.path), None, session

        source_pick.input(on_pick, [session_state, source_pick], [editor, source_file, session_state], api_name=False,
                          queue=False)

        def on_tab(session: Session):
            session = ensure(session)
            return gr.update(choices=source_choices(studio, session)), session

        tab.select(on_tab, [session_state], [source_pick, session_state], api_name=False, queue=False)

        def on_mode(mode: str):
            return gr.update(info=MODE_HELP.get(mode, "")), gr.update(visible=mode == "extend"), \
                gr.update(value={"fill": "Fill", "remove": "Remove", "extend": "Extend"}.get(mode, "Fill"))

        mode.change(on_mode, [mode], [mode, extend_group, run_button], api_name=False, queue=False)

        def on_model(name: str):
            p = studio.models.preset(TASK, name)
            d = p.defaults
            return (license_markdown(studio, p), gr.update(value=d.get("steps", 20), maximum=p.limit("max_steps", 150)),
                    d.get("guidance", 7.0), d.get("strength", 1.0), d.get("feather", 8))

        model.change(on_model, [model], [license_md, steps, guidance, strength, feather], api_name=False, queue=False)

        def on_select(session: Session, evt: gr.SelectData):
            session = ensure(session)
            items = list(reversed(studio.gallery.list(session.id, TASK)))
            if evt.index is None or evt.index >= len(items):
                return None, session
            item = items[evt.index]
            session.selected[TASK] = item.id
            return {"id": item.id, **item.params}, session

        gallery.select(on_select, [session_state], [params, session_state], api_name=False, queue=False)

        def on_use(session: Session):
            item = selected_item(studio, session, TASK, "Select a result in the gallery first.")
            return (gr.update(choices=source_choices(studio, session), value=item.id), editor_value(item.path), None,
                    session)

        use_as_source.click(on_use, [session_state], [source_pick, editor, source_file, session_state],
                            api_name=False, queue=False)
    return TabHandle(tab, refresh=lambda session: gallery_value(studio, session), gallery=gallery, run_event=run_event)
