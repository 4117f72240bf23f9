"""Dubbing at real model sizes with random weights, for bench/localisation.py (which documents it).

One job is the dubbing task's own `run` on a clip with no lines given (German to English), then the
publisher's work on what it returns (encode, watermark, mux and sign the MP4 and the subtitles). Each
model call is timed where the task makes it (Whisper's `generate`, Marian's `generate`, VITS's
`synthesize`); everything else (decoding the clip, features, time-fitting, mixing, encoding, signing)
is "outside the models".

The random-weight stand-ins, and how each is kept honest:
- Whisper small (bench/localisation.py's `whisper`) with a tokenizer of Whisper's size and layout whose
  50,257 text tokens are made-up lowercase words (no Whisper vocabulary ships offline), so what it
  writes decodes to words VITS can say; it writes `tokens` a 30-s window, scaled to the clip's length
  (the transcription benchmark's model of speech density). Random weights put a timestamp pair
  around almost every word (the timestamp rule forces one whenever all 1,501 timestamps together
  outweigh the likeliest word), so the text rows of its output projection are scaled up tenfold:
  it then writes words between timestamps as a trained model does (the arithmetic is unchanged).
  The clip's language is given ("de"), as random weights would detect a random one.
- A Marian of opus-mt's size (bench/localisation.py's `MARIAN_EN_DE`) with the tiny twin's tokenizer,
  which spells made-up words letter by letter: its input is cut to 1.3 tokens a word, as opus-mt's
  own vocabulary would make it. Random weights would write to the task's cap, so each cue's
  translation is held at 1.6 tokens per source word (a trained model's length). Its tokens mean nothing to that tokenizer, so the call
  hands back an empty translation and the task keeps each cue's source words (with a notice): the
  voice then says about as much as a translation would hold.
- VITS of the VCTK size (bench/voice.py), speaking at a trained voice's pace.
"""
from __future__ import annotations

import shutil
import string
import tempfile
import time
from pathlib import Path

from _common import measure

FPS, SIZE, RATE = 24, (426, 240), 48000
TOKENS_PER_WORD = 1.6


def timed(tally: list, fn):
    """`fn`, adding the wall and CPU seconds of every call to `tally` ([wall, cpu])."""
    def call(*args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            tally[0] += time.perf_counter() - t0
            tally[1] += time.process_time() - c0
    return call


def whisper_tokenizer(languages: int):
    """A WhisperTokenizer of Whisper's size and special-token layout: 256 byte symbols, made-up words up
    to id 50256, then <|endoftext|>, <|startoftranscript|>, the languages, the task tokens, timestamps."""
    from tokenizers import pre_tokenizers
    from transformers import AddedToken, WhisperTokenizer
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    vocab = {symbol: i for i, symbol in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    n = 0
    while len(vocab) < 50257:
        word, k = "", n // 2 + 26 * 27   # at least three letters
        while k:
            k, r = divmod(k, 26)
            word += string.ascii_lowercase[r]
        vocab.setdefault(("Ġ" if n % 2 == 0 else "") + word, len(vocab))
        n += 1
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[])
    specials = (["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{c}|>" for c in list(LANGUAGES)[:languages]]
                + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                   "<|notimestamps|>"])
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in specials], special_tokens=True)
    tokenizer.add_tokens([AddedToken(f"<|{i * 0.02:.2f}|>", normalized=False) for i in range(1501)])
    return tokenizer


def transcriber(tokens: int):
    """Whisper small with random weights as the transcribe task's pipe, writing `tokens` a window."""
    import torch
    from localisation import whisper
    from transformers import WhisperFeatureExtractor, WhisperProcessor
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    from pipelines.transcribe import WhisperPipe

    model = whisper("small")
    languages = model.config.vocab_size - 50257 - 1501 - 8
    tokenizer = whisper_tokenizer(languages)
    assert len(tokenizer) == model.config.vocab_size, len(tokenizer)
    with torch.no_grad():   # words, not a timestamp pair around each (see the module docstring)
        model.proj_out.weight[:50257] *= 10
    config = model.generation_config
    config.lang_to_id = {f"<|{c}|>": 50259 + i for i, c in enumerate(list(LANGUAGES)[:languages])}
    config.min_new_tokens = config.max_new_tokens = tokens
    processor = WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer)
    return WhisperPipe(model, processor)


def translator(work: Path):
    """A Marian of opus-mt-en-de's size with random weights (German to English here), its output held
    to a trained model's length."""
    import torch
    from localisation import MARIAN_EN_DE
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    from pipelines.translate import TranslatePipe, build_tiny

    folder = work / "marian-tokenizer"
    folder.mkdir()
    build_tiny(folder)
    tokenizer = MarianTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    model = MarianMTModel(MarianConfig(**MARIAN_EN_DE)).eval()
    generate = model.generate

    def trained_length(**kwargs):
        words = max(len(t.split()) for t in tokenizer.batch_decode(kwargs["input_ids"], skip_special_tokens=True))
        kwargs["min_new_tokens"] = kwargs["max_new_tokens"] = max(2, round(words * TOKENS_PER_WORD))
        source_tokens = max(2, round(words * 1.3))   # as opus-mt's vocabulary would split them
        kwargs["input_ids"] = kwargs["input_ids"][:, :source_tokens]
        kwargs["attention_mask"] = kwargs["attention_mask"][:, :source_tokens]
        generated = generate(**kwargs)
        return generated[:, :1] * 0   # </s> (id 0) alone: an empty translation (see the module docstring)

    model.generate = trained_length
    return TranslatePipe(model, tokenizer, "marian", ("de",), ("en",))


def voice(work: Path):
    """VITS of the published VCTK size with random weights, loaded by the speech task's loader."""
    import torch
    from voice import vctk_sized_vits

    from pipelines.device import Runtime
    from pipelines.speech import load

    folder = work / "vctk-sized-vits"
    folder.mkdir()
    vctk_sized_vits(folder)
    return load(str(folder), "cpu", torch.float32, Runtime())[0]


def make_clip(path: Path, seconds: float) -> None:
    """A clip of moving picture at 426x240, 24 fps, with a voiced, syllable-rate modulated stereo tone."""
    import numpy as np

    from provenance.encode import write_video

    y, x = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    frames = (np.stack([(x + i * 4) % 256, (y * 2 + i * 3) % 256, np.full_like(x, 90)], -1).astype(np.uint8)
              for i in range(int(seconds * FPS)))
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.2 * np.sin(2 * np.pi * 150 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    write_video(frames, FPS, path, size=SIZE, audio=np.stack([tone, tone]).astype(np.float32), audio_rate=RATE)


def bench_dub(seconds: float, tokens_per_window: int) -> float:
    """Time one dub of a `seconds` clip; print its figures; return the CPU share outside the models."""
    work = Path(tempfile.mkdtemp(prefix="bench-dub-"))
    try:
        return _bench(work, seconds, tokens_per_window)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bench(work: Path, seconds: float, tokens_per_window: int) -> float:
    from TTS.tts.models.vits import Vits

    from pipelines import dubbing
    from pipelines.media import InputFile
    from pipelines.progress import Progress
    from provenance.config import PublishConfig
    from provenance.publish import Publisher

    tokens = max(8, round(tokens_per_window * min(seconds, 30.0) / 30.0))
    chain = dubbing.Chain(voice(work), transcriber(tokens), translator(work))
    clip = work / "clip.mp4"
    make_clip(clip, seconds)
    calls = {"whisper": [0.0, 0.0], "marian": [0.0, 0.0], "vits": [0.0, 0.0]}
    chain.transcriber.model.generate = timed(calls["whisper"], chain.transcriber.model.generate)
    chain.translator.model.generate = timed(calls["marian"], chain.translator.model.generate)
    synthesize = Vits.synthesize
    Vits.synthesize = timed(calls["vits"], synthesize)   # per class: the task says each take on a view of the model
    publisher = Publisher(PublishConfig.from_env(work / "data"))
    request = dubbing.Request(media_path=str(clip), lines="", model="vctk-sized", language="en", speaker="p225",
                              source_language="de", transcriber="whisper-small", translator="opus-mt-de-en")
    out: dict = {}

    def job():
        out["result"] = result = dubbing.run(chain, request, Progress())
        out["files"] = [p for a in result.artifacts for p in publisher.publish(
            a, task="dubbing", session_id="bench", inputs=[InputFile(str(clip), "parentOf", "original clip")])]

    try:
        wall, cpu, _ = measure(job)
    finally:
        Vits.synthesize = synthesize
    return _report(seconds, tokens, out["result"], calls, wall, cpu)


def _report(seconds: float, tokens: int, result, calls: dict, wall: float, cpu: float) -> float:
    params = result.artifacts[0].params
    segments = params["segments"]
    model_wall, model_cpu = sum(c[0] for c in calls.values()), sum(c[1] for c in calls.values())
    print(f"dubbing: a {seconds:g} s clip (426x240, {FPS} fps), no lines given, de->en; Whisper small writing "
          f"{tokens} tokens, opus-mt-sized Marian, VCTK-sized VITS (random weights), then published")
    print(f"  {len(segments)} segment(s), {sum(s['speech_s'] for s in segments):.1f} s of speech, "
          f"{sum(not s['fits'] for s in segments)} over their slot; notices: {len(result.notices)}")
    print("  model calls (wall / CPU s): " + ", ".join(f"{k} {w:.1f} / {c:.1f}" for k, (w, c) in calls.items()))
    print(f"  whole job: {wall:.1f} s wall, {cpu:.1f} s CPU; RTF {wall / seconds:.2f} wall, {cpu / seconds:.2f} CPU")
    share_wall, share_cpu = 1 - model_wall / wall, 1 - model_cpu / cpu
    print(f"  outside the models: {wall - model_wall:.1f} s wall ({share_wall:.1%}), {cpu - model_cpu:.1f} s CPU "
          f"({share_cpu:.1%})")
    return share_cpu
