"""Device and dtype choice per machine, and settings this device cannot honour."""
import pytest
import torch

from pipelines import device as dev


def test_cpu_dtype_follows_native_bf16(monkeypatch):
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: True)
    assert dev.pick_dtype("cpu") is torch.bfloat16
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: False)
    assert dev.pick_dtype("cpu") is torch.float32
    # a GPU preference does not push fp16 onto a CPU
    assert dev.pick_dtype("cpu", preferred="fp16") is torch.float32


def test_gpu_dtypes(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert dev.pick_dtype("cuda") is torch.float16
    assert dev.pick_dtype("cuda", preferred="bf16") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert dev.pick_dtype("cuda", preferred="bf16") is torch.float16
    assert dev.pick_dtype("mps") is torch.float16


def test_setting_overrides_and_rejects_unknown():
    assert dev.pick_dtype("cpu", setting="fp32") is torch.float32
    assert dev.pick_dtype("cuda", preferred="bf16", setting="fp16") is torch.float16
    with pytest.raises(ValueError, match="dtype setting"):
        dev.pick_dtype("cpu", setting="fp8")


def test_device_choice_on_this_machine():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert dev.pick_device("auto") == expected
    assert dev.pick_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            dev.pick_device("cuda")


def test_gpu_only_settings_give_notices_on_cpu(studio):
    from pipelines.device import Runtime, place_pipeline

    loaded = studio.models.get("text_to_image", "tiny-sd15")
    import copy

    pipe = copy.copy(loaded.pipe)
    notices = place_pipeline(pipe, "cpu", Runtime(offload="model", attention="xformers"))
    assert any("offload" in n for n in notices)
    assert any("xformers" in n for n in notices)
