"""OpenVINO on the CPU for the SD-family diffusers pipelines (SD 1.5, SD-Turbo, LCM, SDXL): text to
image, image to image (variations, the upscaler's creative pass) and fill (inpainting).

The pipeline stays diffusers' own: its prompt encoding, scheduler, denoising loop, callbacks
(previews, cancel) and safety checker run unchanged. Only the UNet and the VAE of a request's view
are swapped for thin torch-compatible wrappers around OpenVINO compiled models (the VAE encoder
only for the edit pipelines, exported when one first runs: text to image never pays for it).
Those are exported once with `openvino.convert_model` from the loaded modules' own weights
(LoRAs fused at load time included) into the export cache (pipelines/openvino_export.py) and
reused across requests and restarts.

A loaded pipeline is registered here by `attach` (called from the task's `load`), under its UNet
module: the image-to-image and inpainting pipelines made over it (`pipeline_over`) share that
module, so they find the same exports. `swap` gives a request's view the compiled modules, or
leaves it on PyTorch (with a notice when the setting asked for `openvino` by name, or always when
it cannot run: an unfused LoRA adapter, an IP-Adapter, a failed export). It never raises for those.
"""
from __future__ import annotations

import threading
import weakref
from pathlib import Path
from typing import Any

from pipelines.progress import Progress

BACKENDS = ("auto", "pytorch", "openvino")
_GENERATE = ("unet", "vae_decoder")
_EDIT = ("unet", "vae_decoder", "vae_encoder")
# The pipeline classes this module can feed, and the components each needs exported. SD 1.5 / SD-Turbo
# pipelines also get their CLIP text encoder (1.5x faster in bench/cpu_backends.py); SDXL's two encoders
# are asked for hidden states and pooled outputs, and stay on PyTorch.
PIPELINES = {"StableDiffusionPipeline": (*_GENERATE, "text_encoder"), "StableDiffusionXLPipeline": _GENERATE,
             "StableDiffusionImg2ImgPipeline": (*_EDIT, "text_encoder"), "StableDiffusionXLImg2ImgPipeline": _EDIT,
             "StableDiffusionInpaintPipeline": (*_EDIT, "text_encoder"), "StableDiffusionXLInpaintPipeline": _EDIT}

# keyed by the loaded UNet module, which every pipeline made over the loaded one shares
_attached: "weakref.WeakKeyDictionary[Any, Exported]" = weakref.WeakKeyDictionary()
_attached_lock = threading.Lock()


def wanted(runtime, device: str) -> bool:
    """Whether the setting asks for OpenVINO here: `openvino`, or `auto` on a CPU-only placement."""
    choice = runtime.cpu_backend
    if choice not in BACKENDS:
        raise ValueError(f"cpu_backend {choice!r} is not one of {', '.join(BACKENDS)}")
    return device == "cpu" and choice in ("auto", "openvino")


def attach(pipe, source: str, device: str, runtime) -> list[str]:
    """Register a loaded pipeline for OpenVINO when the setting asks for it; the export happens on
    its first request. Returns notices for a pipeline it cannot run."""
    if not wanted(runtime, device):
        return []
    if type(pipe).__name__ not in PIPELINES:
        if runtime.cpu_backend == "openvino":
            return [f"OpenVINO does not run {type(pipe).__name__} here; it runs on PyTorch."]
        return []
    with _attached_lock:
        _attached[pipe.unet] = Exported(export_root(runtime), str(source), runtime.cpu_backend == "openvino")
    return []


def export_root(runtime) -> Path:
    """The export cache folder: `<data folder>/openvino` from the studio, else the user's cache."""
    if runtime.export_dir:
        return Path(runtime.export_dir)
    return Path.home() / ".cache" / "studio" / "openvino"


def check_options(where: str, options: Any) -> None:
    """Raise PresetError unless a preset's `openvino` table is {weights = "fp32" | "int8"}."""
    from pipelines.openvino_export import WEIGHTS
    from pipelines.presets import PresetError

    if not isinstance(options, dict) or set(options) - {"weights"} or options.get("weights", "fp32") not in WEIGHTS:
        raise PresetError(f"{where}: openvino must be a table like {{ weights = \"int8\" }} "
                          f"(weights: {', '.join(WEIGHTS)}); got {options!r}")


def configure(pipe, options: dict[str, Any]) -> None:
    """Apply a preset's `openvino` options (`weights = "int8"`) to a loaded pipeline registered here;
    a pipeline left on PyTorch ignores them."""
    exported = registered(pipe)
    if exported is not None:
        exported.weights = options.get("weights", "fp32")


def unsupported(pipe) -> str | None:
    """Why a registered pipeline cannot run through its export now, or None."""
    if pipe.image_encoder is not None:
        return "an IP-Adapter (reference image) is loaded"
    if pipe.get_list_adapters():
        return "a LoRA adapter is loaded without being fused"
    return None


def registered(pipe) -> "Exported | None":
    """The exports of the loaded pipeline `pipe` is (or was made over), when it was attached."""
    unet = pipe.components.get("unet")   # Flux and SD3 have a transformer instead: never attached
    with _attached_lock:
        return None if unet is None else _attached.get(unet)


def swap(pipe, view, progress: Progress) -> tuple[str, list[str]]:
    """Put the OpenVINO UNet and VAE (decoder; encoder too for image to image and fill) into `view`
    (a request's copy of `pipe`: a registered pipeline or one made over it).

    Returns (backend name, notices): "openvino", or "pytorch" when `pipe` is not registered or
    cannot run (then a notice says why and PyTorch runs it).
    """
    exported = registered(pipe)
    if exported is None:
        return "pytorch", []
    needs = PIPELINES.get(type(pipe).__name__)
    if needs is None:   # a pipeline made over a registered one that this module cannot feed
        said = f"OpenVINO does not run {type(pipe).__name__} here; it ran on PyTorch."
        return "pytorch", [said] if exported.explicit else []
    reason = unsupported(pipe)
    if reason:
        return "pytorch", [f"OpenVINO cannot run this model as loaded ({reason}); it ran on PyTorch."]
    from pipelines.openvino_export import ExportError

    try:
        compiled = exported.compiled(pipe, progress, needs)
    except ExportError as e:
        return "pytorch", [f"{e} It ran on PyTorch instead."]
    from pipelines.openvino_modules import OVDecoder, OVUNet

    view.unet = OVUNet(compiled["unet"], pipe.unet)
    view.vae = OVDecoder(compiled["vae_decoder"], pipe.vae, compiled.get("vae_encoder"))
    if "text_encoder" in compiled:
        view.text_encoder = exported.text_encoder(compiled["text_encoder"], pipe.text_encoder)
    return exported.label(), []


class Exported:
    """The compiled OpenVINO models of one loaded pipeline, each exported (or read from the cache)
    once, when a request first needs it."""

    def __init__(self, root: Path, source: str, explicit: bool = False):
        self.root, self.source = root, source
        self.explicit = explicit   # the setting named `openvino`: say when a pipeline stays on PyTorch
        self.weights = "fp32"      # or "int8" (a preset's option, set by `configure`)
        self.lock = threading.Lock()
        self.models: dict[str, Any] = {}
        self.failures: dict[str, Exception] = {}  # a failed export is not retried for this loaded pipeline
        self.encoder_wrapper = None

    def compiled(self, pipe, progress: Progress, names: tuple[str, ...] = _GENERATE) -> dict[str, Any]:
        """{name: Component} for `names`, the missing ones exported (or read from the cache) now."""
        from pipelines.openvino_export import ExportError, compile_components

        with self.lock:
            failed = [self.failures[n] for n in names if n in self.failures]
            if failed:
                raise failed[0]
            missing = tuple(n for n in names if n not in self.models)
            if missing:
                try:
                    self.models.update(compile_components(pipe, self.root, self.source, progress, missing,
                                                          self.weights))
                except ExportError as e:  # a cancel during the export is no failure
                    self.failures[e.component] = e
                    raise
            return {n: self.models[n] for n in names}

    def text_encoder(self, component, encoder):
        """The one text-encoder wrapper of this loaded model: the prompt-embedding cache knows a text
        encoder by identity, so a wrapper per request would never hit it."""
        from pipelines.openvino_modules import OVTextEncoder

        with self.lock:
            if self.encoder_wrapper is None:
                self.encoder_wrapper = OVTextEncoder(component, encoder)
            return self.encoder_wrapper

    def label(self) -> str:
        """The backend as each output records it."""
        return "openvino (UNet INT8 weights)" if self.weights == "int8" else "openvino"

