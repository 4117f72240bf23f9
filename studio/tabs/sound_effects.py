"""The Sound effects tab: Stable Audio Open or AudioLDM 2 from a prompt and a negative prompt."""
from __future__ import annotations

import gradio as gr

from pipelines.sound_effects import Request
from studio.sessions import Session, ensure
from studio.service import Outcome, Studio
from studio.tabs.music import (audio_gallery, cancel_handler, duration_info, gallery_rows, number, outcome_files,
                               preview_image, select_item)
from studio.widgets import (TabHandle, default_preset, license_markdown, model_picker, resolve_seed, seed_controls,
                            mark_failures, status_markdown, stream_job, selected_item)

TASK = "sound_effects"


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    preset = default_preset(studio, TASK)
    d = preset.defaults
    with gr.Tab("Sound effects", id=TASK) as tab:
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(label="Prompt", lines=3, elem_id="sfx-prompt",
                                    placeholder="heavy wooden door creaks open in a stone hall, distant echo")
                negative = gr.Textbox(label="Negative prompt", lines=1, placeholder="music, speech, low quality")
                model, license_md = model_picker(studio, TASK)
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary", elem_id="sfx-generate")
                    cancel = gr.Button("Cancel", variant="stop", elem_id="sfx-cancel")
                with gr.Accordion("Settings", open=True):
                    duration = gr.Number(value=d.get("duration_s", 5.0), step=0.5, label="Duration (seconds)",
                                         info=duration_info(preset, 10.0), elem_id="sfx-duration")
                    # The slider spans every preset; the request checks the chosen model's own limit.
                    most_steps = max(p.limit("max_steps", 500) for p in studio.models.presets(TASK).values())
                    steps = gr.Slider(1, most_steps, value=d.get("steps", 50), step=1, label="Steps",
                                      info=f"1 to {preset.limit('max_steps', 500)} with this model")
                    seed_mode, seed = seed_controls()
                    guidance = gr.Slider(0, 20, value=d.get("guidance", 7.0), step=0.5, label="Guidance")
                    loudness = gr.Slider(-30, -6, value=d.get("loudness_lufs", -16.0), step=0.5,
                                         label="Loudness of the file (LUFS)")
            with gr.Column(scale=3):
                status = gr.Markdown(elem_id="sfx-status", elem_classes=["studio-status"])
                player, preview, files, gallery, params = audio_gallery("sfx")
                reuse = gr.Button("Reuse these settings")

        form = [prompt, negative, model, seed_mode, seed, duration, steps, guidance, loudness]

        def run(session: Session, prompt, negative_prompt, model, seed_mode, seed, duration, steps, guidance,
                loudness, progress=gr.Progress()):
            session = ensure(session)
            seed_value = resolve_seed(seed_mode, seed, session, TASK)
            request = Request(prompt=prompt or "", model=model, negative_prompt=negative_prompt or "",
                              duration_s=number(duration), steps=number(steps, int), guidance=number(guidance),
                              seed=seed_value, loudness_lufs=number(loudness))
            yield gr.update(), gr.update(), gr.update(), gr.update(), "⏳ Queued…", session
            for event in stream_job(studio, session, TASK, request, progress):
                if isinstance(event, Outcome):
                    session.last_seed[TASK] = seed_value
                    wav, paths = outcome_files(event)
                    rows = gallery_rows(studio, session, TASK)
                    yield wav, preview_image(wav), paths, rows, status_markdown(event), session
                else:
                    yield gr.update(), gr.update(), gr.update(), gr.update(), f"⏳ {event.stage}…", session

        outputs = [player, preview, files, gallery, status, session_state]
        run_event = generate.click(run, [session_state, *form], outputs, api_name="generate_sound_effect",
                                   concurrency_id="device", concurrency_limit=studio.settings.jobs_per_device)
        submit_event = prompt.submit(run, [session_state, *form], outputs, api_name=False, concurrency_id="device",
                                     concurrency_limit=studio.settings.jobs_per_device)
        mark_failures(status, run_event, submit_event)
        cancel.click(cancel_handler(studio, TASK), [session_state], [status], queue=False, api_name="cancel_sound_effect")

        def on_model(name: str):
            p = studio.models.preset(TASK, name)
            d = p.defaults
            return (license_markdown(studio, p),
                    gr.update(info=duration_info(p, 10.0), value=d.get("duration_s", 5.0)),
                    gr.update(info=f"1 to {p.limit('max_steps', 500)} with this model", value=d.get("steps", 50)),
                    d.get("guidance", 7.0), d.get("loudness_lufs", -16.0))

        model.change(on_model, [model], [license_md, duration, steps, guidance, loudness], api_name=False,
                     queue=False)

        def on_select(session: Session, evt: gr.SelectData):
            return select_item(studio, TASK, session, evt)

        gallery.select(on_select, [session_state], [player, preview, files, params, session_state], api_name=False,
                       queue=False)

        def on_reuse(session: Session):
            item = selected_item(studio, session, TASK, "Select a file in the table first.")
            p = item.params
            return (p.get("prompt", ""), p.get("negative_prompt", ""), p.get("model"), "fixed", p.get("seed", 0),
                    p.get("duration_s"), p.get("steps"), p.get("guidance"), p.get("loudness_lufs", -16.0))

        reuse.click(on_reuse, [session_state], form, api_name=False, queue=False)
    return TabHandle(tab, refresh=lambda session: gallery_rows(studio, session, TASK), gallery=gallery,
                     run_event=run_event)
