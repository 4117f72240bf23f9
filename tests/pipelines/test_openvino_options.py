"""OpenVINO options beyond the UNet and VAE: the SD 1.5-family text encoder exported and run through
OpenVINO, and a preset's `openvino = { weights = "int8" }` (NNCF weight compression of the UNet),
on the tiny SD 1.5 twin through the production loader and runner, against PyTorch at the same seed."""
import dataclasses

import pytest
from test_control import make as controlled
from test_openvino import MIN_PSNR_DB, make, manager, psnr

from pipelines import openvino_export, openvino_modules
from pipelines.presets import PresetError, parse_presets
from pipelines.progress import Progress
from pipelines.runner import execute

# INT8 weights (per-channel asymmetric) on the twin's random weights: lower than fp32's bound, far
# above unrelated images (~10 dB). bench/cpu_backends.py measures the real-sized SD-Turbo UNet: 56.6 dB.
MIN_INT8_PSNR_DB = 25


def with_int8(models):
    """The model layer with a preset like presets/models/text_to_image.toml's sd-turbo-int8, on the twin."""
    presets = models.presets("text_to_image")
    presets["tiny-sd15-int8"] = dataclasses.replace(presets["tiny-sd15"], name="tiny-sd15-int8",
                                                    openvino={"weights": "int8"})
    return models


def count_compressions(monkeypatch) -> list:
    calls, real = [], openvino_export.compressed
    monkeypatch.setattr(openvino_export, "compressed", lambda model: calls.append(1) or real(model))
    return calls


@pytest.fixture(scope="module")
def runs(studio, export_dir):
    """The same request on PyTorch, on OpenVINO, and on OpenVINO with the INT8 preset (the session's
    export cache: the twin's fp32 exports are shared with the other OpenVINO test modules)."""
    models = with_int8(manager(studio, export_dir))
    return dict(export_dir=export_dir,
                pytorch=execute(manager(studio, export_dir, "pytorch"), "text_to_image", make(batch=1)),
                openvino=execute(models, "text_to_image", make(batch=1)),
                int8=execute(models, "text_to_image", make(batch=1, model="tiny-sd15-int8")))


def test_the_text_encoder_is_exported_and_its_embeddings_make_the_pytorch_image(studio, runs):
    encoder = studio.models.get("text_to_image", "tiny-sd15").pipe.text_encoder
    assert (runs["export_dir"] / f"text_encoder-{openvino_export.cache_key(encoder)[:24]}" / "model.xml").is_file()
    # the prompt went through the exported encoder: the image still matches PyTorch's at the same seed
    assert runs["openvino"].artifacts[0].params["backend"] == "openvino"
    assert psnr(runs["openvino"].artifacts[0].image, runs["pytorch"].artifacts[0].image) > MIN_PSNR_DB


def test_the_exported_text_encoder_answers_as_the_loaded_one(studio, runs):
    import torch

    pipe = studio.models.get("text_to_image", "tiny-sd15").pipe
    compiled = openvino_export.compile_components(pipe, runs["export_dir"], "test", Progress(), ("text_encoder",))
    wrapper = openvino_modules.OVTextEncoder(compiled["text_encoder"], pipe.text_encoder)
    ids = pipe.tokenizer(["a lighthouse at dusk"], padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.inference_mode():
        mine, theirs = wrapper(ids)[0], pipe.text_encoder(ids)[0]
        assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
        assert torch.allclose(mine, theirs, atol=1e-2)   # the export keeps weights in fp16
        # clip skip asks for hidden states: the loaded PyTorch module answers, exactly
        hidden = wrapper(ids, output_hidden_states=True).hidden_states
        assert torch.equal(hidden[-2], pipe.text_encoder(ids, output_hidden_states=True).hidden_states[-2])


def test_an_int8_preset_runs_a_compressed_unet_recorded_in_the_output(studio, runs):
    art = runs["int8"].artifacts[0]
    assert art.params["backend"] == "openvino (UNet INT8 weights)"
    assert art.image.size == runs["pytorch"].artifacts[0].image.size
    assert psnr(art.image, runs["pytorch"].artifacts[0].image) > MIN_INT8_PSNR_DB
    assert psnr(art.image, runs["openvino"].artifacts[0].image) != float("inf")   # not the fp32 UNet
    key = openvino_export.cache_key(studio.models.get("text_to_image", "tiny-sd15").pipe.unet)[:24]
    int8, fp32 = runs["export_dir"] / f"unet-int8-{key}", runs["export_dir"] / f"unet-{key}"
    assert (int8 / "model.bin").stat().st_size < 0.6 * (fp32 / "model.bin").stat().st_size


def test_the_int8_unet_is_compressed_once_and_reused_after_a_restart(studio, runs, monkeypatch):
    calls = count_compressions(monkeypatch)
    again = execute(with_int8(manager(studio, runs["export_dir"])), "text_to_image", make(batch=1, model="tiny-sd15-int8"))
    assert calls == []
    assert psnr(again.artifacts[0].image, runs["int8"].artifacts[0].image) == float("inf")


@pytest.mark.parametrize("options", [{"weights": "int4"}, {"bits": 8}, "int8"])
def test_a_preset_with_unknown_openvino_options_is_refused(options):
    entry = dict(label="x", tier="cpu", family="sd15", license="x", commercial_use=True, repo="a/b", openvino=options)
    with pytest.raises(PresetError, match="openvino must be a table"):
        parse_presets("text_to_image", {"broken": entry})


def test_structure_control_over_an_openvino_model_runs_on_pytorch_and_says_so(studio, export_dir):
    models = manager(studio, export_dir)   # cpu_backend = "openvino", named: a pipeline left on PyTorch is said
    execute(models, "text_to_image", make(batch=1))   # the base model runs through OpenVINO...
    result = execute(models, "control", controlled())   # ...its ControlNet view cannot
    assert result.artifacts[0].params["backend"] == "pytorch"
    assert any("OpenVINO does not run StableDiffusionControlNetPipeline" in n for n in result.notices)


def test_an_export_sends_no_telemetry(monkeypatch):
    """OpenVINO's converter sends usage telemetry from a forked process unless the user opted out; a
    fork while the library tagger was inside OpenBLAS hung the export. The studio sends none."""
    import openvino
    import torch
    from openvino_telemetry import Telemetry
    from openvino_telemetry.utils.sender import TelemetrySender

    sent = []
    monkeypatch.setattr(TelemetrySender, "send", lambda self, backend, message: sent.append(message))

    def build():
        return torch.nn.Linear(4, 2).eval(), (torch.randn(1, 4),), [("input", openvino.PartialShape([-1, 4]))]

    assert openvino_export.converted(build).inputs[0].any_name == "input"
    assert sent == []
    assert Telemetry().consent is False


def test_a_repeated_prompt_is_encoded_once_through_openvino(studio, export_dir):
    models = manager(studio, export_dir)
    first = execute(models, "text_to_image", make(batch=1))
    hits = models.embeddings.hits
    again = execute(models, "text_to_image", make(batch=1, seed=9))   # the same prompt, another seed
    assert first.artifacts[0].params["backend"] == again.artifacts[0].params["backend"] == "openvino"
    assert models.embeddings.hits == hits + 1
