"""Music: real-time factor, and the studio path against the raw transformers call on one loaded model.

Cases: the tiny MusicGen (through ModelManager, as the tests load it) and a MusicGen-small-sized
model with random weights (T5-base text encoder, 24-layer 1024-wide decoder with 4 codebooks of
2048, the 32-kHz EnCodec): the arithmetic of facebook/musicgen-small. For each, within one window:
the studio's `pipelines.runner.execute` (request check, per-request seeded sampler, progress,
parameters) against `model.generate(..., do_sample=True)` for the same number of audio frames,
interleaved in one process. The real-time factor is generation time / audio duration (below 1 is
faster than real time). A continued piece (several windows) is timed on the tiny model too.

usage: python bench/music.py [--seconds 2] [--reps 3] [--skip-large] [--dtype fp32|bf16] [--threads 1]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import interleave, measure, table

PROMPT = "warm lo-fi hip hop, mellow Rhodes, brushed drums, 80 bpm"


def musicgen_small_sized(dtype):
    """facebook/musicgen-small's published architecture with random weights, and a processor."""
    import torch
    from transformers import (EncodecConfig, EncodecFeatureExtractor, MusicgenConfig, MusicgenDecoderConfig,
                              MusicgenForConditionalGeneration, MusicgenProcessor, T5Config)

    from pipelines.music import MusicPipe
    from pipelines.tiny.audio import fill_codebooks
    from pipelines.tiny.tokenizers import t5_tokenizer

    torch.manual_seed(0)
    text = T5Config(vocab_size=32128, d_model=768, d_ff=3072, num_layers=12, num_heads=12, d_kv=64)
    codec = EncodecConfig(audio_channels=1, chunk_length_s=None, codebook_size=2048, compress=2, hidden_size=128,
                          kernel_size=7, last_kernel_size=7, norm_type="weight_norm", normalize=False, num_filters=64,
                          num_lstm_layers=2, num_residual_layers=1, pad_mode="reflect", residual_kernel_size=3,
                          sampling_rate=32000, target_bandwidths=[2.2], upsampling_ratios=[8, 5, 4, 4],
                          use_causal_conv=False, use_conv_shortcut=False)
    decoder = MusicgenDecoderConfig(vocab_size=2048, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                    ffn_dim=4096, num_codebooks=4, max_position_embeddings=2048, pad_token_id=2048,
                                    bos_token_id=2048)
    model = MusicgenForConditionalGeneration(MusicgenConfig(text_encoder=text, audio_encoder=codec, decoder=decoder))
    fill_codebooks(model)
    gc = model.generation_config
    gc.decoder_start_token_id = gc.pad_token_id = gc.bos_token_id = 2048
    gc.max_length, gc.do_sample, gc.guidance_scale, gc.top_k = 1500, True, 3.0, 250
    model = model.to(dtype=dtype).eval()
    processor = MusicgenProcessor(feature_extractor=EncodecFeatureExtractor(feature_size=1, sampling_rate=32000),
                                  tokenizer=t5_tokenizer())
    n_params = sum(p.numel() for p in model.parameters())
    return MusicPipe(model, processor, takes_melody=False), n_params


def case(manager, preset_name: str, seconds: float, reps: int) -> list:
    import torch

    from pipelines.music import Geometry, Request
    from pipelines.runner import execute

    loaded = manager.get("music", preset_name)
    model, processor = loaded.pipe.model, loaded.pipe.processor
    geo = Geometry.of(model)
    frames = round(seconds * geo.frame_rate)
    assert frames <= geo.window_frames, "the comparison stays within one window"

    def studio():
        execute(manager, "music", Request(prompt=PROMPT, model=preset_name, duration_s=seconds, seed=1))

    def raw():
        torch.manual_seed(1)
        with torch.inference_mode():
            model.generate(**processor(text=[PROMPT], padding=True, return_tensors="pt"),
                           max_new_tokens=frames + geo.delays - 1, do_sample=True, guidance_scale=3.0, top_k=250)

    res = interleave({"studio": studio, "raw": raw}, reps)
    (ws, cs, _), (wr, cr, _) = res["studio"], res["raw"]
    return [f"{preset_name} {seconds:g} s ({loaded.dtype})", f"{wr:.2f}", f"{ws:.2f}", f"{ws / wr:.3f}",
            f"{cs / cr:.3f}", f"{ws / seconds:.2f}", f"{cs / seconds:.2f}"]


def continued(manager, seconds: float) -> list:
    from pipelines.music import Request
    from pipelines.runner import execute

    result = {}

    def studio():
        result["r"] = execute(manager, "music", Request(prompt=PROMPT, model="tiny-musicgen", duration_s=seconds))

    studio()
    wall, cpu, _ = measure(studio)
    windows = result["r"].artifacts[0].params["windows"]
    return [f"tiny-musicgen {seconds:g} s, {windows} windows (fp32)", "-", f"{wall:.2f}", "-", "-",
            f"{wall / seconds:.2f}", f"{cpu / seconds:.2f}"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    # One thread by default: on a shared machine, idle OpenMP workers spin and inflate CPU time and
    # wall time alike, so two-thread figures there mostly measure the neighbours.
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from pipelines.device import DTYPES, Runtime
    from pipelines.models import Loaded, ModelManager
    from pipelines.presets import ModelPreset

    print(f"torch threads: {torch.get_num_threads()}")
    manager = ModelManager(Path(tempfile.mkdtemp(prefix="bench-music-")), Runtime(dtype="fp32"))
    rows = [case(manager, "tiny-musicgen", args.seconds, args.reps), continued(manager, 3 * args.seconds + 1)]
    if not args.skip_large:
        dtype = DTYPES[args.dtype]
        pipe, n_params = musicgen_small_sized(dtype)
        print(f"MusicGen-small-sized model: {n_params / 1e6:.0f}M parameters, random weights, {args.dtype}")
        preset = ModelPreset(name="musicgen-small-sized-random", task="music", label="MusicGen-small-sized (random)",
                             tier="cpu", family="musicgen", license="n/a", commercial_use=True,
                             local_dir="(in memory)", limits={"max_duration_s": 30.0})
        large = ModelManager(manager.data_dir, Runtime(dtype=args.dtype))
        large.presets("music")[preset.name] = preset
        large.cache.get_or_load(("music", preset.name, "cpu", args.dtype),
                                lambda: Loaded(pipe, preset, "cpu", args.dtype))
        rows.append(case(large, preset.name, args.seconds, max(1, args.reps - 1)))
    print(table(rows, ["case", "raw wall s", "studio wall s", "wall ratio", "CPU-time ratio", "RTF (wall)",
                       "RTF (CPU time)"]))


if __name__ == "__main__":
    main()
