"""The Music tab: MusicGen from a prompt, optionally following an uploaded or recorded melody.

Also the audio-output helpers the Sound effects tab shares: the visitor's audio gallery as a
table (each row's exact parameters on selection), the player with its waveform, the downloads.
"""
from __future__ import annotations

import time
from typing import Any

import gradio as gr

from pipelines.errors import StudioError
from pipelines.media import InputFile
from pipelines.music import Request
from pipelines.uploads import AUDIO_KINDS
from studio.sessions import Session, ensure
from studio.service import Outcome, Studio
from studio.widgets import (TabHandle, default_preset, license_markdown, model_picker, resolve_seed, seed_controls,
                            mark_failures, status_markdown, stream_job, selected_item)

TASK = "music"
GALLERY_HEADERS = ["Made", "Prompt", "Model", "Seed", "Seconds", "File"]


# ------------------------------------------------------------------ shared by the audio tabs

def gallery_rows(studio: Studio, session: Session, task: str) -> list[list[Any]]:
    """The visitor's files of `task`, newest first, one row each (WAV and MP3 are separate rows)."""
    rows = []
    for item in studio.gallery.newest(session.id, task, pages=session.pages):  # a response carries its newest pages
        p = item.params
        rows.append([time.strftime("%H:%M:%S", time.localtime(item.created)), _short(p.get("prompt", ""), 40),
                     p.get("model_label") or p.get("model", ""), p.get("seed", ""),
                     round(float(p.get("duration_s") or 0), 2), item.mime.split("/")[-1].replace("mpeg", "mp3")])
    return rows


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def outcome_files(outcome: Outcome) -> tuple[str | None, list[str]]:
    """(the WAV to play, every file to download) of a finished job."""
    paths = [i.path for i in outcome.items]
    wav = next((i.path for i in outcome.items if i.mime in ("audio/wav", "audio/x-wav")), paths[0] if paths else None)
    return wav, paths


def preview_image(path: str | None):
    """A waveform and spectrogram picture of an audio file, for the page only (never downloadable).

    Drawn with matplotlib's object API (no pyplot: the server draws from several threads).
    """
    if not path:
        return None
    import numpy as np
    import soundfile as sf
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    data, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    seconds = np.arange(len(mono)) / rate
    fig = Figure(figsize=(9, 3.2), dpi=100)
    wave, spec = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    for ch in range(data.shape[1]):
        wave.plot(seconds, data[:, ch], linewidth=0.4, alpha=0.8)
    wave.set_ylim(-1, 1)
    wave.set_ylabel("wave")
    spec.specgram(mono + 1e-9, NFFT=1024, Fs=rate, noverlap=768, cmap="magma", scale="dB")
    spec.set_ylabel("Hz")
    spec.set_xlabel("seconds")
    fig.tight_layout(pad=0.4)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def audio_gallery(elem_prefix: str) -> tuple[gr.Audio, gr.Image, gr.File, gr.Dataframe, gr.JSON]:
    """Player, waveform/spectrogram preview, downloads, the gallery table and the selected file's parameters."""
    player = gr.Audio(label="Result (signed)", type="filepath", interactive=False, elem_id=f"{elem_prefix}-player",
                      buttons=["download"])
    preview = gr.Image(label="Waveform and spectrogram (preview)", type="pil", interactive=False, buttons=[],
                       elem_id=f"{elem_prefix}-preview")
    files = gr.File(label="Downloads: WAV and MP3, each with signed Content Credentials", file_count="multiple",
                    interactive=False, elem_id=f"{elem_prefix}-files")
    gallery = gr.Dataframe(headers=GALLERY_HEADERS, value=[], interactive=False, label="Your sounds (select one)",
                           elem_id=f"{elem_prefix}-gallery", max_height=320, wrap=True,
                           column_widths=["13%", "37%", "26%", "11%", "7%", "6%"])
    params = gr.JSON(label="Exact parameters of the selected file")
    return player, preview, files, gallery, params


def select_item(studio: Studio, task: str, session: Session, evt: gr.SelectData):
    """The selected gallery row: its file in the player and download, and its parameters."""
    session = ensure(session)
    items = list(reversed(studio.gallery.list(session.id, task)))
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    if row is None or not 0 <= row < len(items):
        return gr.update(), gr.update(), gr.update(), None, session
    item = items[row]
    session.selected[task] = item.id
    return item.path, preview_image(item.path), [item.path], item.params, session


def cancel_handler(studio: Studio, task: str = TASK):
    """The Cancel button of `task`'s tab: it stops that tab's jobs of the visitor, none of their others."""
    def stop(session: Session):
        n = studio.jobs.cancel(session.id, task) if session else 0
        return "⏹ Cancelled." if n else "Nothing of yours is running."

    return stop


def duration_info(preset, default_max: float) -> str:
    """The duration range the model takes (checked by the request, so API callers get it too)."""
    return f"0.5 to {float(preset.limit('max_duration_s', default_max)):g} s with this model"


def number(value, kind=float):
    """Gradio numbers arrive as float or None; keep None/NaN as-is for the request check to reject."""
    if value is None:
        return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ------------------------------------------------------------------ the Music tab

def build(studio: Studio, session_state: gr.State) -> TabHandle:
    preset = default_preset(studio, TASK)
    d = preset.defaults
    with gr.Tab("Music", id=TASK) as tab:
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(label="Prompt (genre, mood, instruments, tempo)", lines=3, elem_id="music-prompt",
                                    placeholder="warm lo-fi hip hop, mellow Rhodes, brushed drums, 80 bpm, rainy")
                model, license_md = model_picker(studio, TASK)
                melody = gr.Audio(label="Melody to follow (optional; MusicGen Melody presets)", type="filepath",
                                  sources=["upload", "microphone"], elem_id="music-melody")
                confirm = gr.Checkbox(label="I have the right to use this melody, even if it looks AI-generated",
                                      value=False)
                with gr.Row():
                    generate = gr.Button("Compose", variant="primary", elem_id="music-generate")
                    cancel = gr.Button("Cancel", variant="stop", elem_id="music-cancel")
                with gr.Accordion("Settings", open=True):
                    duration = gr.Number(value=d.get("duration_s", 10.0), step=0.5, label="Duration (seconds)",
                                         info=duration_info(preset, 30.0), elem_id="music-duration")
                    seed_mode, seed = seed_controls()
                    guidance = gr.Slider(1, 15, value=d.get("guidance", 3.0), step=0.5, label="Guidance (1 = none)")
                    temperature = gr.Slider(0.05, 3.0, value=d.get("temperature", 1.0), step=0.05, label="Temperature")
                    top_k = gr.Slider(0, 2048, value=d.get("top_k", 250), step=1, label="Top-k (0 = off)")
                    loudness = gr.Slider(-30, -6, value=d.get("loudness_lufs", -14.0), step=0.5,
                                         label="Loudness of the file (LUFS)")
            with gr.Column(scale=3):
                status = gr.Markdown(elem_id="music-status", elem_classes=["studio-status"])
                player, preview, files, gallery, params = audio_gallery("music")
                reuse = gr.Button("Reuse these settings")

        form = [prompt, model, melody, confirm, seed_mode, seed, duration, guidance, temperature, top_k, loudness]

        def run(session: Session, prompt, model, melody, confirm, seed_mode, seed, duration, guidance, temperature,
                top_k, loudness, progress=gr.Progress()):
            session = ensure(session)
            seed_value = resolve_seed(seed_mode, seed, session, TASK)
            request = Request(prompt=prompt or "", model=model, duration_s=number(duration), seed=seed_value,
                              guidance=number(guidance), temperature=number(temperature), top_k=number(top_k, int),
                              melody_path=melody or "", loudness_lufs=number(loudness))
            try:  # a clear message now, not after the queue: the numbers, the melody's header and length
                if melody:
                    studio.probe_upload(melody, AUDIO_KINDS, "melody")
                request.check(studio.models.preset(TASK, model))
            except StudioError as e:
                raise gr.Error(str(e), print_exception=False) from None
            inputs = [InputFile(melody, "inputTo", "melody")] if melody else []
            yield gr.update(), gr.update(), gr.update(), gr.update(), "⏳ Queued…", session
            for event in stream_job(studio, session, TASK, request, progress, inputs=inputs, confirmed=bool(confirm)):
                if isinstance(event, Outcome):
                    session.last_seed[TASK] = seed_value
                    wav, paths = outcome_files(event)
                    rows = gallery_rows(studio, session, TASK)
                    yield wav, preview_image(wav), paths, rows, status_markdown(event), session
                else:
                    yield gr.update(), gr.update(), gr.update(), gr.update(), f"⏳ {_stage(event)}", session

        outputs = [player, preview, files, gallery, status, session_state]
        run_event = generate.click(run, [session_state, *form], outputs, api_name="generate_music",
                                   concurrency_id="device", concurrency_limit=studio.settings.jobs_per_device)
        mark_failures(status, run_event)
        cancel.click(cancel_handler(studio), [session_state], [status], queue=False, api_name="cancel_music")

        def on_model(name: str):
            p = studio.models.preset(TASK, name)
            d = p.defaults
            return (license_markdown(studio, p),
                    gr.update(info=duration_info(p, 30.0), value=d.get("duration_s", 10.0)),
                    d.get("guidance", 3.0), d.get("temperature", 1.0), d.get("top_k", 250),
                    d.get("loudness_lufs", -14.0))

        model.change(on_model, [model], [license_md, duration, guidance, temperature, top_k, loudness],
                     api_name=False, queue=False)
        def on_select(session: Session, evt: gr.SelectData):
            return select_item(studio, TASK, session, evt)

        gallery.select(on_select, [session_state], [player, preview, files, params, session_state], api_name=False,
                       queue=False)

        def on_reuse(session: Session):
            item = selected_item(studio, session, TASK, "Select a file in the table first.")
            p = item.params
            return (p.get("prompt", ""), p.get("model"), None, False, "fixed", p.get("seed", 0), p.get("duration_s"),
                    p.get("guidance"), p.get("temperature"), p.get("top_k"), p.get("loudness_lufs", -14.0))

        reuse.click(on_reuse, [session_state], form, api_name=False, queue=False)
    return TabHandle(tab, refresh=lambda session: gallery_rows(studio, session, TASK), gallery=gallery,
                     run_event=run_event)


def _stage(event) -> str:
    if event.stage == "seconds of music":
        return f"composing: {event.done:.1f} of {event.total:.1f} s of music"
    return f"{event.stage}…"
