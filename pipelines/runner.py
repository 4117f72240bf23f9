"""The one entry point for running a task: `execute(manager, task, request, progress)`.

It fetches the shared pipeline, checks the request against the model's preset, runs the task
module, records the model and device in every artifact's parameters, and turns running out of
device memory into a clear `OutOfMemory`. The Ray Serve deployments call the same function.
"""
from __future__ import annotations

import logging

from pipelines import registry
from pipelines.checks import clean_request_text
from pipelines.errors import InputError, OutOfMemory
from pipelines.media import Result
from pipelines.models import ModelManager
from pipelines.presets import load_styles
from pipelines.progress import NO_PROGRESS, Progress

log = logging.getLogger(__name__)


def model_params(loaded) -> dict:
    """What every output records about the model that made it."""
    p = loaded.preset
    return dict(model=p.name, model_label=p.label, model_id=p.model_id, revision=p.revision if p.repo else None,
                license=p.license, commercial_use=p.commercial_use, tier=p.tier, device=loaded.device, dtype=loaded.dtype,
                speedups=dict(getattr(loaded.pipe, "studio_features", {})))


def attach_previewer(manager: ModelManager, loaded, progress: Progress) -> list[str]:
    """Give the job a tiny-autoencoder previewer when previews or draft decoding are on."""
    runtime = manager.runtime
    if not loaded.preset.preview or not (runtime.preview_every or runtime.draft_decode):
        return []
    from pipelines.diffusion import Previewer
    from pipelines.errors import ModelMissingError

    try:
        decoder = manager.get("preview_decoder", loaded.preset.preview).pipe
    except ModelMissingError as e:
        return [f"No live preview: {e}"]
    progress.previewer = Previewer(decoder, runtime.preview_every, runtime.draft_decode)
    return []


def execute(manager: ModelManager, task: str, request, progress: Progress = NO_PROGRESS) -> Result:
    """Run one request of `task` on this machine and return its artifacts."""
    from pipelines.device import free_memory, is_out_of_memory

    module = registry.task_module(task)
    if progress is NO_PROGRESS:
        progress = Progress()
    progress.check()
    clean_request_text(request)  # the one text policy, on every path: UI, API, CLI, Ray replicas
    progress.update(0, 1, "loading model")
    loaded = manager.get(task, request.model)
    request.check(loaded.preset)
    notices = attach_previewer(manager, loaded, progress)
    progress.embeddings = manager.embeddings
    if hasattr(request, "apply_style"):
        styles = load_styles()
        if request.style not in styles:
            raise InputError(f"Unknown style {request.style!r}; choose one of: {', '.join(styles)}.")
        request.apply_style(styles[request.style])
    try:
        result = module.run(loaded.pipe, request, progress)
    except Exception as e:
        if not is_out_of_memory(e):
            raise
        free_memory()
        raise OutOfMemory(f"The {loaded.device} ran out of memory. Lower the size, the batch or the frame count, "
                          "or turn on CPU offload / VAE tiling in the settings; nothing else was affected.") from None
    info = model_params(loaded)
    for artifact in result.artifacts:
        artifact.params.update(info)
    result.notices[:0] = loaded.notices + notices
    if loaded.preset.tier == "tiny":
        result.notices.append("Made by a tiny random-weight test model: the output is noise-like by design.")
    return result
