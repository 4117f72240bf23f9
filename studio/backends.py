"""Where a task runs: in this process (`LocalBackend`) or on Ray Serve (`RayBackend`).

Both keep `pipelines.runner.execute`'s contract, `execute(task, request, progress) -> Result`,
so `Studio.produce` does not change with the setting `backend`. Uploads are checked by the
detector and outputs are published (watermark, signature, ledger, gallery) on the front either
way: signing keys never leave this machine.
"""
from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import queue
import threading
from typing import Any

from pipelines.errors import Cancelled, StudioError
from pipelines.media import Result
from pipelines.progress import Progress, ProgressEvent

log = logging.getLogger(__name__)

BACKENDS = ("local", "ray")


class ModelServerUnavailable(StudioError):
    """A deployment could not start in time (no room on the cluster, or its replicas keep failing)."""


class LocalBackend:
    """Runs every task in this process, on this machine's device."""

    def __init__(self, models):
        self.models = models

    def execute(self, task: str, request: Any, progress: Progress) -> Result:
        from pipelines.runner import execute

        return execute(self.models, task, request, progress)

    def close(self) -> None:
        """Nothing to release: the model cache belongs to the studio."""


def loopback_only() -> None:
    """Make a Ray started by this process bind every service to 127.0.0.1.

    Ray 2.60 on Linux advertises the machine's routable address and its GCS, raylet, workers and
    agents listen on all interfaces. With RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (read when `ray` is
    first imported) it takes the single-machine path it uses on macOS: node address 127.0.0.1 and
    every listener on loopback. The studio's own Ray never needs another machine.
    """
    import sys

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and getattr(constants, "ENABLE_RAY_CLUSTER", False):
        log.warning("ray was imported before the studio could keep it on loopback: the local Ray's "
                    "services will listen on all interfaces; firewall them")


def app_name(task: str, preset: str) -> str:
    """The Serve application (and deployment) name of one task and model preset."""
    return f"{task}--{preset}"


class RayBackend:
    """Runs each task/preset as a Ray Serve deployment, deployed on first use.

    With `ray_address` empty it starts a local Ray, every service on 127.0.0.1, and owns it
    (`close` shuts it down); with "auto" it joins a cluster and never shuts the cluster down.
    Serve runs without its HTTP proxy: the front calls deployments through handles only.
    """

    def __init__(self, settings, models):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from an offline studio
        if not settings.ray_address:
            loopback_only()
        import ray
        from ray import serve

        from pipelines.serve import ReplicaConfig

        self.models = models
        self.serve_config = settings.ray_serve_config or None
        self.owns_ray = False
        if not ray.is_initialized():
            if settings.ray_address:
                ray.init(address=settings.ray_address, log_to_driver=False)
            else:
                ray.init(num_cpus=settings.ray_num_cpus or None, include_dashboard=False, log_to_driver=False)
                self.owns_ray = True
        serve.start(proxy_location="Disabled")
        self.gpus = ray.cluster_resources().get("GPU", 0)
        # Inside a replica Ray exposes only its assigned GPU, always as cuda:0.
        runtime = models.runtime
        if runtime.device.startswith("cuda:"):
            runtime = dataclasses.replace(runtime, device="cuda")
        self.replica_config = ReplicaConfig(models.data_dir, runtime, settings.model_cache_gb, models.model_dir,
                                            settings.embedding_cache_mb, models.offline)
        self._handles: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._closed = False
        # How long a visitor's job waits for a new deployment's first replica (start + model load).
        self.deploy_timeout_s = 900.0
        if self.owns_ray:
            atexit.register(self.close)

    # ---- deployments
    def handle(self, task: str, preset: str):
        """A streaming handle to the task/preset deployment, deploying it if it is not running."""
        from ray import serve
        from ray.serve.schema import ApplicationStatus

        from pipelines.serve import TaskServer, deployment_options

        name = app_name(task, preset)
        with self._lock:
            if name in self._handles:
                return self._handles[name]
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # one deploy per name; other names deploy at the same time
            if name not in self._handles:
                running = serve.status().applications.get(name)
                if running is not None and running.status == ApplicationStatus.RUNNING:
                    handle = serve.get_app_handle(name)  # deployed by another front of this cluster
                else:
                    options = deployment_options(task, preset, self.gpus, self.serve_config)
                    log.info("deploying %s on Ray Serve: %s", name, options)
                    app = serve.deployment(TaskServer, name=name, **options.serve_kwargs()).bind(
                        task, preset, self.replica_config)
                    handle = self._deploy(app, name, options)
                with self._lock:
                    self._handles[name] = handle.options(stream=True)
        return self._handles[name]

    def _deploy(self, app, name: str, options):
        """Deploy without blocking, then wait for the first replica at most `deploy_timeout_s`.

        No thread is left waiting on Serve: a waiter that outlives `ray.shutdown` keeps Ray's GCS
        client alive, and Ray ends the whole process a minute later when it cannot reach the GCS.
        """
        import time

        from ray import serve
        from ray.serve.api import _run
        from ray.serve.schema import ApplicationStatus

        handle = _run(app, _blocking=False, name=name, route_prefix=None)
        deadline = time.monotonic() + self.deploy_timeout_s
        while True:
            status = serve.status().applications.get(name)
            state = status.status if status is not None else None
            if state == ApplicationStatus.RUNNING:
                return handle
            if state in (ApplicationStatus.DEPLOY_FAILED, ApplicationStatus.UNHEALTHY):
                log.error("model server %s failed to start: %s", name, status.message)
                serve.delete(name, _blocking=False)
                raise ModelServerUnavailable(
                    f"The model server {name} failed while starting (its model could not load); the operator can "
                    f"see why in the server log and Serve's logs. Try again later.")
            if time.monotonic() > deadline:
                serve.delete(name, _blocking=False)  # give the cluster back; the next request tries again
                raise ModelServerUnavailable(
                    f"The model server {name} did not start within {self.deploy_timeout_s:.0f} s: the cluster has "
                    f"no room for a replica ({options.num_cpus:g} CPU, {options.num_gpus:g} GPU) or it fails while "
                    f"loading; the operator can see why in `ray status` and Serve's logs. Try again later.")
            time.sleep(0.25)

    # ---- jobs
    def execute(self, task: str, request: Any, progress: Progress) -> Result:
        """Run `request` on its deployment, relaying progress; cancel the remote job if asked."""
        import asyncio

        from pipelines.serve import Failure, WireRequest

        self.models.preset(task, request.model)  # unknown presets are refused here, never deployed
        progress.check()
        if app_name(task, request.model) not in self._handles:
            progress.update(0, 1, "starting the model server")
        response = self.handle(task, request.model).run.remote(WireRequest.pack(request))
        # Serve's sync iterator refuses a thread that runs an asyncio loop (an async handler, a test
        # session with Playwright): a reader thread of our own, which has none, drains it instead.
        items: queue.Queue = queue.Queue()
        end = object()

        def read() -> None:
            try:
                for item in response:
                    items.put(item)
                items.put(end)
            except BaseException as e:  # handed to the job's thread
                items.put(e)

        threading.Thread(target=read, name=f"serve-{task}", daemon=True).start()
        ended = False
        try:
            while True:
                try:
                    item = items.get(timeout=0.1)
                except queue.Empty:
                    if progress.cancel_event.is_set() and not response.cancelled():
                        response.cancel()  # the replica's pipeline stops at its next step
                    continue
                if item is end:
                    raise RuntimeError(f"{app_name(task, request.model)} ended without a result")
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, ProgressEvent):
                    progress.update(item.done, item.total, item.stage, item.preview)
                elif isinstance(item, Failure):
                    ended = True
                    raise item.exception()
                else:
                    ended = True
                    return item
        except (Exception, asyncio.CancelledError):
            if progress.cancel_event.is_set():
                raise Cancelled() from None
            raise
        finally:
            if not ended and not response.cancelled():
                response.cancel()  # the front stopped listening (Cancel, an error in a listener): stop the replica

    def close(self) -> None:
        """Shut Serve and Ray down if this studio started them; leave a joined cluster running."""
        import ray
        from ray import serve

        if self._closed:
            return
        self._closed = True
        if self.owns_ray and ray.is_initialized():
            serve.shutdown()
            ray.shutdown()


def make_backend(settings, models):
    """The backend named by the setting `backend`; anything else is refused at start."""
    if settings.backend == "local":
        return LocalBackend(models)
    if settings.backend == "ray":
        return RayBackend(settings, models)
    raise ValueError(f"Unknown backend {settings.backend!r} (setting `backend` / STUDIO_BACKEND); "
                     f"choose one of: {', '.join(BACKENDS)}.")
