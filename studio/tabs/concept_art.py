"""The Concept art tab: text to image, with styles, seeds, a gallery and "reuse these settings"."""
from __future__ import annotations

import gradio as gr

from pipelines.presets import load_styles
from pipelines.text_to_image import Request, scheduler_choices
from studio.sessions import Session, ensure
from studio.service import Studio
from studio.widgets import (TabHandle, default_preset, license_markdown, model_picker, resolve_seed, seed_controls,
                            mark_failures, status_markdown, stream_job, form_number, selected_item)

TASK = "text_to_image"


def gallery_value(studio: Studio, session: Session) -> list[tuple[str, str]]:
    """The visitor's concept-art images, newest first, as (path, caption)."""
    return [(i.path, i.caption) for i in studio.gallery.newest(session.id, TASK, pages=session.pages)]


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    styles = load_styles()
    preset = default_preset(studio, TASK)
    d = preset.defaults
    with gr.Tab("Concept art", id=TASK) as tab:
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(label="Prompt", lines=3, placeholder="a lighthouse on a cliff at dusk, storm clouds")
                negative = gr.Textbox(label="Negative prompt", lines=1, placeholder="blurry, text, watermark")
                style = gr.Dropdown([(s.label, s.name) for s in styles.values()], value="none", label="Style")
                model, license_md = model_picker(studio, TASK)
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary", elem_id="t2i-generate")
                    cancel = gr.Button("Cancel", variant="stop", elem_id="t2i-cancel")
                with gr.Accordion("Settings", open=True):
                    seed_mode, seed = seed_controls()
                    steps = gr.Slider(1, preset.limit("max_steps", 150), value=d.get("steps", 25), step=1, label="Steps")
                    guidance = gr.Slider(0, 30, value=d.get("guidance", 7.0), step=0.5, label="Guidance")
                    with gr.Row():
                        width = gr.Number(value=d.get("width", 512), precision=0, step=8, label="Width (px)")
                        height = gr.Number(value=d.get("height", 512), precision=0, step=8, label="Height (px)")
                    batch = gr.Slider(1, 8, value=1, step=1, label="Batch")
                    scheduler = gr.Dropdown(scheduler_choices(preset.family), value=d.get("scheduler", "default"),
                                            label="Scheduler")
            with gr.Column(scale=3):
                status = gr.Markdown(elem_id="t2i-status")
                gallery = gr.Gallery(label="Results", columns=3, height=520, elem_id="t2i-gallery",
                                     buttons=["download", "fullscreen"], preview=False, interactive=False)
                with gr.Accordion("Selected image", open=True):
                    params = gr.JSON(label="Exact parameters")
                    reuse = gr.Button("Reuse these settings")

        form = [prompt, negative, style, model, seed_mode, seed, steps, guidance, width, height, batch, scheduler]

        def run(session: Session, prompt, negative_prompt, style, model, seed_mode, seed, steps, guidance, width,
                height, batch, scheduler, request: gr.Request, progress=gr.Progress()):
            session = ensure(session, request, studio.login_session)
            seed_value = resolve_seed(seed_mode, seed, session, TASK)
            request = Request(prompt=prompt, model=model, negative_prompt=negative_prompt or "", style=style,
                              seed=seed_value, steps=form_number(steps), guidance=form_number(guidance, float),
                              width=form_number(width), height=form_number(height), batch=form_number(batch),
                              scheduler=scheduler)
            yield gr.update(), "Queued…", session
            for event in stream_job(studio, session, TASK, request, progress):
                if hasattr(event, "items"):
                    session.last_seed[TASK] = seed_value
                    yield gallery_value(studio, session), status_markdown(event), session
                elif event.preview:  # live preview tiles in front of the visitor's gallery
                    tiles = [(img, f"preview · step {int(event.done)}/{int(event.total)}") for img in event.preview]
                    yield tiles + gallery_value(studio, session), f"Denoising {int(event.done)}/{int(event.total)}…", session
                else:
                    yield gr.update(), f"{event.stage.capitalize()}…", session

        run_event = generate.click(run, [session_state, *form], [gallery, status, session_state],
                                   api_name="generate_image", concurrency_id="device",
                                   concurrency_limit=studio.settings.jobs_per_device)
        submit_event = prompt.submit(run, [session_state, *form], [gallery, status, session_state], api_name=False,
                                     concurrency_id="device", concurrency_limit=studio.settings.jobs_per_device)
        mark_failures(status, run_event, submit_event)

        def stop(session: Session):
            n = studio.jobs.cancel(session.id, TASK) if session else 0  # this tab's jobs only
            return "Cancelled." if n else "Nothing of yours is running."

        cancel.click(stop, [session_state], [status], queue=False, api_name="cancel_image")

        def on_model(name: str):
            p = studio.models.preset(TASK, name)
            d = p.defaults
            return (license_markdown(studio, p), gr.update(value=d.get("steps", 25), maximum=p.limit("max_steps", 150)),
                    d.get("guidance", 7.0), d.get("width", 512), d.get("height", 512),
                    gr.update(choices=scheduler_choices(p.family), value=d.get("scheduler", "default")))

        model.change(on_model, [model], [license_md, steps, guidance, width, height, scheduler], api_name=False,
                     queue=False)

        def on_select(session: Session, evt: gr.SelectData):
            session = ensure(session)
            items = list(reversed(studio.gallery.list(session.id, TASK)))
            if evt.index is None or evt.index >= len(items):
                return None, session
            item = items[evt.index]
            session.selected[TASK] = item.id
            return item.params, session

        gallery.select(on_select, [session_state], [params, session_state], api_name=False, queue=False)

        def on_reuse(session: Session):
            item = selected_item(studio, session, TASK, "Select an image in the gallery first.")
            p = item.params
            return (p.get("prompt", ""), p.get("negative_prompt", ""), p.get("style", "none"), p.get("model"),
                    "fixed", p.get("seed", 0), p.get("steps"), p.get("guidance"), p.get("width"), p.get("height"), 1,
                    p.get("scheduler", "default"))

        reuse.click(on_reuse, [session_state], form, api_name=False, queue=False)
    return TabHandle(tab, refresh=lambda session: gallery_value(studio, session), gallery=gallery, run_event=run_event)
