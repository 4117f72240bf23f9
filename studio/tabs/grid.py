"""The Parameter grid tab (inside "More tools"): one text-to-image request varied along up to three
axes, each cell a queued job, the labelled grid signed with its cells as ingredients (studio/grid.py).

API: `/generate_grid` takes the tab's parameters in order (the base request, then each axis as its
parameter's name and its values as a comma list, e.g. "seed", "1,2,3"); `/cancel_grid` stops the
caller's grids (the running cell, and no further cell is queued).
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from pipelines.errors import Cancelled, StudioError
from pipelines.text_to_image import scheduler_choices
from studio.grid import MAX_AXES, MAX_CELLS, GridDone, GridRuns, axes_from, base_request, cell_count, run_grid
from studio.results import tiles
from studio.sessions import Session, ensure
from studio.service import Studio
from studio.widgets import (TabHandle, action_row, api_signature, client_address, default_preset, form_number,
                            license_markdown, model_picker, wire_run)

GRID_TASK, CELL_TASK = "grid", "text_to_image"
BASE = ("prompt", "negative_prompt", "model", "seed", "steps", "guidance", "width", "height", "scheduler")
WHOLE = ("seed", "steps", "width", "height")        # whole numbers (a form's 4.0 is 4)
AXIS_NAMES = ("x", "y", "z")[:MAX_AXES]
AXIS_CHOICES = [("—", ""), ("seed", "seed"), ("steps", "steps"), ("guidance", "guidance"),
                ("scheduler", "scheduler"), ("model preset", "model"), ("prompt: search and replace", "prompt")]
AXIS_LABELS = {"x": "Axis 1 (across)", "y": "Axis 2 (down)", "z": "Axis 3 (panels)"}
AXIS_HELP = ("Values as a comma list: `1,2,3` for seeds or steps, `4,7.5` for guidance, `euler,ddim` for "
             "schedulers, preset names for models. For the prompt, the first value is a word of the prompt "
             f"and each value replaces it in turn. At most {MAX_CELLS} images.")


def api_names() -> list[str]:
    """The API's parameters, in the order of the tab's inputs."""
    return [*BASE, *[f"{a}_{part}" for a in AXIS_NAMES for part in ("axis", "values")]]


def base_form(studio: Studio) -> dict[str, Any]:
    """The request every cell starts from: prompt, model, seed and the settings that matter."""
    preset = default_preset(studio, CELL_TASK)
    d = preset.defaults
    w: dict[str, Any] = {}
    w["prompt"] = gr.Textbox(label="Prompt", lines=2, elem_id="grid-prompt",
                             placeholder="a red kite over the sea at dawn")
    w["negative_prompt"] = gr.Textbox(label="Negative prompt", lines=1, elem_id="grid-negative")
    w["model"], w["license"] = model_picker(studio, CELL_TASK)
    with gr.Row():
        w["seed"] = gr.Number(-1, precision=0, minimum=-1, maximum=2**32 - 1, label="Seed",
                              info="-1: one random seed, the same for every cell")
        w["steps"] = gr.Number(d.get("steps", 25), precision=0, minimum=1, label="Steps")
        w["guidance"] = gr.Number(d.get("guidance", 7.0), minimum=0, maximum=30, step=0.5, label="Guidance")
    with gr.Row():
        w["width"] = gr.Number(d.get("width", 512), precision=0, step=8, label="Width (px)")
        w["height"] = gr.Number(d.get("height", 512), precision=0, step=8, label="Height (px)")
        w["scheduler"] = gr.Dropdown(scheduler_choices(preset.family), value=d.get("scheduler", "default"),
                                     label="Scheduler")
    return w


def axis_form() -> dict[str, Any]:
    """Up to three axes: a parameter and its values each; the cell count below them."""
    w: dict[str, Any] = {}
    for a in AXIS_NAMES:
        with gr.Row():
            # Custom values pass through so an API caller's bad name gets the grid's own message.
            w[f"{a}_axis"] = gr.Dropdown(AXIS_CHOICES, value="", label=AXIS_LABELS[a], allow_custom_value=True,
                                         elem_id=f"grid-{a}-axis", scale=1)
            w[f"{a}_values"] = gr.Textbox(label="Values", placeholder="1,2,3", elem_id=f"grid-{a}-values", scale=2)
    gr.Markdown(AXIS_HELP)
    w["count"] = gr.Markdown("No axis yet: pick a parameter and its values.", elem_id="grid-count")
    return w


def count_text(*pairs_flat) -> str:
    """The cell count of the axes as typed, or what is wrong with them (before anything runs)."""
    try:
        axes = axes_from(list(zip(pairs_flat[::2], pairs_flat[1::2])))
    except StudioError as e:
        return f"⚠ {e}"
    n = cell_count(axes)
    if not axes:
        return "No axis yet: pick a parameter and its values."
    shape = " × ".join(str(len(a.values)) for a in axes)
    if n > MAX_CELLS:
        return f"⚠ **{n} images** ({shape}): the limit is {MAX_CELLS}. Use fewer values."
    return f"**{n} image{'s' if n != 1 else ''}** ({shape}), each its own queued job, then the grid."


def results_view() -> dict[str, Any]:
    w: dict[str, Any] = {}
    w["status"] = gr.Markdown(elem_id="grid-status", elem_classes=["studio-status"])
    w["grid"] = gr.Image(label="Grid (signed, with its cells as ingredients)", type="filepath", interactive=False,
                         format="png", elem_id="grid-image", buttons=["download", "fullscreen"])
    w["cells"] = gr.Gallery(label="Cells of this grid", columns=4, height=260, elem_id="grid-cells",
                            buttons=["download"], preview=False, interactive=False, object_fit="contain")
    w["gallery"] = gr.Gallery(label="Your grids", columns=4, height=220, elem_id="grid-gallery",
                              buttons=["download", "fullscreen"], preview=False, interactive=False,
                              object_fit="contain")
    return w


def run_handler(studio: Studio, runs: GridRuns):
    """The grid's run event: the cells' progress (cell n/N) into the status, then the grid and its cells."""
    names = api_names()

    def run(session: Session | None, *values_and_progress):
        *values, progress = values_and_progress
        session = ensure(session)
        given = dict(zip(names, values))
        try:
            base = base_request(studio, {n: form_number(given[n]) if n in WHOLE else given[n] for n in BASE})
            axes = axes_from([(given[f"{a}_axis"], given[f"{a}_values"]) for a in AXIS_NAMES])
        except StudioError as e:
            raise gr.Error(str(e), print_exception=False) from None
        yield gr.update(), gr.update(), gr.update(), "⏳ Queued…", session
        yield from stream_grid(studio, runs, session, base, axes, progress)

    run.__signature__ = api_signature(["session", *names])
    return run


def stream_grid(studio: Studio, runs: GridRuns, session: Session, base, axes, progress):
    """Run the grid, yielding (grid, cells, gallery, status, session) updates; errors become messages."""
    cancel = runs.start(session.id)
    try:
        for event in run_grid(studio, base, axes, session.id, client=client_address(studio), cancel=cancel):
            if isinstance(event, GridDone):
                notes = "".join(f"  \nNote: {n}" for n in event.notices)
                status = (f"**Done:** a grid of {len(event.cells)} cells, each signed, and the grid signed with "
                          f"them as its ingredients.{notes}")
                yield (event.grid.path, list(zip([c.path for c in event.cells], event.titles)),
                       tiles(studio, session, GRID_TASK), status, session)
                return
            progress((event.done, event.total), desc=event.stage)
            yield gr.update(), gr.update(), gr.update(), f"⏳ {event.stage}…", session
    except Cancelled as e:
        yield gr.update(), gr.update(), gr.update(), f"⏹ {e}", session
    except StudioError as e:
        raise gr.Error(str(e), print_exception=False) from None
    finally:
        runs.end(session.id, cancel)


def wire(studio: Studio, session_state: gr.State, form: dict, axes: dict, view: dict, run, cancel) -> Any:
    """Make the grid, Cancel, the live cell count and the model's defaults; returns the run event."""
    runs = GridRuns()   # this UI's running grids, for Cancel
    inputs = [session_state, *[form[n] for n in BASE], *[axes[n] for n in api_names()[len(BASE):]]]
    outputs = [view["grid"], view["cells"], view["gallery"], view["status"], session_state]
    run_event = wire_run(studio, run_handler(studio, runs), inputs, outputs, view["status"], run, "generate_grid")

    def stop(session: Session | None):
        n = runs.cancel(studio, ensure(session).id)
        return "⏹ Cancelling: the running cell stops and no further cell starts." if n else "No grid of yours is running."

    cancel.click(stop, [session_state], [view["status"]], queue=False, api_name="cancel_grid")
    pairs = [axes[n] for n in api_names()[len(BASE):]]
    for widget in pairs:
        widget.change(count_text, pairs, [axes["count"]], queue=False, api_name=False, show_progress="hidden")

    follow = ("steps", "guidance", "width", "height", "scheduler")

    def on_model(name: str):
        """The model's licence and defaults (a value the preset does not set stays as typed)."""
        p = studio.models.preset(CELL_TASK, name)
        values = [gr.update(value=p.defaults[n]) if n in p.defaults else gr.update() for n in follow[:-1]]
        scheduler = gr.update(choices=scheduler_choices(p.family), value=p.defaults.get("scheduler", "default"))
        return license_markdown(studio, p), *values, scheduler

    form["model"].change(on_model, [form["model"]], [form["license"], *[form[n] for n in follow]], queue=False,
                         api_name=False)
    return run_event


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    """The tab: the base request and the axes on the left, progress, the grid and its cells on the right."""
    with gr.Tab("Parameter grid", id="grid") as tab:
        with gr.Row():
            with gr.Column(scale=2):
                form = base_form(studio)
                axes = axis_form()
                run, cancel = action_row("Make the grid", "grid-generate", "grid-cancel")
            with gr.Column(scale=3):
                view = results_view()
        run_event = wire(studio, session_state, form, axes, view, run, cancel)
    return TabHandle(tab, refresh=lambda session: tiles(studio, session, GRID_TASK), gallery=view["gallery"],
                     run_event=run_event)
