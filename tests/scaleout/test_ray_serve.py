"""The studio on Ray Serve: a real local Ray on 127.0.0.1 (2 CPUs, no HTTP proxy), tiny models.

One studio with `backend = "ray"` for the module, as production builds it; it starts its own
Ray, deploys `text_to_image--tiny-sd15` and `speech--tiny-vits` on first use, and shuts Ray
down in `close()` (checked by the last test).
"""
from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest

from pipelines.errors import Cancelled, InputError, PresetError
from pipelines.progress import Progress
from pipelines.text_to_image import Request

# `ray` is imported after the studio starts its Ray: the studio must be first to import it so
# that every Ray service binds to loopback (studio.backends.loopback_only).
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray[serve] is not installed")]

# One replica per deployment on 2 CPUs: text to image and speech each take one.
SERVE_TEST_CONFIG = """
[defaults]
num_cpus = 1
num_gpus = 0
min_replicas = 1
max_replicas = 1
target_ongoing_requests = 1
max_ongoing_requests = 2

[music.tiny-musicgen]
num_cpus = 64      # more than the cluster has: its replica can never be placed
"""


def make(**kw) -> Request:
    base = dict(prompt="a lighthouse at dusk", model="tiny-sd15", seed=7, steps=2, width=256, height=256)
    base.update(kw)
    return Request(**base)


@pytest.fixture(scope="module")
def ray_studio(tmp_path_factory):
    from studio.service import Studio
    from studio.settings import load_settings

    folder = tmp_path_factory.mktemp("ray-studio")
    config = folder / "serve.toml"
    config.write_text(SERVE_TEST_CONFIG)
    studio = Studio(load_settings(env={}, data_dir=folder / "data", dtype="fp32", backend="ray",
                                  ray_num_cpus=2, ray_serve_config=str(config)))
    yield studio
    studio.close()
    import ray

    if ray.is_initialized():  # a failed test must not leave Ray's ports open
        ray.shutdown()


def replica_handle(name: str):
    from ray import serve

    return serve.get_app_handle(name)


def running_jobs(handle) -> int:
    """The replica's running jobs, asked from a thread of its own: Serve's blocking `.result()`
    refuses a thread with a running asyncio loop, as the main thread has while Playwright is open."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: handle.running_jobs.remote().result()).result()


def test_local_ray_listens_on_loopback_only_and_serves_no_http(ray_studio):
    import ipaddress

    import psutil
    import ray
    from ray import serve

    assert ray_studio.backend.owns_ray
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    assert serve.status().proxies == {}
    # every listening socket of Ray's processes (GCS, raylet, agents, workers: our children)
    listening = [c.laddr for p in psutil.Process().children(recursive=True)
                 for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    loopback = [ipaddress.ip_address(a.ip.removeprefix("::ffff:")).is_loopback for a in listening]
    assert listening and all(loopback), listening


def test_image_through_ray_is_signed_and_matches_the_local_backend(ray_studio):
    import torch

    from provenance.signing import read_credentials
    from studio.backends import LocalBackend

    events = []
    t0 = time.perf_counter()
    outcome = ray_studio.produce("text_to_image", make(), session_id="ray-a", progress=Progress(events.append))
    first_s = time.perf_counter() - t0
    item = outcome.items[0]
    assert item.mime == "image/png" and read_credentials(item.path, item.mime).state in ("Valid", "Trusted")
    stages = [e.stage for e in events]
    assert stages[0] == "starting the model server" and "loading model" in stages and "signing" in stages

    t0 = time.perf_counter()
    remote = ray_studio.backend.execute("text_to_image", make(), Progress())
    remote_s = time.perf_counter() - t0
    # The replica runs with one thread (num_cpus = 1); the same on the front keeps float sums alike.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local_backend = LocalBackend(ray_studio.models)
        local_backend.execute("text_to_image", make(), Progress())  # load once, then time
        t0 = time.perf_counter()
        local = local_backend.execute("text_to_image", make(), Progress())
        local_s = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(np.asarray(remote.artifacts[0].image), np.asarray(local.artifacts[0].image))
    assert remote.artifacts[0].params == local.artifacts[0].params
    assert remote.notices == local.notices
    print(f"\nray tiny sd15 256px 2 steps: first request (deploy + load + run + publish) {first_s:.1f} s; "
          f"second {remote_s * 1000:.0f} ms vs local {local_s * 1000:.0f} ms")


def test_progress_and_previews_arrive_from_the_replica(ray_studio):
    events = []
    ray_studio.backend.execute("text_to_image", make(steps=4), Progress(events.append))
    denoising = [e for e in events if e.stage == "denoising"]
    assert [e.done for e in denoising][-1] >= 4 and all(e.total >= 4 for e in denoising)
    from PIL import Image

    previews = [p for e in denoising if e.preview is not None
                for p in (e.preview if isinstance(e.preview, list) else [e.preview])]
    # PIL images decoded by the replica's tiny autoencoder, pickled across
    assert previews and all(isinstance(p, Image.Image) and p.size == (256, 256) for p in previews)


def test_input_errors_reach_the_caller_as_the_same_error(ray_studio):
    from studio.backends import LocalBackend

    bad = dict(width=4096, height=4096)
    with pytest.raises(InputError) as local:
        LocalBackend(ray_studio.models).execute("text_to_image", make(**bad), Progress())
    with pytest.raises(InputError) as remote:
        ray_studio.backend.execute("text_to_image", make(**bad), Progress())
    assert type(remote.value) is type(local.value) and str(remote.value) == str(local.value)
    assert "Ray" not in str(remote.value) and "Traceback" not in str(remote.value)


def test_unknown_preset_is_refused_on_the_front_without_deploying(ray_studio):
    from ray import serve

    with pytest.raises(PresetError, match="Unknown model preset"):
        ray_studio.backend.execute("text_to_image", make(model="no-such-model"), Progress())
    assert not any("no-such-model" in name for name in serve.status().applications)


def test_cancel_stops_the_remote_job(ray_studio):
    """Cancel from the visitor's side (the job manager's cancel flag) stops the replica's pipeline."""
    stream = ray_studio.stream("text_to_image", make(steps=150, width=512, height=512), "ray-cancel")
    cancelled_at = previous = None
    with pytest.raises(Cancelled):
        for event in stream:
            if getattr(event, "stage", "") != "denoising":
                continue
            if event.done >= 3 and cancelled_at is None:
                handle = replica_handle("text_to_image--tiny-sd15")
                assert running_jobs(handle) == 1
                per_step = (event.elapsed_s - previous.elapsed_s) / (event.done - previous.done)
                remaining_s = per_step * (event.total - event.done)
                cancelled_at = time.perf_counter()
                assert ray_studio.jobs.cancel("ray-cancel") == 1
            previous = event
    stopped = None
    while time.perf_counter() - cancelled_at < remaining_s:
        if running_jobs(handle) == 0:
            stopped = time.perf_counter() - cancelled_at
            break
        time.sleep(0.05)
    assert stopped is not None and stopped < remaining_s / 2, (stopped, remaining_s)
    print(f"\nremote job stopped {stopped:.2f} s after cancel; it had {remaining_s:.1f} s of steps left")
    assert ray_studio.jobs.history("ray-cancel")[-1].state == "cancelled"
    # the replica is free and healthy afterwards
    assert ray_studio.backend.execute("text_to_image", make(), Progress()).artifacts


def test_stopping_iteration_cancels_the_remote_job(ray_studio):
    """The visitor leaves (the front stops iterating the job): the remote pipeline stops too."""
    stream = ray_studio.stream("text_to_image", make(steps=150, width=512, height=512), "ray-leave")
    for event in stream:
        if getattr(event, "stage", "") == "denoising" and event.done >= 2:
            break
    handle = replica_handle("text_to_image--tiny-sd15")
    assert running_jobs(handle) == 1
    stream.close()
    deadline = time.perf_counter() + 10
    while running_jobs(handle) and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert running_jobs(handle) == 0


def test_speech_through_ray(ray_studio):
    from ray import serve

    from pipelines.speech import Request as SpeechRequest

    events = []
    outcome = ray_studio.produce("speech", SpeechRequest(text="Hello from the cluster.", model="tiny-vits", seed=3),
                                 session_id="ray-speech", progress=Progress(events.append))
    item = outcome.items[0]
    assert item.mime.startswith("audio/") and item.params["model"] == "tiny-vits"
    assert any(e.stage == "starting the model server" for e in events)
    assert "speech--tiny-vits" in serve.status().applications


def test_a_deployment_that_cannot_be_placed_gives_a_clear_error(ray_studio):
    from pipelines.music import Request as MusicRequest
    from studio.backends import ModelServerUnavailable

    ray_studio.backend.deploy_timeout_s = 3
    try:
        with pytest.raises(ModelServerUnavailable, match="music--tiny-musicgen did not start within 3 s.*64 CPU"):
            ray_studio.backend.execute("music", MusicRequest(prompt="a march", model="tiny-musicgen"), Progress())
    finally:
        ray_studio.backend.deploy_timeout_s = 900.0


def test_close_shuts_down_the_ray_the_studio_started(ray_studio):
    import ray

    ray_studio.close()
    assert not ray.is_initialized()
    ray_studio.close()  # idempotent
