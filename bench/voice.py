"""Voice benchmark: real-time factor of the speech task, and the studio path against raw Coqui.

    .venv/bin/python bench/voice.py [--reps N] [--quick]

RTF = seconds of compute per second of audio made (below 1 is faster than real time), by wall
clock and by process CPU time (the steadier figure on a shared machine). Models:
- the tiny VITS and XTTS presets, loaded by the production loader;
- a VITS of the published VCTK size (Coqui's default VITS architecture, 109 speakers), built
  with random weights in the VCTK download layout and loaded by the same loader. Random weights
  predict about one frame per character, which would make the audio absurdly short; its stochastic
  duration predictor's output offset is set so it speaks at a trained voice's pace (printed as
  characters per second), and everything else is untouched.

"studio" is the speech task's run (checks, sentence chunking, alphabet check, per-request view,
joining with fades); "raw" is Coqui's own `TTS.tts(text, speaker=..., split_sentences=True)` on
the same loaded model, in the same process, interleaved. Publishing (loudness, WAV + MP3, C2PA)
is timed on its own.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
from pathlib import Path

from _common import interleave, measure, table

NARRATION = (
    "The lighthouse keeper climbed the stairs at dusk, as she had every evening for thirty years. "
    "Dr. Ellis, the new inspector, followed a few steps behind, counting under his breath. "
    '"How many steps?" she asked without turning around. "Two hundred and twelve," he said. '
    "She laughed, because it was two hundred and eleven; the last one had been gone since the storm of 1987. "
    "Outside, the fog rolled in from the sea, and somewhere beyond it a ship's horn sounded twice.")


def vctk_sized_vits(dest: Path, speakers: int = 109) -> None:
    """Coqui's default VITS (the published VCTK architecture) with random weights, in the VCTK layout."""
    import string

    import torch
    from TTS.tts.configs.shared_configs import CharactersConfig
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
    from TTS.tts.models.vits import Vits

    torch.manual_seed(0)
    names = {f"p{225 + i}": i for i in range(speakers)}
    (dest / "speaker_ids.json").write_text(json.dumps(names))
    args = VitsArgs(init_discriminator=False, use_speaker_embedding=True, speaker_embedding_channels=256,
                    speakers_file=str(dest / "speaker_ids.json"))
    # Characters instead of espeak phonemes (not installed here): the same number of tokens per word, near enough.
    chars = CharactersConfig(characters_class="TTS.tts.models.vits.VitsCharacters", characters=string.ascii_lowercase,
                             punctuations="!'\"(),-.:;? ", pad="<PAD>", eos="<EOS>", bos="<BOS>", blank="<BLNK>")
    config = VitsConfig(model_args=args, use_phonemes=False, phoneme_language="en", text_cleaner="english_cleaners",
                        add_blank=True, characters=chars, use_speaker_embedding=True,
                        speakers_file=str(dest / "speaker_ids.json"))
    config.audio.do_trim_silence = False
    model = Vits(config).eval()
    with torch.no_grad():  # the pace offset described above (~14 characters per second, as people read aloud)
        model.duration_predictor.flows[0].translation[0].fill_(-math.log(1.6))
    torch.save({"model": model.state_dict()}, dest / "model_file.pth")
    config.save_json(str(dest / "config.json"))


def bench_model(label: str, pipe, preset, request_kw: dict, raw_kw: dict, reps: int) -> list:
    import numpy as np
    import torch

    from pipelines.progress import Progress
    from pipelines.speech import Request, run

    def studio():
        request = Request(model=preset.name, **request_kw)
        request.check(preset)
        out["studio"] = run(pipe, request, Progress()).artifacts[0]

    def raw():
        with torch.random.fork_rng():  # the same sampling noise as the studio run's seed
            torch.manual_seed(request_kw["seed"])
            out["raw"] = np.asarray(pipe.tts(request_kw["text"], split_sentences=True, **raw_kw))

    out: dict = {}
    timings = interleave({"studio": studio, "raw": raw}, reps)
    studio_s = out["studio"].duration_s
    raw_s = out["raw"].size / pipe.synthesizer.output_sample_rate  # Coqui pads each sentence with 0.45 s
    (sw, sc, _), (rw, rc, _) = timings["studio"], timings["raw"]
    params = sum(p.numel() for p in pipe.parameters()) / 1e6
    pace = len(request_kw["text"]) / studio_s
    return [label, f"{params:.1f}", f"{studio_s:.1f}", f"{raw_s:.1f}", f"{pace:.0f}", out["studio"].params["chunks"],
            f"{sw / studio_s:.3f}", f"{sc / studio_s:.3f}", f"{sw / rw:.2f}", f"{sc / rc:.2f}"], out["studio"]


def _xtts_text(pipe, text: str, raw_kw: dict) -> str:
    """Coqui's own call splits at sentence ends only; a sentence over XTTS's text-token limit fails there
    (the studio packs and splits within the limit). Compare on the sentences both can say."""
    from pipelines.text_chunks import split_sentences

    try:
        pipe.tts(text, split_sentences=True, **raw_kw)
        return text
    except AssertionError as e:
        short = " ".join(s for s in split_sentences(text) if len(s) < 80)
        print(f"raw Coqui on tiny-xtts, whole narration: {str(e).strip()} (the studio says it in chunks); "
              f"comparing on its {len(short)} characters of short sentences\n")
        return short


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="a short text and one repetition")
    args = ap.parse_args()
    from pipelines.text_chunks import split_sentences

    sentences = split_sentences(NARRATION)
    # the tiny models get the whole narration; the VCTK-sized one (RTF near 1 on 2 cores) two sentences
    text = sentences[0] if args.quick else NARRATION
    large_text = sentences[0] if args.quick else " ".join(sentences[:2])
    reps = 1 if args.quick else args.reps

    import torch

    print(f"torch threads {torch.get_num_threads()}; text {len(text)} characters ({len(large_text)} for the "
          f"VCTK-sized model); {reps} interleaved repetitions after a warm-up\n")
    work = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    try:
        run_all(work, text, large_text, reps)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the models built here take ~300 MB


def run_all(work: Path, text: str, large_text: str, reps: int) -> None:
    import torch

    from pipelines.device import Runtime
    from pipelines.models import ModelManager
    from pipelines.presets import ModelPreset
    from pipelines.speech import load
    from provenance.config import PublishConfig
    from provenance.publish import Publisher

    models = ModelManager(work / "data", Runtime(dtype="fp32"))
    rows, artifacts = [], []
    common = dict(text=text, seed=1, pause_ms=250, target_lufs=-16.0)
    for name, speaker, raw_kw in (("tiny-vits", "tiny-ada", {"speaker": "tiny-ada"}),
                                  ("tiny-xtts", "Tiny Narrator", {"speaker": "Tiny Narrator", "language": "en"})):
        loaded = models.get("speech", name)
        kw = {**common, "speaker": speaker}
        if name == "tiny-xtts":
            kw["text"] = _xtts_text(loaded.pipe, text, raw_kw)
        row, artifact = bench_model(name, loaded.pipe, loaded.preset, kw, raw_kw, 2 * reps)
        rows.append(row)
        artifacts.append(artifact)
        print(table([row], HEADER), "\n", flush=True)

    folder = work / "vctk-sized-vits"
    folder.mkdir()
    vctk_sized_vits(folder)
    pipe, _ = load(str(folder), "cpu", torch.float32, Runtime())
    preset = ModelPreset(name="vctk-sized-random", task="speech", label="VCTK-sized VITS (random)", tier="cpu",
                         family="vits", license="test", commercial_use=True, local_dir=str(folder))
    row, artifact = bench_model("VCTK-sized VITS", pipe, preset, {**common, "text": large_text, "speaker": "p225"},
                                {"speaker": "p225"}, reps)
    rows.append(row)
    artifacts.append(artifact)
    print("All models:\n" + table(rows, HEADER) + "\n")
    print("RTF = compute seconds per second of audio (studio path). studio/raw = time of the studio run over the\n"
          "time of Coqui's own call for the same text, model and seed (1.00 = no overhead).\n")

    publisher = Publisher(PublishConfig.from_env(work / "data"))
    pub_rows = []
    for label, artifact in zip(("tiny-vits", "tiny-xtts", "VCTK-sized VITS"), artifacts):
        wall, cpu, _ = measure(lambda: publisher.publish(artifact, task="speech", session_id="bench"))
        pub_rows.append([label, f"{artifact.duration_s:.1f}", f"{wall:.2f}", f"{wall / artifact.duration_s:.3f}"])
    print("Publishing one take (loudness to -16 LUFS, WAV + MP3, C2PA signing, read-back):\n"
          + table(pub_rows, ["model", "audio s", "wall s", "s per audio s"]))


HEADER = ["model", "M params", "audio s", "raw audio s", "chars/s", "chunks", "RTF wall", "RTF cpu",
          "studio/raw wall", "studio/raw cpu"]

if __name__ == "__main__":
    main()
