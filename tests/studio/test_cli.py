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


def generate(capsys, data_dir, *args) -> tuple[int, list[dict], str]:
    code = main(["--data-dir", str(data_dir), "generate", *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def test_generate_video_from_a_still_records_it_and_takes_request_fields(tmp_path, data_dir, capsys, studio):
    from PIL import Image

    still = tmp_path / "still.png"
    Image.radial_gradient("L").convert("RGB").resize((320, 240)).save(still)
    code, files, err = generate(capsys, data_dir, "video", "--still", str(still), "--preset", "tiny-ltx", "--set",
                                "frames=9", "--set", "fps=8", "--set", "steps=2", "--set", "width=256", "--set",
                                "height=256", "--seed", "5", "--confirm", "--out", str(tmp_path / "out"))
    assert code == 0, err
    (made,) = files
    assert made["seed"] == 5 and made["file"].endswith(".mp4")
    report = studio.publisher.verify(made["file"])
    assert report.state in ("Valid", "Trusted")
    assert [i.get("relationship") for i in report.ingredients] == ["inputTo"]


def test_generate_fill_extends_an_image_and_speech_music_sound_make_signed_audio(tmp_path, data_dir, capsys, studio):
    from PIL import Image

    source = tmp_path / "source.png"
    Image.radial_gradient("L").convert("RGB").resize((256, 256)).save(source)
    code, files, err = generate(capsys, data_dir, "fill", "--image", str(source), "--prompt", "more sky", "--set",
                                "mode=extend", "--set", "extend_right=64", "--set", "steps=2", "--confirm",
                                "--out", str(tmp_path / "fill"))
    assert code == 0, err
    with Image.open(files[0]["file"]) as extended:
        assert extended.size == (320, 256)
    for kind, text in (("speech", "Hello there. Two sentences."), ("music", "calm piano"), ("sound", "door creak")):
        extra = [] if kind == "speech" else ["--set", "duration_s=1"] + (["--set", "steps=2"] if kind == "sound" else [])
        flag = "--text" if kind == "speech" else "--prompt"
        code, files, err = generate(capsys, data_dir, kind, flag, text, *extra, "--out", str(tmp_path / kind))
        assert code == 0, (kind, err)
        subtitles = [".srt", ".vtt"] if kind == "speech" else []
        assert sorted(Path(f["file"]).suffix for f in files) == sorted([".mp3", ".wav", *subtitles]), kind
        assert studio.publisher.verify(files[0]["file"]).state in ("Valid", "Trusted"), kind


@pytest.mark.parametrize("args, message", [
    (["video", "--prompt", "x", "--set", "bogus=1"], "use KEY=VALUE with one of"),
    (["video", "--prompt", "x", "--set", "steps=many"], "steps takes a number"),
    (["video", "--prompt", "x", "--still", "/nonexistent.png"], "no such file"),
    (["speech", "--text", "hi", "--preset", "tiny-xtts", "--reference", "VOICE", "--confirm"], "permission"),
])
def test_generate_bad_input_exits_2_with_the_message(tmp_path, data_dir, capsys, args, message):
    import numpy as np
    import soundfile as sf

    if "VOICE" in args:  # a real clip, so the refusal is about the missing permission, not the file
        voice = tmp_path / "voice.wav"
        sf.write(voice, 0.3 * np.sin(np.linspace(0, 2 * np.pi * 440 * 3, 3 * 22050)), 22050)
        args = [str(voice) if a == "VOICE" else a for a in args]
    code, files, err = generate(capsys, data_dir, *args, "--out", str(tmp_path))
    assert code == 2 and not files
    assert message in err
