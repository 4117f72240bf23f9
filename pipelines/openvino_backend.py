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
        with self.lock:
            if self.encoder_wrapper is None:
                self.encoder_wrapper = OVTextEncoder(component, encoder)
            return self.encoder_wrapper

    def label(self) -> str:
        """The backend as each output records it."""
        return "openvino (UNet INT8 weights)" if self.weights == "int8" else "openvino"


def _module_base():
    import torch

    class OVModule(torch.nn.Module):
        """A torch module face for a compiled OpenVINO model: diffusers asks modules for device,
        dtype and config; each wrapper (one per request) has its own infer request."""

        def __init__(self, component, original):
            super().__init__()
            self.component = component
            self.request = None   # this wrapper's own infer request
            self.lock = threading.Lock()   # the text encoder's wrapper is shared by concurrent requests
            self.config = original.config
            self.out_dtype = original.dtype

        @property
        def device(self):
            return torch.device("cpu")

        @property
        def dtype(self):
            return self.out_dtype

        def infer(self, *inputs):
            feed = [(x.to(torch.float32) if x.is_floating_point() else x).detach().numpy() for x in inputs]
            with self.lock:
                if self.request is None:
                    self.request = self.component.compiled().create_infer_request()
                out = self.request.infer(feed, share_inputs=True)
                return torch.from_numpy(out[0].copy()).to(self.out_dtype)

    return OVModule


def _classes():
    """The wrapper classes, defined on first use (torch is not imported at module level)."""
    if "OVUNet" in _CLASSES:
        return _CLASSES
    import torch

    base = _module_base()

    class UNet(base):
        """Called as diffusers calls a UNet2DConditionModel."""

        def __init__(self, component, unet):
            super().__init__(component, unet)
            self.names = component.names
            if "add_embedding" in unet._modules:  # SDXL's pipeline reads its input width
                self.add_embedding = unet.add_embedding

        def forward(self, sample, timestep, encoder_hidden_states, timestep_cond=None,
                    added_cond_kwargs=None, return_dict=False, **_unused):
            timestep = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1)[:1].expand(sample.shape[0])
            given = {"sample": sample, "timestep": timestep, "encoder_hidden_states": encoder_hidden_states,
                     "timestep_cond": timestep_cond, **(added_cond_kwargs or {})}
            return (self.infer(*[given[name] for name in self.names]),)

    class Decoder(base):
        """Answers `vae.decode(latents)` with the exported decoder and, given the exported encoder,
        `vae.encode(image)` with diffusers' own latent distribution, so `retrieve_latents(...,
        generator)` samples the same noise as on PyTorch. The VAE's config (scaling_factor,
        force_upcast...) and dtype are the loaded module's."""

        def __init__(self, component, vae, encoder=None):
            super().__init__(component, vae)
            self.encoder = None if encoder is None else base(encoder, vae)

        def forward(self, latents):
            return self.infer(latents)

        def decode(self, latents, return_dict=True, generator=None):
            from diffusers.models.autoencoders.vae import DecoderOutput

            image = self.infer(latents)
            return DecoderOutput(sample=image) if return_dict else (image,)

        def encode(self, image, return_dict=True):
            from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKLOutput
            from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

            if self.encoder is None:   # PIPELINES declares which pipelines need it; swap gave none
                raise RuntimeError("the VAE encoder was not exported for this pipeline")
            posterior = DiagonalGaussianDistribution(self.encoder.infer(image))
            return AutoencoderKLOutput(latent_dist=posterior) if return_dict else (posterior,)

    class TextEncoder(base):
        """Called as SD 1.5-family pipelines call a CLIPTextModel: `encoder(ids)[0]` is the last
        hidden state. A call asking for more (hidden states for clip skip, an attention mask) runs
        the loaded PyTorch module instead."""

        def __init__(self, component, encoder):
            super().__init__(component, encoder)
            self.original = [encoder]   # in a list: not a submodule of the wrapper

        def forward(self, input_ids, attention_mask=None, output_hidden_states=None, **kwargs):
            if attention_mask is not None or output_hidden_states or kwargs:
                return self.original[0](input_ids, attention_mask=attention_mask,
                                        output_hidden_states=output_hidden_states, **kwargs)
            return (self.infer(input_ids),)

    _CLASSES.update(OVUNet=UNet, OVDecoder=Decoder, OVTextEncoder=TextEncoder)
    return _CLASSES


_CLASSES: dict[str, Any] = {}


def OVUNet(component, unet):  # noqa: N802 - reads as the class it builds
    """A UNet wrapper over the exported component (pipelines.openvino_export.Component)."""
    return _classes()["OVUNet"](component, unet)


def OVTextEncoder(component, encoder):  # noqa: N802
    """A CLIP text-encoder wrapper over the exported component."""
    return _classes()["OVTextEncoder"](component, encoder)


def OVDecoder(component, vae, encoder=None):  # noqa: N802
    """A VAE wrapper over the exported decoder (and encoder, when given) components."""
    return _classes()["OVDecoder"](component, vae, encoder)
