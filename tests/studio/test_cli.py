"""The `studio` console script: same path as the web studio, non-zero exit on bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, data_dir):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "STUDIO_DATA_DIR": str(data_dir), "STUDIO_DTYPE": "fp32"}
    return subprocess.run([sys.executable, "-m", "studio.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_generate_image_writes_signed_files_then_verify_accepts_them(tmp_path, data_dir):
    out = tmp_path / "out"
    done = run_cli("generate", "image", "--prompt", "a red kite", "--preset", "tiny-sd15", "--out", str(out),
                   "--seed", "3", "--steps", "2", "--batch", "2", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["seed"] for line in lines] == [3, 4]
    files = sorted(out.iterdir())
    assert len(files) == 2 and all(f.suffix == ".png" for f in files)
    verified = run_cli("verify", str(files[0]), data_dir=data_dir)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Valid" in verified.stdout or "Trusted" in verified.stdout


@pytest.mark.parametrize("args, message", [
    (["--prompt", " "], "prompt is empty"),
    (["--prompt", "x", "--width", "100"], "multiple of 8"),
    (["--prompt", "x", "--preset", "nope"], "Unknown model preset"),
])
def test_bad_input_exits_2_with_the_message(tmp_path, data_dir, capsys, args, message):
    code = main(["--data-dir", str(data_dir), "generate", "image", "--out", str(tmp_path), *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_models_list_marks_what_is_on_this_machine(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "models", "list", "--task", "text_to_image"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert any("tiny-sd15" in r and "ready" in r for r in rows)
    assert any(r.split()[1] == "sd15" and "not downloaded" in r and "CreativeML" in r for r in rows)
