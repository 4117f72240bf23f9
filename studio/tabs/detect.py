"""The Detect tab: upload an image, audio or video file and get one honest verdict with its
evidence (Content Credentials, the studio's watermark, the classifier's score and bands).

All the judging happens in provenance.detector (reached as `studio.detector`); this module
wires widgets to it, runs each check as a job of the visitor's session (progress, Cancel) and
turns studio errors into messages.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from pipelines.errors import StudioError
from provenance.detect_verdict import (CREDENTIALS, LIKELY, NO_SIGN, UNSURE, WATERMARK, verdict_markdown)
from studio.jobs import JobDone
from studio.sessions import Session, ensure
from studio.service import Studio
from studio.tabs.verify import refuse_over_limits
from studio.widgets import (TabHandle, action_row, client_address, default_preset, license_markdown, preset_choices,
                            wire_cancel, wire_run)

TASK = "detect"
IMAGE_TASK, AUDIO_TASK = "detect_image", "detect_audio"
HEADERS = ["File", "Verdict", "Score", "Classifier"]
HELP = f"""**What the verdicts mean**
- *{CREDENTIALS}* / *{WATERMARK}*: evidence that needs no model — intact C2PA credentials declaring
  generative AI, or this studio's invisible watermark.
- *{LIKELY}* / *{UNSURE}* / *{NO_SIGN}*: the classifier's score against its calibrated bands. A classifier
  finding nothing is not proof that a person made the file, and a *test model* (random weights, the tiny
  tier's default) scores at random: its score means nothing.
- Credentials and the classifier are shown apart: a verdict from credentials or the watermark says what
  the file declares about itself; the classifier's score beside it decided nothing.
- *cannot judge*: the file is too small, too short, silent, a single video frame, damaged, or not a media format."""


def history_rows(studio: Studio, session: Session) -> list[list]:
    """This visitor's checks, newest first, as table rows."""
    rows = []
    for record in reversed(studio.jobs.history(session.id)):
        if record.task != TASK or record.state != "done":
            continue
        for v in record.inputs_checked:
            score = v.get("score")
            rows.append([v.get("path", ""), v.get("verdict", ""), "" if score is None else f"{score:.2f}",
                         v.get("model") or ""])
    return rows


def _preset_name(studio: Studio, task: str) -> str:
    detector = studio.detector
    if detector is not None:
        return detector.image_preset if task == IMAGE_TASK else detector.audio_preset
    return default_preset(studio, task).name


def classifier_picker(studio: Studio, task: str, name: str, label: str) -> tuple[gr.Dropdown, gr.Markdown]:
    """A classifier's dropdown and its licence line, which follows the choice."""
    dropdown = gr.Dropdown(preset_choices(studio, task), value=name, label=label)
    licence = gr.Markdown(license_markdown(studio, studio.models.preset(task, name)))
    dropdown.change(lambda n: license_markdown(studio, studio.models.preset(task, n)), [dropdown], [licence],
                    api_name=False, queue=False)
    return dropdown, licence


def run_handler(studio: Studio):
    """The Detect event: the upload's header first, then the check as a job of the visitor's session."""
    def run(session: Session, path, image_preset, audio_preset, progress=gr.Progress()):
        session = ensure(session)
        if not path:
            raise gr.Error("Choose a file to check first.")
        detector = studio.detector
        if detector is None:
            raise gr.Error("The detector is not set up on this studio (see the detect_image_preset and "
                           "detect_audio_preset settings).")
        name = Path(path).name
        try:
            refuse_over_limits(studio.probe_upload, path)
        except StudioError as e:
            raise gr.Error(str(e), print_exception=False) from None

        def work(record, job_progress):
            verdict = detector.check_upload(Path(path), job_progress, image_preset=image_preset,
                                            audio_preset=audio_preset)
            record.inputs_checked.append({"path": name, "relationship": "checked", **verdict})
            return verdict

        yield "⏳ Queued…", None, gr.update(), session
        try:
            for event in studio.jobs.stream(session.id, TASK, name, work, client=client_address(studio)):
                if isinstance(event, JobDone):
                    yield verdict_markdown(event.value, name), event.value, history_rows(studio, session), session
                    return
                desc = f"{event.stage} {int(event.done)}/{int(event.total)}" if event.total > 1 else event.stage
                progress((event.done, event.total), desc=desc)
                yield f"⏳ {event.stage}…", gr.update(), gr.update(), session
        except StudioError as e:
            raise gr.Error(str(e), print_exception=False) from None

    return run


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    image_name, audio_name = _preset_name(studio, IMAGE_TASK), _preset_name(studio, AUDIO_TASK)
    with gr.Tab("Detect", id=TASK) as tab:
        with gr.Row():
            with gr.Column(scale=2):
                upload = gr.File(label="File to check (image, audio or video)", type="filepath",
                                 elem_id="detect-upload")
                image_model, _ = classifier_picker(studio, IMAGE_TASK, image_name, "Image and video classifier")
                audio_model, _ = classifier_picker(studio, AUDIO_TASK, audio_name, "Audio classifier")
                detect, cancel = action_row("Detect", "detect-run", "detect-cancel")
                gr.Markdown(HELP)
            with gr.Column(scale=3):
                verdict_md = gr.Markdown(elem_id="detect-verdict", elem_classes=["studio-status"])
                evidence = gr.JSON(label="Verdict and evidence")
                history = gr.Dataframe(headers=HEADERS, value=[], label="Your checks this session", interactive=False,
                                       elem_id="detect-history")

        wire_run(studio, run_handler(studio), [session_state, upload, image_model, audio_model],
                 [verdict_md, evidence, history, session_state], verdict_md, detect, "detect")
        wire_cancel(studio, cancel, session_state, verdict_md, TASK, "cancel_detect")
    return TabHandle(tab, refresh=lambda session: history_rows(studio, session), gallery=history)
