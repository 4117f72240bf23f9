"""Generative fill: inpaint, remove and extend (outpaint) through diffusers' AutoPipelineForInpainting.

`run` reads as fixed steps: 1. the checked source and mask (`Request.check` prepared them),
2. the prompts of the mode, 3. for each region of the mask, a crop around it scaled to the
model's working size, diffused on a per-request view of the shared pipeline, 4. the result
scaled back to the crop and composited through the feathered mask. The composite happens after
decoding, so every pixel outside the mask keeps the source's exact bytes, and a small mask on a
large photo costs a working-size diffusion, not a full-size one.

Models: dedicated inpainting models (SD 1.5 / SDXL inpainting with 9-channel UNets, Flux Fill),
or a text-to-image model's weights seen through `AutoPipelineForInpainting.from_pipe`
(`from_base`, called by the model layer), which adds no second copy of the weights.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
# torch is imported in the functions that run a model: the web app imports this module for its Request.
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from pipelines import safety_checker
from pipelines.contract import Task, upload
from pipelines.diffusion import accepts, generators, make_scheduler, pipeline_over, request_view, sent_prompts
from pipelines.errors import InputError
from pipelines.media import ImageArtifact, Result
from pipelines.presets import ModelPreset
from pipelines.progress import Progress

TASK = "fill"
MODES = ("fill", "remove", "extend")
MAX_PROMPT_CHARS = 2000
MAX_FEATHER = 256
# Coverage above which the source contributes nothing, so the run is text to image.
FULL_MASK_FRACTION = 0.99
# "Remove" is an inpaint preset tuned to erase: it asks for the surroundings, steers away from
# things, and regenerates the area completely.
REMOVE_PROMPT = "empty background, clean seamless continuation of the surroundings, nothing there"
REMOVE_NEGATIVE = "object, person, animal, text, logo, watermark, signature, frame, border, blurry"
# Pipelines that AutoPipelineForInpainting does not map but that are inpainting pipelines themselves.
DEDICATED_CLASSES = {"FluxFillPipeline"}


@dataclass
class Request:
    """One fill job. `image` and `mask` are file paths or PIL images (mask white = change it).

    `seed` is resolved (never None) before it reaches `run`. In "extend" mode the mask is made
    from the new border; set extend_* pixels or a target `aspect` such as "16:9", not both.
    """

    image: Any = field(metadata=upload("image", title="source image", relationship="parentOf"))
    mask: Any = field(default=None, metadata=upload("image", title="mask", relationship=None))
    prompt: str = ""
    model: str = "tiny-sd15-inpaint"
    mode: str = "fill"
    negative_prompt: str = ""
    strength: float = 1.0
    steps: int = 20
    guidance: float = 7.0
    seed: int = 0
    feather: int = 8
    extend_left: int = 0
    extend_right: int = 0
    extend_top: int = 0
    extend_bottom: int = 0
    aspect: str = ""
    scheduler: str = "default"
    crop: bool = True              # False: diffuse the whole image at its own size (slow; for comparison)
    parent_id: str = ""            # gallery id of the source when it is an earlier output (iterative edits)
    source_name: str = ""          # how the source is named in the recorded parameters

    def check(self, preset: ModelPreset) -> None:
        """Validate every field and read the source and mask; raise `InputError` saying what to do.

        Keeps the prepared canvas, mask and crop plan for `run` (not a dataclass field, so it is
        never recorded or copied into presets).
        """
        self._check_scalars(preset)
        notices: list[str] = []
        source = open_image(self.image, "source image", notices, preset.limit("max_pixels"),
                            preset.limit("min_size", 16))
        w, h = source.size
        pads = (0, 0, 0, 0)
        ran_as = "inpaint"
        if self.mode == "extend":
            if self.mask is not None:
                notices.append("A mask is not used when extending; the new border is the area filled.")
            pads = extension_for(w, h, self.aspect, (self.extend_left, self.extend_top, self.extend_right,
                                                     self.extend_bottom))
            canvas, mask, regions = _extend_canvas(source, pads, self.feather)
        else:
            if self.mask is None:
                raise InputError("There is no mask: paint over the area to change in the editor, or upload a mask "
                                 "(white = change), then run again.")
            mask = open_mask(self.mask, source.size, notices)
            coverage = np.count_nonzero(np.asarray(mask)) / (w * h)
            if coverage == 0:
                raise InputError("The mask is empty: paint over the area to change (or upload a mask where white "
                                 "marks it), then run again. Nothing was run.")
            canvas, regions = source, [mask]
            if coverage >= FULL_MASK_FRACTION:
                ran_as = "text_to_image"
                notices.append(f"The mask covers {coverage:.0%} of the image, so almost nothing of the source is "
                               "kept: this ran as text to image at the model's size, scaled to the source's size.")
        cw, ch = canvas.size
        max_size, max_pixels = preset.limit("max_size", 8192), preset.limit("max_pixels")
        if max(cw, ch) > max_size or (max_pixels and cw * ch > max_pixels):
            limit = f"{max_size} px a side" + (f" and {max_pixels:,} pixels" if max_pixels else "")
            raise InputError(f"The result would be {cw}×{ch}, over this model's limit of {limit}; "
                             f"extend by less or use a smaller source.")
        work, multiple = preset.limit("work_size", 512), max(8, preset.limit("size_multiple", 8))
        plans = []
        for region in regions:
            box = Box(0, 0, cw, ch) if not self.crop or ran_as == "text_to_image" else mask_boxes(region)
            plans.append(plan_crop(box, (cw, ch), work, multiple, whole=not self.crop and ran_as != "text_to_image"))
        self._prepared = _Prepared(canvas=canvas, mask=mask, regions=regions, plans=plans, notices=notices,
                                   source_size=(w, h), pads=pads, ran_as=ran_as)

    def _check_scalars(self, preset: ModelPreset) -> None:
        if self.mode not in MODES:
            raise InputError(f"Mode {self.mode!r} is not one of: {', '.join(MODES)}.")
        for name in ("prompt", "negative_prompt", "aspect", "scheduler", "parent_id", "source_name"):
            if not isinstance(getattr(self, name), str):
                raise InputError(f"{name.replace('_', ' ').capitalize()} must be text, not {getattr(self, name)!r}.")
        limit = preset.limit("max_prompt_chars", MAX_PROMPT_CHARS)
        for name in ("prompt", "negative_prompt"):
            if len(getattr(self, name)) > limit:
                raise InputError(f"The {name.replace('_', ' ')} is {len(getattr(self, name))} characters; "
                                 f"the limit is {limit}.")
        for name in ("steps", "seed", "feather", "extend_left", "extend_right", "extend_top", "extend_bottom"):
            value = getattr(self, name)
            if isinstance(value, float) and value.is_integer():
                setattr(self, name, value := int(value))
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"{name.replace('_', ' ').capitalize()} must be a whole number, not {value!r}.")
        for name, lo, hi in (("guidance", 0, 50), ("strength", 0, 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{name.capitalize()} must be a number, not {value!r}.")
            if not lo <= value <= hi:
                raise InputError(f"{name.capitalize()} {value} is out of range: use {lo} to {hi}.")
        if self.strength == 0:
            raise InputError("Strength 0 would change nothing: use a strength above 0 (1 repaints the area fully).")
        max_steps = preset.limit("max_steps", 150)
        if not 1 <= self.steps <= max_steps:
            raise InputError(f"Steps {self.steps} is out of range: use 1 to {max_steps}.")
        if self.mode == "fill" and self.steps * self.strength < 1:
            raise InputError(f"With strength {self.strength}, {self.steps} step(s) run no denoising step: "
                             f"use at least {math.ceil(1 / self.strength)} steps or a higher strength.")
        if not 0 <= self.seed < 2**32:
            raise InputError(f"Seed {self.seed} is out of range: use 0 to {2**32 - 1}.")
        if not 0 <= self.feather <= MAX_FEATHER:
            raise InputError(f"Feather {self.feather} px is out of range: use 0 to {MAX_FEATHER}.")
        if not isinstance(self.crop, bool):
            raise InputError("Crop must be true or false.")

    def take_prepared(self) -> "_Prepared":
        """What `check` prepared, handed over once: the job record keeps the request, and it
        should not keep full-size images alive with it."""
        prepared = self.__dict__.pop("_prepared", None)
        if prepared is None:
            raise RuntimeError("Request.check(preset) must run before each run(); it reads the source and mask")
        return prepared


@dataclass
class _Prepared:
    canvas: Image.Image            # RGB: the source, or the source on its extended canvas
    mask: Image.Image              # L, 0/255, canvas size: the union of the regions
    regions: list[Image.Image]     # one L mask per diffusion (one per extended side)
    plans: list[tuple[Box, tuple[int, int]]]  # (crop box on the canvas, model width/height) per region
    notices: list[str]
    source_size: tuple[int, int]
    pads: tuple[int, int, int, int]  # left, top, right, bottom
    ran_as: str


def _extend_canvas(source: Image.Image, pads: tuple[int, int, int, int], feather: int):
    """The larger canvas (the border pre-filled with the source's edge colours), its mask, and
    one region per extended side: the border plus a seam band of `feather` px inside the source,
    so the seam is regenerated and blended rather than left as a hard line."""
    left, top, right, bottom = pads
    w, h = source.size
    canvas = edge_extend(source, pads)
    cw, ch = canvas.size
    band = max(feather, 1) if feather else 0
    sides = {
        "left": ((0, 0, left, ch), (left, top, left + band, top + h)),
        "right": ((cw - right, 0, cw, ch), (left + w - band, top, left + w, top + h)),
        "top": ((0, 0, cw, top), (left, top, left + w, top + band)),
        "bottom": ((0, ch - bottom, cw, ch), (left, top + h - band, left + w, top + h)),
    }
    amounts = dict(left=left, top=top, right=right, bottom=bottom)
    regions = []
    for side in ("left", "right", "top", "bottom"):  # sides first so the corners exist before top/bottom
        if not amounts[side]:
            continue
        region = Image.new("L", (cw, ch), 0)
        border, seam = sides[side]
        region.paste(255, border)
        if band:
            region.paste(255, seam)
        regions.append(region)
    return canvas, combine_masks(regions, (cw, ch)), regions


def load(source: str, device: str, dtype: torch.dtype, runtime, **kwargs) -> tuple[Any, list[str]]:
    """Load an inpainting pipeline from a hub id or a folder and place it on the device.

    A text-to-image repository loads as the inpainting pipeline of its family (same weights);
    Flux Fill, which AutoPipelineForInpainting does not map, loads as itself.
    """
    from diffusers import AutoPipelineForInpainting, DiffusionPipeline

    from pipelines import openvino_backend
    from pipelines.device import place_pipeline

    config_kwargs = {k: v for k, v in kwargs.items() if k in ("revision", "local_files_only")}
    class_name = DiffusionPipeline.load_config(source, **config_kwargs).get("_class_name", "")
    loader = DiffusionPipeline if class_name in DEDICATED_CLASSES else AutoPipelineForInpainting
    kwargs.update(safety_checker.load_kwargs(source, runtime, **kwargs))  # the operator's setting
    pipe = loader.from_pretrained(source, dtype=dtype, **kwargs)
    notices = place_pipeline(pipe, device, runtime)
    return pipe, notices + openvino_backend.attach(pipe, source, device, runtime)  # exported on first run


BASE_TASK = "text_to_image"


def from_base(t2i_pipe) -> Any:
    """An inpainting pipeline over a loaded text-to-image pipeline's modules (the model layer calls
    this when a fill preset names a text-to-image preset's weights): no weights copied, and the
    shared pipeline is not touched (`pipeline_over`)."""
    return pipeline_over("AutoPipelineForInpainting", t2i_pipe)


def run(pipe, request: Request, progress: Progress) -> Result:
    """Fill, remove or extend; one artifact at the source's size (extend: the new size)."""
    import torch

    from pipelines import openvino_backend
    progress.check()
    prep = request.take_prepared()
    notices = list(prep.notices)
    sent = sent_prompts(pipe, *_prompts(request))
    notices += sent.notices
    strength = _strength(request, prep, notices)
    steps_run = max(1, int(request.steps * strength))
    total = steps_run * len(prep.plans)
    result = np.asarray(prep.canvas, dtype=np.uint8).copy()
    crops = []
    for i, ((box, (mw, mh)), region) in enumerate(zip(prep.plans, prep.regions)):
        view = request_view(pipe, make_scheduler(pipe, request.scheduler))
        backend, said = openvino_backend.swap(pipe, view, progress)
        notices += [n for n in said if n not in notices]   # once, not once per region
        crop_img = Image.fromarray(result[box.y0:box.y1, box.x0:box.x1]).resize((mw, mh), Image.Resampling.LANCZOS)
        region_crop = region.crop(tuple(box))
        # BOX averaging then "any coverage" keeps every masked pixel masked at the model's size.
        model_mask = region_crop.resize((mw, mh), Image.Resampling.BOX).point(lambda v: 255 if v else 0)
        kwargs: dict[str, Any] = dict(
            image=crop_img, mask_image=model_mask, height=mh, width=mw,
            num_inference_steps=request.steps, guidance_scale=request.guidance,
            generator=generators([request.seed])[0], output_type="pil",
            callback_on_step_end=_callback(progress, i * steps_run, total, steps_run, len(prep.plans), i, (mh, mw)),
            **sent.kwargs())
        if accepts(view, "strength"):
            kwargs["strength"] = strength
        with torch.inference_mode():
            output = view(**kwargs)
        if safety_checker.verdicts(output, 1)[0]:  # blanked by the model's own checker: nothing to hand out
            progress.update(total, total, "done")
            return Result([], notices + [_withheld(i, len(prep.plans))])
        _paste(result, box, output.images[0], feather_alpha(region_crop, request.feather))
        crops.append(dict(box=list(box), model_size=[mw, mh]))
    progress.update(total, total, "done")

    image = Image.fromarray(result, "RGB")
    params = _params(request, sent.prompt, sent.negative, strength, view, prep, crops, image.size)
    params["safety_checker"] = safety_checker.state(view)
    params["backend"] = backend
    if prep.ran_as == "inpaint" and request.crop and len(crops) == 1 and crops[0]["box"] != [0, 0, *image.size]:
        b = crops[0]["box"]
        notices.append(f"Worked on a {b[2] - b[0]}×{b[3] - b[1]} crop around the mask; the rest of the "
                       f"{image.width}×{image.height} image is unchanged.")
    # The mask goes with the image: publishing watermarks only inside it, so the rest stays the source's.
    return Result([ImageArtifact(image=image, params=params, changed_mask=prep.mask)], notices)


def _strength(request: Request, prep: _Prepared, notices: list[str]) -> float:
    """The strength the run uses: the new border, a removal and a full mask keep nothing of what was
    there, so they repaint fully (and a notice says so when the visitor asked for less)."""
    full = request.mode in ("extend", "remove") or prep.ran_as == "text_to_image"
    strength = 1.0 if full else float(request.strength)
    if strength != request.strength:
        notices.append(f"Strength {request.strength} was raised to 1: in {request.mode} mode"
                       f"{' with a full mask' if request.mode == 'fill' else ''} the area is repainted completely.")
    return strength


def _paste(result: np.ndarray, box: Box, generated: Image.Image, alpha: np.ndarray) -> None:
    """Blend `generated` into `result`'s `box` by `alpha`; where alpha is 0 the source bytes are kept
    as they are, not recomputed."""
    if generated.size != (box.width, box.height):
        generated = generated.resize((box.width, box.height), Image.Resampling.LANCZOS)
    window = result[box.y0:box.y1, box.x0:box.x1]
    blended = window * (1 - alpha[..., None]) + np.asarray(generated.convert("RGB"), np.float32) * alpha[..., None]
    result[box.y0:box.y1, box.x0:box.x1] = np.where(alpha[..., None] > 0, np.rint(blended), window).astype(np.uint8)


def _withheld(region: int, regions: int) -> str:
    where = f"region {region + 1} of {regions} of the mask was flagged" if regions > 1 else ""
    return safety_checker.withheld_notice(1, 1, where=where)


def _prompts(request: Request) -> tuple[str, str]:
    prompt, negative = request.prompt.strip(), request.negative_prompt.strip()
    if request.mode == "remove":
        prompt = f"{prompt}, {REMOVE_PROMPT}" if prompt else REMOVE_PROMPT
        negative = f"{negative}, {REMOVE_NEGATIVE}" if negative else REMOVE_NEGATIVE
    return prompt, negative


def _callback(progress: Progress, offset: int, total: int, steps_run: int, regions: int, index: int,
              size: tuple[int, int]):
    """Report each step; with a previewer on the job, a live preview of the crop being diffused."""
    stage = "denoising" if regions == 1 else f"denoising region {index + 1}/{regions}"

    def callback(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        done = min(step + 1, steps_run)
        previewer, preview = progress.previewer, None
        if previewer is not None and previewer.due(done, steps_run) and "latents" in callback_kwargs:
            preview = previewer.decode(pipe, callback_kwargs["latents"], *size)
        progress.update(offset + done, total, stage, preview=preview)
        return callback_kwargs

    return callback


def _params(request: Request, prompt: str, negative: str, strength: float, view, prep: _Prepared,
            crops: list[dict], size: tuple[int, int]) -> dict[str, Any]:
    params = {k: v for k, v in asdict(request).items() if k not in ("image", "mask")}
    left, top, right, bottom = prep.pads
    params.update(task=TASK, prompt_sent=prompt, negative_prompt_sent=negative, strength=strength,
                  width=size[0], height=size[1], source_width=prep.source_size[0], source_height=prep.source_size[1],
                  extend_left=left, extend_top=top, extend_right=right, extend_bottom=bottom,
                  mask_pixels=int(np.count_nonzero(np.asarray(prep.mask))), ran_as=prep.ran_as, crops=crops,
                  mask_sha256=hashlib.sha256(prep.mask.tobytes()).hexdigest(),
                  scheduler_class=type(view.scheduler).__name__, pipeline=type(view).__name__)
    return params


# ---- images, masks and geometry (PIL and numpy; no model here)

class Box(NamedTuple):
    """A rectangle on the canvas, right and bottom edges excluded (PIL's convention)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def _open(value: Any, title: str) -> Image.Image:
    if isinstance(value, Image.Image):
        return value
    try:
        return Image.open(value)
    except FileNotFoundError:
        raise InputError(f"The {title} file is missing; upload it again.") from None
    except UnidentifiedImageError:
        raise InputError(f"The {title} is not an image this studio can read: upload a PNG, JPEG or WebP picture.") from None
    except Image.DecompressionBombError:
        raise InputError(f"The {title} has far too many pixels to open safely; scale it down first.") from None
    except (OSError, ValueError, TypeError) as e:
        raise InputError(f"The {title} could not be opened ({type(e).__name__}); upload it again or try another file.") from None


def _is_16_bit(im: Image.Image) -> bool:
    # A 48-bit RGB PNG opens as 8-bit "RGB" with a ";16" raw mode, seen only before loading.
    return im.mode.startswith("I;16") or im.mode == "I" or any(";16" in str(t.args) for t in (getattr(im, "tile", None) or []))


def open_image(value: Any, title: str, notices: list[str], max_pixels: int | None = None,
               min_size: int = 16) -> Image.Image:
    """An 8-bit RGB image from a path or PIL image; conversions are said in `notices`,
    and anything unusable raises `InputError` with what to do."""
    im = _open(value, title)
    w, h = im.size
    if max_pixels and w * h > max_pixels:
        raise InputError(f"The {title} is {w}×{h} ({w * h:,} pixels), over this model's limit of {max_pixels:,} "
                         f"pixels; scale it down and try again.")
    if min(w, h) < min_size:
        raise InputError(f"The {title} is {w}×{h}; it needs at least {min_size} px on each side.")
    deep = _is_16_bit(im)
    try:
        im.load()
    except (OSError, SyntaxError, ValueError):
        raise InputError(f"The {title} is damaged or cut short and cannot be read; upload the file again.") from None
    if im.getexif().get(0x0112, 1) not in (1, None):
        im = ImageOps.exif_transpose(im)
        notices.append(f"The {title} was turned upright as its camera orientation tag says.")
    if im.mode == "F":
        raise InputError(f"The {title} is a 32-bit floating-point image; save it as an 8-bit PNG or JPEG first.")
    if im.mode.startswith("I"):
        # Pillow clips 16-bit values when converting to 8 bits; scale them instead.
        levels = np.asarray(im, dtype=np.float64) / 257.0
        im = Image.fromarray(np.clip(np.rint(levels), 0, 255).astype(np.uint8), "L")
    if deep:
        notices.append(f"The {title} has 16 bits per channel; it was reduced to 8 bits.")
    if im.mode in ("P", "PA"):
        has_alpha = im.mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
        notices.append(f"The {title} is a palette (indexed-colour) image; it was converted to full colour.")
    if "A" in im.getbands() or im.mode in ("La", "RGBa"):
        im = im.convert("RGBA")
        if im.getchannel("A").getextrema()[0] < 255:
            im = Image.alpha_composite(Image.new("RGBA", im.size, "white"), im)
            notices.append(f"The {title} has transparent areas; they were flattened onto white.")
    if im.mode in ("1", "L"):
        notices.append(f"The {title} is black-and-white or grayscale; it was converted to RGB.")
    elif im.mode not in ("RGB", "RGBA"):
        notices.append(f"The {title} was converted from {im.mode} to RGB.")
    return im if im.mode == "RGB" else im.convert("RGB")


def open_mask(value: Any, size: tuple[int, int], notices: list[str]) -> Image.Image:
    """A 0/255 mask of `size` (white = change) from a path or PIL image.

    A mask with transparency counts its painted (non-transparent) pixels; an opaque one its
    light pixels. A mask of another size but the same proportions is scaled to the image, never
    the other way round; one of other proportions is refused.
    """
    im = _open(value, "mask")
    try:
        im.load()
    except (OSError, SyntaxError, ValueError):
        raise InputError("The mask file is damaged or cut short; upload it again or draw the mask.") from None
    if im.mode == "P" and "transparency" in im.info or im.mode == "PA":
        im = im.convert("RGBA")
    if "A" in im.getbands() and im.getchannel("A").getextrema()[0] < 255:
        mask = im.getchannel("A").point(lambda v: 255 if v > 0 else 0)
    elif im.mode.startswith("I") or im.mode == "F":
        mask = Image.fromarray(((np.asarray(im, np.float64) > np.asarray(im).max() / 2) * 255).astype(np.uint8), "L")
    else:
        mask = im.convert("L").point(lambda v: 255 if v >= 128 else 0)
    if mask.size != size and abs(mask.width * size[1] - mask.height * size[0]) > max(mask.size) + max(size):
        # Scaling would stretch what was painted to other places: a mask for another picture.
        raise InputError(f"The mask is {mask.width}×{mask.height}, not the shape of the image ({size[0]}×{size[1]}): "
                         "upload a mask of the same size (or proportions), or paint it in the editor.")
    if mask.size != size:
        notices.append(f"The mask is {mask.width}×{mask.height} and the image {size[0]}×{size[1]}: the mask was "
                       "scaled to the image (the image itself is not changed).")
        mask = mask.resize(size, Image.Resampling.NEAREST)
    return mask


def combine_masks(masks: list[Image.Image], size: tuple[int, int]) -> Image.Image:
    """The union of 0/255 masks, each scaled to `size` first."""
    union = np.zeros((size[1], size[0]), np.uint8)
    for m in masks:
        m = m.convert("L")
        if m.size != size:
            m = m.resize(size, Image.Resampling.NEAREST)
        union = np.maximum(union, np.asarray(m))
    return Image.fromarray(np.where(union > 0, 255, 0).astype(np.uint8), "L")


def mask_from_layers(layers: list[Any]) -> Image.Image | None:
    """The painted pixels (alpha > 0) of an image editor's layers as one 0/255 mask, at the first
    layer's size; None when there are no layers. An erased stroke is transparent again."""
    images = [_open(layer, "drawn mask layer") for layer in layers if layer is not None]
    if not images:
        return None
    size = images[0].size
    painted = [im.convert("RGBA").getchannel("A").point(lambda v: 255 if v > 0 else 0) for im in images]
    return combine_masks(painted, size)


def edge_extend(source: Image.Image, pads: tuple[int, int, int, int]) -> Image.Image:
    """The source on a larger canvas whose border repeats the edge pixels (a neutral start for
    the diffusion; the border is masked and regenerated)."""
    left, top, right, bottom = pads
    arr = np.pad(np.asarray(source), ((top, bottom), (left, right), (0, 0)), mode="edge")
    return Image.fromarray(arr, "RGB")


def parse_aspect(text: str) -> float:
    """Width / height from "16:9", "9/16", "4x3" or "1.5"."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[:/x×]\s*(\d+(?:\.\d+)?)\s*", text) or re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*", text)
    ratio = None
    if m:
        nums = [float(g) for g in m.groups()]
        ratio = nums[0] / nums[1] if len(nums) == 2 and nums[1] else (nums[0] if len(nums) == 1 else None)
    if not ratio or not 0.1 <= ratio <= 10:
        raise InputError(f"Aspect ratio {text!r} is not understood: write it as width:height, such as 16:9 or 9:16.")
    return ratio


def extension_for(w: int, h: int, aspect: str, amounts: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixels to add, from per-side amounts or a target aspect ratio
    (the shorter dimension grows, split evenly between its two sides)."""
    if any(a < 0 for a in amounts):
        raise InputError("Extension amounts must be 0 or more pixels.")
    if not aspect.strip():
        if not any(amounts):
            raise InputError("Extending by 0 px changes nothing: set how many pixels to add on at least one side, "
                             "or choose a target aspect ratio such as 16:9.")
        return amounts
    if any(amounts):
        raise InputError("Choose either a target aspect ratio or pixels per side, not both.")
    ratio = parse_aspect(aspect)
    new_w, new_h = max(w, round(h * ratio)), max(h, round(w / ratio))
    extra_w, extra_h = (new_w - w, 0) if ratio > w / h else (0, new_h - h)
    if not extra_w and not extra_h:
        raise InputError(f"The image is already {aspect.strip()} ({w}×{h}); choose another ratio or pixels per side.")
    return (extra_w // 2, extra_h // 2, extra_w - extra_w // 2, extra_h - extra_h // 2)


def feather_alpha(region: Image.Image, feather: int) -> np.ndarray:
    """Blend weights in [0, 1] for a 0/255 region mask: 0 outside it and on its edge, rising to 1
    about `feather` px inside, so generated pixels fade into the kept ones.

    A Gaussian blur of the mask is 0.5 on the edge and ~1 two sigmas inside; stretching
    [0.5, 1] to [0, 1] and multiplying by the mask gives that ramp without extra dependencies.
    """
    m = np.asarray(region, np.float32) / 255.0
    if feather <= 0:
        return m
    sigma = feather / 2
    pad = int(3 * sigma) + 1
    # Edge padding: a mask that reaches the canvas edge is not "outside" there.
    padded = Image.fromarray(np.pad(np.asarray(region), pad, mode="edge"), "L")
    blurred = np.asarray(padded.filter(ImageFilter.GaussianBlur(sigma)), np.float32)[pad:-pad, pad:-pad] / 255.0
    return np.clip(2.0 * blurred - 1.0, 0.0, 1.0) * m


def mask_boxes(region: Image.Image) -> Box:
    """The bounding box of a region's masked pixels."""
    return Box(*region.getbbox())


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def plan_crop(box: Box, canvas: tuple[int, int], work: int, multiple: int, whole: bool = False):
    """(crop box on the canvas, model width/height) to diffuse `box` with context around it.

    The crop is the mask's box plus a margin, at least the working size where the canvas allows,
    so a small mask is seen at native scale; the model size is the crop scaled to about
    work×work pixels (no side above twice that), rounded to the model's multiple. `whole`
    diffuses the whole canvas at its own size instead.
    """
    cw_full, ch_full = canvas
    if whole:
        return Box(0, 0, cw_full, ch_full), (_round_to(cw_full, multiple), _round_to(ch_full, multiple))
    margin = max(16, (box.width + box.height) // 8)
    cw = min(cw_full, max(box.width + 2 * margin, work))
    ch = min(ch_full, max(box.height + 2 * margin, work))
    x0 = min(max(0, round((box.x0 + box.x1 - cw) / 2)), cw_full - cw)
    y0 = min(max(0, round((box.y0 + box.y1 - ch) / 2)), ch_full - ch)
    scale = min(work / math.sqrt(cw * ch), 2 * work / max(cw, ch))
    return Box(x0, y0, x0 + cw, y0 + ch), (_round_to(cw * scale, multiple), _round_to(ch * scale, multiple))


CONTRACT = Task(TASK, Request, artifacts=("image",), base_task=BASE_TASK, from_base=from_base)
