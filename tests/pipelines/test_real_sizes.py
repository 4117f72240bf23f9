"""Real sizes without the memory: every hub preset built from its published configs on the meta
device, checked against published parameter counts and file sizes, then driving the model cache.

The configs are data in presets/configs (each folder's SOURCE.toml says where they come from);
pipelines/real_sizes.py builds them with the real diffusers/transformers classes. A preset whose
configs are not copied is skipped with the reason (speech, music, sound effects, the audio
detector, the IP-Adapter presets and two video presets, as of this writing).
"""
from __future__ import annotations

import functools
import threading

import pytest

from pipelines.cache import PipelineCache
from pipelines.presets import load_presets as _load_presets
from pipelines.real_sizes import (MissingConfig, config_folder, placement, preset_footprint, repo_footprint,
                                  request_footprints, source_note)

GIB = 2**30
load_presets = functools.lru_cache(maxsize=None)(_load_presets)
TASKS = ("text_to_image", "fill", "video", "preview_decoder", "detect_image", "music", "sound_effects",
         "speech", "detect_audio")
HUB_PRESETS = [(task, name) for task in TASKS for name, p in load_presets(task).items() if p.tier != "tiny"]

# Published parameter counts: (task, preset, component, count, relative tolerance, source).
PUBLISHED_PARAMETERS = [
    ("text_to_image", "sd15", "unet", 859.52e6, 1e-3, "SD 1.5 UNet 859.5M (SD model card: an 860M UNet)"),
    ("text_to_image", "sd15", "vae", 83.65e6, 1e-3, "SD VAE (kl-f8) 83.65M"),
    ("text_to_image", "sd15", "text_encoder", 123.06e6, 1e-3, "CLIP ViT-L/14 text encoder 123M"),
    ("text_to_image", "sdxl", "unet", 2.567e9, 1e-3, "SDXL UNet 2.567B (SDXL paper: 2.6B)"),
    ("text_to_image", "sdxl", "text_encoder_2", 694.7e6, 1e-3, "OpenCLIP ViT-bigG/14 text encoder 694.7M"),
    ("text_to_image", "flux-dev", "transformer", 11.9e9, 2e-3, "FLUX.1 transformer 11.9B (model card: 12B)"),
    ("text_to_image", "flux-schnell", "transformer", 11.9e9, 2e-3, "FLUX.1 transformer 11.9B"),
    ("text_to_image", "flux-dev", "text_encoder_2", 4.76e9, 1e-3, "T5-XXL v1.1 encoder 4.76B"),
    ("video", "wan22-t2v-a14b", "transformer", 14e9, 0.04, "Wan2.2 A14B: two 14B experts (Wan2.2 README)"),
    ("video", "wan22-t2v-a14b", "transformer_2", 14e9, 0.04, "Wan2.2 A14B: two 14B experts"),
    ("video", "ltx-video", "transformer", 2e9, 0.05, "LTX-Video 2B (0.9.x model card)"),
    ("video", "ltx-video-distilled", "transformer", 13e9, 0.04, "LTX-Video 0.9.7 13B (model card)"),
]

# Published file sizes (huggingface.co file listings, decimal GB/MB, 3 significant digits):
# (task, preset, component, dtype the file is stored in, bytes, source).
PUBLISHED_FILES = [
    ("text_to_image", "sd-turbo", "unet", "fp16", 1.73e9,
     "stabilityai/sd-turbo unet/diffusion_pytorch_model.fp16.safetensors 1.73 GB"),
    ("fill", "sdxl-inpaint", "unet", "fp16", 5.14e9,
     "diffusers/stable-diffusion-xl-1.0-inpainting-0.1@195a7600 unet/diffusion_pytorch_model.fp16.safetensors 5.14 GB"),
    ("text_to_image", "sd35-medium", "transformer", "bf16", 4.94e9,
     "stabilityai/stable-diffusion-3.5-medium transformer/diffusion_pytorch_model.safetensors 4.94 GB"),
    ("text_to_image", "sd35-medium", "text_encoder_2", "fp16", 1.39e9,
     "stabilityai/stable-diffusion-3.5-medium text_encoder_2/model.fp16.safetensors 1.39 GB"),
    ("text_to_image", "sd35-medium", "vae", "fp16", 168e6,
     "stabilityai/stable-diffusion-3.5-medium vae/diffusion_pytorch_model.safetensors 168 MB"),
    ("video", "ltx-video", "transformer", "fp32", 4.94e9 + 2.75e9,
     "Lightricks/LTX-Video transformer/ two shards 4.94 GB + 2.75 GB"),
    ("video", "wan21-t2v-1-3b", "transformer", "fp32", 5.68e9,
     "Wan-AI/Wan2.1-T2V-1.3B-Diffusers transformer/ 5.68 GB (5 GB + 677 MB shards)"),
    ("video", "svd-xt", "unet", "fp16", 3.05e9,
     "stabilityai/stable-video-diffusion-img2vid-xt@73f66ee1 unet/diffusion_pytorch_model.fp16.safetensors 3.05 GB"),
    ("detect_image", "sdxl-detector", "model", "fp32", 347e6,
     "Organika/sdxl-detector model.safetensors 347 MB (listing: 86.8M parameters)"),
]

# diffusers' own defaults that equal a published config (checked, so the tiny twins and the
# benches may rely on them): class -> (repo, component).
DEFAULTS_EQUAL_PUBLISHED = {
    "AutoencoderTiny": ("madebyollin/taesd", "model"),
    "FluxTransformer2DModel": ("black-forest-labs/FLUX.1-schnell", "transformer"),
    "LTXVideoTransformer3DModel": ("Lightricks/LTX-Video", "transformer"),
    "AutoencoderKLLTXVideo": ("Lightricks/LTX-Video", "vae"),
    "AutoencoderKLWan": ("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "vae"),
    "CogVideoXTransformer3DModel": ("THUDM/CogVideoX-2b", "transformer"),
    "AutoencoderKLCogVideoX": ("THUDM/CogVideoX-2b", "vae"),
    "UNetSpatioTemporalConditionModel": ("stabilityai/stable-video-diffusion-img2vid-xt", "unet"),
}


def footprint(task: str, name: str, dtype: str | None = None):
    try:
        return preset_footprint(load_presets(task)[name], dtype)
    except MissingConfig as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("task,name", HUB_PRESETS, ids=[f"{t}/{n}" for t, n in HUB_PRESETS])
def test_every_hub_preset_is_built_from_its_published_configs(task, name):
    preset = load_presets(task)[name]
    fp = footprint(task, name)
    note = source_note(preset.repo)
    assert note["hub_repo"] == preset.repo and note["copied_from"]
    assert fp.components and all(c.parameters > 0 for c in fp.components)
    assert fp.dtype == (preset.dtype if preset.dtype in ("fp16", "bf16", "fp32") else "fp16")
    width = {"fp32": 4, "fp16": 2, "bf16": 2}[fp.dtype]
    assert fp.nbytes >= fp.parameters * width   # buffers only add


@pytest.mark.parametrize("task,name,component,count,rel,source", PUBLISHED_PARAMETERS,
                         ids=[f"{n}/{c}" for _, n, c, *_ in PUBLISHED_PARAMETERS])
def test_parameter_count_matches_the_published_one(task, name, component, count, rel, source):
    got = footprint(task, name).component(component).parameters
    assert got == pytest.approx(count, rel=rel), f"{got:,} vs {source}"


@pytest.mark.parametrize("task,name,component,dtype,nbytes,source", PUBLISHED_FILES,
                         ids=[f"{n}/{c}" for _, n, c, *_ in PUBLISHED_FILES])
def test_bytes_at_the_stored_dtype_match_the_published_file(task, name, component, dtype, nbytes, source):
    got = footprint(task, name, dtype).component(component).nbytes
    assert got == pytest.approx(nbytes, rel=0.01), f"{got / 1e9:.3f} GB vs {source}"


@pytest.mark.parametrize("class_name", sorted(DEFAULTS_EQUAL_PUBLISHED))
def test_diffusers_default_config_equals_the_published_one(class_name):
    import diffusers
    from accelerate import init_empty_weights

    from pipelines.real_sizes import measure

    repo, component = DEFAULTS_EQUAL_PUBLISHED[class_name]
    with init_empty_weights():
        default = getattr(diffusers, class_name)()
    assert measure(default, "fp32")[0] == repo_footprint(repo, "fp32").component(component).parameters


def test_sizes_at_the_preset_dtype_are_what_a_gpu_holds():
    sdxl, flux = footprint("text_to_image", "sdxl"), footprint("text_to_image", "flux-dev")
    assert (sdxl.dtype, flux.dtype) == ("fp16", "bf16")
    assert 6.3 < sdxl.nbytes / GIB < 6.6          # 3.47B parameters in fp16
    assert 31 < flux.nbytes / GIB < 32            # 16.9B in bf16: no 24 GB card holds it whole
    flux_preset, sdxl_preset = load_presets("text_to_image")["flux-dev"], load_presets("text_to_image")["sdxl"]
    at_24, at_16 = placement(flux_preset, 24 * GIB), placement(flux_preset, 16 * GIB)
    assert (at_24.offload, at_24.resident) == ("model", flux.component("transformer").nbytes)
    assert at_16.offload == "sequential" and at_16.resident < GIB
    assert placement(sdxl_preset, 24 * GIB).offload == "none"


def test_a_request_loads_the_model_its_preview_decoder_and_the_detector():
    detector = load_presets("detect_image")["sdxl-detector"]
    parts = request_footprints(load_presets("text_to_image")["sdxl"], detector)
    assert [p.preset for p in parts] == ["sdxl", "taesdxl", "sdxl-detector"]
    assert [p.dtype for p in parts] == ["fp16", "fp16", "fp16"]
    total = sum(p.nbytes for p in parts)
    assert parts[0].nbytes < total < 24 * GIB      # SDXL with its companions fits a 24 GB card whole
    assert len(request_footprints(load_presets("video")["ltx-video"])) == 1   # no preview decoder preset


# ---- the model cache driven with these sizes -------------------------------------------------
needs_lease = pytest.mark.skipif(not hasattr(PipelineCache, "lease"), reason="PipelineCache.lease not there yet")


class Loader:
    """The model layer's part at real sizes: its own load decision (plan_load, through
    real_sizes.placement) per preset, the cache charged what each keeps on the device, loads
    counted. Values are small stand-ins (key, charged bytes)."""

    def __init__(self, budget_gb: float):
        self.budget = int(budget_gb * GIB)
        self.loads: dict[tuple[str, str], int] = {}
        self.cache = PipelineCache(self.budget, on_evict=self._evicted, size_of=lambda v: v[1])
        self.held: set[tuple[str, str]] = set()
        self.evicted_while_held: list = []

    def _evicted(self, key, value):
        if key in self.held:
            self.evicted_while_held.append(key)

    def lease(self, task: str, name: str, on_load=None):
        key = (task, name)
        footprint(task, name)   # skips a preset without configs
        resident = placement(load_presets(task)[name], self.budget).resident

        def load():
            if on_load:
                on_load()
            self.loads[key] = self.loads.get(key, 0) + 1
            return (key, resident)

        return self.cache.lease(key, load, expected_bytes=resident)

    def request(self, task: str, name: str) -> None:
        """One generation: the model held while its previews decode, then the detector at publish."""
        preview = load_presets(task)[name].preview
        with self.lease(task, name):
            self.held.add((task, name))
            if preview:
                with self.lease("preview_decoder", preview):
                    pass
            self.held.discard((task, name))
        with self.lease("detect_image", "sdxl-detector"):
            pass


@needs_lease
def test_sdxl_with_its_preview_decoder_and_the_detector_stays_resident_at_24_gb():
    loader = Loader(24)
    for _ in range(20):
        loader.request("text_to_image", "sdxl")
    assert loader.loads == {("text_to_image", "sdxl"): 1, ("preview_decoder", "taesdxl"): 1,
                            ("detect_image", "sdxl-detector"): 1}
    assert loader.cache.stats.evictions == 0


@needs_lease
def test_flux_dev_is_loaded_once_with_offload_and_never_reloaded_at_24_gb():
    loader = Loader(24)
    assert placement(load_presets("text_to_image")["flux-dev"], loader.budget).offload == "model"
    for _ in range(20):
        loader.request("text_to_image", "flux-dev")
    assert loader.loads[("text_to_image", "flux-dev")] == 1
    assert sum(loader.loads.values()) == 3


@needs_lease
def test_alternating_sdxl_and_ltx_evicts_the_idle_one_never_the_one_in_use():
    loader = Loader(16)   # 6.5 + 13.2 GB: both do not fit in 16 GB (they do in 24: see below)
    for _ in range(4):
        loader.request("text_to_image", "sdxl")
        loader.request("video", "ltx-video")
    assert loader.loads[("text_to_image", "sdxl")] == 4 and loader.loads[("video", "ltx-video")] == 4
    assert loader.evicted_while_held == []
    # a running SDXL job holds its pipeline: an LTX request meanwhile loads beside it (over budget)
    with loader.lease("text_to_image", "sdxl"):
        loader.held.add(("text_to_image", "sdxl"))
        loader.request("video", "ltx-video")
        assert ("text_to_image", "sdxl") in loader.cache.keys()
        loader.held.discard(("text_to_image", "sdxl"))
    assert loader.evicted_while_held == []

    roomy = Loader(24)
    for _ in range(4):
        roomy.request("text_to_image", "sdxl")
        roomy.request("video", "ltx-video")
    assert max(roomy.loads.values()) == 1


@needs_lease
def test_two_concurrent_requests_for_one_preset_load_it_once():
    loader = Loader(24)
    first_loading, release = threading.Event(), threading.Event()

    def slow_load():
        first_loading.set()
        release.wait(30)

    got = []

    def job(on_load=None):
        with loader.lease("text_to_image", "sdxl", on_load) as value:
            got.append(value)

    a = threading.Thread(target=job, args=(slow_load,))
    a.start()
    assert first_loading.wait(30)
    b = threading.Thread(target=job, args=(lambda: pytest.fail("a second load of the same preset"),))
    b.start()
    b.join(0.2)
    assert b.is_alive()          # waiting for the first load, not loading a second copy
    release.set()
    a.join(30)
    b.join(30)
    assert loader.loads == {("text_to_image", "sdxl"): 1}
    assert len(got) == 2 and got[0] is got[1]


def test_config_folders_name_their_hub_repository():
    for folder in sorted(config_folder("x/y").parent.iterdir()):
        if folder.is_dir():
            note = source_note(folder.name.replace("--", "/", 1))
            assert note["hub_repo"].replace("/", "--") == folder.name
