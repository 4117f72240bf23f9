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


def _manager(studio, **runtime):
    import dataclasses

    from pipelines.models import ModelManager

    return ModelManager(studio.settings.data_dir, dataclasses.replace(studio.models.runtime, **runtime), offline=True)


def test_compile_is_accepted_and_recorded_with_a_notice_on_cpu(studio):
    from pipelines.runner import execute
    from pipelines.text_to_image import Request

    result = execute(_manager(studio, compile="regional", channels_last=True), "text_to_image",
                     Request(prompt="a fox", model="tiny-sd15", steps=2, width=256, height=256))
    assert any("torch.compile" in n and "CUDA only" in n for n in result.notices)
    speedups = result.artifacts[0].params["speedups"]
    assert speedups["channels_last"] is True and "compile" not in speedups


def test_first_block_cache_applies_to_transformer_models_and_not_unets(studio):
    import numpy as np

    from pipelines.runner import execute
    from pipelines.text_to_image import Request

    cached = _manager(studio, cache_hook="first_block")
    flux = execute(cached, "text_to_image", Request(prompt="a fox", model="tiny-flux", seed=3, steps=4,
                                                    width=256, height=256))
    assert flux.artifacts[0].params["speedups"]["cache_hook"] == "first_block"
    assert any("First-block cache" in n for n in flux.notices)
    again = execute(cached, "text_to_image", Request(prompt="a fox", model="tiny-flux", seed=3, steps=4,
                                                     width=256, height=256))
    # the hook's state is reset after every call: the same request gives the same image
    assert np.array_equal(np.asarray(flux.artifacts[0].image), np.asarray(again.artifacts[0].image))
    unet = execute(cached, "text_to_image", Request(prompt="a fox", model="tiny-sd15", steps=2, width=256, height=256))
    assert "cache_hook" not in unet.artifacts[0].params["speedups"]
    assert any("works with transformer models" in n for n in unet.notices)


def test_unknown_speed_settings_are_errors():
    from pipelines.device import Runtime, apply_speedups

    with pytest.raises(ValueError, match="compile setting"):
        apply_speedups(object(), "cpu", Runtime(compile="max"))
