"""The Ray Serve side of the scale-out: one replica class that wraps `runner.execute`.

`TaskServer` is deployed once per task and model preset (studio/backends.py does the
deploying); each replica owns its own `ModelManager` and streams the job back as
`ProgressEvent`s followed by the `Result`, or by a `Failure` carrying the error. Uploads cross
the wire as bytes (`WireRequest`), so a replica on another node never needs the front's disk.

Nothing here imports Ray or torch at module level: the front imports this module to pack
requests, the replica imports the runner when it starts.
"""
from __future__ import annotations

import asyncio
import copy
import logging
import shutil
import tempfile
import threading
import tomllib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

from pipelines.contract import upload_fields
from pipelines.errors import PresetError, StudioError
from pipelines.progress import Progress

log = logging.getLogger(__name__)

SERVE_CONFIG = Path(__file__).resolve().parent.parent / "presets" / "serve.toml"
OPTION_KEYS = {"num_cpus", "num_gpus", "min_replicas", "max_replicas", "target_ongoing_requests",
               "max_ongoing_requests"}


# ---- deployment options (presets/serve.toml)
@dataclass(frozen=True)
class DeploymentOptions:
    """How one task/preset deployment is placed and scaled."""

    num_cpus: float = 1
    num_gpus: float = 0
    min_replicas: int = 1
    max_replicas: int = 1
    target_ongoing_requests: float = 1
    max_ongoing_requests: int = 1      # one job per loaded pipeline (presets/serve.toml)

    def serve_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `serve.deployment(...)`."""
        return dict(ray_actor_options={"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
                    max_ongoing_requests=self.max_ongoing_requests,
                    autoscaling_config={"min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                                        "initial_replicas": max(1, self.min_replicas),
                                        "target_ongoing_requests": self.target_ongoing_requests})


def _checked(table: dict, where: str) -> dict:
    options = {k: v for k, v in table.items() if not isinstance(v, dict)}
    unknown = set(options) - OPTION_KEYS
    if unknown:
        raise PresetError(f"{where}: unknown deployment options {sorted(unknown)}; known: {sorted(OPTION_KEYS)}.")
    return options


def deployment_options(task: str, preset: str, gpus_in_cluster: float, path: Path | None = None) -> DeploymentOptions:
    """The task's contract < [defaults] < [task] < [task.preset] from `path`; no GPU is asked for on a
    cluster without one. The contract says whether the task wants a GPU and how many requests one
    replica may run at once (one, unless it is declared safe)."""
    from pipelines import registry

    path = Path(path) if path else SERVE_CONFIG
    with open(path, "rb") as f:
        data = tomllib.load(f)
    task_table = data.get(task, {})
    merged = {**(registry.contract(task).serve_defaults() if task in registry.TASKS else {}),
              **_checked(data.get("defaults", {}), f"{path} [defaults]"),
              **_checked(task_table, f"{path} [{task}]"),
              **_checked(task_table.get(preset, {}), f"{path} [{task}.{preset}]")}
    options = DeploymentOptions(**merged)
    if options.min_replicas < 0 or options.max_replicas < max(1, options.min_replicas):
        raise PresetError(f"{path}: {task}/{preset} needs 0 <= min_replicas <= max_replicas and max_replicas >= 1.")
    if not gpus_in_cluster and options.num_gpus:
        options = DeploymentOptions(**{**merged, "num_gpus": 0})
    return options


# ---- what crosses the wire
@dataclass
class WireRequest:
    """A request as sent to a replica: uploads replaced by their bytes (keeping the file name)."""

    request: Any
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    @classmethod
    def pack(cls, request: Any) -> "WireRequest":
        """Copy `request`, reading each uploaded file it names into memory (the fields its contract
        declares as uploads; fill's image and mask may also be PIL images, which travel as they are)."""
        files = {}
        for name in upload_fields(request):
            value = getattr(request, name, None)
            if isinstance(value, (str, Path)) and str(value) and Path(value).is_file():
                files[name] = (Path(value).name, Path(value).read_bytes())
        return cls(copy.copy(request), files)

    def unpack(self, folder: Path) -> Any:
        """The request with each upload written under `folder` (same file name) and its path set."""
        request = copy.copy(self.request)
        for name, (filename, data) in self.files.items():
            target = folder / name / filename
            target.parent.mkdir(parents=True)
            target.write_bytes(data)
            setattr(request, name, str(target))
        return request


@dataclass
class Failure:
    """How a replica reports an error: studio errors as they are, anything else as text."""

    error: StudioError | None
    kind: str = ""
    detail: str = ""

    @classmethod
    def of(cls, e: BaseException) -> "Failure":
        if isinstance(e, StudioError):
            return cls(e)
        return cls(None, type(e).__name__, "".join(traceback.format_exception(e)))

    def exception(self) -> Exception:
        """The exception to raise on the front: the same StudioError, or a RemoteError to log."""
        if self.error is not None:
            return self.error
        return RemoteError(f"{self.kind} in a model server replica:\n{self.detail}")


class RemoteError(RuntimeError):
    """An unexpected error inside a replica; the studio reports it as an internal error."""


@dataclass(frozen=True)
class ReplicaConfig:
    """What a replica needs to build its own model manager, taken from the front's settings."""

    data_dir: Path
    runtime: Any                       # pipelines.device.Runtime
    model_cache_gb: float | str        # a number of GB or "auto" (sized on the replica's own device)
    model_dir: Path | None
    embedding_cache_mb: float
    offline: bool


# ---- the replica
class TaskServer:
    """One replica of a task/preset deployment: loads the model at start, runs jobs on demand."""

    def __init__(self, task: str, preset: str, config: ReplicaConfig):
        from pipelines.models import ModelManager

        self.task, self.preset = task, preset
        self._running = 0
        self._running_lock = threading.Lock()
        self.models = ModelManager(config.data_dir, config.runtime, config.model_cache_gb, config.model_dir,
                                   offline=config.offline, embedding_cache_mb=config.embedding_cache_mb)
        try:  # warm up so the autoscaler only routes to replicas whose model is loaded
            self.models.get(task, preset)
        except StudioError as e:  # e.g. weights missing: each request reports it to the visitor
            log.warning("%s/%s did not load at start: %s", task, preset, e)

    def work(self, wire: WireRequest, progress: Progress):
        """Run one request in this thread: its Result, or a Failure."""
        from pipelines.runner import execute

        folder = Path(tempfile.mkdtemp(prefix="studio-upload-"))
        with self._running_lock:
            self._running += 1
        try:
            request = wire.unpack(folder)
            if getattr(request, "model", self.preset) != self.preset:
                raise PresetError(f"This server runs {self.preset}, not {request.model}.")
            return execute(self.models, self.task, request, progress)
        except Exception as e:
            if not isinstance(e, StudioError):
                log.error("%s/%s failed", self.task, self.preset, exc_info=e)
            return Failure.of(e)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            with self._running_lock:
                self._running -= 1

    def running_jobs(self) -> int:
        """Jobs whose pipeline is still running in this replica (a cancelled one stops at its next step)."""
        with self._running_lock:
            return self._running

    async def run(self, wire: WireRequest) -> AsyncIterator[Any]:
        """Stream a job: ProgressEvents, then the Result or a Failure.

        An async generator on purpose: when the caller cancels the response, Serve raises
        CancelledError at the `await` here, and the cancel flag stops the worker thread at the
        pipeline's next step. (Serve cannot interrupt a sync generator running in its thread
        pool; it would run to the end.)
        """
        loop = asyncio.get_running_loop()
        items: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()
        put = lambda item: loop.call_soon_threadsafe(items.put_nowait, item)  # noqa: E731
        progress = Progress(listener=put, cancel=cancel)
        done = object()

        def target() -> None:
            put(self.work(wire, progress))
            put(done)

        threading.Thread(target=target, name=f"job-{self.task}", daemon=True).start()
        try:
            while (item := await items.get()) is not done:
                yield item
        finally:
            cancel.set()  # no-op when the job finished; otherwise the caller is gone: stop it
