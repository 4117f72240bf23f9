"""Widgets and handler plumbing shared by the tabs: model picker with its license, seed
controls, and the loop that streams a job's progress into Gradio and turns errors into messages."""
from __future__ import annotations

import logging
from typing import Any, Iterator, Sequence

import gradio as gr

from pipelines.errors import StudioError
from pipelines.media import InputFile
from pipelines.presets import ModelPreset
from pipelines.progress import ProgressEvent
from studio.jobs import JobDone
from studio.gallery import GalleryItem
from studio.sessions import Session, ensure, random_seed
from studio.service import Outcome, Studio

log = logging.getLogger(__name__)


class TabHandle:
    """What a tab hands back to the studio: how to refill its gallery for a session."""

    def __init__(self, tab, refresh=None, gallery=None, run_event=None):
        self.tab, self.refresh, self.gallery, self.run_event = tab, refresh, gallery, run_event


FAILED_STATUS = ("⚠ The last job stopped before it finished; the pop-up says why. Everything you made before "
                 "is kept.")


def mark_failures(status, *events) -> None:
    """When a job event ends in an error, replace the tab's progress line ("Denoising 3/4…") with
    a line saying it stopped: Gradio shows the error in a pop-up but leaves the outputs as they were."""
    for event in events:
        event.failure(lambda: FAILED_STATUS, None, status, queue=False, api_name=False, show_progress="hidden")


SEED_MODES = ["random", "reuse last", "fixed"]


def preset_choices(studio: Studio, task: str) -> list[tuple[str, str]]:
    """(label, name) pairs for a model dropdown, tier first, marking models not on this machine."""
    choices = []
    for p in studio.models.presets(task).values():
        if p.ip_adapter:  # a reference twin: a board with a reference picks it in place of its plain model
            continue
        mark = "" if studio.models.is_available(p) else " — not downloaded"
        choices.append((f"[{p.tier}] {p.label}{mark}", p.name))
    return choices


def default_preset(studio: Studio, task: str) -> ModelPreset:
    presets = list(studio.models.presets(task).values())
    return next((p for p in presets if p.tier == studio.settings.default_tier), presets[0])


def license_markdown(studio: Studio, preset: ModelPreset) -> str:
    """The license line shown next to the model, with availability and what to do if missing."""
    use = "commercial use allowed" if preset.commercial_use else "**non-commercial** (see license)"
    link = f"[{preset.license}]({preset.license_url})" if preset.license_url else preset.license
    lines = [f"**License:** {link} · {use} · `{preset.reference}`"]
    if preset.notes:
        lines.append(preset.notes)
    if not studio.models.is_available(preset):
        lines.append(f"**Not on this machine yet:** run `studio models pull {preset.name}` on a connected machine, "
                     f"set STUDIO_MODEL_DIR, or pick a tiny-tier preset.")
    return "  \n".join(lines)


def model_picker(studio: Studio, task: str) -> tuple[gr.Dropdown, gr.Markdown]:
    preset = default_preset(studio, task)
    dropdown = gr.Dropdown(preset_choices(studio, task), value=preset.name, label="Model preset")
    return dropdown, gr.Markdown(license_markdown(studio, preset))


def seed_controls() -> tuple[gr.Radio, gr.Number]:
    mode = gr.Radio(SEED_MODES, value="random", label="Seed")
    seed = gr.Number(value=0, precision=0, minimum=0, maximum=2**32 - 1, label="Seed value (fixed)")
    return mode, seed


def resolve_seed(mode: str, value: Any, session: Session, task: str) -> int:
    """The seed a run will use: random, the last run's, or the fixed value."""
    if mode == "fixed":
        if value is None or value != value:  # None or NaN
            raise gr.Error("Enter a seed value, or switch the seed to random.")
        return int(value)
    if mode == "reuse last" and task in session.last_seed:
        return session.last_seed[task]
    return random_seed()


def selected_item(studio: Studio, session: Session | None, task: str, ask: str) -> GalleryItem:
    """The gallery item this visitor selected in `task`'s tab; `gr.Error(ask)` when there is none."""
    session = ensure(session)
    item = studio.gallery.get(session.id, session.selected.get(task, ""))
    if item is None:
        raise gr.Error(ask)
    return item


def form_number(value: Any, kind=int):
    """A number from a Gradio form: whole floats become ints where an int is wanted; None and NaN
    are kept for the request's check to reject with its message."""
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def user_message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, StudioError) else "Something went wrong inside the studio; see the server log."


def client_address(studio: Studio, request: gr.Request | None = None) -> str | None:
    """The network address of the visitor making `request` (by default, the event being handled).

    The socket's peer address, unless the operator says `trusted_proxy_hops` reverse proxies stand
    in front: then the address the outermost of them saw, read from the right of X-Forwarded-For
    (what a visitor writes into that header themselves sits further left and is ignored).
    """
    if request is None:
        from gradio.context import LocalContext  # Gradio sets it around every call of a handler

        request = LocalContext.request.get(None)
    if request is None:
        return None
    hops = studio.settings.trusted_proxy_hops
    if hops > 0:
        chain = [a.strip() for a in (request.headers.get("x-forwarded-for") or "").split(",") if a.strip()]
        if len(chain) >= hops:
            return chain[-hops]
    client = getattr(request, "client", None)
    return getattr(client, "host", None)


def stream_job(studio: Studio, session: Session, task: str, request: Any, progress: gr.Progress,
               inputs: Sequence[InputFile] = (), confirmed: bool = False,
               gradio_request: gr.Request | None = None) -> Iterator[ProgressEvent | Outcome]:
    """Run a job of this visitor, reporting to Gradio's progress bar; yield events, then the Outcome.

    Studio errors become `gr.Error` with their message (shown in the page, raised by the API).
    The job counts against the visitor's network address (`client_address`) as well as their session.
    """
    try:
        client = client_address(studio, gradio_request)
        for event in studio.stream(task, request, session.id, inputs, confirmed, client=client):
            if isinstance(event, JobDone):
                yield event.value
                return
            desc = f"{event.stage} {int(event.done)}/{int(event.total)}" if event.total > 1 else event.stage
            progress((event.done, event.total), desc=desc)
            yield event
    except StudioError as e:
        raise gr.Error(str(e), print_exception=False) from None


def status_markdown(outcome: Outcome) -> str:
    lines = [f"**Done:** {len(outcome.items)} file(s) made, signed and checked."]
    lines += [f"Note: {n}" for n in outcome.notices]
    return "  \n".join(lines)


# ------------------------------------------------------------------ parts every tab composes

def device_queue(studio: Studio) -> dict[str, Any]:
    """Event options of a job that needs the device: the one `device` concurrency group (ui.build_ui
    widens it; turns are taken fairly in studio.jobs)."""
    return dict(concurrency_id="device", concurrency_limit=studio.settings.jobs_per_device)


def action_row(run_label: str, run_id: str, cancel_id: str) -> tuple[gr.Button, gr.Button]:
    """The tab's run button and its Cancel, side by side."""
    with gr.Row():
        run = gr.Button(run_label, variant="primary", elem_id=run_id)
        cancel = gr.Button("Cancel", variant="stop", elem_id=cancel_id)
    return run, cancel


def wire_run(studio: Studio, handler, inputs: list, outputs: list, status, button: gr.Button, api_name: str,
             submit=None):
    """`button` (and Enter in `submit`, a text box, without an API name of its own) runs `handler` as a
    device job; a failure replaces the progress line in `status`. Returns the button's event."""
    run_event = button.click(handler, inputs, outputs, api_name=api_name, **device_queue(studio))
    events = [run_event]
    if submit is not None:
        events.append(submit.submit(handler, inputs, outputs, api_name=False, **device_queue(studio)))
    mark_failures(status, *events)
    return run_event


def wire_cancel(studio: Studio, button: gr.Button, session_state: gr.State, status, scope: str, api_name: str,
                done: str = "⏹ Cancelled.") -> None:
    """Cancel stops this visitor's jobs of one tab (`scope`), none of their others."""
    def stop(session: Session | None):
        n = studio.jobs.cancel(session.id, scope) if session else 0
        return done if n else "Nothing of yours is running."

    button.click(stop, [session_state], [status], queue=False, api_name=api_name)


def pick_item(studio: Studio, session: Session, task: str, evt: gr.SelectData) -> GalleryItem | None:
    """The visitor's item of `task` at the selected gallery tile or table row (newest first), remembered
    as the tab's selection for "Reuse these settings"; None when the index is out of range."""
    items = list(reversed(studio.gallery.list(session.id, task)))
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    if row is None or not 0 <= row < len(items):
        return None
    session.selected[task] = items[row].id
    return items[row]


def raise_for_user(fn, *args, **kwargs):
    """`fn(*args)`, its studio errors shown to the visitor as messages (no traceback)."""
    try:
        return fn(*args, **kwargs)
    except StudioError as e:
        raise gr.Error(str(e), print_exception=False) from None


def api_signature(names: list[str]):
    """A handler's signature naming its API parameters, for a handler that takes them as `*values`
    (then Gradio's progress tracker, last). Each defaults to None, so that an API caller may leave out
    a parameter whose widget starts empty (an upload added to the request later, say)."""
    import inspect

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Signature([inspect.Parameter(n, kind, default=None) for n in names]
                             + [inspect.Parameter("progress", kind, default=gr.Progress())])
