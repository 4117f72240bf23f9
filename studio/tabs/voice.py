"""The Voice tab: narration, dialogue and voice-overs with Coqui TTS, and voice cloning from a clip.

The model's languages and voices are read from the loaded model (they differ per preset); the
result comes back as signed WAV and MP3 with a player, and every take stays in the visitor's
gallery table with its exact parameters.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

from pipelines.errors import ModelMissingError, StudioError
from pipelines.media import InputFile
from pipelines.speech import ATTESTATION, DEFAULT_MAX_CHARS, SPEED_RANGE, Request, describe
from studio.gallery import GalleryItem
from studio.sessions import Session, ensure
from studio.service import Outcome, Studio
from studio.widgets import (TabHandle, action_row, default_preset, device_queue, license_markdown, model_picker,
                            resolve_seed, seed_controls, status_markdown, stream_job, wire_cancel, wire_run)

TASK = "speech"
HEADERS = ["Made", "Text", "Model", "Voice", "Language", "Seconds"]
FIRST_VOICE = ("The model's first voice", "")
CONFIRM_SYNTHETIC = "Use the clip even if the AI-content check flags it as synthetic (I have the right to use it)"
WAV_MIMES = ("audio/wav", "audio/x-wav", "audio/wave")


def takes(studio: Studio, session: Session) -> list[list[GalleryItem]]:
    """The visitor's takes, newest first; a take is the files (WAV, MP3) published from one artifact."""
    groups: list[list[GalleryItem]] = []
    for item in studio.gallery.list(session.id, TASK):
        last = groups[-1] if groups else None
        if last and last[0].params == item.params and item.mime not in {i.mime for i in last}:
            last.append(item)
        else:
            groups.append([item])
    return list(reversed(groups))


def gallery_rows(studio: Studio, session: Session) -> list[list[Any]]:
    """One table row per take."""
    rows = []
    for take in takes(studio, session):
        p = take[0].params
        text = p.get("text", "")
        rows.append([time.strftime("%H:%M:%S", time.localtime(take[0].created)),
                     text if len(text) <= 60 else text[:59] + "…", p.get("model_label") or p.get("model", ""),
                     p.get("voice", ""), p.get("language", ""), round(float(p.get("duration_s") or 0), 2)])
    return rows


def take_files(take: list[GalleryItem]) -> tuple[str | None, list[str]]:
    """(the WAV to play, every file to download) of one take."""
    wav = next((i.path for i in take if i.mime in WAV_MIMES), take[0].path if take else None)
    return wav, [i.path for i in take]


def count_markdown(text: str | None, limit: int) -> str:
    n = len(text or "")
    if n > limit:
        return f"⚠️ **{n:,} / {limit:,} characters**: over this model's limit; split the text into parts."
    return f"{n:,} / {limit:,} characters"


@dataclass
class VoiceForm:
    """The Voice tab's inputs, in the API's parameter order (`widgets`), and what depends on the model."""

    text: Any
    count: Any
    model: Any
    license_md: Any
    language: Any
    speaker: Any
    widgets: list


def voice_form(studio: Studio, d: dict, max_chars: int) -> VoiceForm:
    """Text with its character count, model and licence, language, voice, speed, the cloning clip with
    its attestation, and the settings (the Speak and Cancel buttons sit between)."""
    text = gr.Textbox(label="Text", lines=6, elem_id="voice-text",
                      placeholder="Narration, a line of dialogue, or a voice-over script. Long texts are "
                                  "split at sentence ends.")
    count = gr.Markdown(count_markdown("", max_chars), elem_id="voice-count")
    model, license_md = model_picker(studio, TASK)
    with gr.Row():
        language = gr.Dropdown([d.get("language", "en")], value=d.get("language", "en"), label="Language",
                               allow_custom_value=True, elem_id="voice-language")
        speaker = gr.Dropdown([FIRST_VOICE], value=d.get("speaker", ""), label="Voice", allow_custom_value=True,
                              elem_id="voice-speaker")
    speed = gr.Slider(*SPEED_RANGE, value=d.get("speed", 1.0), step=0.05, label="Speed")
    with gr.Accordion("Clone a voice (XTTS presets)", open=False):
        reference = gr.Audio(label="Reference clip: 3-30 s of one person speaking", type="filepath",
                             sources=["upload", "microphone"], elem_id="voice-reference")
        attest = gr.Checkbox(label=ATTESTATION, value=False, elem_id="voice-attest")
        confirm = gr.Checkbox(label=CONFIRM_SYNTHETIC, value=False, elem_id="voice-confirm")
    return VoiceForm(text, count, model, license_md, language, speaker,
                     [text, model, language, speaker, speed, reference, attest, confirm])


def voice_settings(d: dict) -> list:
    """Seed, pause between sentences and loudness."""
    with gr.Accordion("Settings", open=False):
        seed_mode, seed = seed_controls()
        pause = gr.Slider(0, 1500, value=d.get("pause_ms", 250), step=50, label="Pause between sentences (ms)")
        loudness = gr.Slider(-30, -10, value=d.get("target_lufs", -16.0), step=0.5,
                             label="Loudness of the file (LUFS; -16 suits speech)")
    return [seed_mode, seed, pause, loudness]


def voice_results() -> tuple:
    """Status, player, downloads, the takes table and the selected take's parameters."""
    status = gr.Markdown(elem_id="voice-status", elem_classes=["studio-status"])
    player = gr.Audio(label="Result (signed WAV)", type="filepath", interactive=False, elem_id="voice-player",
                      buttons=["download"])
    files = gr.File(label="Downloads: WAV and MP3, each with signed Content Credentials", file_count="multiple",
                    interactive=False, elem_id="voice-files")
    gallery = gr.Dataframe(headers=HEADERS, value=[], interactive=False, wrap=True, max_height=320,
                           column_widths=["13%", "31%", "22%", "14%", "10%", "10%"], label="Your takes (select one)",
                           elem_id="voice-gallery")
    return status, player, files, gallery, gr.JSON(label="Exact parameters")


def run_handler(studio: Studio):
    """The Speak event: the request from the form, checked now (not after the queue), then the job."""
    def run(session: Session, text, model, language, speaker, speed, reference, attest, confirm, seed_mode,
            seed, pause_ms, loudness, progress=gr.Progress()):
        session = ensure(session)
        seed_value = resolve_seed(seed_mode, seed, session, TASK)
        request = Request(text=text or "", model=model, language=language or "", speaker=speaker or "",
                          speed=speed, seed=seed_value, pause_ms=pause_ms, target_lufs=loudness,
                          reference_path=reference or "", clone_attested=bool(attest))
        try:  # a clear message now, not after the queue: the numbers, the attestation, the clip's header
            request = studio.checked(TASK, request)
        except StudioError as e:
            raise gr.Error(str(e), print_exception=False) from None
        inputs = [InputFile(reference, "inputTo", "reference voice")] if reference else []
        yield gr.update(), gr.update(), gr.update(), gr.update(), "⏳ Queued…", session
        for event in stream_job(studio, session, TASK, request, progress, inputs=inputs, confirmed=bool(confirm)):
            if isinstance(event, Outcome):
                session.last_seed[TASK] = seed_value
                wav, paths = take_files(event.items)
                yield (gallery_rows(studio, session), wav, paths, event.items[0].params if event.items else None,
                       status_markdown(event), session)
            else:
                yield gr.update(), gr.update(), gr.update(), gr.update(), f"⏳ {event.stage}…", session

    return run


def model_handler(studio: Studio):
    """Read the languages and voices from the model itself (loading it, on the device queue)."""
    def on_model(name: str, current_language: str, current_speaker: str):
        p = studio.models.preset(TASK, name)
        language_choices, voice_choices, note = [p.defaults.get("language", "en")], [FIRST_VOICE], ""
        try:
            info = describe(studio.models.get(TASK, name).pipe)
            language_choices = list(info.languages)
            voice_choices += [(s, s) for s in info.speakers]
            if not info.cloning:
                note = "  \nThis model speaks with its own voices only; cloning needs an XTTS preset."
        except ModelMissingError as e:  # the license line already says when it is not downloaded
            note = f"  \n⚠️ {e}" if studio.models.is_available(p) else ""
        except StudioError as e:
            note = f"  \n⚠️ {e}"
        language_value = current_language if current_language in language_choices else (
            p.defaults.get("language") if p.defaults.get("language") in language_choices else language_choices[0])
        speaker_value = current_speaker if current_speaker in {v for _, v in voice_choices} else ""
        return (license_markdown(studio, p) + note, gr.update(choices=language_choices, value=language_value),
                gr.update(choices=voice_choices, value=speaker_value),
                count_markdown(None, p.limit("max_chars", DEFAULT_MAX_CHARS)))

    return on_model


def select_handler(studio: Studio):
    """A row of the takes table: its WAV in the player, both files to download, its parameters."""
    def on_select(session: Session, evt: gr.SelectData):
        session = ensure(session)
        all_takes = takes(studio, session)
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if row is None or row >= len(all_takes):
            return None, None, None, session
        take = all_takes[row]
        session.selected[TASK] = take[0].id
        wav, paths = take_files(take)
        return wav, paths, take[0].params, session

    return on_select


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    preset = default_preset(studio, TASK)
    d = preset.defaults
    with gr.Tab("Voice", id="voice") as tab:
        with gr.Row():
            with gr.Column(scale=2):
                form = voice_form(studio, d, preset.limit("max_chars", DEFAULT_MAX_CHARS))
                speak, cancel = action_row("Speak", "voice-speak", "voice-cancel")
                inputs = form.widgets + voice_settings(d)
            with gr.Column(scale=3):
                status, player, files, gallery, params = voice_results()

        run_event = wire_run(studio, run_handler(studio), [session_state, *inputs],
                             [gallery, player, files, params, status, session_state], status, speak, "speak")
        wire_cancel(studio, cancel, session_state, status, TASK, "cancel_speech")

        def on_text(value, name):
            return count_markdown(value, studio.models.preset(TASK, name).limit("max_chars", DEFAULT_MAX_CHARS))

        form.text.change(on_text, [form.text, form.model], [form.count], queue=False, api_name=False)
        voice_inputs = [form.model, form.language, form.speaker]
        voice_outputs = [form.license_md, form.language, form.speaker, form.count]
        form.model.change(model_handler(studio), voice_inputs, voice_outputs, api_name=False, **device_queue(studio))
        tab.select(model_handler(studio), voice_inputs, voice_outputs, api_name=False, **device_queue(studio))
        gallery.select(select_handler(studio), [session_state], [player, files, params, session_state],
                       api_name=False, queue=False)
    return TabHandle(tab, refresh=lambda session: gallery_rows(studio, session), gallery=gallery,
                     run_event=run_event)
