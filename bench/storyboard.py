"""Storyboard benchmark: what the board adds on top of the raw library calls, as ratios in one process.

1. Panels: a board run of N shots (BoardService.generate_panels: one Studio job per panel, each
   checked, run, watermarked, scored, signed, put in the gallery and written to the board) against
   a loop of Studio.produce for the same N requests (the board's own overhead) and against the raw
   diffusers call `pipe(prompt=..., ...)` on the same loaded tiny pipeline (everything the studio adds).
2. Animatic: the export job (render the frames with their moves, mix the sound, encode H.264+AAC,
   score, sign with every panel and take as an ingredient) against encoding the same frames
   with PyAV alone (provenance.encode.write_video), and rendering alone.

Not collected by pytest (no test_ prefix). usage:
    python bench/storyboard.py [--shots 3] [--reps 3] [--size 256x144] [--seconds 2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _common import interleave, table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size", default="256x144")
    ap.add_argument("--seconds", type=float, default=2.0, help="length of each shot in the animatic")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from pipelines.text_to_image import Request
    from provenance import encode
    from studio.service import Studio
    from studio.settings import load_settings
    from studio.storyboard import exports
    from studio.storyboard.service import BoardService, Finished

    width, height = (int(v) for v in args.size.split("x"))
    data = Path(tempfile.mkdtemp(prefix="bench-storyboard-"))
    studio = Studio(load_settings(env={}, data_dir=data, dtype="fp32"))
    boards = BoardService(studio)
    session = "bench-storyboard-session"
    script = "\n".join(f"- [medium, pan right, {args.seconds}s] shot {i}: a lighthouse in fog, gulls\n"
                       f"ANNA: line number {i}" for i in range(args.shots))
    board = boards.create(session, script, width=width, height=height, steps=4, fps=24, seed_policy="sequential",
                          seed=1)
    pipe = studio.models.get("text_to_image", board.model).pipe
    prompts = [s.prompt_text(board.look) for s in board.shots]

    def board_run():
        events = list(boards.generate_panels(session, board.id))
        assert isinstance(events[-1], Finished) and "Made" in events[-1].message, events[-1].message

    def produce_loop():
        for i, prompt in enumerate(prompts):
            studio.produce("text_to_image", Request(prompt=prompt, model=board.model, style=board.style, seed=i,
                                                    steps=4, width=width, height=height), session)

    def raw_diffusers():
        for i, prompt in enumerate(prompts):
            with torch.inference_mode():
                pipe(prompt=prompt, num_inference_steps=4, guidance_scale=6.0, width=width, height=height,
                     generator=torch.Generator().manual_seed(i), output_type="pil")

    panels = interleave({"board run": board_run, "Studio.produce loop": produce_loop, "raw diffusers": raw_diffusers},
                        reps=args.reps)
    base = panels["raw diffusers"][1]
    print(f"\nPanels: {args.shots} shots of {width}x{height}, 4 steps, tiny SD 1.5, {args.threads} torch thread(s)")
    print(table([[k, f"{w:.2f}", f"{c:.2f}", f"{c / base:.2f}x"] for k, (w, c, _) in panels.items()],
                ["path", "wall s", "CPU s", "CPU vs raw"]))
    print(f"board overhead over the produce loop: {panels['board run'][1] / panels['Studio.produce loop'][1]:.2f}x CPU")

    list(boards.generate_voices(session, board.id))
    board = boards.get(session, board.id)
    artifact, _ = exports.animatic_artifact(board)
    frames = [f for f in artifact.frames]
    out = data / "raw.mp4"

    def export_job():
        events = list(boards.export(session, board.id, "animatic"))
        assert isinstance(events[-1], Finished) and events[-1].items

    def raw_encode():
        encode.write_video(iter(frames), 24, out, size=artifact.size, audio=artifact.audio.samples,
                           audio_rate=artifact.audio.sample_rate)

    def render_only():
        art, _ = exports.animatic_artifact(board)
        for _ in art.frames:
            pass

    anim = interleave({"animatic export": export_job, "raw PyAV encode": raw_encode, "render frames only": render_only},
                      reps=args.reps)
    base = anim["raw PyAV encode"][1]
    print(f"\nAnimatic: {len(frames)} frames of {artifact.size[0]}x{artifact.size[1]} at 24 fps "
          f"({len(frames) / 24:.1f} s), {sum(len(s.dialogue) for s in board.shots)} takes mixed in")
    print(table([[k, f"{w:.2f}", f"{c:.2f}", f"{c / base:.2f}x"] for k, (w, c, _) in anim.items()],
                ["path", "wall s", "CPU s", "CPU vs raw encode"]))


if __name__ == "__main__":
    main()
