"""Control images made from a source picture: edges (Canny, OpenCV, no model), line art (XDoG,
OpenCV, no model), depth (a depth estimator through transformers) and scribbles (a drawn or
uploaded image, used as it is).

Each returns an RGB PIL image the size of its input, white structure on black as ControlNets
are trained on (depth: near is bright).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipelines.errors import InputError

KINDS = ("canny", "lineart", "depth", "scribble")


def canny_map(image: Image.Image, low: int = 100, high: int = 200) -> Image.Image:
    """Canny edges of `image` with hysteresis thresholds `low` < `high` (0-255 gradient units):
    lower values keep fainter edges."""
    import cv2

    if not 0 <= low < high <= 1000:
        raise InputError(f"Canny thresholds {low} and {high} do not work: the low one must be below the high one "
                         "(0 to 1000; 100 and 200 suit most pictures).")
    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, int(low), int(high))
    return Image.fromarray(edges, "L").convert("RGB")


def lineart_map(image: Image.Image, sigma: float = 0.8, k: float = 1.6, tau: float = 0.98,
                sharpness: float = 60.0) -> Image.Image:
    """Line art of `image` by the extended difference of Gaussians (XDoG, Winnemöller 2012) with
    OpenCV: dark strokes where a pixel is darker than its blurrier surroundings (ink lines, the dark
    side of an outline), drawn white on black as line-art ControlNets take them. It is not the
    lineart annotator network ControlNet 1.1 was trained with: no model runs, and its strokes are
    thinner and follow every contrast step, textures included."""
    import cv2

    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    fine = cv2.GaussianBlur(gray, (0, 0), sigma)
    coarse = cv2.GaussianBlur(gray, (0, 0), sigma * k)
    # tau < 1 keeps flat areas (fine = coarse) positive, so only a darker-than-surroundings step draws.
    response = fine - tau * coarse
    strokes = np.clip(-response * sharpness, 0.0, 1.0)
    return Image.fromarray(np.rint(strokes * 255).astype(np.uint8), "L").convert("RGB")


def scribble_map(image: Image.Image) -> Image.Image:
    """A drawn or uploaded scribble as the control image; transparent areas count as black."""
    if "A" in image.getbands():
        canvas = Image.new("RGB", image.size, (0, 0, 0))
        canvas.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return canvas
    return image.convert("RGB")


def depth_map(image: Image.Image, estimator: Any) -> Image.Image:
    """Relative depth of `image` by a transformers depth-estimation model (Depth Anything, DPT),
    scaled to 0-255, near bright, at the input's size."""
    import torch

    if estimator is None:
        raise InputError("No depth estimator is available for this model on this machine: choose canny or "
                         "scribble, or download the depth estimator first.")
    model, processor = estimator
    inputs = processor(images=image.convert("RGB"), return_tensors="pt").to(model.device, model.dtype)
    with torch.inference_mode():
        depth = model(**inputs).predicted_depth
    depth = torch.nn.functional.interpolate(depth[:, None].float(), size=(image.height, image.width),
                                            mode="bicubic", align_corners=False)[0, 0]
    lo, hi = depth.min(), depth.max()
    scaled = ((depth - lo) / (hi - lo) * 255.0) if hi > lo else torch.zeros_like(depth)
    return Image.fromarray(scaled.clamp(0, 255).round().byte().cpu().numpy(), "L").convert("RGB")


def control_map(kind: str, image: Image.Image, estimator: Any = None, low: int = 100, high: int = 200) -> Image.Image:
    """The control image of `kind` (one of KINDS) made from `image`."""
    if kind == "canny":
        return canny_map(image, low, high)
    if kind == "lineart":
        return lineart_map(image)
    if kind == "depth":
        return depth_map(image, estimator)
    if kind == "scribble":
        return scribble_map(image)
    raise InputError(f"Control type {kind!r} is not one of: {', '.join(KINDS)}.")


def load_depth_estimator(source: str | Path, device: str, dtype, **kwargs) -> tuple[Any, Any]:
    """(model, image processor) of a transformers depth-estimation checkpoint (a folder or hub id)."""
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    model = AutoModelForDepthEstimation.from_pretrained(source, dtype=dtype, **kwargs).to(device).eval()
    return model, AutoImageProcessor.from_pretrained(source, **kwargs)


def build_tiny_depth_anything(dest: Path) -> None:
    """Depth Anything's layout (a DINOv2 backbone, DPT neck, depth head), as
    depth-anything/Depth-Anything-V2-Small-hf publishes it, at tiny width with random weights."""
    from transformers import (DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config,
                              DPTImageProcessor)

    backbone = Dinov2Config(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32,
                            image_size=518, patch_size=14, out_features=["stage1", "stage2", "stage3", "stage4"],
                            reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=16, neck_hidden_sizes=[8, 8, 8, 8],
                                 fusion_hidden_size=8, head_hidden_size=8, depth_estimation_type="relative")
    DepthAnythingForDepthEstimation(config).save_pretrained(dest)
    # The published processor: 518 px, keep aspect ratio, multiple of 14, ImageNet normalisation.
    DPTImageProcessor(size={"height": 518, "width": 518}, keep_aspect_ratio=True, ensure_multiple_of=14,
                      do_pad=False, resample=3, image_mean=[0.485, 0.456, 0.406],
                      image_std=[0.229, 0.224, 0.225]).save_pretrained(dest)
