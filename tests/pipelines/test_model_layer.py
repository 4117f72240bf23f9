"""The model layer's load decisions, through a fake task registered like a real one: sizes read
from the weight files before loading, CPU offload for a model over the budget (loaded once,
never per request), a refusal before loading on a machine that cannot hold it, and out of
memory while loading turned into the same clear message as out of memory while running."""
from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from pipelines import models, registry
from pipelines.device import Runtime
from pipelines.contract import Task
from pipelines.errors import ModelMissingError, OutOfMemory
from pipelines.media import Result
from pipelines.models import ModelManager, ModelTooLarge, weight_bytes
from pipelines.runner import execute

FAKE = "fake_model_layer_task"
# fp32 elements per component: small fits the budget, big does only with model offload (its
# largest part fits), huge does not even part by part
MODELS = {"small": {"unet": 100, "vae": 50}, "big": {"transformer": 1000, "text_encoder": 500},
          "huge": {"transformer": 2000}}
BUDGET = 5000  # bytes


@dataclass
class FakeRequest:
    model: str
    tag: str = ""

    def check(self, preset) -> None:
        pass


class FakePipe:
    """Like a diffusers pipeline for the model layer: named components."""

    def __init__(self, components: dict):
        self.components = components


def save_model(folder: Path, parts: dict[str, int]) -> None:
    """A diffusers-layout folder: model_index.json and one safetensors file per component."""
    folder.mkdir(parents=True)
    index = {"_class_name": "FakePipeline", "tokenizer": ["transformers", "CLIPTokenizer"]}
    for name, numel in parts.items():
        (folder / name).mkdir()
        save_file({"w": torch.zeros(numel)}, str(folder / name / "diffusion_pytorch_model.safetensors"))
        index[name] = ["diffusers", "FakeModel"]
    (folder / "model_index.json").write_text(json.dumps(index))


class FakeTask:
    """The fake task module's state: what it was asked to load, and how loading and running behave."""

    def __init__(self, root: Path):
        self.root = root
        self.loads: list[tuple[str, str]] = []     # (preset folder name, offload) per load
        self.load_error: BaseException | None = None
        self.on_run = lambda request: None

    def module(self) -> types.ModuleType:
        module = types.ModuleType(FAKE)
        module.Request = FakeRequest
        module.load, module.run = self.load, self.run
        module.CONTRACT = Task(FAKE, FakeRequest, artifacts=("image",), text_field=None)
        return module

    def load(self, source, device, dtype, runtime, **kwargs):
        if self.load_error is not None:
            raise self.load_error
        self.loads.append((Path(source).name, runtime.offload))
        parts = {p.name: torch.nn.ParameterDict({"w": torch.nn.Parameter(
            load_file(str(p / "diffusion_pytorch_model.safetensors"))["w"].to(dtype), requires_grad=False)})
            for p in sorted(Path(source).iterdir()) if p.is_dir()}
        return FakePipe(parts), []

    def run(self, pipe, request, progress):
        self.on_run(request)
        return Result([])

    def manager(self, budget: int = BUDGET) -> ModelManager:
        return ModelManager(self.root / "data", Runtime(device="cpu", dtype="fp32"), budget / 2**30,
                            offline=True, presets_dir=self.root / "presets")


@pytest.fixture
def fake(tmp_path, monkeypatch) -> FakeTask:
    task = FakeTask(tmp_path)
    monkeypatch.setitem(sys.modules, FAKE, task.module())
    monkeypatch.setitem(registry.TASKS, FAKE, FAKE)
    monkeypatch.setattr(models, "OFFLOADABLE_TASKS", models.OFFLOADABLE_TASKS | {FAKE})
    (tmp_path / "presets" / "models").mkdir(parents=True)
    tables = []
    for name, parts in MODELS.items():
        save_model(tmp_path / "weights" / name, parts)
        tables.append(f'[{name}]\nlabel = "{name.title()}"\ntier = "standard"\nfamily = "fake"\nlicense = "n/a"\n'
                      f'commercial_use = true\nlocal_dir = "{tmp_path / "weights" / name}"\n')
    (tmp_path / "presets" / "models" / f"{FAKE}.toml").write_text("\n".join(tables))
    return task


@pytest.fixture
def on_cuda(monkeypatch):
    """The model layer placing models on a (pretend) CUDA device; the fake task never touches it."""
    import pipelines.device as dev

    monkeypatch.setattr(dev, "pick_device", lambda setting="auto": "cuda")


def test_sizes_are_read_from_the_weight_files_before_loading(fake):
    manager = fake.manager()
    plan = manager.plan(FAKE, manager.preset(FAKE, "small"), "cpu", "fp32")
    assert (plan.offload, plan.charge) == ("none", 600) and fake.loads == []
    assert manager.expected_sizes(manager.preset(FAKE, "big"), "bf16") == {"transformer": 2000, "text_encoder": 1000}
    execute(manager, FAKE, FakeRequest("small"))
    assert manager.cache.used_bytes == 600 and manager.cache.stats.bytes_loaded == 600


def test_a_model_over_the_budget_is_loaded_once_with_offload_and_kept(fake, on_cuda):
    manager = fake.manager()
    for _ in range(5):
        result = execute(manager, FAKE, FakeRequest("big"))
        execute(manager, FAKE, FakeRequest("small"))
    assert fake.loads == [("big", "model"), ("small", "none")]  # one load each across 5 requests
    assert any("model CPU offload" in n and "no reloads" in n for n in result.notices)
    assert result.artifacts == [] and manager.get(FAKE, "big").offload == "model"
    # with offload only its largest part is on the device at a time, so the small model fits beside it
    assert manager.cache.used_bytes == 4000 + 600 and manager.cache.stats.evictions == 0


def test_a_model_whose_largest_part_is_over_the_budget_gets_sequential_offload(fake, on_cuda):
    manager = fake.manager()
    for _ in range(3):
        result = execute(manager, FAKE, FakeRequest("huge"))
    assert fake.loads == [("huge", "sequential")]
    assert any("sequential CPU offload" in n for n in result.notices)
    assert manager.cache.used_bytes == 8000  # its largest layer: here the one tensor of its one part


def test_the_operators_offload_setting_is_kept_and_charged_by_its_largest_part(fake, on_cuda):
    import dataclasses

    manager = fake.manager()
    manager.runtime = dataclasses.replace(manager.runtime, offload="model")
    execute(manager, FAKE, FakeRequest("small"))
    assert fake.loads == [("small", "model")] and manager.cache.used_bytes == 400


def test_on_a_cpu_a_model_larger_than_memory_is_refused_before_loading(fake, monkeypatch):
    import pipelines.device as dev

    monkeypatch.setattr(dev, "largest_loadable_bytes", lambda device: 7000)  # big fits, huge does not
    manager = fake.manager()
    with pytest.raises(ModelTooLarge, match=r"“Huge” needs about 0.0 GB of memory in fp32, more than this cpu can give"):
        execute(manager, FAKE, FakeRequest("huge"))
    assert fake.loads == [] and manager.cache.keys() == []
    assert issubclass(ModelTooLarge, OutOfMemory)  # the studio shows it as it shows running out of memory
    # over the budget but within memory: loaded alone, the rest unloaded, and then kept
    execute(manager, FAKE, FakeRequest("small"))
    for _ in range(3):
        result = execute(manager, FAKE, FakeRequest("big"))
    assert fake.loads == [("small", "none"), ("big", "none")]
    assert manager.cache.keys() == [(FAKE, "big", "cpu", "fp32")]
    assert any("other models were unloaded" in n for n in result.notices)


def test_out_of_memory_while_loading_gives_the_clear_message_and_a_later_load_works(fake, on_cuda):
    manager = fake.manager()
    fake.load_error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")
    with pytest.raises(OutOfMemory, match=r"The cuda ran out of memory while loading “big”.*nothing else was affected"):
        execute(manager, FAKE, FakeRequest("big"))
    assert manager.cache.keys() == [] and manager.cache.in_use() == [] and manager.cache.stats.failed_loads == 1
    fake.load_error = None
    execute(manager, FAKE, FakeRequest("big"))
    assert fake.loads == [("big", "model")] and manager.cache.in_use() == []


def test_out_of_memory_while_running_keeps_its_message(fake):
    manager = fake.manager()

    def oom(request):
        raise RuntimeError("CUDA error: out of memory")

    fake.on_run = oom
    with pytest.raises(OutOfMemory, match="Lower the size, the batch or the frame count"):
        execute(manager, FAKE, FakeRequest("small"))
    assert manager.cache.in_use() == [] and not manager.get(FAKE, "small").run_lock.locked()


def test_weight_files_pick_the_variant_and_format_a_loader_reads(tmp_path):
    folder = tmp_path / "snapshot"
    unet, te = folder / "unet", folder / "text_encoder"
    unet.mkdir(parents=True)
    te.mkdir()
    save_file({"w": torch.zeros(100)}, str(unet / "diffusion_pytorch_model.safetensors"))
    save_file({"w": torch.zeros(80, dtype=torch.float16)}, str(unet / "diffusion_pytorch_model.fp16.safetensors"))
    (unet / "diffusion_pytorch_model.bin").write_bytes(b"x" * 9999)  # the same weights in the older format
    (te / "pytorch_model.bin").write_bytes(b"x" * 400)                  # fp32 pickles: scaled by file size
    save_file({"w": torch.zeros(10**4)}, str(folder / "single_file_checkpoint.safetensors"))  # not a component
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "PNDMScheduler"], "safety_checker": [None, None]}))
    assert weight_bytes(folder, "fp32") == {"unet": 400, "text_encoder": 400}
    assert weight_bytes(folder, "bf16") == {"unet": 200, "text_encoder": 200}
    assert weight_bytes(folder, "fp16", variant="fp16") == {"unet": 160, "text_encoder": 200}


def test_a_partial_download_names_the_missing_files(tmp_path):
    folder = tmp_path / "snapshot"
    (folder / "transformer").mkdir(parents=True)
    (folder / "vae").mkdir()
    save_file({"a": torch.zeros(10)}, str(folder / "transformer" / "diffusion_pytorch_model-00001-of-00002.safetensors"))
    (folder / "transformer" / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "a": "diffusion_pytorch_model-00001-of-00002.safetensors",
        "b": "diffusion_pytorch_model-00002-of-00002.safetensors"}}))
    (folder / "model_index.json").write_text(json.dumps({"transformer": ["diffusers", "FluxTransformer2DModel"],
                                                         "vae": ["diffusers", "AutoencoderKL"]}))
    with pytest.raises(ModelMissingError, match=r"missing transformer/diffusion_pytorch_model-00002-of-00002"
                                                 r"\.safetensors, vae/ \(its weights\)"):
        weight_bytes(folder, "fp16")


@pytest.mark.parametrize("task,preset,rel", [
    ("text_to_image", "tiny-sd15", 0.01), ("text_to_image", "tiny-flux", 0.01), ("preview_decoder", "tiny-taesd", 0.01),
    ("detect_image", "tiny-vit-detector", 0.01), ("detect_audio", "tiny-wav2vec2-detector", 0.01),
    ("video", "tiny-ltx", 0.01), ("sound_effects", "tiny-stable-audio", 0.01),
    # buffers the model makes at load and does not save (positional tables), several % of a tiny model
    ("speech", "tiny-vits", 0.1), ("music", "tiny-musicgen", 0.1)])
def test_the_estimate_from_files_matches_the_loaded_size(studio, task, preset, rel):
    manager = studio.models
    loaded = manager.get(task, preset)
    expected = sum(manager.expected_sizes(loaded.preset, loaded.dtype).values())
    assert expected == pytest.approx(models.charged_bytes(loaded), rel=rel) and expected > 0


def test_fill_runs_as_a_view_of_the_text_to_image_model_sharing_its_lock(studio):
    t2i = studio.models.get("text_to_image", "tiny-sd15")
    fill = studio.models.get("fill", "tiny-sd15")
    assert fill.run_lock is t2i.run_lock and fill.pipe.unet is t2i.pipe.unet
    assert not any(key[0] == "fill" and key[1] == "tiny-sd15" for key in studio.models.cache.keys())
