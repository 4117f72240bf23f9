"""The model cache's budget: "auto" from the device, a number of GB, and settings refused at start."""
import pytest

from pipelines import device as dev
from pipelines.cache import parse_budget_gb
from studio.settings import load_settings

GiB = 2**30


def test_budget_setting_is_auto_or_a_positive_number():
    assert parse_budget_gb("auto") == "auto" and parse_budget_gb(" AUTO ") == "auto"
    assert parse_budget_gb("24") == 24.0 and parse_budget_gb(2.5) == 2.5
    for bad in ("lots", "", "0", "-4", "inf", "nan", None):
        with pytest.raises(ValueError, match=r'model_cache_gb must be "auto" or a number of gigabytes'):
            parse_budget_gb(bad)


def test_settings_default_to_auto_and_refuse_a_bad_budget_at_start(tmp_path):
    assert load_settings(env={}).model_cache_gb == "auto"
    assert load_settings(env={"STUDIO_MODEL_CACHE_GB": "24"}).model_cache_gb == 24.0
    cfg = tmp_path / "studio.toml"
    cfg.write_text("model_cache_gb = 48\n")
    assert load_settings(env={"STUDIO_CONFIG": str(cfg)}).model_cache_gb == 48.0
    with pytest.raises(ValueError, match="model_cache_gb must be"):
        load_settings(env={"STUDIO_MODEL_CACHE_GB": "twelve"})


def test_a_caching_hook_with_several_jobs_per_device_is_refused_at_start():
    assert load_settings(env={"STUDIO_CACHE_HOOK": "first_block"}).jobs_per_device == 1
    assert load_settings(env={"STUDIO_JOBS_PER_DEVICE": "3"}).cache_hook == "off"
    with pytest.raises(ValueError, match=r"cache_hook = 'first_block' needs jobs_per_device = 1 \(it is 2\)"):
        load_settings(env={"STUDIO_CACHE_HOOK": "first_block", "STUDIO_JOBS_PER_DEVICE": "2"})


def test_auto_budget_follows_the_device(monkeypatch):
    monkeypatch.setattr(dev, "total_ram_bytes", lambda: 32 * GiB)
    monkeypatch.setattr(dev, "device_memory_bytes", lambda d: 24 * GiB if d.startswith("cuda") else 32 * GiB)
    # CUDA: the card less 2 GB and 10% of it for activations and the CUDA context
    assert dev.auto_cache_budget("cuda") == int(24 * GiB - 2 * GiB - 0.1 * 24 * GiB)
    # CPU and Apple unified memory: a share of RAM
    assert dev.auto_cache_budget("cpu") == dev.auto_cache_budget("mps") == int(0.6 * 32 * GiB)
    assert dev.cache_budget_bytes("auto", "cpu") == int(0.6 * 32 * GiB)
    assert dev.cache_budget_bytes("24", "cpu") == dev.cache_budget_bytes(24, "cuda") == 24 * GiB
    assert dev.largest_loadable_bytes("cpu") == int(0.85 * 32 * GiB) and dev.largest_loadable_bytes("cuda") is None


def test_ram_is_read_without_psutil():
    ram = dev.total_ram_bytes()
    assert 256 * 2**20 < ram < 2**50  # this machine's memory (or its container's limit), in bytes
    meminfo = dev._meminfo_total()
    assert meminfo is None or ram <= meminfo


def test_the_model_manager_sizes_its_cache_from_the_setting(tmp_path):
    from pipelines.device import Runtime
    from pipelines.models import ModelManager

    assert ModelManager(tmp_path, Runtime(device="cpu"), "auto").cache.budget_bytes == dev.auto_cache_budget("cpu")
    assert ModelManager(tmp_path, Runtime(device="cpu"), 1.5).cache.budget_bytes == int(1.5 * GiB)
