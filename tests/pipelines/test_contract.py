"""The task contract and what is derived from it: a new task declared with an image input gets a CLI
file flag, a Ray upload, the default Serve options and the presets' key check, with no other edit."""
import sys
import types
from dataclasses import dataclass, field

import pytest

from pipelines import registry
from pipelines.contract import Join, Task, upload
from pipelines.errors import PresetError
from pipelines.presets import parse_presets
from pipelines.serve import WireRequest, deployment_options
from studio import cli


@dataclass
class ToyRequest:
    prompt: str = ""
    model: str = "toy-1"
    photo_path: str = field(default="", metadata=upload("image", flag="photo", title="photo"))
    strength: float = 0.5
    steps: int = 4
    sharpen: bool = False


def _declare(monkeypatch, **capabilities) -> Task:
    """Register a task module `toy` the way a new task would: its module and one registry line."""
    module = types.ModuleType("toy_task")
    module.Request = ToyRequest
    module.CONTRACT = Task("toy", ToyRequest, artifacts=("image",), **capabilities)
    monkeypatch.setitem(sys.modules, "toy_task", module)
    monkeypatch.setitem(registry.TASKS, "toy", "toy_task")
    return module.CONTRACT


def test_request_fields_have_kinds_from_their_defaults_and_metadata(monkeypatch):
    contract = _declare(monkeypatch)
    kinds = {f.name: f.kind for f in contract.fields()}
    assert kinds == {"prompt": "text", "model": "text", "photo_path": "image", "strength": "number",
                     "steps": "whole", "sharpen": "flag"}
    (photo,) = contract.uploads()
    assert (photo.flag, photo.title, photo.relationship, photo.required) == ("photo", "photo", "inputTo", False)


def test_an_image_input_gets_a_cli_file_flag_and_each_field_a_typed_option(monkeypatch):
    _declare(monkeypatch)
    monkeypatch.setitem(cli.GENERATORS, "toy", "toy")
    args = cli.parser().parse_args(["generate", "toy", "--prompt", "a fox", "--photo", "me.png", "--out", "o"])
    assert (args.text, getattr(args, cli.upload_dest(registry.contract("toy").uploads()[0]))) == ("a fox", "me.png")
    args = cli.parser().parse_args(["generate", "toy", "--out", "o", "--steps", "8", "--strength", "0.25", "--sharpen"])
    assert (args.field_steps, args.field_strength, args.field_sharpen) == (8, 0.25, True)  # typed by kind
    with pytest.raises(SystemExit):  # no flag for what the request does not declare
        cli.parser().parse_args(["generate", "toy", "--still", "me.png", "--out", "o"])


def test_an_image_input_reaches_a_ray_replica_as_bytes(monkeypatch, tmp_path):
    _declare(monkeypatch)
    photo = tmp_path / "me.png"
    photo.write_bytes(b"\x89PNG fake")
    wire = WireRequest.pack(ToyRequest(prompt="a fox", photo_path=str(photo)))
    assert wire.files == {"photo_path": ("me.png", photo.read_bytes())}
    photo.unlink()  # the replica never reads the front's disk
    unpacked = wire.unpack(tmp_path / "replica")
    assert unpacked.photo_path != str(photo) and open(unpacked.photo_path, "rb").read() == b"\x89PNG fake"


@pytest.mark.parametrize("capabilities, expected", [
    ({}, (1.0, 1)),                                           # a GPU task takes one request at a time
    ({"concurrent_requests": 4}, (1.0, 4)),                   # unless it declares its pipeline safe to share
    ({"uses_gpu": False}, (0, 1)),                            # a CPU task does not claim a GPU
])
def test_serve_options_default_from_the_contract(monkeypatch, tmp_path, capabilities, expected):
    _declare(monkeypatch, **capabilities)
    path = tmp_path / "serve.toml"
    path.write_text("[defaults]\nnum_cpus = 1\n")
    options = deployment_options("toy", "toy-1", gpus_in_cluster=1, path=path)
    assert (options.num_gpus, options.max_ongoing_requests) == expected
    path.write_text("[defaults]\nmax_ongoing_requests = 2\n")  # every table of the operator's file wins
    assert deployment_options("toy", "toy-1", gpus_in_cluster=1, path=path).max_ongoing_requests == 2
    path.write_text("[defaults]\nmax_ongoing_requests = 2\n[toy]\nmax_ongoing_requests = 3\nnum_gpus = 0.5\n")
    options = deployment_options("toy", "toy-1", gpus_in_cluster=1, path=path)
    assert (options.num_gpus, options.max_ongoing_requests) == (0.5, 3)


def test_preset_defaults_are_checked_against_the_declared_fields(monkeypatch):
    _declare(monkeypatch)
    good = {"label": "x", "tier": "tiny", "family": "sd15", "tiny": "sd15", "license": "MIT", "commercial_use": True}
    assert parse_presets("toy", {"p": {**good, "defaults": {"strength": 0.7}}}, registry.request_fields("toy"))
    with pytest.raises(PresetError, match="not request fields"):
        parse_presets("toy", {"p": {**good, "defaults": {"strenght": 0.7}}}, registry.request_fields("toy"))


@pytest.mark.parametrize("capabilities, message", [
    ({"base_task": "text_to_image"}, "base_task and from_base"),
    ({"download": lambda preset: None}, "is_downloaded and download"),
    ({"styled": True}, "apply_style"),
    ({"artifacts": ("hologram",)}, "artifact kinds"),
    ({"text_field": "caption"}, "text_field"),
    ({"joins": ("text_to_image", "base_model"), "join": lambda own, other: own}, "join field 'base_model'"),
    ({"joins": (("speech", "prompt"),), "join": lambda own, other: own}, "a tuple of Join"),
])
def test_a_contract_that_contradicts_itself_is_refused_at_import(capabilities, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Task("toy", ToyRequest, **{"artifacts": ("image",), **capabilities})


def test_every_registered_task_declares_a_contract_for_its_own_request():
    for task in registry.TASKS:
        contract = registry.contract(task)
        assert contract.name == task and contract.request is registry.task_module(task).Request
    assert [f.name for f in registry.contract("fill").uploads()] == ["image", "mask"]
    assert registry.contract("fill").base_task == "text_to_image" and registry.contract("speech").dtypes == ("fp32",)


def test_joins_are_one_pair_of_the_same_family_or_several_declared_joins():
    join = lambda own, *others: (own, *others)  # noqa: E731
    one = Task("toy", ToyRequest, artifacts=("image",), joins=("text_to_image", "model"), join=join)
    assert one.joins == (Join("text_to_image", "model", same_family=True, optional=False),)
    several = (Join("transcribe", "prompt", same_family=False, optional=True), Join("translate", "model", False))
    assert Task("toy", ToyRequest, artifacts=("image",), joins=several, join=join).joins == several
    assert registry.contract("control").joins == (Join("text_to_image", "base_model"),)
    assert [j.field for j in registry.contract("dubbing").joins] == ["transcriber", "translator"]
