"""OpenVINO against PyTorch on the CPU, interleaved in one process, SD-family sizes.

Random weights of the published architectures (the arithmetic is that of the trained ones), the
studio's own export (pipelines/openvino_export.py) and wrappers (pipelines/openvino_backend.py):
  steps      : where the time goes: one SD-Turbo UNet step and one full VAE decode at the request's
               size, PyTorch against OpenVINO compiled with dynamic shapes (what the studio compiles)
               and reshaped to the request's static shape (what it compiled for each size before)
  turbo-full : SD-Turbo (presets/configs/stabilityai--sd-turbo), 1 step, full VAE decode
  turbo-taesd: the same step decoded by the tiny autoencoder (madebyollin/taesd, PyTorch on both sides)
  text       : the SD-Turbo text encoder (OpenCLIP-H text tower, 77 tokens), PyTorch vs OpenVINO (--text)
  int8       : the UNet with NNCF INT8 weight compression, and fully quantized (nncf.quantize, a few
               calibration steps at half the size), turbo-full again with each (--int8: a run of
               turbo-full and these only, to fit the time of a loaded machine)
  sd15-lcm   : SD 1.5-sized UNet, 4 LCM steps, full VAE decode (--lcm; a second export)
  floor      : the arithmetic floor of turbo-full: its FLOPs (torch's counter, on meta copies) over the
               fastest fp32 3x3 convolution one core runs (PyTorch NCHW and channels-last, OpenVINO
               static; the decoder's and UNet's widths at their sizes; convolutions are 97 % of the
               FLOPs), as a fraction of PyTorch's CPU time: no fp32 backend that computes the same
               convolutions directly can go below it (`fp32_floor_over_pytorch`, in CPU time)
Prints `uptime`, median wall and process-CPU seconds, OpenVINO/PyTorch ratios of both, PSNR of
OpenVINO's image against PyTorch's, peak extra RSS; ends with `openvino_over_pytorch=<wall ratio>` for
turbo-full. Exports (and INT8 models) are kept in --cache so a rerun reuses them.

    .venv/bin/python bench/cpu_backends.py [--size 512] [--reps 1] [--text] [--int8] [--lcm] [--full-only]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from types import SimpleNamespace

from _common import interleave, measure, sd15_sized_pipeline, table

import numpy as np

HEADER = ["case", "pytorch s", "openvino s", "ov/pt wall", "ov/pt cpu", "PSNR dB", "pt peak MiB", "ov peak MiB"]


def build(repo: str, component: str):
    from pipelines.real_sizes import build_model, component_configs

    return build_model(component_configs(repo)[component]).eval()


def export(unet, vae, folder: Path):
    """The studio's exported components of `unet` and `vae`'s decoder, and the seconds it took."""
    from pipelines.openvino_export import compile_components
    from pipelines.progress import Progress

    t0 = time.perf_counter()
    components = compile_components(SimpleNamespace(unet=unet, vae=vae), folder, "bench", Progress())
    return components, time.perf_counter() - t0


def generate(unet, decode, scheduler, latents, text, steps: int, timestep_cond=None):
    """Denoise `latents` for `steps` with `scheduler` and decode; returns an HxWx3 uint8 array."""
    import torch

    scheduler.set_timesteps(steps)
    x = latents.clone() * scheduler.init_noise_sigma
    with torch.inference_mode():
        for t in scheduler.timesteps:
            eps = unet(scheduler.scale_model_input(x, t), t, encoder_hidden_states=text, timestep_cond=timestep_cond)[0]
            x = scheduler.step(eps, t, x, generator=torch.Generator().manual_seed(0)).prev_sample
        image = decode(x)
    image = ((image[0].float().clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0)
    return image.round().to(torch.uint8).numpy()


def psnr(a, b) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def pair_row(name: str, runs: dict, reps: int, rows: list, images: bool = True) -> tuple[float, tuple[float, float]]:
    """Time {"pytorch", "openvino"} interleaved, add its row; returns the OpenVINO/PyTorch wall ratio
    and PyTorch's (wall, CPU) seconds."""
    outputs = {k: fn() for k, fn in runs.items()} if images else {}
    timed = interleave(runs, reps, warmup=0 if images else 1)
    (pt_wall, pt_cpu, pt_mem), (ov_wall, ov_cpu, ov_mem) = timed["pytorch"], timed["openvino"]
    quality = f"{psnr(outputs['openvino'], outputs['pytorch']):.1f}" if images else ""
    rows.append([name, f"{pt_wall:.2f}", f"{ov_wall:.2f}", f"{ov_wall / pt_wall:.2f}", f"{ov_cpu / pt_cpu:.2f}",
                 quality, f"{pt_mem / 2**20:.0f}", f"{ov_mem / 2**20:.0f}"])
    print(table(rows[-1:], HEADER), "|", uptime(), flush=True)
    return ov_wall / pt_wall, (pt_wall, pt_cpu)


def uptime() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def step_rows(unet, vae, components, latents, text, reps: int) -> None:
    """One UNet step and one VAE decode: PyTorch against OpenVINO with dynamic shapes, then against
    OpenVINO reshaped to the static shape (one after the other: both at once would not fit in memory)."""
    import gc

    import torch

    t = torch.tensor([999.0])
    feeds = {"unet": [latents, t, text], "vae_decoder": [latents]}
    modules = {"unet": lambda: unet(latents, t, text), "vae_decoder": lambda: vae.decode(latents)}
    rows = []
    for name, component in components.items():
        feed = [x.numpy() for x in feeds[name]]

        def pytorch(fn=modules[name]):
            with torch.inference_mode():
                fn()

        dynamic = component.core.compile_model(component.path, "CPU").create_infer_request()
        (pw, pc, _), (dw, dc, _) = interleave({"pytorch": pytorch, "ov": lambda: dynamic.infer(feed)}, reps).values()
        del dynamic
        gc.collect()
        static = compile_static(component, [x.shape for x in feed]).create_infer_request()
        (pw2, pc2, _), (sw, sc, _) = interleave({"pytorch": pytorch, "ov": lambda: static.infer(feed)}, reps).values()
        rows.append([name, f"{pw:.2f} / {pc:.2f}", f"{dw:.2f} / {dc:.2f}", f"{sw:.2f} / {sc:.2f}",
                     f"{dw / pw:.2f} / {dc / pc:.2f}", f"{sw / pw2:.2f} / {sc / pc2:.2f}"])
        print(table(rows[-1:], STEP_HEADER), "|", uptime(), flush=True)
    print(table(rows, STEP_HEADER), "\n", flush=True)


def compile_static(component, shapes):
    """The component compiled for these input shapes only (the studio compiles dynamic shapes)."""
    import openvino as ov

    from pipelines.openvino_export import compile_config

    model = component.core.read_model(component.path)
    model.reshape({name: ov.PartialShape(list(shape)) for name, shape in zip(component.names, shapes)})
    return component.core.compile_model(model, "CPU", compile_config(None))


STEP_HEADER = ["component", "pytorch wall/cpu s", "ov dynamic s", "ov static s", "dynamic/pt wall/cpu",
               "static/pt wall/cpu"]


def turbo_cases(args, rows: list) -> tuple[float, tuple[float, float]]:
    import torch
    from diffusers import EulerAncestralDiscreteScheduler

    from pipelines.openvino_modules import OVDecoder, OVUNet

    torch.manual_seed(0)
    unet, vae = build("stabilityai/sd-turbo", "unet"), build("stabilityai/sd-turbo", "vae")
    taesd = build("madebyollin/taesd", "model")
    components, seconds = export(unet, vae, args.cache / "turbo")
    print(f"export of the SD-Turbo UNet and VAE decoder: {seconds:.0f} s (cached in {args.cache})", flush=True)
    size = args.size
    latents = torch.randn(1, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(1))
    text = torch.randn(1, 77, unet.config.cross_attention_dim, generator=torch.Generator().manual_seed(2))
    if not (args.int8 or args.full_only):   # these measure turbo-full (and its INT8 variants) only
        step_rows(unet, vae, components, latents, text, args.reps)
    sched = lambda: EulerAncestralDiscreteScheduler(timestep_spacing="trailing", beta_schedule="scaled_linear",  # noqa: E731
                                                    beta_start=0.00085, beta_end=0.012)
    scale = vae.config.scaling_factor
    ov_unet, ov_vae = OVUNet(components["unet"], unet), OVDecoder(components["vae_decoder"], vae)
    pt_full = lambda: generate(unet, lambda x: vae.decode(x / scale).sample, sched(), latents, text, 1)  # noqa: E731
    full = {"pytorch": pt_full,
            "openvino": lambda: generate(ov_unet, lambda x: ov_vae.decode(x / scale)[0], sched(), latents, text, 1)}
    ratio, pytorch_seconds = pair_row(f"SD-Turbo {size}px 1 step, full VAE", full, args.reps, rows)
    tiny = {"pytorch": lambda: generate(unet, lambda x: taesd.decode(x).sample * 2 - 1, sched(), latents, text, 1),
            "openvino": lambda: generate(ov_unet, lambda x: taesd.decode(x).sample * 2 - 1, sched(), latents, text, 1)}
    if args.int8:
        int8_rows(args, unet, components, lambda ov: generate(ov, lambda x: ov_vae.decode(x / scale)[0], sched(),
                                                              latents, text, 1), pt_full, rows)
    elif not args.full_only:
        pair_row(f"SD-Turbo {size}px 1 step, tiny autoencoder", tiny, args.reps, rows)
    return ratio, pytorch_seconds


INT8 = {"INT8 weights": "unet-int8-weights", "INT8 quantized": "unet-int8-quantized"}


def prepare_int8(args) -> None:
    """Make the INT8 UNets from the cached export, before the PyTorch models take their memory
    (nncf.quantize compiles the fp32 model for its statistics): weights only (nncf.compress_weights)
    and fully quantized (nncf.quantize, calibrated on a few UNet inputs at half the size: activation
    ranges do not depend on the size, and the calibration runs 4x faster). Saved in the cache."""
    import gc

    import openvino as ov

    exported = sorted((args.cache / "turbo").glob("unet-*/model.xml"))
    if not exported:
        raise SystemExit("--int8 needs the SD-Turbo export: run the bench once without --int8 first")
    for label, folder in INT8.items():
        path = args.cache / "turbo" / f"{folder}-{args.size}" / "model.xml"
        if path.exists():
            continue
        t0 = time.perf_counter()
        path.parent.mkdir(parents=True, exist_ok=True)
        model = ov.Core().read_model(exported[0])
        make = compress if label == "INT8 weights" else quantize
        ov.save_model(make(model, args.size, model.input(2).partial_shape[2].get_length()), path)
        print(f"{label}: made in {time.perf_counter() - t0:.0f} s, {uptime()}", flush=True)
        del model
        gc.collect()


def int8_rows(args, unet, components, run_ov, pt_full, rows: list) -> None:
    """turbo-full again with each INT8 UNet (the fp32 compiled UNet dropped first, for memory)."""
    import gc

    from pipelines.openvino_modules import OVUNet
    from pipelines.openvino_export import Component

    components["unet"].model = None
    gc.collect()
    for label, folder in INT8.items():
        path = args.cache / "turbo" / f"{folder}-{args.size}" / "model.xml"
        ov_unet = OVUNet(Component(components["unet"].core, path, None), unet)
        runs = {"pytorch": pt_full, "openvino": lambda u=ov_unet: run_ov(u)}
        pair_row(f"SD-Turbo {args.size}px 1 step, full VAE, UNet {label}", runs, args.reps, rows)
        del ov_unet, runs
        gc.collect()


def compress(model, size: int, width: int):
    """The studio's INT8 weight compression (a preset's `openvino = { weights = "int8" }`)."""
    from pipelines.openvino_export import compressed

    return compressed(model)


def quantize(model, size: int, width: int):
    """Weights and activations INT8 (nncf.quantize, transformer model type: attention matmuls too)."""
    import nncf

    rng = np.random.default_rng(0)
    latent = size // 16
    text = rng.standard_normal((1, 77, width), dtype=np.float32)
    items = [[rng.standard_normal((1, 4, latent, latent), dtype=np.float32), np.array([t], np.float32), text]
             for t in (999.0, 500.0)]
    return nncf.quantize(model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER,
                         subset_size=len(items), fast_bias_correction=True)


def text_case(args, rows: list) -> None:
    """The SD-Turbo text encoder on 77 tokens: PyTorch against the studio's OpenVINO export of it."""
    import torch

    from pipelines.openvino_modules import OVTextEncoder
    from pipelines.openvino_export import compile_components
    from pipelines.progress import Progress

    torch.manual_seed(0)
    encoder = build("stabilityai/sd-turbo", "text_encoder")
    ids = torch.randint(0, 49408, (1, 77), generator=torch.Generator().manual_seed(3))
    t0 = time.perf_counter()
    compiled = compile_components(SimpleNamespace(text_encoder=encoder), args.cache / "turbo", "bench", Progress(),
                                  ("text_encoder",))
    print(f"export of the text encoder (or its cache): {time.perf_counter() - t0:.0f} s", flush=True)
    wrapper = OVTextEncoder(compiled["text_encoder"], encoder)

    def run(module):
        with torch.inference_mode():
            return (module(ids)[0][0].numpy() * 50).clip(-127, 127).astype(np.int16) + 128

    runs = {"pytorch": lambda: run(encoder), "openvino": lambda: run(wrapper)}
    pair_row("SD-Turbo text encoder, 77 tokens (PSNR on 50x embeddings)", runs, args.reps, rows)


def lcm_case(args, rows: list) -> None:
    import torch
    from diffusers import LCMScheduler

    from pipelines.openvino_modules import OVDecoder, OVUNet

    size = args.size
    pipe = sd15_sized_pipeline(torch.float32)
    unet, vae = pipe.unet.eval(), pipe.vae.eval()
    components, seconds = export(unet, vae, args.cache / "sd15")
    print(f"export of the SD 1.5 UNet and VAE decoder: {seconds:.0f} s", flush=True)
    ov_unet, ov_vae = OVUNet(components["unet"], unet), OVDecoder(components["vae_decoder"], vae)
    latents = torch.randn(1, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(1))
    text = torch.randn(1, 77, 768, generator=torch.Generator().manual_seed(2))
    sched = lambda: LCMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)  # noqa: E731
    scale = vae.config.scaling_factor
    runs = {"pytorch": lambda: generate(unet, lambda x: vae.decode(x / scale).sample, sched(), latents, text, 4),
            "openvino": lambda: generate(ov_unet, lambda x: ov_vae.decode(x / scale)[0], sched(), latents, text, 4)}
    pair_row(f"SD 1.5 {size}px 4 steps LCM, full VAE", runs, args.reps, rows)


# the 3x3 convolutions of the SD VAE decoder (and UNet) at a 512 px request: (channels, size in px)
CONVS = ((128, 512), (256, 256), (512, 128), (320, 64), (640, 32))


def request_flops(repo: str, size: int) -> dict[str, float]:
    """FLOPs of one UNet step (batch 1, no guidance) and one VAE decode at `size`, counted by torch
    on meta copies of the published architectures (no memory, no time)."""
    import torch
    from accelerate import init_empty_weights
    from torch.utils.flop_counter import FlopCounterMode

    with init_empty_weights():
        unet, vae = build(repo, "unet"), build(repo, "vae")
    latents = torch.zeros(1, 4, size // 8, size // 8, device="meta")
    text = torch.zeros(1, 77, unet.config.cross_attention_dim, device="meta")
    calls = {"UNet step": lambda: unet(latents, torch.zeros(1, device="meta"), text),
             "VAE decode": lambda: vae.decode(latents)}
    counts = {}
    for name, call in calls.items():
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            call()
        counts[name] = counter.get_total_flops()
    return counts


def conv_ceiling(reps: int = 3) -> tuple[float, str]:
    """The fastest fp32 3x3 convolution on one core: (GFLOP per CPU second, which one), the best of
    `reps` over CONVS through PyTorch (NCHW, channels-last) and OpenVINO (compiled for the static
    shape). One thread: no other process or barrier wait inflates it, so it holds on a shared machine."""
    import openvino as ov
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    best = (0.0, "")
    try:
        for channels, size in CONVS:
            conv = torch.nn.Conv2d(channels, channels, 3, padding=1).eval()
            x = torch.randn(1, channels, size, size)
            flops = 2 * channels * channels * 9 * size * size
            config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1}
            request = ov.Core().compile_model(ov.convert_model(conv, example_input=x), "CPU", config).create_infer_request()
            last = (conv.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last))
            ways = {"PyTorch NCHW": lambda: conv(x), "PyTorch channels-last": lambda: last[0](last[1]),
                    "OpenVINO": lambda: request.infer([x.numpy()])}
            with torch.inference_mode():
                for way, fn in ways.items():
                    fn()
                    cpu = min(measure(fn)[1] for _ in range(reps))
                    if flops / cpu / 1e9 > best[0]:
                        best = (flops / cpu / 1e9, f"{way}, {channels} channels at {size} px")
    finally:
        torch.set_num_threads(threads)
    return best


def floor_rows(size: int, pytorch: tuple[float, float]) -> float:
    """Print turbo-full's FLOPs, the one-core conv ceiling and the floor: the fewest CPU seconds any
    fp32 backend computing these convolutions directly needs, over PyTorch's CPU seconds (and over
    its wall time, with every thread busy all the time). Returns the CPU floor ratio."""
    import torch

    counts = request_flops("stabilityai/sd-turbo", size)
    total = sum(counts.values())
    ceiling, where = conv_ceiling()
    least_cpu = total / (ceiling * 1e9)
    floor_cpu, floor_wall = least_cpu / pytorch[1], least_cpu / torch.get_num_threads() / pytorch[0]
    print(", ".join(f"{name} {flops / 1e12:.3f} TFLOP" for name, flops in counts.items()),
          f"| fastest fp32 3x3 conv on one core: {ceiling:.0f} GFLOP/s ({where})",
          f"| PyTorch turbo-full: {total / pytorch[1] / 1e9:.0f} GFLOP per CPU s, {pytorch[0]:.1f} s wall",
          f"| floor: {least_cpu:.1f} CPU s, {floor_cpu:.2f} of PyTorch's CPU time, {floor_wall:.2f} of its wall time",
          f"| {uptime()}", flush=True)
    return floor_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/studio-bench-openvino"))
    parser.add_argument("--text", action="store_true", help="also the text encoder through OpenVINO")
    parser.add_argument("--int8", action="store_true",
                        help="turbo-full and its NNCF INT8 variants (weights only, quantized) only")
    parser.add_argument("--lcm", action="store_true", help="also the SD 1.5-sized 4-step LCM case")
    parser.add_argument("--full-only", action="store_true", help="turbo-full and the floor only (a quick rerun)")
    parser.add_argument("--floor-only", action="store_true",
                        help="only the FLOP count and the conv ceiling (with PyTorch's turbo-full time given)")
    parser.add_argument("--pytorch-seconds", type=float, nargs=2, metavar=("WALL", "CPU"),
                        help="PyTorch's turbo-full time for --floor-only")
    args = parser.parse_args()
    import openvino as ov
    import torch

    precision = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), openvino {ov.get_version()}, "
          f"CPU inference precision {precision}, {uptime()}", flush=True)
    if args.floor_only:
        print(f"fp32_floor_over_pytorch={floor_rows(args.size, tuple(args.pytorch_seconds)):.2f}")
        return
    rows: list = []
    if args.int8:
        prepare_int8(args)
    ratio, pytorch_seconds = turbo_cases(args, rows)
    for wanted, case in ((args.text, text_case), (args.lcm, lcm_case)):
        if wanted:
            try:
                case(args, rows)
            except Exception as e:  # noqa: BLE001 - one case failing still prints the others
                print(f"{case.__name__} failed: {type(e).__name__}: {e}", flush=True)
    print()
    print(table(rows, HEADER))
    print(uptime())
    print(f"fp32_floor_over_pytorch={floor_rows(args.size, pytorch_seconds):.2f}")
    print(f"openvino_over_pytorch={ratio:.2f}")


if __name__ == "__main__":
    main()
