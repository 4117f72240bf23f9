"""The tiny tier: random-weight models of the real classes, built on this machine on first use.

Each family is saved with `save_pretrained` (or the library's own save) in the same on-disk
layout as a download, and then loaded by the same loader as real weights. Offline demos and the
test suite use them; their output is noise-like and the studio labels it so.

FAMILIES is a plain registry: family name -> "module:function" building the model into a folder.
A preset may also name its builder directly (`tiny = "pipelines.upscale:build_tiny"`), so a new
task keeps its tiny builder in its own module; its folder is named after the reference.
"""
from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

FAMILIES: dict[str, str] = {
    "sd15": "pipelines.tiny.image:build_sd15",
    "sdxl": "pipelines.tiny.image:build_sdxl",
    "sd3": "pipelines.tiny.image:build_sd3",
    "flux": "pipelines.tiny.image:build_flux",
    "taesd": "pipelines.tiny.image:build_taesd", "taesdxl": "pipelines.tiny.image:build_taesd",
    "taesd3": "pipelines.tiny.image:build_taesd16", "taef1": "pipelines.tiny.image:build_taesd16",
    "sd15-lora": "pipelines.tiny.image:build_sd15_lora",
    "sd15-ip-adapter": "pipelines.tiny.ip_adapter:build_sd15_ip_adapter", "sdxl-ip-adapter": "pipelines.tiny.ip_adapter:build_sdxl_ip_adapter",
    "sd15-inpaint": "pipelines.tiny.fill:build_sd15_inpaint", "sdxl-inpaint": "pipelines.tiny.fill:build_sdxl_inpaint", "flux-fill": "pipelines.tiny.fill:build_flux_fill",
    "vits": "pipelines.tiny.speech:build_vits", "vits-phonemes": "pipelines.tiny.speech:build_vits_phonemes", "xtts": "pipelines.tiny.speech:build_xtts",
    "musicgen": "pipelines.tiny.audio:build_musicgen", "musicgen-stereo": "pipelines.tiny.audio:build_musicgen_stereo", "musicgen-melody": "pipelines.tiny.audio:build_musicgen_melody", "stable-audio": "pipelines.tiny.audio:build_stable_audio", "audioldm2": "pipelines.tiny.audio:build_audioldm2",
    "ltx": "pipelines.tiny.video:build_ltx", "ltx-distilled": "pipelines.tiny.video:build_ltx_distilled",
    "wan": "pipelines.tiny.video:build_wan", "cogvideox": "pipelines.tiny.video:build_cogvideox", "svd": "pipelines.tiny.video:build_svd",
    "vit-detector": "pipelines.tiny.detector:build_vit_detector", "wav2vec2-detector": "pipelines.tiny.detector:build_wav2vec2_detector",
}

# A family's build revision, raised whenever its builder makes something different: a folder built by
# an older revision is rebuilt on first use instead of being loaded (families not listed: revision 1).
REVISIONS: dict[str, int] = {
    # 2: CLIP's real tokenizer; SD3/Flux with 16 latent channels; SD 1.5's safety checker; TAESD layout
    "sd15": 2, "sdxl": 2, "sd3": 2, "flux": 2, "sd15-inpaint": 2, "sdxl-inpaint": 2, "flux-fill": 2, "taesd": 2,
    # 2: the image encoder at the published 224 px (SD 1.5's feature extractor is 224 px)
    "sd15-ip-adapter": 2, "sdxl-ip-adapter": 2,
}

_MARKER = ".tiny-complete"
_lock = threading.Lock()


def ensure_built(family: str, root: Path) -> Path:
    """The folder holding tiny `family`, building it first when it is not there yet.

    Safe against concurrent callers: a build goes to a temporary folder renamed into place.
    """
    builder_ref = _builder_ref(family)
    dest = Path(root) / family.replace(":", "-")
    if _is_current(dest, family):
        return dest
    with _lock:
        if _is_current(dest, family):
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{family}-", dir=dest.parent))
        try:
            module_name, func = builder_ref.split(":")
            builder = getattr(importlib.import_module(module_name), func)
            import torch

            with torch.random.fork_rng():
                torch.manual_seed(0)
                builder(tmp)
            (tmp / _MARKER).write_text(_stamp(family))
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest


def _builder_ref(family: str) -> str:
    """The "module:function" that builds `family`: its FAMILIES entry, or the reference itself."""
    if family in FAMILIES:
        return FAMILIES[family]
    if family.count(":") == 1 and all(part.strip() for part in family.split(":")):
        return family
    raise KeyError(f"unknown tiny family {family!r}; known: {sorted(FAMILIES)} or a 'module:function' builder")


def _stamp(family: str) -> str:
    """What the marker of a complete build holds: the family, and its revision past the first."""
    revision = REVISIONS.get(family, 1)
    return family if revision == 1 else f"{family} revision {revision}"


def _is_current(dest: Path, family: str) -> bool:
    marker = dest / _MARKER
    try:
        return marker.read_text() == _stamp(family)
    except OSError:
        return False
