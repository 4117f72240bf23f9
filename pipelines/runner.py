"""The one entry point for running a task: `execute(manager, task, request, progress)`.

It prepares the request (`prepare`: a checked copy; the caller's request is never changed), holds
the shared pipeline for the job (loading it when needed), runs the task module one job per pipeline
at a time, records the model and device in every artifact's parameters, and turns running out of
device memory, while loading or while running, into a clear `OutOfMemory`. The Ray Serve
deployments call the same function.
"""
from __future__ import annotations

import dataclasses
import logging
from contextlib import ExitStack, contextmanager
from typing import Iterator

from pipelines import registry
from pipelines.checks import clean_request_text
from pipelines.errors import InputError, OutOfMemory
from pipelines.media import Result
from pipelines.models import ModelManager
from pipelines.presets import ModelPreset, load_styles
from pipelines.progress import NO_PROGRESS, Progress

log = logging.getLogger(__name__)


def model_params(loaded) -> dict:
    """What every output records about the model that made it."""
    p = loaded.preset
    return dict(model=p.name, model_label=p.label, model_id=p.model_id, revision=p.revision if p.repo else None,
                license=p.license, commercial_use=p.commercial_use, tier=p.tier, device=loaded.device, dtype=loaded.dtype,
                speedups=dict(getattr(loaded.pipe, "studio_features", {})))


def attach_previewer(manager: ModelManager, loaded, progress: Progress, held: ExitStack) -> list[str]:
    """Give the job a tiny-autoencoder previewer when previews or draft decoding are on; the
    decoder is held in the cache (`held`) until the job ends. Its lock is not taken: a decode is
    a plain forward pass that changes nothing on the module, and taking it would make jobs on
    different models that share a decoder wait for each other."""
    runtime = manager.runtime
    if not loaded.preset.preview or not (runtime.preview_every or runtime.draft_decode):
        return []
    from pipelines.diffusion import Previewer
    from pipelines.errors import ModelMissingError

    try:
        decoder = _leased(held, manager, "preview_decoder", loaded.preset.preview).pipe
    except ModelMissingError as e:
        return [f"No live preview: {e}"]
    progress.previewer = Previewer(decoder, runtime.preview_every, runtime.draft_decode)
    return []


def out_of_memory(device: str, loading: str | None = None) -> OutOfMemory:
    """The message for running out of device memory, while loading `loading` or while running."""
    from pipelines.device import free_memory

    free_memory()
    if loading:
        return OutOfMemory(f"The {device} ran out of memory while loading “{loading}”. Choose a smaller model, "
                           "lower model_cache_gb so fewer models stay loaded beside it, or turn on CPU offload "
                           "in the settings; nothing else was affected.")
    return OutOfMemory(f"The {device} ran out of memory. Lower the size, the batch or the frame count, "
                       "or turn on CPU offload / VAE tiling in the settings; nothing else was affected.")


def _leased(held: ExitStack, manager: ModelManager, task: str, preset_name: str):
    """The loaded model, held until `held` closes; out of memory while loading becomes OutOfMemory."""
    from pipelines.device import is_out_of_memory

    try:
        return held.enter_context(manager.lease(task, preset_name))
    except Exception as e:
        if not is_out_of_memory(e):
            raise
        from pipelines.device import pick_device

        raise out_of_memory(pick_device(manager.runtime.device), preset_name) from None


@contextmanager
def _one_job_at_a_time(loaded, progress: Progress) -> Iterator[None]:
    """Hold the pipeline's run lock (models.py says why); waiting, the job can still be cancelled."""
    if not loaded.run_lock.acquire(blocking=False):
        progress.update(0, 1, "waiting for another job on this model")
        while not loaded.run_lock.acquire(timeout=0.25):
            progress.check()
    try:
        yield
    finally:
        loaded.run_lock.release()


# Set on a request `prepare` made: the preset it was checked against. An attribute, not a field, so
# `dataclasses.replace` (a changed request) drops it, while a copy for a Ray replica keeps it.
_CHECKED_FOR = "_studio_checked_for"


def prepare(task: str, request, preset: ModelPreset):
    """The request as it will run: a copy of `request` with the one text policy applied, checked
    against `preset` (`Request.check`, which normalises it or raises `InputError`) and styled.

    The caller's request is left as it was. The copy is marked, and `prepare` returns a marked
    request as it is, so the check runs once per job however many layers ask (the tab's early
    check, `Studio.produce`, this runner, a Ray replica). Change a prepared request only through
    `dataclasses.replace`, which gives an unmarked copy that is checked again."""
    if vars(request).get(_CHECKED_FOR) == preset.name:
        return request
    request = dataclasses.replace(request)
    clean_request_text(request)  # the one text policy, on every path: UI, API, CLI, Ray replicas
    request.check(preset)
    if registry.contract(task).styled:
        styles = load_styles()
        if request.style not in styles:
            raise InputError(f"Unknown style {request.style!r}; choose one of: {', '.join(styles)}.")
        request.apply_style(styles[request.style])
    object.__setattr__(request, _CHECKED_FOR, preset.name)
    return request


def joined_presets(manager: ModelManager, task: str, request) -> list[ModelPreset | None]:
    """The other tasks' presets the task runs with (`Task.joins`), in the order declared; None for
    an optional join whose field is empty. A join that must be of the request's family and is not
    is refused before anything loads, naming this task's presets that match."""
    out: list[ModelPreset | None] = []
    for join in registry.contract(task).joins or ():
        name = getattr(request, join.field)
        if join.optional and not name:
            out.append(None)
            continue
        other = manager.preset(join.task, name)
        if join.same_family:
            _same_family(manager, task, manager.preset(task, request.model), other)
        out.append(other)
    return out


def _same_family(manager: ModelManager, task: str, own: ModelPreset, other: ModelPreset) -> None:
    if own.family != other.family:
        matching = [p.name for p in manager.presets(task).values() if p.family == other.family]
        raise InputError(f"“{own.label}” is for the {own.family} family and “{other.label}” is {other.family}: "
                         f"choose a {task.replace('_', ' ')} model made for {other.family} "
                         f"({', '.join(matching) or 'none is installed'}), or a base model of the {own.family} family.")


def _hold_joined(held: ExitStack, manager: ModelManager, presets: list[ModelPreset | None], progress: Progress) -> list:
    """Lease each joined preset and take its run lock for the job (its modules run in this job);
    None stays None. Every job takes the locks in the same order (joins as declared, then its own)."""
    others = []
    for preset in presets:
        if preset is None:
            others.append(None)
            continue
        other = _leased(held, manager, preset.task, preset.name)
        held.enter_context(_one_job_at_a_time(other, progress))
        others.append(other)
    return others


def joined_params(task: str, others: list) -> dict:
    """The joined models' parameters: a single-join task's as `joined_model`; with several joins, each
    loaded one under its request field in `joined_models`."""
    joins = registry.contract(task).joins or ()
    by_field = {j.field: model_params(o) for j, o in zip(joins, others) if o is not None}
    if not by_field:
        return {}
    return {"joined_model": by_field[joins[0].field]} if len(joins) == 1 else {"joined_models": by_field}


def execute(manager: ModelManager, task: str, request, progress: Progress = NO_PROGRESS) -> Result:
    """Run one request of `task` on this machine and return its artifacts.

    The request is prepared first (`prepare`: checked once, before any model loads; the caller's
    object is not changed). The model (and its preview decoder) is held in the cache for the
    whole job, so it is never evicted under it, and the pipeline runs one job at a time."""
    from pipelines.device import is_out_of_memory

    module = registry.task_module(task)
    if progress is NO_PROGRESS:
        progress = Progress()
    progress.check()
    request = prepare(task, request, manager.preset(task, request.model))
    progress.update(0, 1, "loading model")
    with ExitStack() as held:
        joined = joined_presets(manager, task, request)
        loaded = _leased(held, manager, task, request.model)
        others = _hold_joined(held, manager, joined, progress)
        pipe = loaded.pipe
        if joined:
            pipe = registry.contract(task).join(loaded.pipe, *[o.pipe if o is not None else None for o in others])
        # the previews decode with the first joined model's decoder (a ControlNet's base model)
        notices = attach_previewer(manager, next((o for o in others if o is not None), loaded), progress, held)
        progress.embeddings = manager.embeddings
        held.enter_context(_one_job_at_a_time(loaded, progress))
        try:
            result = module.run(pipe, request, progress)
        except Exception as e:
            if not is_out_of_memory(e):
                raise
            raise out_of_memory(loaded.device) from None
    info = {**model_params(loaded), **joined_params(task, others)}
    for artifact in result.artifacts:
        artifact.params.update(info)
    result.notices[:0] = loaded.notices + notices
    if loaded.preset.tier == "tiny":
        result.notices.append("Made by a tiny random-weight test model: the output is noise-like by design.")
    return result
