"""Parameter grids (X/Y/Z plots): one text-to-image request varied along up to three axes.

Each cell is its own queued job (`Studio.stream`), so it waits for a turn on the device like any
other visitor's job and other visitors' jobs run between the cells; each cell is published and
signed on its own. The grid image is a composite drawn with Pillow (axis labels on it), published
with every signed cell as a `componentOf` ingredient, so its manifest says `c2pa.placed` for each
cell and `c2pa.created` (composite with AI) for the grid. This is studio-level orchestration, not
a pipeline task: no model runs here, and nothing here imports torch.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from PIL import Image, ImageDraw, ImageFont

from pipelines.errors import Cancelled, InputError
from pipelines.media import ImageArtifact, InputFile
from pipelines.progress import ProgressEvent
from studio.jobs import JobDone, LimitError

TASK = "text_to_image"
GRID_TASK = "grid"
MAX_AXES = 3
MAX_CELLS = 64
# Axis name -> the request field it sets ("prompt" is a search-and-replace on the prompt).
AXES = {"seed": "seed", "steps": "steps", "guidance": "guidance", "scheduler": "scheduler", "model": "model",
        "prompt": "prompt"}
NUMBERS = {"seed": int, "steps": int, "guidance": float}
SCOPE = "grid"                 # the tab whose Cancel stops a grid's cells
LIMIT_WAIT_S = 90              # how long a cell waits out the per-minute job limit before giving up


@dataclass(frozen=True)
class Axis:
    """One varied parameter and its values. For "prompt", values[0] is the word searched in the prompt
    and every value replaces it in turn (the first cell keeps the prompt as written)."""

    name: str
    values: tuple[Any, ...]

    def label(self, value: Any) -> str:
        return f"{self.name}: {value}"


@dataclass
class GridDone:
    """The finished grid: the published composite and the cells' gallery items, in grid order."""

    grid: Any
    cells: list[Any]
    notices: list[str]
    titles: list[str] = dataclasses.field(default_factory=list)   # each cell's number and values


def parse_axis(spec: str) -> Axis:
    """An axis from "name=v1,v2,...", e.g. "seed=1,2,3", "guidance=4,7", "prompt=red,blue,green"."""
    name, sep, raw = spec.partition("=")
    if not sep or name.strip().lower() not in AXES:
        raise InputError(f"Axis {spec!r}: write it as NAME=V1,V2,... with NAME one of {', '.join(AXES)}.")
    return make_axis(name, raw)


def make_axis(name: str, raw: str) -> Axis:
    """An axis from its parameter's name and its values as a comma list (the tab's and the API's form)."""
    name = str(name or "").strip().lower()
    if name not in AXES:
        raise InputError(f"{name!r} is not a parameter a grid can vary: use one of {', '.join(AXES)}.")
    values = [v.strip() for v in str(raw or "").split(",") if v.strip()]
    if not values:
        raise InputError(f"Axis {name} has no values: list them separated by commas.")
    if name in NUMBERS:
        try:
            values = [NUMBERS[name](float(v)) if NUMBERS[name] is int else float(v) for v in values]
        except ValueError:
            raise InputError(f"Axis {name} takes numbers, not {raw!r}.") from None
    return Axis(name, tuple(values))


def axes_from(pairs: Sequence[tuple[str | None, str | None]]) -> list[Axis]:
    """The axes of (parameter, values) pairs as a form gives them; a pair with no parameter is unused."""
    axes = []
    for name, raw in pairs:
        if not str(name or "").strip():
            if str(raw or "").strip():
                raise InputError(f"Values {raw!r} are given without a parameter: pick the parameter they vary.")
            continue
        axes.append(make_axis(name, raw))
    return axes


def cell_count(axes: Sequence[Axis]) -> int:
    """How many images a grid of these axes makes."""
    return math.prod(len(a.values) for a in axes) if axes else 0


def plan_cells(base: Any, axes: Sequence[Axis]) -> list[tuple[tuple[int, ...], Any]]:
    """Every cell as (index per axis, request), the first axis varying fastest; refused with an
    `InputError` before anything runs when the grid is too large or an axis cannot apply."""
    if not axes:
        raise InputError("A grid needs at least one axis to vary (seed, steps, guidance, scheduler, model or prompt).")
    if len(axes) > MAX_AXES:
        raise InputError(f"A grid varies at most {MAX_AXES} parameters; this one has {len(axes)}.")
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise InputError(f"Each parameter may be one axis only; {', '.join(names)} repeats one.")
    cells = cell_count(axes)
    if cells > MAX_CELLS:
        raise InputError(f"This grid would make {cells} images; the limit is {MAX_CELLS}. Use fewer values.")
    for axis in axes:
        if axis.name == "prompt" and str(axis.values[0]) not in base.prompt:
            raise InputError(f"The prompt axis searches for “{axis.values[0]}” (its first value), which is not in "
                             "the prompt: start the axis with a word of the prompt.")
    if getattr(base, "batch", 1) != 1:
        raise InputError("Each cell of a grid is one image: set the batch to 1.")
    plan = []
    for index in itertools.product(*(range(len(a.values)) for a in reversed(axes))):
        index = tuple(reversed(index))
        changes: dict[str, Any] = {}
        for axis, i in zip(axes, index):
            value = axis.values[i]
            if axis.name == "prompt":
                changes["prompt"] = base.prompt.replace(str(axis.values[0]), str(value))
            else:
                changes[AXES[axis.name]] = value
        plan.append((index, dataclasses.replace(base, **changes)))
    return plan


def base_request(studio, fields: dict[str, Any]) -> Any:
    """The text-to-image request every cell starts from: the model preset's defaults, then the fields
    given (None and NaN are left out). A seed left out or below 0 is one random seed for every cell,
    so that the cells differ only along the axes."""
    from pipelines.text_to_image import Request
    from studio.sessions import random_seed

    given = {k: v for k, v in fields.items() if v is not None and v == v}
    preset = studio.models.preset(TASK, given.get("model") or next(iter(studio.models.presets(TASK))))
    seed = given.get("seed")
    if not isinstance(seed, (int, float)) or seed < 0:
        given["seed"] = random_seed()
    return Request(**{**preset.defaults, **given, "model": preset.name})


def check_cells(studio, plan) -> None:
    """Check every cell's request against its model before the first runs: a grid whose third column
    names a step count the model refuses is refused whole, not after two columns."""
    from pipelines.errors import PresetError

    for n, (_, request) in enumerate(plan):
        try:
            dataclasses.replace(request).check(studio.models.preset(TASK, request.model))
        except (InputError, PresetError) as e:
            raise InputError(f"Cell {n + 1} of the grid cannot run: {e}") from None


def run_grid(studio, base: Any, axes: Sequence[Axis], session_id: str, client: str | None = None,
             cancel: threading.Event | None = None) -> Iterator[ProgressEvent | GridDone]:
    """Run every cell as a queued job, then publish the composite; yields progress, then `GridDone`.

    A cell refused by the per-minute job limit waits (saying so) and is asked again, so a large
    grid paces itself instead of failing halfway. Cancel (scope "grid") stops the running cell
    and the grid with it; `cancel` (set by `GridRuns.cancel`) stops it between cells too, so no
    cell is queued after the visitor asked to stop."""
    plan = plan_cells(base, axes)
    check_cells(studio, plan)
    items, notices = [], []
    for n, (_, request) in enumerate(plan):
        outcome = None
        try:
            for event in _cell_job(studio, request, session_id, client, cancel):
                if isinstance(event, JobDone):
                    outcome = event.value
                else:
                    yield ProgressEvent(n, len(plan), f"cell {n + 1}/{len(plan)}: {event.stage}", event.elapsed_s)
        except Cancelled:
            raise Cancelled(f"Cancelled: the grid stopped after {n} of its {len(plan)} cells (the finished ones "
                            "are in Concept art's gallery).") from None
        if not outcome.items:
            raise InputError(f"Cell {n + 1} made no image ({'; '.join(outcome.notices) or 'withheld'}); the grid "
                             "stopped. Change the prompt or the seeds and run it again.")
        items.append(outcome.items[0])
        notices.extend(x for x in outcome.notices if x not in notices)
    yield ProgressEvent(len(plan), len(plan), "drawing and signing the grid", 0.0)
    grid = publish_grid(studio, base, axes, plan, items, session_id)
    yield GridDone(grid, items, notices, [cell_title(n, axes, index) for n, (index, _) in enumerate(plan)])


def _stop_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def _cell_job(studio, request: Any, session_id: str, client: str | None,
              cancel: threading.Event | None = None) -> Iterator[Any]:
    """One cell's job events; waits out the per-minute limit (up to LIMIT_WAIT_S) instead of failing."""
    deadline = time.monotonic() + LIMIT_WAIT_S
    while True:
        _stop_if_cancelled(cancel)
        try:
            yield from studio.stream(TASK, request, session_id, client=client, scope=SCOPE)
            return
        except LimitError:
            if time.monotonic() > deadline:
                raise
            yield ProgressEvent(0, 1, "waiting: the studio's job limit per minute is reached", 0.0)
            time.sleep(2.0)


class GridRuns:
    """The grids running now, per session, so that Cancel stops a grid between its cells as well as
    the cell that is running. One per studio UI (held by the tab that runs grids, not a module global)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._runs: dict[str, set[threading.Event]] = {}

    def start(self, session_id: str) -> threading.Event:
        """A new grid of this session: the event its Cancel sets."""
        event = threading.Event()
        with self._lock:
            self._runs.setdefault(session_id, set()).add(event)
        return event

    def end(self, session_id: str, event: threading.Event) -> None:
        with self._lock:
            runs = self._runs.get(session_id, set())
            runs.discard(event)
            if not runs:
                self._runs.pop(session_id, None)

    def cancel(self, studio, session_id: str) -> int:
        """Stop this session's grids: the running or waiting cell now, no further cell queued.
        Returns how many grids were asked to stop."""
        with self._lock:
            runs = list(self._runs.get(session_id, ()))
        for event in runs:
            event.set()
        studio.jobs.cancel(session_id, SCOPE)
        return len(runs)


def publish_grid(studio, base: Any, axes: Sequence[Axis], plan, items: list, session_id: str):
    """Draw the composite, publish it with the signed cells as its ingredients, add it to the gallery."""
    from studio.gallery import GalleryItem, now
    from studio.service import caption

    images = [Image.open(item.path).convert("RGB") for item in items]
    composite = compose(images, axes, [index for index, _ in plan])
    params = dict(task=GRID_TASK, prompt=base.prompt, model=base.model, width=composite.width,
                  height=composite.height, cell_count=len(items), cells=[item.id for item in items],
                  axes={a.name: [str(v) for v in a.values] for a in axes},
                  base={k: v for k, v in dataclasses.asdict(base).items() if isinstance(v, (str, int, float, bool))
                        and k not in ("prompt", "reference_image", "styled_prompt", "styled_negative")})
    inputs = [InputFile(item.path, "componentOf", cell_title(n, axes, index))
              for n, (item, (index, _)) in enumerate(zip(items, plan))]
    [published] = studio.publisher.publish(ImageArtifact(composite, params), task=GRID_TASK, session_id=session_id,
                                           inputs=inputs)
    item = GalleryItem(id=published.id, session_id=session_id, task=GRID_TASK, path=str(published.path),
                       mime=published.mime, caption=f"grid of {len(items)} · " + caption(published.params),
                       params=published.params, created=now())
    studio.gallery.add(item)
    return item


def cell_title(n: int, axes: Sequence[Axis], index: tuple[int, ...]) -> str:
    """How a cell is named among the grid's ingredients: its number and its values (a prompt axis's
    words are the visitor's and stay out of the title)."""
    values = ", ".join(a.label(a.values[i]) for a, i in zip(axes, index) if a.name != "prompt")
    return f"cell {n + 1}" + (f" ({values})" if values else "")


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # a Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def compose(images: list[Image.Image], axes: Sequence[Axis], indices: list[tuple[int, ...]]) -> Image.Image:
    """The cells laid out with the first axis across, the second down and the third as stacked
    panels, each labelled with its value (A1111's X/Y/Z plot layout)."""
    w, h = images[0].size
    font = _font(max(12, min(w, h) // 12))
    x_axis, y_axis, z_axis = (list(axes) + [None, None])[:3]
    cols = len(x_axis.values)
    rows = len(y_axis.values) if y_axis else 1
    panels = len(z_axis.values) if z_axis else 1
    pad = font.size + 12 if hasattr(font, "size") else 24
    left = _label_width(font, y_axis) if y_axis else 0
    panel_h = pad + rows * h + (pad if z_axis else 0)
    sheet = Image.new("RGB", (left + cols * w, panels * panel_h), "white")
    draw = ImageDraw.Draw(sheet)
    for image, index in zip(images, indices):
        x, y, z = (list(index) + [0, 0])[:3]
        top = z * panel_h + (pad if z_axis else 0) + pad
        sheet.paste(image.resize((w, h)), (left + x * w, top + y * h))
    for z in range(panels):
        top = z * panel_h
        if z_axis:
            draw.text((4, top + 4), z_axis.label(z_axis.values[z]), fill="black", font=font)
            top += pad
        for x, value in enumerate(x_axis.values):
            draw.text((left + x * w + w // 2, top + pad // 2), _short(x_axis.label(value), w, font), fill="black",
                      font=font, anchor="mm")
        for y, value in enumerate(y_axis.values if y_axis else []):
            draw.text((4, top + pad + y * h + h // 2), y_axis.label(value), fill="black", font=font, anchor="lm")
    return sheet


def _label_width(font, axis: Axis) -> int:
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    return 12 + max(int(probe.textlength(axis.label(v), font=font)) for v in axis.values)


def _short(text: str, width: int, font) -> str:
    """The label cut with an ellipsis to fit a cell's width."""
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    while len(text) > 4 and probe.textlength(text, font=font) > width - 8:
        text = text[:-2] + "…"
    return text
