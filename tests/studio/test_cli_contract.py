"""`studio generate <task>` comes from the task's contract: a task added with its module and one
registry line gets its subcommand with no CLI edit; the older short names and option spellings
keep working; a text output (a transcript) is written with its sidecar and verifies."""
from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipelines import registry
from pipelines.contract import Task, upload
from studio import cli


@dataclass
class ClipRequest:
    audio_path: str = field(default="", metadata=upload("audio", flag="audio", title="recording"))
    model: str = "toy-whisper"
    language: str = "en"
    timestamps: bool = True


def _register(monkeypatch) -> None:
    """A transcription-like task, registered the way a new task is: its module and one registry line."""
    module = types.ModuleType("toy_transcribe")
    module.__doc__ = "Transcripts of a recording through a toy model. Second sentence not shown."
    module.Request = ClipRequest
    module.CONTRACT = Task("toy_transcribe", ClipRequest, artifacts=("text",), text_field=None)
    monkeypatch.setitem(sys.modules, "toy_transcribe", module)
    monkeypatch.setitem(registry.TASKS, "toy_transcribe", "toy_transcribe")


def test_a_new_task_gets_its_subcommand_from_its_contract(monkeypatch, capsys):
    _register(monkeypatch)
    args = cli.parser().parse_args(["generate", "toy_transcribe", "--audio", "talk.wav", "--language", "fr",
                                    "--no-timestamps", "--out", "o"])
    assert args.func is cli.cmd_generate and args.task == "toy_transcribe"
    (audio,) = registry.contract("toy_transcribe").uploads()
    assert getattr(args, cli.upload_dest(audio)) == "talk.wav"
    assert (args.field_language, args.field_timestamps) == ("fr", False)
    with pytest.raises(SystemExit):  # no prompt option: the request has no text field
        cli.parser().parse_args(["generate", "toy_transcribe", "--prompt", "x", "--out", "o"])
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["generate", "--help"])
    listing = capsys.readouterr().out
    assert "Transcripts of a recording through a toy model." in listing and "Second sentence" not in listing


def test_every_task_that_writes_files_has_a_subcommand_and_the_others_none():
    tasks = set(cli.generators().values())
    for task in registry.TASKS:
        contract = registry.contract(task)
        writes = bool(cli.WRITTEN & set(contract.artifacts)) and bool(contract.text_field or contract.uploads())
        assert (task in tasks) == writes, task
    assert {"text_to_image", "fill", "video", "speech", "music", "sound_effects"} <= tasks
    assert not {"preview_decoder", "detect_image", "detect_audio"} & tasks


@pytest.mark.parametrize("argv, task, values", [
    (["image", "--prompt", "a kite", "--negative", "blur"], "text_to_image", {"field_negative_prompt": "blur"}),
    (["text_to_image", "--prompt", "a kite", "--negative-prompt", "blur"], "text_to_image",
     {"field_negative_prompt": "blur"}),
    (["sound", "--prompt", "rain", "--duration-s", "2"], "sound_effects", {"field_duration_s": 2.0}),
    (["speech", "--text", "hi", "--attest"], "speech", {"field_clone_attested": True}),
    (["video", "--prompt", "waves", "--steps", "4"], "video", {"field_steps": 4}),
])
def test_older_names_and_spellings_still_parse(argv, task, values):
    args = cli.parser().parse_args(["generate", *argv, "--out", "o"])
    assert args.task == task and all(getattr(args, k) == v for k, v in values.items())


def test_a_text_output_is_written_with_its_sidecar_and_verifies(studio, data_dir, tmp_path, capsys):
    from pipelines.media import TextArtifact
    from studio.gallery import GalleryItem, now
    from studio.service import Outcome

    text = "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n"
    (published,) = studio.publisher.publish(TextArtifact(text, ".srt", {"model": "toy", "language": "en"}),
                                            task="toy_transcribe", session_id="cli-text")
    item = GalleryItem(id=published.id, session_id="cli-text", task="toy_transcribe", path=str(published.path),
                       mime=published.mime, caption="", params=published.params, created=now())
    assert cli.write_outcome(Outcome([item]), str(tmp_path / "out")) == 0
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    written = Path(line["file"])
    assert written.read_text(encoding="utf-8") == text and Path(line["sidecar"]) == written.with_name(
        written.name + ".c2pa")
    assert cli.main(["--data-dir", str(data_dir), "verify", str(written)]) == 0
    (report,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert report["state"] in ("Valid", "Trusted") and report["manifest_source"] == "sidecar"
