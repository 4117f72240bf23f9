"""OpenVINO against PyTorch on the CPU, interleaved in one process, SD-family sizes.

Cases (random weights of the published architectures; the arithmetic is that of the trained ones):
  turbo-full : SD-Turbo (presets/configs/stabilityai--sd-turbo UNet + SD VAE), 1 step, full VAE decode
  turbo-taesd: the same step, decoded by the tiny autoencoder (madebyollin/taesd, PyTorch on both
               sides, as the studio's draft decode does)
  sd15-lcm   : SD 1.5-sized UNet, 4 steps of the LCM scheduler, full VAE decode (--lcm)
Both backends run the same latents, text embedding and scheduler; the OpenVINO side uses the
studio's own export (pipelines/openvino_export.py) and wrappers (pipelines/openvino_backend.py).
Text encoding is left out of both (it runs on PyTorch in both backends). Prints median wall and CPU
seconds, the OpenVINO/PyTorch ratio, PSNR of OpenVINO's image against PyTorch's, peak extra RSS,
and ends with `openvino_over_pytorch=<ratio>` for turbo-full.

    .venv/bin/python bench/cpu_backends.py [--size 512] [--reps 3] [--lcm]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from _common import interleave, sd15_sized_pipeline, table

import numpy as np


def build(repo: str, component: str):
    from pipelines.real_sizes import build_model, component_configs

    return build_model(component_configs(repo)[component]).eval()


def export(unet, vae, folder: Path):
    """The studio's export of `unet` and `vae`'s decoder, and the seconds it took."""
    from pipelines.openvino_backend import OVDecoder, OVUNet
    from pipelines.openvino_export import compile_components
    from pipelines.progress import Progress

    t0 = time.perf_counter()
    compiled = compile_components(SimpleNamespace(unet=unet, vae=vae), folder, "bench", Progress())
    return OVUNet(compiled["unet"], unet), OVDecoder(compiled["vae_decoder"], vae), time.perf_counter() - t0


def generate(unet, decode, scheduler, latents, text, steps: int, timestep_cond=None):
    """Denoise `latents` for `steps` with `scheduler` and decode; returns an HxWx3 uint8 array."""
    import torch

    scheduler.set_timesteps(steps)
    x = latents.clone()
    with torch.inference_mode():
        for t in scheduler.timesteps:
            eps = unet(x, t, encoder_hidden_states=text, timestep_cond=timestep_cond)[0]
            x = scheduler.step(eps, t, x, generator=torch.Generator().manual_seed(0)).prev_sample
        image = decode(x)
    image = ((image[0].float().clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0)
    return image.round().to(torch.uint8).numpy()


def psnr(a, b) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def case_rows(name: str, runs: dict, reps: int, rows: list) -> float:
    """Time the pair interleaved, add its row, return the OpenVINO/PyTorch wall ratio."""
    images = {k: fn() for k, fn in runs.items()}
    timed = interleave(runs, reps)
    (pt_wall, pt_cpu, pt_mem), (ov_wall, ov_cpu, ov_mem) = timed["pytorch"], timed["openvino"]
    ratio = ov_wall / pt_wall
    rows.append([name, f"{pt_wall:.2f}", f"{ov_wall:.2f}", f"{ratio:.2f}", f"{ov_cpu / pt_cpu:.2f}",
                 f"{psnr(images['openvino'], images['pytorch']):.1f}", f"{pt_mem / 2**20:.0f}", f"{ov_mem / 2**20:.0f}"])
    print(table(rows[-1:], HEADER), flush=True)
    return ratio


HEADER = ["case", "pytorch s", "openvino s", "ov/pt wall", "ov/pt cpu", "PSNR dB", "pt peak MiB", "ov peak MiB"]


def turbo_cases(size: int, reps: int, folder: Path, rows: list) -> float:
    import torch
    from diffusers import EulerAncestralDiscreteScheduler

    torch.manual_seed(0)
    unet, vae = build("stabilityai/sd-turbo", "unet"), build("stabilityai/sd-turbo", "vae")
    taesd = build("madebyollin/taesd", "model")
    ov_unet, ov_vae, seconds = export(unet, vae, folder)
    print(f"export of the SD-Turbo UNet and VAE decoder: {seconds:.0f} s (once; cached after)", flush=True)
    latents = torch.randn(1, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(1))
    text = torch.randn(1, 77, unet.config.cross_attention_dim, generator=torch.Generator().manual_seed(2))
    sched = lambda: EulerAncestralDiscreteScheduler(timestep_spacing="trailing", beta_schedule="scaled_linear",  # noqa: E731
                                                    beta_start=0.00085, beta_end=0.012)
    scale = vae.config.scaling_factor
    full = {"pytorch": lambda: generate(unet, lambda x: vae.decode(x / scale).sample, sched(), latents, text, 1),
            "openvino": lambda: generate(ov_unet, lambda x: ov_vae.decode(x / scale)[0], sched(), latents, text, 1)}
    ratio = case_rows(f"SD-Turbo {size}px 1 step, full VAE", full, reps, rows)
    tiny = {"pytorch": lambda: generate(unet, lambda x: taesd.decode(x).sample * 2 - 1, sched(), latents, text, 1),
            "openvino": lambda: generate(ov_unet, lambda x: taesd.decode(x).sample * 2 - 1, sched(), latents, text, 1)}
    case_rows(f"SD-Turbo {size}px 1 step, tiny autoencoder", tiny, reps, rows)
    return ratio


def lcm_case(size: int, reps: int, folder: Path, rows: list) -> None:
    import torch
    from diffusers import LCMScheduler

    pipe = sd15_sized_pipeline(torch.float32)
    unet, vae = pipe.unet.eval(), pipe.vae.eval()
    ov_unet, ov_vae, seconds = export(unet, vae, folder)
    print(f"export of the SD 1.5 UNet and VAE decoder: {seconds:.0f} s", flush=True)
    latents = torch.randn(1, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(1))
    text = torch.randn(1, 77, 768, generator=torch.Generator().manual_seed(2))
    sched = lambda: LCMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)  # noqa: E731
    scale = vae.config.scaling_factor
    runs = {"pytorch": lambda: generate(unet, lambda x: vae.decode(x / scale).sample, sched(), latents, text, 4),
            "openvino": lambda: generate(ov_unet, lambda x: ov_vae.decode(x / scale)[0], sched(), latents, text, 4)}
    case_rows(f"SD 1.5 {size}px 4 steps LCM, full VAE", runs, reps, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--lcm", action="store_true", help="also the SD 1.5-sized 4-step LCM case")
    args = parser.parse_args()
    import openvino
    import torch

    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), openvino {openvino.get_version()}")
    rows: list = []
    with tempfile.TemporaryDirectory() as folder:
        ratio = turbo_cases(args.size, args.reps, Path(folder) / "turbo", rows)
        if args.lcm:
            lcm_case(args.size, args.reps, Path(folder) / "sd15", rows)
    print()
    print(table(rows, HEADER))
    print(f"openvino_over_pytorch={ratio:.2f}")


if __name__ == "__main__":
    main()
