"""Settings: defaults < TOML file < environment < overrides; typos in the file are errors."""
from pathlib import Path

import pytest

from studio.settings import load_settings


def test_environment_overrides_with_types(tmp_path):
    s = load_settings(env={"STUDIO_PORT": "9000", "STUDIO_VAE_TILING": "1", "STUDIO_MODEL_CACHE_GB": "2.5",
                           "STUDIO_DATA_DIR": str(tmp_path)})
    assert (s.port, s.vae_tiling, s.model_cache_gb, s.data_dir) == (9000, True, 2.5, tmp_path.resolve())
    assert s.host == "127.0.0.1" and s.share is False


def test_toml_file_then_environment(tmp_path):
    cfg = tmp_path / "studio.toml"
    cfg.write_text('port = 8000\ndtype = "bf16"\n')
    s = load_settings(env={"STUDIO_CONFIG": str(cfg), "STUDIO_PORT": "8001"})
    assert s.port == 8001 and s.dtype == "bf16"
    cfg.write_text("prot = 8000\n")
    with pytest.raises(ValueError, match="unknown settings"):
        load_settings(env={"STUDIO_CONFIG": str(cfg)})


def test_data_paths_live_under_the_data_folder(tmp_path):
    s = load_settings(env={}, data_dir=tmp_path)
    assert s.db_path.parent == s.outputs_dir.parent == Path(tmp_path).resolve()
