"""How a board looks in the tab: its summary, panel tiles, shot table and exports table.

Plain values (strings, lists, PIL images) so the formatting is testable without a browser.
"""
from __future__ import annotations

import time
from pathlib import Path

from PIL import Image, ImageDraw

from studio.gallery import GalleryItem
from studio.storyboard.board import SEED_POLICY_HELP, Board, speaker_label
from studio.storyboard.exports import shot_caption

SHOT_HEADERS = ["#", "Scene", "Camera", "Shot", "Dialogue", "Seconds", "Move", "Seed", "Locked", "Panel"]
EXPORT_HEADERS = ["Made", "Board", "Export", "Shots", "Seconds"]
STATE_LABEL = {"empty": "not made yet", "done": "done", "failed": "failed", "stale": "outdated (edited)"}
_TILE = {"empty": (236, 236, 236), "failed": (250, 222, 222)}


def summary_markdown(board: Board | None, *, read_only: bool = False) -> str:
    """The board at a glance: title, counts, settings, what is made and what is missing."""
    if board is None:
        return "No board yet: paste a script (or pick a template) and press **Create board**."
    made = sum(s.status == "done" for s in board.shots)
    failed = [str(n) for n, s in enumerate(board.shots, 1) if s.status == "failed"]
    stale = [str(n) for n, s in enumerate(board.shots, 1) if s.status == "stale"]
    lines_total = sum(len(s.dialogue) for s in board.shots)
    takes = sum(1 for s in board.shots for ln in s.dialogue if ln.audio_path)
    parts = [f"### {board.title}" + (" · *shared, read-only*" if read_only else ""),
             f"{len(board.shots)} shots · {board.duration_s:.1f} s · {made} panel(s) made · "
             f"{takes}/{lines_total} voice-over take(s) · music bed: {'yes' if board.music_path else 'no'}",
             f"Style **{board.style}** · model `{board.model}` · {board.width}×{board.height} · {board.steps} steps · "
             f"seed {board.seed} ({board.seed_policy}: {SEED_POLICY_HELP[board.seed_policy]}) · {board.fps} fps"]
    if board.look:
        parts.append(f"Look notes: {board.look}")
    if board.voices:
        parts.append("Voices: " + ", ".join(f"{speaker_label(k)} → {v or 'default'}" for k, v in board.voices.items()))
    if board.reference_name:
        verdict = board.reference_verdict.get("verdict", "checked")
        parts.append(f"Reference: {board.reference_name} (AI-content check: {verdict}; strength "
                     f"{board.reference_strength:g}; recorded as an ingredient)")
    if failed:
        parts.append(f"⚠️ Failed: shot(s) {', '.join(failed)} — see the table; regenerate them.")
    if stale:
        parts.append(f"Outdated panels (edited since made): shot(s) {', '.join(stale)}.")
    return "  \n".join(parts)


def placeholder(board: Board, n: int, text: str, state: str) -> Image.Image:
    """A tile for a shot without a panel, in the board's aspect, saying why."""
    w = 320
    h = max(90, round(w * board.height / board.width))
    tile = Image.new("RGB", (w, h), _TILE.get(state, (236, 236, 236)))
    draw = ImageDraw.Draw(tile)
    draw.rectangle([0, 0, w - 1, h - 1], outline=(150, 150, 150))
    draw.text((10, 10), f"Shot {n}", fill=(40, 40, 40))
    draw.text((10, 30), text[:48], fill=(90, 90, 90))
    return tile


def panel_tiles(board: Board | None) -> list[tuple[object, str]]:
    """One gallery tile per shot, in board order: its panel, or a placeholder saying why there is none."""
    if board is None:
        return []
    tiles = []
    for n, shot in enumerate(board.shots, 1):
        caption = shot_caption(n, shot)
        if shot.panel_path and Path(shot.panel_path).is_file():
            mark = " (outdated)" if shot.status == "stale" else ""
            tiles.append((shot.panel_path, caption + mark))
        else:
            why = "failed: " + shot.error if shot.status == "failed" else "not made yet"
            tiles.append((placeholder(board, n, why, shot.status), caption))
    return tiles


def shot_rows(board: Board | None) -> list[list]:
    if board is None:
        return []
    rows = []
    for n, s in enumerate(board.shots, 1):
        said = " / ".join(f"{speaker_label(ln.speaker)}: {ln.text}" + (" 🔊" if ln.audio_path else "")
                          for ln in s.dialogue)
        state = STATE_LABEL.get(s.status, s.status) + (f": {s.error}" if s.status == "failed" else "")
        rows.append([n, s.scene, s.camera, s.prompt, said, s.duration_s, s.motion, s.seed,
                     "yes" if s.seed_locked else "", state])
    return rows


def export_rows(items: list[GalleryItem]) -> list[list]:
    """One row per storyboard export of the visitor, newest first."""
    return [[time.strftime("%Y-%m-%d %H:%M", time.localtime(i.created)), i.params.get("title", ""),
             i.params.get("export", i.mime), len(i.params.get("shots", [])), i.params.get("duration_s", "")]
            for i in items]
