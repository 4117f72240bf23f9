"""OpenVINO on the CPU: the tiny SD 1.5 twin exported and run through the production loader and runner."""
import threading

import numpy as np
import pytest

from pipelines import openvino_export
from pipelines.device import Runtime
from pipelines.errors import Cancelled
from pipelines.models import ModelManager
from pipelines.progress import Progress
from pipelines.runner import execute
from pipelines.text_to_image import Request

# OpenVINO's CPU kernels and PyTorch's round differently, and the export keeps weights in fp16:
# the same image within this bound (in dB; identical images are infinite, unrelated ones ~10).
MIN_PSNR_DB = 30


def manager(studio, export_dir, backend="openvino") -> ModelManager:
    """A model layer like the studio's (a restart: a new one), with its own export cache."""
    runtime = Runtime(dtype="fp32", cpu_backend=backend, export_dir=str(export_dir))
    return ModelManager(studio.settings.data_dir, runtime, offline=True)


def make(**kw) -> Request:
    base = dict(prompt="a lighthouse at dusk", model="tiny-sd15", seed=7, steps=3, width=128, height=96, batch=2)
    base.update(kw)
    return Request(**base)


def psnr(a, b) -> float:
    mse = np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def exported(studio, export_dir):
    """One OpenVINO run (exporting the twin) and the same request on PyTorch."""
    ov_result = execute(manager(studio, export_dir), "text_to_image", make())
    pt_result = execute(manager(studio, export_dir, "pytorch"), "text_to_image", make())
    return ov_result, pt_result


def count_converts(monkeypatch) -> list:
    """Record every call of openvino.convert_model (the export) while letting it run."""
    import openvino

    calls, real = [], openvino.convert_model
    monkeypatch.setattr(openvino, "convert_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_openvino_image_matches_pytorch_at_the_same_seed(exported):
    ov_result, pt_result = exported
    assert [a.image.size for a in ov_result.artifacts] == [(128, 96)] * 2
    assert [a.params["backend"] for a in ov_result.artifacts] == ["openvino"] * 2
    assert pt_result.artifacts[0].params["backend"] == "pytorch"
    for ov_art, pt_art in zip(ov_result.artifacts, pt_result.artifacts):
        assert ov_art.params["seed"] == pt_art.params["seed"]
        assert psnr(ov_art.image, pt_art.image) > MIN_PSNR_DB
    # the two seeds still give two different images
    assert psnr(ov_result.artifacts[0].image, ov_result.artifacts[1].image) < MIN_PSNR_DB


def test_export_cache_is_reused_by_a_second_request_and_after_a_restart(studio, exported, export_dir, monkeypatch):
    calls = count_converts(monkeypatch)
    models = manager(studio, export_dir)
    first = execute(models, "text_to_image", make(batch=1, width=64, height=64))
    second = execute(models, "text_to_image", make(batch=1, seed=3))
    assert first.artifacts[0].params["backend"] == second.artifacts[0].params["backend"] == "openvino"
    assert first.artifacts[0].image.size == (64, 64)   # one export serves every size
    assert calls == []


def test_one_compiled_model_serves_every_size_and_its_blob_is_kept_for_a_restart(exported, export_dir, tmp_path):
    import openvino

    decoder = next(export_dir.glob("vae_decoder-*")) / "model.xml"
    component = openvino_export.Component(openvino.Core(), decoder, tmp_path / "compiled")
    model = component.compiled()
    assert component.compiled() is model   # compiled once
    request = model.create_infer_request()
    for size in (8, 12):   # each fill mask crops its own size: no recompile for a new one
        latents = np.zeros((1, 4, size, size), np.float32)
        assert request.infer([latents])[0].shape == (1, 3, 8 * size, 8 * size)
    assert any((tmp_path / "compiled").iterdir())   # the compiled blob stays on disk for a restart


def test_the_export_cache_key_ignores_config_bookkeeping_that_changes_with_each_process():
    import torch

    def module(in_channels, defaults):
        linear = torch.nn.Linear(2, 2, bias=False)
        torch.nn.init.ones_(linear.weight)
        linear.config = {"in_channels": in_channels, "_use_default_values": defaults}   # set order: per process
        return linear

    key = openvino_export.cache_key(module(4, ["a", "b"]))
    assert openvino_export.cache_key(module(4, ["b", "a"])) == key
    assert openvino_export.cache_key(module(8, ["a", "b"])) != key


def test_a_damaged_export_cache_is_detected_and_rebuilt(studio, exported, export_dir, monkeypatch):
    vae = studio.models.get("text_to_image", "tiny-sd15").pipe.vae   # the cache also holds other models' exports
    decoder = export_dir / f"vae_decoder-{openvino_export.cache_key(vae)[:24]}"
    bin_file = decoder / "model.bin"
    bin_file.write_bytes(bin_file.read_bytes()[:1000])   # a truncated weights file
    calls = count_converts(monkeypatch)
    result = execute(manager(studio, export_dir), "text_to_image", make())
    assert calls == [1]   # the decoder only; the UNet's export was intact
    assert openvino_export.is_complete(decoder)
    assert psnr(result.artifacts[0].image, exported[0].artifacts[0].image) == float("inf")


def test_a_failed_export_names_the_component_and_runs_on_pytorch(studio, exported, tmp_path, monkeypatch):
    import openvino

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operation")

    monkeypatch.setattr(openvino, "convert_model", broken)
    result = execute(manager(studio, tmp_path), "text_to_image", make())
    assert [a.params["backend"] for a in result.artifacts] == ["pytorch"] * 2
    assert any("export of the UNet failed" in n and "PyTorch" in n for n in result.notices)
    assert psnr(result.artifacts[0].image, exported[1].artifacts[0].image) == float("inf")


def test_a_preset_openvino_cannot_run_falls_back_to_pytorch_with_a_notice(studio, export_dir):
    result = execute(manager(studio, export_dir), "text_to_image", make(model="tiny-sd15-ip-adapter", batch=1))
    assert result.artifacts[0].params["backend"] == "pytorch"
    assert any("IP-Adapter" in n and "PyTorch" in n for n in result.notices)


def test_progress_and_cancel_mid_run_on_openvino(studio, exported, export_dir):
    models = manager(studio, export_dir)
    events, cancel = [], threading.Event()

    def listener(event):
        events.append((event.done, event.total, event.stage))
        if event.stage == "denoising" and event.done == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        execute(models, "text_to_image", make(steps=6, scheduler="euler"), Progress(listener, cancel))
    denoising = [e for e in events if e[2] == "denoising"]
    assert denoising == [(1, 6, "denoising"), (2, 6, "denoising")]
    result = execute(models, "text_to_image", make(steps=2, batch=1))   # the pipeline stays usable
    assert result.artifacts[0].params["backend"] == "openvino"


def test_cpu_backend_pytorch_and_other_devices_do_not_use_openvino():
    from pipelines.openvino_backend import wanted

    assert wanted(Runtime(cpu_backend="auto"), "cpu") and wanted(Runtime(cpu_backend="openvino"), "cpu")
    assert not wanted(Runtime(cpu_backend="pytorch"), "cpu") and not wanted(Runtime(cpu_backend="auto"), "cuda")


def test_an_unknown_cpu_backend_setting_is_refused_at_start():
    from studio.settings import load_settings

    assert load_settings(env={"STUDIO_CPU_BACKEND": "openvino"}).cpu_backend == "openvino"
    with pytest.raises(ValueError, match="auto, pytorch, openvino"):
        load_settings(env={}, cpu_backend="gpu")
