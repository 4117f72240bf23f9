"""Signed text outputs (subtitles, transcripts): a sidecar manifest bound to every byte, read by
Verify and `studio verify`, carrying none of the words when disclosure is off."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.media import TextArtifact
from provenance.text_files import sniff_text

ROOT = Path(__file__).resolve().parents[2]
SRT = ("1\n00:00:00,000 --> 00:00:01,800\nThe lighthouse keeper\nwaves at the ferry.\n\n"
       "2\n00:00:02,000 --> 00:00:03,500\nGänse überall — 日本語.\n\n")
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.800\nThe lighthouse keeper\nwaves at the ferry.\n"
PARAMS = {"model": "tiny-vits", "language": "en", "text": "The lighthouse keeper waves at the ferry.", "cues": 2}


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".c2pa")


@pytest.mark.parametrize("text,suffix,mime", [(SRT, ".srt", "application/x-subrip"), (VTT, ".vtt", "text/vtt"),
                                              ("lighthouse keeper\n", ".txt", "text/plain")])
def test_a_text_output_is_its_exact_utf8_bytes_with_a_verifying_sidecar(make_publisher, text, suffix, mime):
    pub = make_publisher()
    [out] = pub.publish(TextArtifact(text, suffix, dict(PARAMS)), task="speech", session_id="s")
    assert out.path.suffix == suffix and out.mime == mime and out.sidecar == _sidecar(out.path)
    assert out.path.read_bytes() == text.encode("utf-8")
    assert out.watermark_id is None
    report = pub.verify(out.path)
    assert report.state == "Trusted" and report.manifest_source == "sidecar" and report.mime == mime
    assert report.ledger_match == "exact copy" and not report.watermark_checked
    generation = next(a["data"] for a in report.manifest["assertions"] if a["label"] == "com.genmedia.generation")
    assert generation["media"]["characters"] == len(text) and generation["watermark"]["applied"] is False


def test_a_changed_byte_fails_and_a_copy_without_its_sidecar_is_found_in_the_ledger(make_publisher, tmp_path):
    pub = make_publisher()
    [out] = pub.publish(TextArtifact(SRT, ".srt", dict(PARAMS)), task="speech", session_id="s")
    edited = tmp_path / "edited.srt"
    edited.write_bytes(out.path.read_bytes().replace(b"ferry", b"Ferry"))
    shutil.copyfile(out.sidecar, _sidecar(edited))
    report = pub.verify(edited)
    assert report.state == "Invalid" and "assertion.dataHash.mismatch" in dict(report.failures)
    bare = tmp_path / "bare.srt"
    shutil.copyfile(out.path, bare)
    report = pub.verify(bare)
    assert report.state == "No credentials" and report.ledger_match == "exact copy"
    assert report.manifest_source == "ledger" and report.manifest["title"] == "speech.srt"


def test_with_disclosure_off_the_manifest_carries_none_of_the_words(make_publisher):
    pub = make_publisher(disclose_prompt=False)
    [out] = pub.publish(TextArtifact(SRT, ".srt", dict(PARAMS)), task="speech", session_id="s")
    assert b"lighthouse" in out.path.read_bytes()  # the file is the visitor's own text, as asked for
    manifest = json.dumps(pub.verify(out.path).manifest).lower()
    stored = pub.ledger.get(out.id).manifest_json.lower()
    for blob in (manifest, stored, out.sidecar.read_bytes().decode("latin-1").lower()):
        assert "lighthouse" not in blob and "ferry" not in blob
    assert "text_sha256" in manifest and '"cues": 2' in manifest


def test_studio_verify_reads_a_subtitle_beside_its_sidecar(make_publisher, tmp_path):
    pub = make_publisher()
    [out] = pub.publish(TextArtifact(VTT, ".vtt", dict(PARAMS)), task="speech", session_id="s")
    folder = tmp_path / "check"
    folder.mkdir()
    shutil.copyfile(out.path, folder / "take.vtt")
    shutil.copyfile(out.sidecar, folder / "take.vtt.c2pa")
    env = {**os.environ, "STUDIO_DATA_DIR": str(pub.cfg.data_dir), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "studio.cli", "verify", str(folder)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    [line] = [json.loads(text) for text in done.stdout.splitlines() if text.strip()]
    assert done.returncode == 0 and line["state"] == "Trusted" and line["manifest_source"] == "sidecar"


def test_text_is_sniffed_from_its_bytes(tmp_path):
    cases = {"a": (SRT, "application/x-subrip"), "b": ("\ufeff" + VTT, "text/vtt"), "c": ("plain words", "text/plain")}
    for name, (text, mime) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert sniff_text(tmp_path / name) == mime
    (tmp_path / "bin").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "latin").write_bytes("café".encode("latin-1"))
    assert sniff_text(tmp_path / "bin") is None and sniff_text(tmp_path / "latin") is None
    with pytest.raises(ValueError, match="suffix"):
        TextArtifact("x", ".json", {})
