"""Localisation benchmark: real-time factor of transcription, subtitle translation and dubbing at real sizes.

    .venv/bin/python bench/localisation.py [--model small|large-v3-turbo] [--seconds 60] [--tokens 100]
                                           [--dub-seconds 12] [--skip-transcription]

RTF = seconds of compute per second of recording (below 1 is faster than real time), by wall clock
and by process CPU time (the steadier figure on a shared machine), on this machine's CPU in fp32.

Models are built from their published configs with random weights (no download; the arithmetic is
the same as trained weights'):
- Whisper small (openai/whisper-small: d_model 768, 12+12 layers, 80 mel bins, 51,865 tokens) or
  large-v3-turbo (d_model 1280, 32 encoder + 4 decoder layers, 128 mel bins, 51,866 tokens), with
  Whisper's token layout (end of text 50257, languages from 50259, timestamps after
  <|notimestamps|>) and alignment heads, so word timestamps cost what they cost.
- MarianMT opus-mt-en-de (d_model 512, 6+6 layers, 58,101 tokens), beam search 4 as the task does.

Random weights would stop or ramble at random, so the decoders write a fixed count of tokens:
`--tokens` per 30-s window for Whisper (speech at ~150 words a minute is about 100 tokens with
timestamps) and 16 per subtitle cue of ~12 source tokens for Marian, at 20 cues a minute. The
transcription path is the task's: the features of the whole recording, language detection on the
first window, then per window Whisper's generate with segment and word timestamps.

Dubbing (bench/localisation_dub.py) runs the dubbing task's own `run` on a clip with no lines given,
German to English: Whisper small hears it, a Marian of opus-mt's size translates each segment, a
VCTK-sized VITS (bench/voice.py) says it, time-fitted and mixed; then the publisher encodes, watermarks,
muxes and signs the dub and its subtitles. It prints the dub's real-time factor and the share of the
job spent outside the model calls (the goal is under 10 %).
"""
from __future__ import annotations

import argparse
import math

from _common import measure

WHISPER = {
    "small": dict(vocab_size=51865, num_mel_bins=80, d_model=768, encoder_layers=12, decoder_layers=12,
                  encoder_attention_heads=12, decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072,
                  alignment_heads=[[5, 3], [5, 9], [8, 0], [8, 4], [8, 7], [8, 8], [9, 0], [9, 7], [9, 9], [10, 5]]),
    "large-v3-turbo": dict(vocab_size=51866, num_mel_bins=128, d_model=1280, encoder_layers=32, decoder_layers=4,
                           encoder_attention_heads=20, decoder_attention_heads=20, encoder_ffn_dim=5120,
                           decoder_ffn_dim=5120, alignment_heads=[[2, 4], [2, 11], [3, 3], [3, 6], [3, 11], [3, 14]]),
}
MARIAN_EN_DE = dict(vocab_size=58101, d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                    decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048, max_position_embeddings=512,
                    pad_token_id=58100, eos_token_id=0, decoder_start_token_id=58100)


def whisper(name: str):
    """A random-weight Whisper of the published size with Whisper's token layout and generation config."""
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    spec = dict(WHISPER[name])
    heads = spec.pop("alignment_heads")
    end, start = 50257, 50258
    languages = spec["vocab_size"] - 50257 - 1501 - 8          # 99, or 100 for v3's vocabulary
    no_timestamps = 50259 + languages + 5
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(WhisperConfig(
        **spec, max_source_positions=1500, max_target_positions=448, pad_token_id=end, bos_token_id=end,
        eos_token_id=end, decoder_start_token_id=start)).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=end, eos_token_id=end, pad_token_id=end, decoder_start_token_id=start, max_length=448,
        begin_suppress_tokens=[220, end], suppress_tokens=[], is_multilingual=True,
        lang_to_id={f"<|l{i}|>": 50259 + i for i in range(languages)},
        task_to_id={"translate": no_timestamps - 5, "transcribe": no_timestamps - 4},
        no_timestamps_token_id=no_timestamps, prev_sot_token_id=no_timestamps - 2, max_initial_timestamp_index=50,
        alignment_heads=heads)
    return model


def transcribe_once(model, extractor, audio, tokens: int) -> int:
    """The task's work on one recording: features, language detection, each window's decoding."""
    import copy

    import torch

    features = extractor(audio, sampling_rate=16000, return_tensors="pt", truncation=False, padding="longest",
                         return_attention_mask=True)
    windows = math.ceil(features["input_features"].shape[-1] / 3000)
    # Each window is 3000 frames (30 s), the last padded as Whisper pads it.
    frames = features["input_features"]
    frames = torch.nn.functional.pad(frames, (0, windows * 3000 - frames.shape[-1]))
    with torch.inference_mode():
        model.detect_language(frames[..., :3000])
        for w in range(windows):
            window = frames[..., w * 3000:(w + 1) * 3000]
            config = copy.deepcopy(model.generation_config)
            model.generate(window, generation_config=config, language="<|l0|>", task="transcribe",
                           return_timestamps=True, return_token_timestamps=True, min_new_tokens=tokens,
                           max_new_tokens=tokens)
    return windows


def translate_once(model, cues: int, tokens: int = 16, batch: int = 16) -> None:
    import torch

    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for start in range(0, cues, batch):
            n = min(batch, cues - start)
            ids = torch.randint(10, 58000, (n, 12), generator=generator)
            ids[:, -1] = 0
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), num_beams=4, min_new_tokens=tokens,
                           max_new_tokens=tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(WHISPER), default="small")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the recording")
    parser.add_argument("--tokens", type=int, default=100, help="tokens Whisper writes per 30-s window")
    parser.add_argument("--dub-seconds", type=float, default=12.0, help="length of the clip dubbed (0: no dub)")
    parser.add_argument("--skip-transcription", action="store_true", help="time the dub only")
    args = parser.parse_args()
    share = None
    if args.dub_seconds > 0:
        from localisation_dub import bench_dub

        share = bench_dub(args.dub_seconds, args.tokens)
    if args.skip_transcription:
        return

    import numpy as np
    import torch
    from transformers import MarianConfig, MarianMTModel, WhisperFeatureExtractor

    rate = 16000
    t = np.arange(int(args.seconds * rate)) / rate
    audio = (0.2 * np.sin(2 * np.pi * 150 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    model = whisper(args.model)
    extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
    params = sum(p.numel() for p in model.parameters())
    print(f"torch threads: {torch.get_num_threads()}; Whisper {args.model}: {params / 1e6:.0f} M parameters (fp32)")
    transcribe_once(model, extractor, audio[: 5 * rate], 4)   # warm-up
    wall, cpu, _ = measure(lambda: transcribe_once(model, extractor, audio, args.tokens))
    windows = math.ceil(args.seconds / 30)
    print(f"transcription: {args.seconds:g} s in {windows} windows, {args.tokens} tokens each: "
          f"{wall:.1f} s wall, {cpu:.1f} s CPU; RTF {wall / args.seconds:.3f} wall, {cpu / args.seconds:.3f} CPU")

    torch.manual_seed(0)
    marian = MarianMTModel(MarianConfig(**MARIAN_EN_DE)).eval()
    cues = max(1, round(args.seconds / 60 * 20))
    translate_once(marian, 2, 4)   # warm-up
    t_wall, t_cpu, _ = measure(lambda: translate_once(marian, cues))
    print(f"translation (opus-mt-en-de size, {sum(p.numel() for p in marian.parameters()) / 1e6:.0f} M): {cues} cues "
          f"for {args.seconds:g} s of subtitles: {t_wall:.1f} s wall, {t_cpu:.1f} s CPU; "
          f"RTF {t_wall / args.seconds:.3f}")
    print(f"translation / transcription time: {t_wall / wall:.2f} (wall), {t_cpu / cpu:.2f} (CPU)")
    if share is not None:
        print(f"dubbing: share of the job outside the models {share:.1%} (goal < 10 %)")
    print(f"transcribe_rtf={wall / args.seconds:.3f}")


if __name__ == "__main__":
    main()
