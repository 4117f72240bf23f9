"""The task contract: what a task module declares, and what the studio derives from it.

A task module defines a `Request` dataclass, `load(source, device, dtype, runtime, **kwargs)`,
`run(pipe, request, progress) -> Result`, and a module-level `CONTRACT = Task(...)` that declares
the rest: what it returns and which optional capabilities it has. Nothing is probed with
getattr/hasattr. The request's fields describe themselves: their kind comes from the default's
type, or from `dataclasses.field(metadata={...})` where the type says too little, e.g. an uploaded
file: `image_path: str = field(default="", metadata=upload("image", flag="still", ...))`.

Derived from it: the Ray replicas' upload fields (pipelines/serve.py), the default Serve options,
the `studio generate` file flags (studio/cli.py), the presets' key checks (registry.request_fields).
Importing this module (and a task module) must not import torch: the web app reads contracts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping

MEDIA = ("image", "audio", "video")           # kinds of an uploaded input file
KINDS = ("text", "whole", "number", "flag", "choice", "other") + MEDIA
ARTIFACTS = ("image", "audio", "video", "text", "report")   # text: subtitles, transcripts


def upload(kind: str, flag: str = "", title: str = "", relationship: str | None = "inputTo") -> dict[str, Any]:
    """Field metadata for a request field holding the path of an uploaded `kind` file.

    `flag` names the CLI option (default: the field name), `title` how the file is named in the
    credentials and help, `relationship` its C2PA ingredient relationship (None: not an ingredient).
    """
    if kind not in MEDIA:
        raise ValueError(f"upload kind {kind!r} is not one of {MEDIA}")
    return {"kind": kind, "flag": flag, "title": title, "relationship": relationship}


@dataclass(frozen=True)
class Field:
    """One request field as the studio sees it."""

    name: str
    kind: str
    default: Any = dataclasses.MISSING
    flag: str = ""
    title: str = ""
    relationship: str | None = None
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING

    @property
    def is_upload(self) -> bool:
        return self.kind in MEDIA


@dataclass(frozen=True)
class Join:
    """Another task's loaded preset a job also holds, named by the request field `field`.

    `same_family`: the preset must be of the family of the request's own (a ControlNet and its base
    model), refused before anything loads otherwise; `optional`: an empty field means the job runs
    without it (the task's join gets None in its place, and nothing is loaded)."""

    task: str
    field: str
    same_family: bool = True
    optional: bool = False


@dataclass(frozen=True)
class Task:
    """A task's declared contract (see the module docstring)."""

    name: str
    request: type
    artifacts: tuple[str, ...]
    text_field: str | None = "prompt"        # the field a prompt-like CLI option fills
    base_task: str | None = None             # with from_base: built from the loaded pipeline of this task
    from_base: Callable[[Any], Any] | None = None
    # with join: the job also holds the loaded presets of other tasks, each named by a request field
    # (`Join`s; one (task, field) pair is one Join of the same family); run gets join(own pipe, *their
    # pipes) in the order declared, None for an optional one whose field is empty (a ControlNet on a
    # loaded text-to-image model; dubbing with the transcriber and the translator)
    joins: tuple[str, str] | tuple[Join, ...] | None = None
    join: Callable[..., Any] | None = None
    is_downloaded: Callable[[Any], bool] | None = None   # for weights outside the HF cache
    download: Callable[[Any], Any] | None = None
    dtypes: tuple[str, ...] | None = None    # the dtypes it runs in; None: any the device offers
    styled: bool = False                     # the request has apply_style(StylePreset)
    edit_action: str = "c2pa.edited"         # the C2PA action of an output made from a parentOf input
    # further actions of that edit that depend on the request's recorded parameters (an upscale
    # with a creative pass: c2pa.resized, then c2pa.edited)
    more_edit_actions: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None
    uses_gpu: bool = True                    # False: a Ray replica asks for no GPU by default
    concurrent_requests: int = 1             # requests one loaded pipeline may run at once (1: not safe to share)
    tab: str | None = None                   # the label of the generic tab built from this contract (None: no
                                             # generic tab; the task has its own tab module, or none)
    api_name: str | None = None              # the generic tab's API endpoint (None: generate_<name>)

    def __post_init__(self):
        if not dataclasses.is_dataclass(self.request):
            raise TypeError(f"task {self.name}: Request must be a dataclass")
        unknown = set(self.artifacts) - set(ARTIFACTS)
        if unknown:
            raise ValueError(f"task {self.name}: unknown artifact kinds {sorted(unknown)}; known: {ARTIFACTS}")
        if (self.base_task is None) != (self.from_base is None):
            raise ValueError(f"task {self.name}: declare base_task and from_base together")
        if (self.joins is None) != (self.join is None):
            raise ValueError(f"task {self.name}: declare joins and join together")
        if self.joins is not None:
            self._check_joins()
        if (self.is_downloaded is None) != (self.download is None):
            raise ValueError(f"task {self.name}: declare is_downloaded and download together")
        if self.text_field is not None and self.text_field not in self.field_names():
            raise ValueError(f"task {self.name}: text_field {self.text_field!r} is not a request field")
        if self.styled and not callable(getattr(self.request, "apply_style", None)):
            raise ValueError(f"task {self.name}: styled, but Request has no apply_style")

    def _check_joins(self) -> None:
        joins = self.joins
        if len(joins) == 2 and all(isinstance(j, str) for j in joins):
            joins = (Join(*joins),)   # the one-join form: (task, field)
        if not joins or not all(isinstance(j, Join) for j in joins):
            raise ValueError(f"task {self.name}: joins is a (task, field) pair or a tuple of Join")
        for j in joins:
            if j.field not in self.field_names():
                raise ValueError(f"task {self.name}: join field {j.field!r} is not a request field")
        object.__setattr__(self, "joins", tuple(joins))   # frozen: normalised once, here

    @property
    def endpoint(self) -> str:
        """The API name of the generic tab's run (`/generate_<name>` unless declared)."""
        return self.api_name or f"generate_{self.name}"

    def fields(self) -> list[Field]:
        """The request's fields a caller sets."""
        return request_fields(self.request)

    def field_names(self) -> set[str]:
        return {f.name for f in self.fields()}

    def uploads(self) -> list[Field]:
        """The fields that hold the path of an uploaded file."""
        return [f for f in self.fields() if f.is_upload]

    def serve_defaults(self) -> dict[str, Any]:
        """Ray Serve options the contract implies; every table of presets/serve.toml overrides them.

        A GPU task's replica asks for a whole GPU and takes `concurrent_requests` at a time (one,
        unless its pipeline is declared safe to share: pipelines/models.py says why)."""
        return {"num_gpus": 1.0 if self.uses_gpu else 0, "max_ongoing_requests": self.concurrent_requests}


# A required field has no default to read its kind from: its annotation says it (a string under
# `from __future__ import annotations`, as in every task module).
_ANNOTATED = {"str": "text", "int": "whole", "float": "number", "bool": "flag"}


def _kind(f: dataclasses.Field) -> str:
    declared = f.metadata.get("kind")
    if declared:
        if declared not in KINDS:
            raise ValueError(f"field {f.name}: kind {declared!r} is not one of {KINDS}")
        return declared
    if f.metadata.get("choices"):
        return "choice"
    default = f.default
    if default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
        return _ANNOTATED.get(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", ""), "other")
    if isinstance(default, bool):
        return "flag"
    if isinstance(default, int):
        return "whole"
    if isinstance(default, float):
        return "number"
    if isinstance(default, str):
        return "text"
    return "other"


def request_fields(request_type: type) -> list[Field]:
    """The init fields of a request dataclass, each with its kind and metadata."""
    out = []
    for f in dataclasses.fields(request_type):
        if not f.init or f.metadata.get("internal"):
            continue
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        meta = f.metadata
        out.append(Field(f.name, _kind(f), default, flag=meta.get("flag") or f.name.replace("_", "-"),
                         title=meta.get("title") or f.name.replace("_", " "), relationship=meta.get("relationship"),
                         lo=meta.get("lo"), hi=meta.get("hi"), choices=tuple(meta.get("choices", ()))))
    return out


def upload_fields(request: Any) -> list[str]:
    """Names of the fields of `request` (an instance or type) that may hold an uploaded file's path."""
    request_type = request if isinstance(request, type) else type(request)
    if not dataclasses.is_dataclass(request_type):
        return []
    return [f.name for f in request_fields(request_type) if f.is_upload]
