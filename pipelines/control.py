"""Structure control: a ControlNet steers a loaded text-to-image model with a control image
(edges, depth or a scribble) made from the visitor's source picture.

A control preset is a ControlNet checkpoint (diffusers' ControlNetModel layout) of one model
family; the request names the text-to-image preset it runs on (`base_model`). The runner holds
both loaded models for the job (`Task.joins`: a ControlNet of another family is refused before
anything loads, naming the ones that fit) and `join` builds diffusers' ControlNet pipeline of
that family over the text-to-image pipeline's modules with `from_pipe`: no second copy of the
base weights. `run` reads as fixed steps: 1. the control image (`Request.check` made edge and
scribble maps; depth is estimated here, by the estimator loaded with the ControlNet), at the
output size, 2. the prompts, 3. the denoising on a per-request view with the conditioning
strength and the start/end fraction of the steps the ControlNet acts on.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from pipelines import safety_checker
from pipelines.checks import number, whole
from pipelines.contract import Task, upload
from pipelines.control_maps import KINDS, control_map, load_depth_estimator
from pipelines.diffusion import (accepts, generators, make_scheduler, pipeline_over, prompt_notices, request_view,
                                 step_callback)
from pipelines.errors import InputError
from pipelines.fill import open_image
from pipelines.media import ImageArtifact, Result
from pipelines.presets import ModelPreset
from pipelines.progress import Progress

TASK = "control"
MAX_PROMPT_CHARS = 2000
# The depth estimator a ControlNet folder without its own `depth_estimator/` uses (Apache-2.0).
DEPTH_ESTIMATOR = "depth-anything/Depth-Anything-V2-Small-hf"
# A union ControlNet (xinsir/controlnet-union-sdxl-1.0) is one network for many control types; the
# type is told by its index, from the model card: 0 openpose, 1 depth, 2 hed/pidi/scribble/ted,
# 3 canny/lineart/anime_lineart/mlsd, 4 normal, 5 segment.
UNION_MODES = {"depth": 1, "scribble": 2, "canny": 3, "lineart": 3}


@dataclass
class Request:
    """One structure-controlled image. `image` is the source the control image is made from (a
    path or PIL image; for "scribble" it is the control image itself); `seed` is resolved before `run`."""

    image: Any = field(metadata=upload("image", flag="control-source", title="control source", relationship="inputTo"))
    prompt: str = ""
    model: str = "tiny-controlnet-sd15"
    base_model: str = "tiny-sd15"              # the text_to_image preset the ControlNet steers
    control_type: str = field(default="canny", metadata={"choices": KINDS})
    canny_low: int = field(default=100, metadata={"lo": 0, "hi": 1000})
    canny_high: int = field(default=200, metadata={"lo": 0, "hi": 1000})
    conditioning_scale: float = field(default=1.0, metadata={"lo": 0.0, "hi": 2.0})
    control_start: float = field(default=0.0, metadata={"lo": 0.0, "hi": 1.0})
    control_end: float = field(default=1.0, metadata={"lo": 0.0, "hi": 1.0})
    negative_prompt: str = ""
    steps: int = 20
    guidance: float = 7.0
    seed: int = 0
    width: int = 512
    height: int = 512

    def check(self, preset: ModelPreset) -> None:
        """Validate every field, read the source and make the edge or scribble map at the output
        size (said in a notice when it is resized); raise `InputError` saying what to do."""
        self._check_scalars(preset)
        notices: list[str] = []
        # min_size is the output's; any source from 16 px a side is scaled to the output size
        source = open_image(self.image, "control source", notices, preset.limit("max_pixels", 40_000_000), 16)
        control = None
        if self.control_type != "depth":  # depth needs the estimator, loaded with the model: made in run
            control = fit(control_map(self.control_type, source, low=self.canny_low, high=self.canny_high),
                          (self.width, self.height), notices)
        self._prepared = (source, control, notices)

    def _check_scalars(self, preset: ModelPreset) -> None:
        for name in ("prompt", "negative_prompt", "base_model"):
            if not isinstance(getattr(self, name), str):
                raise InputError(f"{name.replace('_', ' ').capitalize()} must be text.")
        if not self.prompt.strip():
            raise InputError("The prompt is empty: describe the image; the control image gives its structure.")
        limit = preset.limit("max_prompt_chars", MAX_PROMPT_CHARS)
        if max(len(self.prompt), len(self.negative_prompt)) > limit:
            raise InputError(f"The prompt is longer than {limit} characters; shorten it.")
        if self.control_type not in KINDS:
            raise InputError(f"Control type {self.control_type!r} is not one of: {', '.join(KINDS)}.")
        for name in ("canny_low", "canny_high", "steps", "seed", "width", "height"):
            setattr(self, name, whole(name.replace("_", " ").capitalize(), getattr(self, name)))
        for name in ("conditioning_scale", "control_start", "control_end", "guidance"):
            setattr(self, name, number(name.replace("_", " ").capitalize(), getattr(self, name)))
        if not 0.0 <= self.conditioning_scale <= 2.0:
            raise InputError(f"Conditioning strength {self.conditioning_scale:g} is out of range: use 0 to 2.")
        if not 0.0 <= self.control_start < self.control_end <= 1.0:
            raise InputError(f"Control start {self.control_start:g} and end {self.control_end:g} do not work: use "
                             "0 <= start < end <= 1 (the fraction of the steps the ControlNet acts on).")
        if not 1 <= self.steps <= preset.limit("max_steps", 150):
            raise InputError(f"Steps {self.steps} is out of range: use 1 to {preset.limit('max_steps', 150)}.")
        if not 0.0 <= self.guidance <= 30.0:
            raise InputError(f"Guidance {self.guidance:g} is out of range: use 0 to 30.")
        if not 0 <= self.seed < 2**32:
            raise InputError(f"Seed {self.seed} is out of range: use 0 to {2**32 - 1}.")
        multiple, lo, hi = preset.limit("size_multiple", 8), preset.limit("min_size", 64), preset.limit("max_size", 2048)
        for name in ("width", "height"):
            value = getattr(self, name)
            if not lo <= value <= hi or value % multiple:
                raise InputError(f"{name.capitalize()} {value} does not work: use a multiple of {multiple} from "
                                 f"{lo} to {hi}.")

    def take_prepared(self) -> tuple[Image.Image, Image.Image | None, list[str]]:
        """What `check` prepared, handed over once."""
        prepared = self.__dict__.pop("_prepared", None)
        if prepared is None:
            raise RuntimeError("Request.check(preset) must run before each run(); it reads the source")
        return prepared


def fit(control: Image.Image, size: tuple[int, int], notices: list[str]) -> Image.Image:
    """The control image at the output size; a resize is said (the structure is stretched with it)."""
    if control.size == tuple(size):
        return control
    notices.append(f"The control image is {control.width}×{control.height} and the output {size[0]}×{size[1]}: "
                   "it was resized to the output size.")
    return control.resize(size, Image.Resampling.BILINEAR)


@dataclass
class ControlNet:
    """A loaded ControlNet and the depth estimator that goes with it (None when not available)."""

    controlnet: Any
    depth_model: Any = None
    depth_processor: Any = None
    union: bool = False          # a ControlNetUnionModel: the request's control type is passed as its mode


@dataclass
class Joined:
    """The ControlNet pipeline built over a loaded text-to-image pipeline, and the ControlNet."""

    pipe: Any
    control: ControlNet


def load(source: str, device: str, dtype, runtime, **kwargs) -> tuple[ControlNet, list[str]]:
    """Load a ControlNet from a folder or hub id (diffusers layout), and a depth estimator: the
    folder's own `depth_estimator/`, else DEPTH_ESTIMATOR when it is on this machine."""
    from diffusers import AutoModel, ControlNetUnionModel

    kwargs.pop("weight_file", None)
    # AutoModel reads the class from the config: ControlNetModel (SD 1.5, SDXL), ControlNetUnionModel
    # (SDXL union) or FluxControlNetModel.
    net = AutoModel.from_pretrained(source, dtype=dtype, **kwargs).to(device).eval()
    local = Path(source) / "depth_estimator"
    estimator_source = local if local.is_dir() else DEPTH_ESTIMATOR
    try:
        extra = {} if local.is_dir() else {"local_files_only": kwargs.get("local_files_only", False)}
        model, processor = load_depth_estimator(estimator_source, device, dtype, **extra)
    except (OSError, ValueError):   # not downloaded: depth is refused with a message when asked for
        model = processor = None
    return ControlNet(net, model, processor, union=isinstance(net, ControlNetUnionModel)), []


def join(control: ControlNet, t2i_pipe) -> Joined:
    """diffusers' ControlNet pipeline of the base's family (SD 1.5, SDXL, Flux) over the loaded
    text-to-image pipeline's modules: nothing copied, the shared pipeline untouched (`pipeline_over`)."""
    # diffusers' auto pipeline maps a union ControlNet in from_pretrained but not in from_pipe: named here.
    kind = "StableDiffusionXLControlNetUnionPipeline" if control.union else "AutoPipelineForText2Image"
    return Joined(pipeline_over(kind, t2i_pipe, controlnet=control.controlnet), control)


def run(joined: Joined, request: Request, progress: Progress) -> Result:
    """One image of the base model steered by the control image."""
    import torch

    from pipelines import openvino_backend
    progress.check()
    source, control, notices = request.take_prepared()
    if control is None:
        progress.update(0, request.steps, "estimating depth")
        estimator = (joined.control.depth_model, joined.control.depth_processor) if joined.control.depth_model else None
        control = fit(control_map("depth", source, estimator), (request.width, request.height), notices)
    view = request_view(joined.pipe, make_scheduler(joined.pipe, "default"))
    backend, said = openvino_backend.swap(joined.pipe, view, progress)   # a ControlNet view stays on PyTorch
    notices += said + prompt_notices(view, request.prompt)
    kwargs: dict[str, Any] = dict(
        prompt=request.prompt.strip(), negative_prompt=request.negative_prompt.strip() or None,
        width=request.width, height=request.height, num_inference_steps=request.steps,
        guidance_scale=request.guidance, controlnet_conditioning_scale=request.conditioning_scale,
        control_guidance_start=request.control_start, control_guidance_end=request.control_end,
        generator=generators([request.seed])[0], output_type="pil",
        callback_on_step_end=step_callback(progress, request.steps, size=(request.height, request.width)))
    kwargs["control_image" if accepts(view, "control_image") else "image"] = control   # Flux names it so
    if joined.control.union:
        kwargs.update(control_image=[control], control_mode=[UNION_MODES[request.control_type]])
    with torch.inference_mode():
        output = view(**kwargs)
    progress.update(request.steps, request.steps, "done")
    if safety_checker.verdicts(output, 1)[0]:
        return Result([], notices + [safety_checker.withheld_notice(1, 1, request.seed)])
    params = dict(task=TASK, prompt=request.prompt, negative_prompt=request.negative_prompt,
                  base_model=request.base_model, control_type=request.control_type, canny_low=request.canny_low,
                  canny_high=request.canny_high, conditioning_scale=request.conditioning_scale,
                  control_start=request.control_start, control_end=request.control_end, steps=request.steps,
                  guidance=request.guidance, seed=request.seed, width=request.width, height=request.height,
                  control_sha256=hashlib.sha256(control.tobytes()).hexdigest(),
                  control_mode=UNION_MODES[request.control_type] if joined.control.union else None,
                  scheduler_class=type(view.scheduler).__name__, pipeline=type(view).__name__,
                  safety_checker=safety_checker.state(view), backend=backend)
    return Result([ImageArtifact(image=output.images[0], params=params)], notices)


def _save_tiny_controlnet(dest: Path, net, zero_modules: list) -> None:
    """Save a ControlNet made from a tiny base's denoiser (as the published ControlNets were
    initialised) in the hub layout, with a tiny Depth Anything beside it in `depth_estimator/`.
    A fresh ControlNet's output layers are zero, so it would not steer anything yet; the twin's
    are random, so a test can see the control image and the strength take effect."""
    import torch

    from pipelines.control_maps import build_tiny_depth_anything

    for module in zero_modules:
        for param in module.parameters():
            torch.nn.init.normal_(param, std=0.5)
    net.save_pretrained(dest)
    build_tiny_depth_anything(Path(dest) / "depth_estimator")


def build_tiny_controlnet_sd15(dest: Path) -> None:
    """A ControlNet for the tiny SD 1.5 (its UNet's configuration, random weights)."""
    from diffusers import ControlNetModel

    from pipelines.tiny.image import sd15_components

    net = ControlNetModel.from_unet(sd15_components()["unet"])
    _save_tiny_controlnet(dest, net, [net.controlnet_down_blocks, net.controlnet_mid_block])


def build_tiny_controlnet_sdxl(dest: Path) -> None:
    """A ControlNet for the tiny SDXL (its UNet's configuration, random weights)."""
    from diffusers import ControlNetModel

    from pipelines.tiny.image import sdxl_components

    net = ControlNetModel.from_unet(sdxl_components()["unet"])
    _save_tiny_controlnet(dest, net, [net.controlnet_down_blocks, net.controlnet_mid_block])


def build_tiny_controlnet_union_sdxl(dest: Path) -> None:
    """A union ControlNet (xinsir/controlnet-union-sdxl-1.0's ControlNetUnionModel class and file
    layout) for the tiny SDXL: its UNet's configuration, the control-type transformer at the
    UNet's first width, random weights."""
    import inspect

    from diffusers import ControlNetUnionModel

    from pipelines.tiny.image import sdxl_components

    unet = sdxl_components()["unet"]
    width = unet.config.block_out_channels[0]
    config = dict(ControlNetUnionModel.from_unet(unet, load_weights_from_unet=False).config)
    accepted = set(inspect.signature(ControlNetUnionModel.__init__).parameters)
    # four widths: the condition encoder downsamples 8x, as the VAE does
    config.update(num_trans_channel=width, num_trans_head=1, num_proj_channel=width,
                  conditioning_embedding_out_channels=(4, 8, 8, 16))
    net = ControlNetUnionModel(**{k: v for k, v in config.items() if k in accepted})
    own = net.state_dict()   # the UNet's encoder weights, as published ControlNets start from them
    net.load_state_dict({k: v for k, v in unet.state_dict().items() if k in own and own[k].shape == v.shape},
                        strict=False)
    _save_tiny_controlnet(dest, net, [net.controlnet_down_blocks, net.controlnet_mid_block, net.spatial_ch_projs])


def build_tiny_controlnet_flux(dest: Path) -> None:
    """A Flux ControlNet for the tiny Flux (its transformer's configuration, one block of each kind)."""
    from diffusers import FluxControlNetModel

    from pipelines.tiny.image import flux_components

    transformer = flux_components()["transformer"]
    net = FluxControlNetModel.from_transformer(transformer, num_layers=1, num_single_layers=1,
                                               attention_head_dim=16, num_attention_heads=2)
    _save_tiny_controlnet(dest, net, [net.controlnet_blocks, net.controlnet_single_blocks, net.controlnet_x_embedder])


CONTRACT = Task(TASK, Request, artifacts=("image",), joins=("text_to_image", "base_model"), join=join,
                tab="Structure control")
