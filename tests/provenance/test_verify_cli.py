"""`studio verify`: many files or folders, one JSON line each, no model (and no torch) unless
--detect is given. Run as a visitor runs it: the console entry point in a fresh process."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

from pipelines.media import ImageArtifact
from provenance.signing import sign

ROOT = Path(__file__).resolve().parents[2]
# Runs the CLI, then reports on stderr which heavy libraries the process imported.
_RUN = ("import json, sys; from studio.cli import main; rc = main(sys.argv[1:]); "
        "print(json.dumps(sorted(m for m in ('torch', 'diffusers', 'transformers', 'gradio', 'scipy') "
        "if m in sys.modules)), file=sys.stderr); sys.exit(rc)")
_MANIFEST = {"claim_generator_info": [{"name": "cli-test", "version": "1"}], "title": "remote.png",
             "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
                 "action": "c2pa.created",
                 "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"}]}}]}


def run_verify(*args: str, data_dir: Path, **env: str) -> tuple[int, list[dict], list[str]]:
    environ = {**os.environ, "STUDIO_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", **env}
    done = subprocess.run([sys.executable, "-c", _RUN, "verify", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, lines, json.loads(done.stderr.strip().splitlines()[-1])


def test_a_folder_and_a_file_give_one_json_line_each_without_loading_a_model(make_publisher, picture, tmp_path):
    pub = make_publisher()
    [out] = pub.publish(ImageArtifact(Image.fromarray(picture(320, 320)), {"seed": 1}), task="text_to_image",
                        session_id="s")
    folder = tmp_path / "to-check"
    folder.mkdir()
    shutil.copyfile(out.path, folder / "a-signed.png")
    Image.fromarray(picture(64, 64, seed=2)).save(folder / "b-plain.png")
    Image.fromarray(picture(64, 64, seed=3)).save(tmp_path / "src.png")
    sign(tmp_path / "src.png", folder / "c-remote.png", "image/png", _MANIFEST, pub.identity, sidecar=True,
         remote_url="https://credentials.example/c.c2pa")
    (folder / ".hidden.png").write_bytes(b"skipped")
    extra = tmp_path / "notes.bin"
    extra.write_bytes(b"\x00\x01 not media, not text")

    code, lines, heavy = run_verify(str(folder), str(extra), data_dir=pub.cfg.data_dir,
                                    STUDIO_REMOTE_MANIFESTS="0")
    assert heavy == []  # no torch, diffusers, transformers, gradio or scipy on this path
    assert [Path(line["path"]).name for line in lines] == ["a-signed.png", "b-plain.png", "c-remote.png", "notes.bin"]
    signed, plain, remote, notes = lines
    assert signed["state"] == "Trusted" and signed["development_identity"]
    assert signed["watermark"]["id"] == out.watermark_id and signed["ledger"]["match"] == "watermark"
    assert signed["detector"] is None
    assert plain["state"] == "No credentials"
    assert remote["state"] == "Remote credentials" and "stored at credentials.example" in remote["message"]
    assert remote["remote_manifest"]["url"] == "https://credentials.example/c.c2pa"
    assert notes["state"] == "Unreadable"
    assert code == 1  # one file could not be read


def test_a_missing_path_exits_2_with_the_message(tmp_path):
    done = subprocess.run([sys.executable, "-m", "studio.cli", "--data-dir", str(tmp_path), "verify",
                           str(tmp_path / "nope.png")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no such file or folder" in done.stderr


def test_detect_adds_the_detectors_verdict(studio, data_dir, picture, tmp_path, capsys):
    from studio.cli import main

    [out] = studio.publisher.publish(ImageArtifact(Image.fromarray(picture(320, 320, seed=4)), {"seed": 4}),
                                     task="text_to_image", session_id="cli")
    assert main(["--data-dir", str(data_dir), "verify", "--detect", str(out.path)]) == 0
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["state"] == "Trusted" and line["detector"]["verdict"]
