"""Export of a diffusers pipeline's UNet, VAE decoder and CLIP text encoder (and, for the edit tasks,
its VAE encoder) to OpenVINO, and the export cache.

Each component is converted with `openvino.convert_model` (traced from the loaded module, with
dynamic batch and spatial sizes, so one export serves every size and batch) and saved under
`<root>/<component>-<key>/`. It is compiled once, with those dynamic shapes (`Component.compiled`):
bench/cpu_backends.py measured the CPU plugin's static-shape kernels only 4 % faster here, while
compiling for each size cost ~20 s per new size at real size (each fill mask crops its own size) and
~2 GiB more memory; the compiled blob is kept in `<root>/compiled` (OpenVINO's CACHE_DIR) so a restart does not
recompile. The key hashes the component's class,
config and a sample of every weight tensor (so a LoRA fused at load gets its own export, and a
new revision of the weights too), the OpenVINO version and this module's format. A folder counts
only when its `done.json` marker is there and the files have the sizes it records; anything else
(an interrupted export, a truncated .bin, a file that does not read) is deleted and rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any, Callable

from pipelines.progress import Progress

log = logging.getLogger(__name__)
FORMAT = 1            # bump when what is exported changes
MARKER = "done.json"
LABELS = {"unet": "UNet", "vae_decoder": "VAE decoder", "vae_encoder": "VAE encoder", "text_encoder": "text encoder"}
WEIGHTS = ("fp32", "int8")  # a preset's `openvino.weights`: int8 is NNCF's weight compression of the UNet
# What text-to-image needs; image-to-image and fill add "vae_encoder" (exported when first asked for).
GENERATE = ("unet", "vae_decoder")
FILES = ("model.xml", "model.bin")


class ExportError(RuntimeError):
    """The export of one component failed; the message names it (`component`: its key in LABELS)."""

    def __init__(self, message: str, component: str):
        super().__init__(message)
        self.component = component


def compile_components(pipe, root: Path, source: str, progress: Progress,
                       names: tuple[str, ...] = GENERATE, weights: str = "fp32") -> dict[str, "Component"]:
    """{name: Component} for `pipe`'s components `names` (keys of LABELS), exported on first use;
    with `weights="int8"` the UNet is NNCF's INT8 weight compression of its fp32 export (kept beside it)."""
    import openvino as ov

    core = ov.Core()
    builders = {"unet": lambda: unet_spec(pipe.unet), "vae_decoder": lambda: decoder_spec(pipe.vae),
                "vae_encoder": lambda: encoder_spec(pipe.vae), "text_encoder": lambda: text_encoder_spec(pipe.text_encoder)}
    specs = {name: builders[name]() for name in names}
    components = {}
    for done, (name, (module, build)) in enumerate(specs.items()):
        progress.update(done, len(specs), f"preparing the OpenVINO {LABELS[name]}")
        key = cache_key(module)[:24]
        path = load_or_export(core, Path(root) / f"{name}-{key}", name, lambda b=build: converted(b), source)
        if name == "unet" and weights == "int8":
            path = load_or_export(core, Path(root) / f"{name}-int8-{key}", name,
                                  lambda p=path: compressed(core.read_model(p)), source)
        components[name] = Component(core, path, Path(root) / "compiled")
    return components


def load_or_export(core, folder: Path, name: str, make: Callable, source: str) -> Path:
    """The model.xml of the cached export in `folder`, made by `make()` (an ov.Model) first when
    missing or damaged."""
    if not is_complete(folder):
        if folder.exists():
            log.warning("OpenVINO export cache %s is incomplete or damaged: rebuilding it", folder)
        export(folder, name, make, source)
    try:
        core.read_model(folder / "model.xml")
    except RuntimeError:  # sizes matched but the files do not read: rebuild once
        log.warning("OpenVINO export %s does not read: rebuilding it", folder)
        export(folder, name, make, source)
    return folder / "model.xml"


def without_telemetry() -> None:
    """Keep OpenVINO's converter and NNCF from sending usage telemetry from this process.

    Both send it unless the user opted out (openvino_telemetry's consent file), each message from a
    forked process: the studio sends nothing anywhere, and a fork while another thread is inside
    OpenBLAS (the library tagger's audio features) deadlocked the export. Every (re)initialisation of
    the library's one Telemetry object ends with its consent off; the user's own file is left as it is."""
    try:
        from openvino_telemetry import Telemetry
    except ImportError:   # OpenVINO then uses its own no-op stub
        return
    if getattr(Telemetry.init, "studio_off", False):
        return
    original = Telemetry.init

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.consent = False

    init.studio_off = True
    Telemetry.init = init
    existing = getattr(Telemetry, "_SingletonMetaClass__single_instance", None)   # made before this call
    if existing is not None:
        existing.consent = False


def converted(build: Callable):
    """The ov.Model of a component spec's `build()` (module, example inputs, input shapes)."""
    import openvino as ov

    without_telemetry()
    module, example, inputs = build()
    with warnings.catch_warnings():  # diffusers' shape checks warn while traced; the export is dynamic
        warnings.simplefilter("ignore")
        return ov.convert_model(module, example_input=example, input=inputs)


def compressed(model):
    """NNCF's INT8 weight compression (asymmetric, per output channel) of the model's weighted
    layers: half the memory; the arithmetic stays in the CPU's inference precision."""
    import nncf

    without_telemetry()
    return nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)


def compile_config(cache_dir: Path | None) -> dict[str, Any]:
    """The CPU plugin's settings for one request at a time: latency, every core PyTorch uses
    (OpenVINO's own default can count fewer), compiled blobs kept in `cache_dir`."""
    import torch

    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": torch.get_num_threads()}
    if cache_dir is not None:
        config["CACHE_DIR"] = str(cache_dir)
    return config


class Component:
    """One exported model, compiled once (dynamic shapes: every size and batch) when first asked
    for. Thread-safe: every request shares the compiled model, each with its own infer request."""

    def __init__(self, core, path: Path, cache_dir: Path | None):
        self.core, self.path, self.cache_dir = core, path, cache_dir
        self.names = [port.any_name for port in core.read_model(path).inputs]
        self.model: Any = None
        self.lock = threading.Lock()

    def compiled(self):
        """The compiled model (compiled, or read from the blob cache, on the first call)."""
        with self.lock:
            if self.model is None:
                self.model = self.core.compile_model(self.path, "CPU", compile_config(self.cache_dir))
            return self.model


def is_complete(folder: Path) -> bool:
    """Whether `folder` holds a finished export whose files have the sizes its marker records."""
    try:
        sizes = json.loads((folder / MARKER).read_text())["bytes"]
        return all((folder / f).stat().st_size == sizes[f] for f in FILES)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def export(folder: Path, name: str, make: Callable, source: str) -> None:
    """Make (convert) and save one component into `folder` (written aside, then moved into place)."""
    import openvino as ov

    shutil.rmtree(folder, ignore_errors=True)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        ov.save_model(make(), partial / "model.xml")
    except Exception as e:
        shutil.rmtree(partial, ignore_errors=True)
        raise ExportError(f"The OpenVINO export of the {LABELS[name]} failed "
                          f"({type(e).__name__}: {str(e)[:300]}).", name) from e
    sizes = {f: (partial / f).stat().st_size for f in FILES}
    marker = {"bytes": sizes, "component": name, "source": source, "openvino": ov.get_version(), "format": FORMAT}
    (partial / MARKER).write_text(json.dumps(marker, indent=1))
    partial.rename(folder)


def cache_key(module) -> str:
    """A hash of the module's class, config, weights (shape and leading values of every tensor),
    the OpenVINO version and the export format."""
    import openvino as ov

    digest = hashlib.sha256(f"{type(module).__name__}|{ov.get_version()}|{FORMAT}|".encode())
    # the config's own bookkeeping ("_use_default_values", a list in set order that changes with each
    # process's hash seed; the library version) is left out: it would make every restart re-export
    raw = module.config if isinstance(module.config, dict) else module.config.to_dict()  # diffusers' or transformers'
    config = {k: v for k, v in raw.items() if not k.startswith("_")}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for key, tensor in module.state_dict().items():
        digest.update(f"{key}{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().flatten()[:64].float().numpy().tobytes())
    return digest.hexdigest()


def unet_spec(unet) -> tuple[Any, Callable]:
    """(module, build) for a UNet2DConditionModel: its inputs in the order the wrapper feeds them."""
    import torch

    cfg = unet.config
    size = min(int(cfg.sample_size), 32)   # tracing size only: the export takes any size
    inputs = {"sample": (2, cfg.in_channels, size, size), "timestep": (2,),
              "encoder_hidden_states": (2, 77, cfg.cross_attention_dim)}
    if cfg.time_cond_proj_dim is not None:   # LCM-distilled UNets take the guidance embedding
        inputs["timestep_cond"] = (2, cfg.time_cond_proj_dim)
    if cfg.addition_embed_type == "text_time":   # SDXL's pooled text embedding and size ids
        pooled = unet.add_embedding.linear_1.in_features - 6 * cfg.addition_time_embed_dim
        inputs.update(text_embeds=(2, pooled), time_ids=(2, 6))
    names = list(inputs)

    class Traced(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.unet = float32(unet)

        def forward(self, *args):
            given = dict(zip(names, args))
            extra = {k: given.pop(k) for k in ("text_embeds", "time_ids") if k in given}
            return self.unet(**given, added_cond_kwargs=extra or None, return_dict=False)[0]

    def build():
        example = tuple(torch.randn(*shape) * (100 if name == "timestep" else 1) for name, shape in inputs.items())
        return Traced().eval(), example, [(name, dynamic(shape)) for name, shape in inputs.items()]

    return unet, build


def decoder_spec(vae) -> tuple[Any, Callable]:
    """(module, build) for an AutoencoderKL's decoder: latents -> image in [-1, 1]."""
    import torch

    channels = vae.config.latent_channels

    class Traced(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.vae = float32(vae)

        def forward(self, latents):
            return self.vae.decode(latents, return_dict=False)[0]

    def build():
        return Traced().eval(), (torch.randn(1, channels, 16, 16),), [("latents", dynamic((1, channels, 16, 16)))]

    return vae, build


def encoder_spec(vae) -> tuple[Any, Callable]:
    """(module, build) for an AutoencoderKL's encoder: image in [-1, 1] -> the moments (mean and log
    variance, quant_conv included) that diffusers' DiagonalGaussianDistribution is built from."""
    import torch

    channels = vae.config.in_channels

    class Traced(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.vae = float32(vae)

        def forward(self, image):
            # AutoencoderKL._encode without its tiling branch: the export serves every size untiled
            moments = self.vae.encoder(image)
            return moments if self.vae.quant_conv is None else self.vae.quant_conv(moments)

    def build():
        return Traced().eval(), (torch.randn(1, channels, 64, 64),), [("image", dynamic((1, channels, 64, 64)))]

    return vae, build


def text_encoder_spec(encoder) -> tuple[Any, Callable]:
    """(module, build) for a CLIP text encoder as SD 1.5-family pipelines call it: token ids ->
    last hidden state (batch and length dynamic)."""
    import openvino as ov
    import torch

    class Traced(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = float32(encoder)

        def forward(self, input_ids):
            return self.encoder(input_ids, return_dict=False)[0]

    def build():
        return Traced().eval(), (torch.ones(1, 77, dtype=torch.long),), [("input_ids", ov.PartialShape([-1, -1]))]

    return encoder, build


def float32(module):
    """The module in fp32 for tracing (a bf16/fp16 model is traced from a temporary fp32 copy; the
    CPU plugin then picks its own inference precision)."""
    import copy

    import torch

    return module if module.dtype == torch.float32 else copy.deepcopy(module).float()


def dynamic(shape: tuple[int, ...]):
    """A partial shape with dynamic batch (first) and, for 4-D inputs, dynamic height and width;
    the sequence length of a text embedding is dynamic too (long-prompt embeddings)."""
    import openvino as ov

    dims = list(shape)
    dims[0] = -1
    if len(dims) == 4:
        dims[2] = dims[3] = -1
    if len(dims) == 3:
        dims[1] = -1
    return ov.PartialShape(dims)
