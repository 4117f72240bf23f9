"""Upscaling: 2x to 4x by a super-resolution network (Real-ESRGAN family), read with spandrel.

spandrel reads the published checkpoints of many architectures (ESRGAN/RRDB, Real-ESRGAN
Compact, SwinIR, HAT...) from their own state-dict layout and builds the network, so a preset is
just a checkpoint file. `run` reads as fixed steps: 1. the checked source (`Request.check`
refused a result over the pixel limit before anything ran), 2. one or more passes of the
network, each tiled (pipelines/tiling.py) so a 4K result needs memory for a few tiles and one
band of rows, not for the whole picture, 3. the result at exactly `scale` times the source.

A network whose own factor is larger than asked (4x net, 2x asked) has each tile's output scaled
down before blending; one whose factor is smaller (2x net, 4x asked) runs twice.

A "creative" upscale (`creative_model`: a variation preset) then adds detail by a tiled
image-to-image pass at low strength over the super-resolved picture (pipelines/creative_pass.py),
on the text-to-image model's own loaded weights: the runner holds that preset beside the upscaler
(`Task.joins`: an optional `Join` of any family) and `join` puts the two together.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from pipelines import safety_checker
from pipelines.checks import number, whole
from pipelines.contract import Join, Task, upload
from pipelines.errors import InputError, PresetError
from pipelines.fill import open_image
from pipelines.media import ImageArtifact, Result
from pipelines.presets import ModelPreset
from pipelines.progress import Progress
from pipelines.tiling import tile_plan, upscale_tiled

TASK = "upscale"
MIN_SCALE, MAX_SCALE = 2, 4
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")
DEFAULT_MAX_PIXELS = 100_000_000


@dataclass
class Request:
    """One upscale: `image` (a path or PIL image) made `scale` times larger on each side.

    `tile` is the side of the source square the network sees at once (smaller: less memory, a
    little slower); `overlap` the source pixels each tile shares with its neighbours, blended
    across so no seam shows.
    """

    image: Any = field(metadata=upload("image", flag="source", title="source image", relationship="parentOf"))
    model: str = "tiny-esrgan-x4"
    scale: int = field(default=4, metadata={"lo": MIN_SCALE, "hi": MAX_SCALE})
    tile: int = field(default=256, metadata={"lo": 32, "hi": 1024})
    overlap: int = field(default=16, metadata={"lo": 0, "hi": 128})
    # the creative pass: a variation preset ("" for none), and how it adds detail
    creative_model: str = ""
    creative_prompt: str = ""
    creative_strength: float = field(default=0.3, metadata={"lo": 0.0, "hi": 1.0})
    creative_steps: int = field(default=20, metadata={"lo": 1, "hi": 150})
    creative_guidance: float = field(default=5.0, metadata={"lo": 0.0, "hi": 30.0})
    creative_tile: int = field(default=512, metadata={"lo": 32, "hi": 1024})
    seed: int = 0
    # gallery id of the source when it is an earlier output: set by the studio, not typed (no widget)
    parent_id: str = field(default="", metadata={"internal": True})

    def check(self, preset: ModelPreset) -> None:
        """Validate the fields and read the source; refuse a result over the pixel limit (before
        anything runs) naming the largest factor that fits. Raises `InputError`."""
        self.scale = whole("Scale", self.scale)
        if not MIN_SCALE <= self.scale <= MAX_SCALE:
            raise InputError(f"Scale {self.scale} is out of range: use {MIN_SCALE} to {MAX_SCALE} (times each side).")
        self.tile, self.overlap = whole("Tile", self.tile), whole("Overlap", self.overlap)
        if not 32 <= self.tile <= 1024:
            raise InputError(f"Tile {self.tile} px is out of range: use 32 to 1024.")
        if not 0 <= self.overlap <= 128:
            raise InputError(f"Overlap {self.overlap} px is out of range: use 0 to 128.")
        if not isinstance(self.parent_id, str):
            raise InputError("Parent id must be text.")
        notices: list[str] = []
        self._check_creative(preset, notices)
        if self.overlap > self.tile // 4:  # the blend strips of one tile's two sides must not meet
            notices.append(f"Overlap {self.overlap} px was lowered to {self.tile // 4} px, a quarter of the tile.")
            self.overlap = self.tile // 4
        limit = max_result_pixels(preset)
        source = open_image(self.image, "source image", notices, limit, preset.limit("min_size", 8))
        w, h = source.size
        check_result_size(w, h, self.scale, limit)
        self._prepared = (source, notices)

    def _check_creative(self, preset: ModelPreset, notices: list[str]) -> None:
        """The creative pass's fields (checked whether or not it runs: a typo is said at once)."""
        for name in ("creative_model", "creative_prompt"):
            if not isinstance(getattr(self, name), str):
                raise InputError(f"{name.replace('_', ' ').capitalize()} must be text.")
        limit = preset.limit("max_prompt_chars", 2000)
        if len(self.creative_prompt) > limit:
            raise InputError(f"The creative prompt is longer than {limit} characters; shorten it.")
        self.creative_steps, self.seed = whole("Creative steps", self.creative_steps), whole("Seed", self.seed)
        self.creative_tile = whole("Creative tile", self.creative_tile)
        self.creative_strength = number("Creative strength", self.creative_strength)
        self.creative_guidance = number("Creative guidance", self.creative_guidance)
        for label, value, lo, hi in (("Creative strength", self.creative_strength, 0, 1),
                                     ("Creative steps", self.creative_steps, 1, 150),
                                     ("Creative guidance", self.creative_guidance, 0, 30),
                                     ("Creative tile", self.creative_tile, 32, 1024),
                                     ("Seed", self.seed, 0, 2**32 - 1)):
            if not lo <= value <= hi:
                raise InputError(f"{label} {value:g} is out of range: use {lo} to {hi}.")
        if self.creative_model and 0 < self.creative_strength * self.creative_steps < 1:
            raise InputError(f"With creative strength {self.creative_strength:g}, {self.creative_steps} step(s) run "
                             f"no denoising step: use at least {math.ceil(1 / self.creative_strength)} steps, or "
                             "strength 0 for the VAE alone.")
        if self.creative_tile % 16:  # Flux and SD3 latents need 16 px
            notices.append(f"Creative tile {self.creative_tile} px was rounded to {self.creative_tile // 16 * 16} px, "
                           "a multiple of 16 as the models need.")
            self.creative_tile = self.creative_tile // 16 * 16

    def take_prepared(self) -> tuple[Image.Image, list[str]]:
        """The source `check` read, handed over once (the job record keeps the request, not the image)."""
        prepared = self.__dict__.pop("_prepared", None)
        if prepared is None:
            raise RuntimeError("Request.check(preset) must run before each run(); it reads the source")
        return prepared


def max_result_pixels(preset: ModelPreset) -> int:
    """The largest result in pixels: the preset's limit, and never more than the studio lets
    Pillow open (`Image.MAX_IMAGE_PIXELS`, the studio's max_image_pixels setting), since the
    published file is opened again to be checked and signed."""
    limits = [preset.limit("max_pixels", DEFAULT_MAX_PIXELS)]
    if Image.MAX_IMAGE_PIXELS:
        limits.append(int(Image.MAX_IMAGE_PIXELS))
    return min(limits)


def check_result_size(w: int, h: int, scale: int, limit: int) -> None:
    """Refuse a `scale`x result of a w×h source over `limit` pixels, naming the largest factor that fits."""
    out_w, out_h = w * scale, h * scale
    if out_w * out_h <= limit:
        return
    largest = math.isqrt(limit // (w * h)) if w * h else 0
    fits = (f"the largest factor that fits is {largest}x" if largest >= MIN_SCALE else
            f"even {MIN_SCALE}x does not fit; crop or scale the source down to at most "
            f"{limit // MIN_SCALE ** 2:,} pixels first")
    raise InputError(f"A {scale}x upscale of this {w}×{h} source would be {out_w}×{out_h} "
                     f"({out_w * out_h:,} pixels), over the limit of {limit:,} pixels: {fits}. Nothing was run.")


@dataclass
class Upscaler:
    """A loaded super-resolution network and what spandrel read about it."""

    net: Any                       # torch.nn.Module
    scale: int                     # the network's own factor
    multiple_of: int               # input sides must divide by this (pixel-unshuffle nets: 2 or 4)
    minimum: int                   # smallest input side
    architecture: str
    file: str


def weights_file(source: str, weight_file: str = "", revision: str = "main", local_files_only: bool = False) -> Path:
    """The checkpoint to read: `weight_file` inside a folder or hub repository, or a folder's one
    checkpoint file."""
    folder = Path(source)
    if folder.is_dir():
        if weight_file:
            return folder / weight_file
        found = sorted(p for p in folder.iterdir() if p.name.endswith(WEIGHT_SUFFIXES))
        if len(found) != 1:
            raise PresetError(f"{source} holds {len(found)} checkpoint files; name one with weight_file.")
        return found[0]
    if not weight_file:
        raise PresetError(f"The upscaler preset for {source} must name its checkpoint (weight_file).")
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(source, weight_file, revision=revision, local_files_only=local_files_only))


def load(source: str, device: str, dtype, runtime, **kwargs) -> tuple[Upscaler, list[str]]:
    """Read a checkpoint with spandrel (which detects its architecture from the state dict) and
    place the network on the device, in half precision only where the architecture supports it."""
    import torch
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    path = weights_file(source, kwargs.get("weight_file", ""), kwargs.get("revision", "main"),
                        kwargs.get("local_files_only", False))
    try:
        descriptor = ModelLoader().load_from_file(path)
    except UnsupportedModelError:
        raise PresetError(f"{path.name} is not a super-resolution checkpoint spandrel knows.") from None
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.scale < 2:
        raise PresetError(f"{path.name} is not an upscaler (it does not enlarge images).")
    notices = []
    half_ok = {torch.float16: descriptor.supports_half, torch.bfloat16: descriptor.supports_bfloat16}
    if dtype in half_ok and not half_ok[dtype]:
        notices.append(f"{descriptor.architecture.name} does not run in reduced precision; it runs in float32.")
        dtype = torch.float32
    descriptor.to(device).eval()
    net = descriptor.model.to(dtype)
    req = descriptor.size_requirements
    return Upscaler(net, int(descriptor.scale), max(1, req.multiple_of), max(1, req.minimum),
                    descriptor.architecture.name, path.name), notices


@dataclass
class Upscaling:
    """What a job runs: the upscaler and, for a creative upscale, the image-to-image pipeline."""

    upscaler: Upscaler
    img2img: Any = None


def join(upscaler: Upscaler, img2img) -> Upscaling:
    """The upscaler with the variation preset's image-to-image pipeline the runner holds for the
    creative pass (None for a plain upscale): a view over the text-to-image weights, no copy."""
    return Upscaling(upscaler, img2img)


def run(pipe: Upscaling, request: Request, progress: Progress) -> Result:
    """Upscale the source by `request.scale`, then add detail when a creative model is named; one
    artifact, signed later with the source as parent."""
    from pipelines.creative_pass import Withheld, creative_pass, tile_count

    progress.check()
    source, notices = request.take_prepared()
    net = pipe.upscaler
    passes = passes_for(request.scale, net.scale)
    image, tiles_done = source, 0
    total = sum(len(row) for k in range(len(passes))
                for row in tile_plan(*_size_at(source.size, net.scale, k), request.tile, request.overlap))
    sr_tiles = total
    creative = bool(request.creative_model)
    if creative:
        total += tile_count((source.width * request.scale, source.height * request.scale), request.creative_tile)
    for factor in passes:
        image, done = upscale_tiled(net, image, factor, request.tile, request.overlap, progress, tiles_done, total)
        tiles_done += done
    params = dict(task=TASK, scale=request.scale, tile=request.tile, overlap=request.overlap,
                  parent_id=request.parent_id, source_width=source.width, source_height=source.height,
                  width=image.width, height=image.height, network_scale=net.scale, passes=len(passes),
                  tiles=sr_tiles, architecture=net.architecture, weights_file=net.file, creative=creative)
    if request.scale != net.scale:
        notices.append(f"This network enlarges {net.scale}x; the {request.scale}x result was made in "
                       f"{len(passes)} pass(es){' and scaled down to the exact size' if passes[-1] < net.scale else ''}.")
    if creative:
        try:
            image, creative_params, creative_notices = creative_pass(pipe.img2img, image, request, progress,
                                                                     tiles_done, total)
        except Withheld:
            return Result([], notices + [safety_checker.withheld_notice(1, 1, request.seed)])
        params.update(creative_params)
        notices += creative_notices
    progress.update(total, total, "done")
    return Result([ImageArtifact(image=image, params=params)], notices)


def passes_for(scale: int, net_scale: int) -> list[float]:
    """The factor of each pass: the network's own factor, the last one reduced to land on `scale`."""
    n = max(1, math.ceil(round(math.log(scale) / math.log(net_scale), 6)))
    return [net_scale] * (n - 1) + [scale / net_scale ** (n - 1)]


def _size_at(size: tuple[int, int], net_scale: int, k: int) -> tuple[int, int]:
    return size[0] * net_scale ** k, size[1] * net_scale ** k


# ---- tiny twins: the published state-dict layouts at tiny width, random weights

def _conv(sd: dict, name: str, out_ch: int, in_ch: int, scale: float = 0.1) -> None:
    import torch

    # basicsr initialises residual convs small (default_init_weights scale 0.1); so do we.
    sd[f"{name}.weight"] = torch.randn(out_ch, in_ch, 3, 3) * scale / math.sqrt(in_ch * 9)
    sd[f"{name}.bias"] = torch.zeros(out_ch)


def build_tiny_x4(dest: Path, num_feat: int = 8, num_block: int = 1, num_grow_ch: int = 32) -> None:
    """Real-ESRGAN x4plus's RRDBNet (basicsr key names, saved as {"params_ema": ...} in a .pth
    like RealESRGAN_x4plus.pth) at tiny width with random weights. The grow width stays 32:
    spandrel's RRDB fixes it, as the published checkpoints do."""
    import torch

    sd: dict = {}
    _conv(sd, "conv_first", num_feat, 3, 1.0)
    for b in range(num_block):
        for r in (1, 2, 3):
            for k in range(1, 6):
                out_ch = num_feat if k == 5 else num_grow_ch
                _conv(sd, f"body.{b}.rdb{r}.conv{k}", out_ch, num_feat + (k - 1) * num_grow_ch)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        _conv(sd, name, num_feat, num_feat, 1.0)
    _conv(sd, "conv_last", 3, num_feat, 1.0)
    torch.save({"params_ema": sd}, Path(dest) / "RealESRGAN_x4plus.pth")


def build_tiny_compact_x4(dest: Path, num_feat: int = 4, num_conv: int = 2) -> None:
    """realesr-general-x4v3's SRVGGNetCompact (body.N conv / PReLU layout, saved as
    {"params": ...}) at tiny width with random weights: cheap enough to upscale a 3000×2000
    picture 4x on a CPU in a test."""
    import torch

    sd: dict = {}
    _conv(sd, "body.0", num_feat, 3, 1.0)
    sd["body.1.weight"] = torch.full((num_feat,), 0.25)
    for i in range(num_conv):
        _conv(sd, f"body.{2 * i + 2}", num_feat, num_feat, 1.0)
        sd[f"body.{2 * i + 3}.weight"] = torch.full((num_feat,), 0.25)
    _conv(sd, f"body.{2 * num_conv + 2}", 3 * 4 * 4, num_feat, 1.0)
    torch.save({"params": sd}, Path(dest) / "realesr-general-x4v3.pth")


def is_downloaded(preset: ModelPreset) -> bool:
    """True when the preset's checkpoint is in the HF cache (upscalers are single files, which
    the diffusers-layout file selection does not cover)."""
    try:
        weights_file(preset.repo, preset.weight_file, preset.revision, local_files_only=True)
        return True
    except Exception:  # noqa: BLE001 - not in the cache, whatever the hub library raises
        return False


def download(preset: ModelPreset) -> Path:
    """Fetch the preset's one checkpoint file into the HF cache."""
    return weights_file(preset.repo, preset.weight_file, preset.revision)


def creative_edit(params) -> tuple[str, ...]:
    """A creative pass generated new detail over the resized picture: an edit after the resize."""
    return ("c2pa.edited",) if params.get("creative") else ()


CONTRACT = Task(TASK, Request, artifacts=("image",), text_field=None, is_downloaded=is_downloaded,
                download=download, tab="Upscale", edit_action="c2pa.resized", more_edit_actions=creative_edit,
                joins=(Join("variation", "creative_model", same_family=False, optional=True),), join=join)
