"""A tab built from a task's contract (pipelines/contract.py): one widget per request field by its
kind (a joined preset or a scheduler as a dropdown of what the chosen model takes: `contract_looks`),
the model picker with its licence, the seed controls, Generate with a named API endpoint,
Cancel for this tab's jobs, progress, previews by artifact kind (studio/results.py), the visitor's
gallery, and "Reuse these settings".

Every registry task whose contract sets `tab` gets one (studio/tabs/__init__.py). A tab module
that shows its task differently passes a `TabSpec` with the looks of some fields (labels, ranges,
element ids) and the order of the API's parameters, and keeps the rest of this module's parts.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

import gradio as gr

from pipelines import registry
from pipelines.contract import Field, Join, Task
from pipelines.media import InputFile
from pipelines.presets import ModelPreset
from pipelines.text_to_image import scheduler_choices
from studio.results import VIEWS, made_lines
from studio.sessions import Session, ensure
from studio.service import Outcome, Studio
from studio.widgets import (TabHandle, action_row, api_signature, default_preset, form_number, license_markdown,
                            model_picker, pick_item, preset_choices, raise_for_user, resolve_seed, seed_controls, selected_item,
                            status_markdown, stream_job, wire_cancel, wire_run)

SEED_MODE, CONFIRMED = "seed_mode", "confirmed"   # form entries that are not request fields


@dataclass
class Look:
    """How a tab shows one field where the contract says too little; every part is optional.

    `info`, `hi` and `choices` may be functions of the chosen model's preset: they are refreshed when
    the model changes. `choices` makes a text field a dropdown ((label, value) pairs or values)."""

    label: str | None = None
    info: str | Callable[[ModelPreset], str] | None = None
    placeholder: str | None = None
    lines: int | None = None
    elem_id: str | None = None
    lo: float | None = None
    hi: float | Callable[[ModelPreset], float] | None = None
    choices: list | Callable[[ModelPreset], list] | None = None
    step: float | None = None
    settings: bool | None = None     # in the Settings accordion (default: all but text fields and uploads)
    number_box: bool = False         # a number box even where a range is known


@dataclass
class TabSpec:
    """What a task tab shows; `derive(contract)` gives the generic one."""

    task: str
    label: str
    prefix: str                                   # element ids: <prefix>-generate, -cancel, -status, ...
    api_name: str
    cancel_api_name: str
    run_label: str = "Generate"
    order: tuple[str, ...] = ()                   # the API's parameters (default: the contract's field order)
    looks: dict[str, Look] = field(default_factory=dict)
    hidden: frozenset[str] = frozenset()          # fields left at their defaults (set by the studio or the task)
    reuse_fixed: dict[str, Any] = field(default_factory=dict)   # "Reuse these settings" sets these as given
    stage_text: Callable[[Any], str] = lambda event: f"⏳ {event.stage}…"
    submit: bool = True                           # Enter in the task's text field runs it too
    api_names: dict[str, str] = field(default_factory=dict)   # API parameter names kept from before (field -> name)
    parts: Callable[["TabParts"], None] | None = None        # a tab module's own components, added in the tab

    @classmethod
    def derive(cls, contract: Task) -> "TabSpec":
        """The generic tab of a contract: its label, the endpoint it declares (or generate_<task>)."""
        return cls(contract.name, contract.tab or contract.name.replace("_", " ").capitalize(),
                   contract.name.replace("_", "-"), contract.endpoint, f"cancel_{contract.name}")


def contract_looks(studio: Studio, contract: Task) -> dict[str, Look]:
    """Dropdowns the contract implies for text fields whose choices the chosen model decides (a task
    without a model field has none): the field a join names (`Task.joins`) picks a preset of the
    joined task (of the model's family where the join asks for it); `scheduler`, the field
    the diffusers tasks share (pipelines/diffusion.py), the schedulers of the model's family."""
    names, looks = contract.field_names(), {}
    if "model" not in names:
        return looks
    for join in contract.joins or ():
        looks[join.field] = Look(choices=lambda p, j=join: joined_presets(studio, j, p.family))
    if "scheduler" in names:
        looks["scheduler"] = Look(choices=lambda p: scheduler_choices(p.family), settings=True)
    return looks


def joined_presets(studio: Studio, join: Join, family: str) -> list[tuple[str, str]]:
    """(label, name) of the presets a join may name beside a model of `family`: the joined task's, of
    that family where the join says so, those not on this machine marked; "none" first where optional."""
    presets = studio.models.presets(join.task)
    choices = [(label, name) for label, name in preset_choices(studio, join.task)
               if not join.same_family or presets[name].family == family]
    return [("none", "")] + choices if join.optional else choices


def merged_looks(derived: dict[str, Look], given: dict[str, Look]) -> dict[str, Look]:
    """A tab module's looks over the contract's: where a given look names no choices it keeps the derived ones."""
    looks = dict(derived)
    for name, look in given.items():
        base = derived.get(name)
        looks[name] = replace(look, choices=base.choices) if base and look.choices is None else look
    return looks


def field_label(f: Field, look: Look) -> str:
    return look.label or f.title[:1].upper() + f.title[1:]


def for_preset(value, preset: ModelPreset | None):
    """A look's part as it stands for `preset` (a function of the preset, or a plain value)."""
    return value(preset) if callable(value) else value


def preset_update(look: Look, preset: ModelPreset) -> dict:
    """The parts of a widget that follow the chosen model."""
    parts = {"info": look.info, "maximum": look.hi, "choices": look.choices}
    return {k: v(preset) for k, v in parts.items() if callable(v)}


def field_widget(f: Field, value: Any, look: Look, preset: ModelPreset | None = None, main: bool = False):
    """The widget of one request field, by its kind; None for a kind no widget shows ("other")."""
    label, elem_id = field_label(f, look), look.elem_id
    info = for_preset(look.info, preset)
    if f.kind == "audio":
        return gr.Audio(label=label, type="filepath", sources=["upload", "microphone"], elem_id=elem_id)
    if f.is_upload:
        # A file box, not gr.Image / gr.Video: those decode (or transcode) an upload before the handler
        # runs, and every upload must pass the studio's probe (pipelines/uploads.py) before anything decodes it.
        return gr.File(label=label, file_types=[f.kind], type="filepath", height=110, elem_id=elem_id)
    if f.kind == "text" and look.choices is not None:
        # Choices that follow the model are the page's help, not the API's rule: an API caller naming
        # another model is checked by the request (with its message), not against the default's list.
        return gr.Dropdown(for_preset(look.choices, preset), value=value, label=label, info=info, elem_id=elem_id,
                           allow_custom_value=callable(look.choices))
    if f.kind == "text":
        return gr.Textbox(value=value or "", label=label, info=info, lines=look.lines or (3 if main else 1),
                          placeholder=look.placeholder, elem_id=elem_id)
    if f.kind == "flag":
        return gr.Checkbox(value=bool(value), label=label, info=info, elem_id=elem_id)
    if f.kind == "choice":
        return gr.Dropdown(list(f.choices), value=value, label=label, info=info, elem_id=elem_id)
    if f.kind in ("whole", "number"):
        return number_widget(f, value, look, label, info, preset)
    return None


def number_widget(f: Field, value: Any, look: Look, label: str, info: str | None, preset: ModelPreset | None):
    """A slider where the range is known (the look's, else the contract's), else a number box."""
    lo = look.lo if look.lo is not None else f.lo
    hi = for_preset(look.hi, preset) if look.hi is not None else f.hi
    whole = f.kind == "whole"
    step = look.step or (1 if whole else None)
    if lo is not None and hi is not None and not look.number_box:
        return gr.Slider(lo, hi, value=value, step=step or (hi - lo) / 100, label=label, info=info,
                         elem_id=look.elem_id)
    return gr.Number(value=value, precision=0 if whole else None, step=step or 1, minimum=lo, maximum=hi,
                     label=label, info=info, elem_id=look.elem_id)


def form_value(f: Field, value: Any) -> Any:
    """A widget's value as the request field takes it; None and NaN stay for the request's check to
    refuse with its message."""
    if f.kind == "whole":
        return form_number(value, int)
    if f.kind == "number":
        return form_number(value, float)
    if f.kind == "flag":
        return bool(value)
    if f.kind == "text":
        return value if isinstance(value, str) else ""
    if f.is_upload:
        return value or (None if f.required else f.default)
    return value


class TaskForm:
    """The widgets of a task's request, laid out in the open column, and the request they make.

    `inputs` are the widgets in the API's parameter order; `names` their names (request fields, and
    `seed_mode` / `confirmed`)."""

    def __init__(self, studio: Studio, contract: Task, spec: TabSpec):
        self.studio, self.contract, self.spec = studio, contract, spec
        self.fields = {f.name: f for f in contract.fields() if f.name not in spec.hidden}
        self.preset = default_preset(studio, contract.name) if "model" in self.fields else None
        self.looks = merged_looks(contract_looks(studio, contract), spec.looks)
        self.widgets: dict[str, Any] = {}
        self.license_md = None
        self.confirm = any(f.is_upload and f.relationship for f in self.fields.values())
        self._layout()
        self.fields = {n: f for n, f in self.fields.items() if n in self.widgets}   # "other" kinds have none
        self.names = self._order()
        self.inputs = [self.widgets[n] for n in self.names]

    # ---- layout
    def _layout(self) -> None:
        main = [f for f in self.fields.values() if self._is_main(f)]
        rest = [f for f in self.fields.values() if not self._is_main(f)]
        for f in main:
            self._place(f, main=True)
        if self.confirm:
            titles = " or ".join(f.title for f in self.fields.values() if f.is_upload and f.relationship)
            self.widgets[CONFIRMED] = gr.Checkbox(
                label=f"I have the right to use this {titles} even if it looks AI-generated", value=False,
                elem_id=f"{self.spec.prefix}-confirm")
        s = self.spec
        self.generate, self.cancel = action_row(s.run_label, f"{s.prefix}-generate", f"{s.prefix}-cancel")
        with gr.Accordion("Settings", open=True):
            for f in rest:
                self._place(f)

    def _is_main(self, f: Field) -> bool:
        look = self.looks.get(f.name, Look())
        if look.settings is not None:
            return not look.settings
        return f.is_upload or f.kind == "text" or f.name == "model"

    def _place(self, f: Field, main: bool = False) -> None:
        if f.name == "model":
            self.widgets["model"], self.license_md = model_picker(self.studio, self.contract.name)
        elif f.name == "seed":
            self.widgets[SEED_MODE], self.widgets["seed"] = seed_controls()
        else:
            look = self.looks.get(f.name, Look())
            # Every field's widget has an element id for the page's tests and styles (`field-`: a field
            # named like a results part, translate's `text`, does not take that part's id).
            look = replace(look, elem_id=look.elem_id or f"{self.spec.prefix}-field-{f.name.replace('_', '-')}")
            widget = field_widget(f, self.default(f), look, self.preset, main=main and f.kind == "text")
            if widget is not None:
                self.widgets[f.name] = widget

    def default(self, f: Field, preset: ModelPreset | None = None) -> Any:
        """The field's starting value: the model preset's default, else the request's."""
        preset = preset or self.preset
        if preset is not None and f.name in preset.defaults:
            return preset.defaults[f.name]
        return None if f.required else f.default

    def _order(self) -> list[str]:
        names = list(self.spec.order) or list(self.fields)
        # Fields the order does not name (added to the contract later) come last: older callers' positions hold.
        names += [n for n in self.fields if n not in names]
        if "seed" in names and SEED_MODE not in names:
            names.insert(names.index("seed"), SEED_MODE)
        if self.confirm and CONFIRMED not in names:
            last_upload = max(names.index(f.name) for f in self.fields.values() if f.is_upload and f.relationship)
            names.insert(last_upload + 1, CONFIRMED)
        return [n for n in names if n in self.widgets]

    # ---- the request
    def job(self, session: Session, values: tuple) -> tuple[Any, list[InputFile], bool]:
        """(the request, its uploads as checked inputs, whether the visitor confirmed them) from the
        widgets' values; an upload is probed (type, damage, size from its header) before anything
        decodes it. Studio errors become messages."""
        given = dict(zip(self.names, values))
        kwargs = {n: form_value(f, given[n]) for n, f in self.fields.items()}
        if "seed" in kwargs:
            kwargs["seed"] = resolve_seed(given[SEED_MODE], given["seed"], session, self.contract.name)
        inputs = []
        for f in self.fields.values():
            path = kwargs[f.name] if f.is_upload else None
            if path:
                raise_for_user(self.studio.probe_upload, path, (f.kind,), f.title)
                if f.relationship:
                    inputs.append(InputFile(path, f.relationship, f.title))
        # Studio.stream checks the request against its model before the job is queued.
        request = raise_for_user(self.contract.request, **kwargs)
        return request, inputs, bool(given.get(CONFIRMED))

    def preset_values(self, name: str) -> list:
        """The licence line and every field's value (and info) for the model preset `name`."""
        p = self.studio.models.preset(self.contract.name, name)
        out = [license_markdown(self.studio, p)]
        for n in self.preset_fields():
            parts = preset_update(self.looks.get(n, Look()), p)
            # A field the preset sets, or whose range or choices follow the model, takes the model's
            # default; any other (the prompt) keeps what the visitor typed.
            value = {"value": self.default(self.fields[n], p)} if n in p.defaults or parts else {}
            out.append(gr.update(**value, **parts))
        return out

    def preset_fields(self) -> list[str]:
        """The fields a model change resets: all but the model, the seed and the uploads."""
        return [n for n, f in self.fields.items() if n not in ("model", "seed") and not f.is_upload]

    def reuse_values(self, params: dict) -> list:
        """The widgets' values for a gallery item's recorded parameters (uploads are not refilled)."""
        out = []
        for n in self.names:
            if n in self.spec.reuse_fixed:
                out.append(self.spec.reuse_fixed[n])
            elif n == SEED_MODE:
                out.append("fixed")
            elif n == CONFIRMED or self.fields[n].is_upload:
                out.append(False if n == CONFIRMED else None)
            else:
                out.append(params.get(n, self.default(self.fields[n])))
        return out


def run_handler(studio: Studio, form: TaskForm, results) -> Callable:
    """The run event: the request from the form, then the job's progress into the results and status.
    Its signature names the API's parameters after the request fields."""
    task, spec = form.contract.name, form.spec

    def run(session: Session | None, *values_and_progress):
        *values, progress = values_and_progress
        session = ensure(session)
        request, inputs, confirmed = form.job(session, tuple(values))
        yield (*[gr.update()] * len(results.outputs), "⏳ Queued…", session)
        for event in stream_job(studio, session, task, request, progress, inputs=inputs, confirmed=confirmed):
            if isinstance(event, Outcome):
                if "seed" in form.fields:
                    session.last_seed[task] = request.seed
                yield (*results.done(session, event), status_markdown(event) + made_lines(event), session)
            else:
                yield (*results.progress(session, event), spec.stage_text(event), session)

    run.__signature__ = api_signature(["session", *[spec.api_names.get(n, n) for n in form.names]])
    return run


def wire_form(studio: Studio, session_state: gr.State, form: TaskForm, results, status, params, reuse):
    """Generate, Cancel, the model picker, gallery selection and "Reuse these settings"; returns the
    run event."""
    spec, task = form.spec, form.contract.name
    text = form.widgets.get(form.contract.text_field) if spec.submit else None
    run_event = wire_run(studio, run_handler(studio, form, results), [session_state, *form.inputs],
                         [*results.outputs, status, session_state], status, form.generate, spec.api_name,
                         submit=text if isinstance(text, gr.Textbox) else None)
    wire_cancel(studio, form.cancel, session_state, status, task, spec.cancel_api_name)
    if form.license_md is not None:
        form.widgets["model"].change(form.preset_values, [form.widgets["model"]],
                                     [form.license_md, *[form.widgets[n] for n in form.preset_fields()]],
                                     api_name=False, queue=False)

    def on_select(session: Session, evt: gr.SelectData):
        session = ensure(session)
        item = pick_item(studio, session, task, evt)
        if item is None:
            return (*[gr.update()] * len(results.select_outputs), None, session)
        return (*results.selected(item), item.params, session)

    results.gallery.select(on_select, [session_state], [*results.select_outputs, params, session_state],
                           api_name=False, queue=False)

    def on_reuse(session: Session):
        item = selected_item(studio, session, task, "Select a result in the gallery first.")
        return form.reuse_values(item.params)

    reuse.click(on_reuse, [session_state], form.inputs, api_name=False, queue=False)
    return run_event


@dataclass
class TabParts:
    """What `TabSpec.parts` gets to add its own components (inside the tab, below the results) and
    wire them to the generic ones: the form's widgets by field name, the results view, the status
    line, the session state and the run event (to chain on a finished job with `.then`)."""

    studio: Studio
    session_state: gr.State
    form: "TaskForm"
    results: Any
    status: Any
    run_event: Any


def build_task_tab(studio: Studio, session_state: gr.State, task: str, spec: TabSpec | None = None) -> TabHandle:
    """The tab of `task` built from its contract (`spec`: how a tab module shows it differently)."""
    contract = registry.contract(task)
    spec = spec or TabSpec.derive(contract)
    with gr.Tab(spec.label, id=task) as tab:
        with gr.Row():
            with gr.Column(scale=2):
                form = TaskForm(studio, contract, spec)
            with gr.Column(scale=3):
                status = gr.Markdown(elem_id=f"{spec.prefix}-status", elem_classes=["studio-status"])
                results = VIEWS[contract.artifacts[0]](studio, task, spec.prefix)
                params = results.params or gr.JSON(label="Exact parameters of the selected result")
                reuse = gr.Button("Reuse these settings", elem_id=f"{spec.prefix}-reuse")
        run_event = wire_form(studio, session_state, form, results, status, params, reuse)
        if spec.parts is not None:
            spec.parts(TabParts(studio, session_state, form, results, status, run_event))
    return TabHandle(tab, refresh=results.rows, gallery=results.gallery, run_event=run_event)


def generic_tasks() -> list[str]:
    """The registry's tasks whose contract asks for a generic tab, in registry order."""
    return [t for t in registry.TASKS if registry.contract(t).tab]

