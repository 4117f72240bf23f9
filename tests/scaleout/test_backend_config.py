"""The backend setting, presets/serve.toml and what crosses the wire to a replica (no Ray started)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from pipelines import registry
from pipelines.errors import InputError, PresetError
from pipelines.media import ImageArtifact, Result
from pipelines.serve import SERVE_CONFIG, DeploymentOptions, Failure, RemoteError, WireRequest, deployment_options
from studio.backends import LocalBackend, make_backend
from studio.settings import load_settings


def test_unknown_backend_is_refused_at_start(tmp_path):
    from studio.service import Studio

    settings = load_settings(env={"STUDIO_BACKEND": "grpc"}, data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"Unknown backend 'grpc'.*local, ray"):
        make_backend(settings, models=None)
    with pytest.raises(ValueError, match="Unknown backend"):
        Studio(settings)


def test_backend_settings_default_to_in_process():
    settings = load_settings(env={})
    assert settings.backend == "local" and settings.ray_address == "" and settings.ray_num_cpus == 0
    assert isinstance(make_backend(settings, models=object()), LocalBackend)
    env = {"STUDIO_BACKEND": "ray", "STUDIO_RAY_ADDRESS": "auto", "STUDIO_RAY_NUM_CPUS": "4"}
    settings = load_settings(env=env)
    assert (settings.backend, settings.ray_address, settings.ray_num_cpus) == ("ray", "auto", 4)


def test_shipped_serve_config_covers_every_task_and_needs_no_gpu_on_a_cpu_cluster():
    for task in registry.TASKS:
        cpu = deployment_options(task, "any-preset", gpus_in_cluster=0)
        assert cpu.num_gpus == 0 and cpu.num_cpus > 0 and 1 <= cpu.max_replicas
    gpu = deployment_options("text_to_image", "sdxl", gpus_in_cluster=8)
    assert gpu.num_gpus == 0.5 and gpu.max_replicas == 4  # task table over defaults
    assert deployment_options("text_to_image", "flux-dev", gpus_in_cluster=8).num_gpus == 1.0  # preset table
    kwargs = gpu.serve_kwargs()
    assert kwargs["ray_actor_options"] == {"num_cpus": 1, "num_gpus": 0.5}
    assert kwargs["autoscaling_config"]["max_replicas"] == 4 and kwargs["max_ongoing_requests"] == 1
    assert SERVE_CONFIG.name == "serve.toml"


def test_serve_config_rejects_unknown_keys_and_bad_replica_counts(tmp_path):
    path = tmp_path / "serve.toml"
    path.write_text("[defaults]\nnum_gpu = 1\n")
    with pytest.raises(PresetError, match="unknown deployment options.*num_gpu"):
        deployment_options("speech", "tiny-vits", 0, path)
    path.write_text("[speech]\nmin_replicas = 3\nmax_replicas = 2\n")
    with pytest.raises(PresetError, match="min_replicas"):
        deployment_options("speech", "tiny-vits", 0, path)
    path.write_text("[speech.tiny-vits]\nmin_replicas = 0\n")
    assert deployment_options("speech", "tiny-vits", 0, path) == DeploymentOptions(min_replicas=0)


def test_uploads_cross_the_wire_as_bytes_with_their_names(tmp_path):
    from pipelines.music import Request as MusicRequest

    melody = tmp_path / "my tune.wav"
    melody.write_bytes(b"RIFF....WAVEfake")
    request = MusicRequest(prompt="a march", model="tiny-musicgen-melody", melody_path=str(melody))
    wire = pickle.loads(pickle.dumps(WireRequest.pack(request)))
    assert wire.files == {"melody_path": ("my tune.wav", melody.read_bytes())}
    melody.unlink()  # the replica never reads the front's disk
    remote = tmp_path / "replica"
    remote.mkdir()
    unpacked = wire.unpack(remote)
    assert unpacked.melody_path != str(melody) and unpacked.melody_path.endswith("/my tune.wav")
    assert open(unpacked.melody_path, "rb").read() == b"RIFF....WAVEfake"
    assert request.melody_path == str(melody)  # the front's request is left as it was


def test_fill_images_given_as_pil_travel_as_they_are(tmp_path):
    from pipelines.fill import Request as FillRequest

    image = Image.new("RGB", (64, 64), "red")
    wire = pickle.loads(pickle.dumps(WireRequest.pack(FillRequest(image=image, prompt="x"))))
    assert wire.files == {} and np.array_equal(np.asarray(wire.request.image), np.asarray(image))


def test_failures_keep_studio_errors_and_wrap_bugs():
    error = pickle.loads(pickle.dumps(Failure.of(InputError("Width 4096 is over 512.")))).exception()
    assert type(error) is InputError and str(error) == "Width 4096 is over 512."
    try:
        {}["missing"]
    except KeyError as e:
        bug = pickle.loads(pickle.dumps(Failure.of(e))).exception()
    assert isinstance(bug, RemoteError) and "KeyError" in str(bug) and "Traceback" in str(bug)
    result = Result([ImageArtifact(Image.new("RGB", (8, 8)), {"seed": 1})], ["note"])
    assert pickle.loads(pickle.dumps(result)).artifacts[0].params == {"seed": 1}
