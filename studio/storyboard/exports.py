"""A board's exports, made from its signed panels and takes: a PDF contact sheet (fpdf2), a ZIP of
the panels, and the animatic (pipelines.animatic). Publishing them is the service's job."""
from __future__ import annotations

import importlib.util
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
from PIL import Image

from pipelines import animatic, subtitles
from pipelines.errors import InputError
from pipelines.media import InputFile, VideoArtifact
from studio.storyboard.board import Board, Shot, speaker_label

# A Unicode font makes any script printable (quotes, accents, non-Latin names). The system's DejaVu
# first, then the copy matplotlib (a coqui-tts dependency) carries; else the PDF core font, Latin-1 only.
FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                   "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                   "/usr/share/fonts/TTF/DejaVuSans.ttf")
PAGE_W, PAGE_H, MARGIN, GUTTER, HEADER = 297.0, 210.0, 10.0, 6.0, 14.0   # A4 landscape, mm
COLUMNS, ROWS = 3, 2
TEXT_LINE_MM = 3.6
MAX_TEXT_LINES = 7


@dataclass
class Cell:
    """Where one shot sits on the contact sheet (mm): its page, its panel box and its text box."""

    page: int
    image: tuple[float, float, float, float]   # x, y, w, h
    text_y: float


def layout(board: Board) -> list[Cell]:
    """Panel boxes in a 3 x 2 grid per page, each as wide as a column and in the board's aspect."""
    cell_w = (PAGE_W - 2 * MARGIN - (COLUMNS - 1) * GUTTER) / COLUMNS
    cell_h = (PAGE_H - 2 * MARGIN - HEADER - (ROWS - 1) * GUTTER) / ROWS
    image_h = min(cell_w * board.height / board.width, cell_h * 0.62)
    image_w = image_h * board.width / board.height
    cells = []
    for i in range(len(board.shots)):
        page, slot = divmod(i, COLUMNS * ROWS)
        row, col = divmod(slot, COLUMNS)
        x = MARGIN + col * (cell_w + GUTTER) + (cell_w - image_w) / 2
        y = MARGIN + HEADER + row * (cell_h + GUTTER)
        cells.append(Cell(page, (x, y, image_w, image_h), y + image_h + 2))
    return cells


def _font(pdf) -> str:
    spec = importlib.util.find_spec("matplotlib")
    bundled = Path(spec.origin).parent / "mpl-data/fonts/ttf/DejaVuSans.ttf" if spec and spec.origin else None
    for path in [*FONT_CANDIDATES, *([str(bundled)] if bundled else [])]:
        if Path(path).is_file():
            pdf.add_font("Sheet", "", path)
            bold = Path(path).with_name("DejaVuSans-Bold.ttf")
            pdf.add_font("Sheet", "B", str(bold) if bold.is_file() else path)
            return "Sheet"
    return "helvetica"


def contact_sheet(board: Board, path: Path) -> list[Cell]:
    """Write the board as a PDF contact sheet: every panel with its number, camera, duration, text and
    dialogue. Shots without a panel get an empty frame saying so. Returns the layout used."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(board.title)
    pdf.set_creator("GenMedia Studio")
    font = _font(pdf)
    text = (lambda s: s) if font != "helvetica" else (lambda s: s.encode("latin-1", "replace").decode("latin-1"))
    cells = layout(board)
    pages = (len(board.shots) + COLUMNS * ROWS - 1) // (COLUMNS * ROWS)
    cell_w = (PAGE_W - 2 * MARGIN - (COLUMNS - 1) * GUTTER) / COLUMNS
    for n, (shot, cell) in enumerate(zip(board.shots, cells), start=1):
        if n == 1 or cell.page != cells[n - 2].page:
            pdf.add_page()
            pdf.set_font(font, "B", 13)
            pdf.set_xy(MARGIN, MARGIN)
            pdf.cell(PAGE_W - 2 * MARGIN - 40, 7, text(board.title))
            pdf.set_font(font, "", 8)
            pdf.set_xy(PAGE_W - MARGIN - 40, MARGIN)
            pdf.cell(40, 7, f"page {cell.page + 1} / {pages}", align="R")
            pdf.set_xy(MARGIN, MARGIN + 6)
            pdf.cell(0, 5, text(f"{len(board.shots)} shots · {board.duration_s:.1f} s · style {board.style} · "
                                f"model {board.model}"))
        x, y, w, h = cell.image
        if shot.panel_path and Path(shot.panel_path).is_file():
            pdf.image(shot.panel_path, x=x, y=y, w=w, h=h)
        else:
            pdf.set_draw_color(160)
            pdf.rect(x, y, w, h)
            pdf.set_font(font, "", 8)
            pdf.set_xy(x, y + h / 2 - 2)
            pdf.cell(w, 4, "no panel yet", align="C")
        left = x - (cell_w - w) / 2
        pdf.set_xy(left, cell.text_y)
        pdf.set_font(font, "B", 9)
        head = " · ".join(p for p in (f"#{n}", shot.camera, f"{shot.duration_s:g} s") if p)
        pdf.cell(cell_w, 4.5, text(head))
        lines = [(shot.prompt, "")] + [(f"{speaker_label(ln.speaker)}: {ln.text}", "B") for ln in shot.dialogue]
        _write_lines(pdf, font, text, lines, left, cell.text_y + 5, cell_w)
    pdf.output(str(path))
    return cells


def _write_lines(pdf, font, text, paragraphs, x: float, y: float, width: float) -> None:
    """Shot text then dialogue, wrapped to the column and cut with an ellipsis at MAX_TEXT_LINES."""
    budget = MAX_TEXT_LINES
    for paragraph, style in paragraphs:
        if budget <= 0:
            break
        pdf.set_font(font, style, 8)
        wrapped = pdf.multi_cell(width, TEXT_LINE_MM, text(paragraph), dry_run=True, output="LINES")
        if len(wrapped) > budget:
            wrapped = wrapped[:budget]
            wrapped[-1] = wrapped[-1][: max(0, len(wrapped[-1]) - 2)] + "…"
        for line in wrapped:
            pdf.set_xy(x, y)
            pdf.cell(width, TEXT_LINE_MM, text(line))
            y += TEXT_LINE_MM
        budget -= len(wrapped)


def slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "shot"


def panels_zip(board: Board, path: Path) -> list[str]:
    """A ZIP of the signed panels as published (each keeps its own credentials) and the shot list as
    JSON. Returns the member names."""
    missing = [n for n, s in enumerate(board.shots, 1) if not (s.panel_path and Path(s.panel_path).is_file())]
    if len(missing) == len(board.shots):
        raise InputError("No shot has a panel yet: generate the panels first.")
    names, listing = [], []
    # Every member stored, not deflated: c2pa-python 0.38 cannot parse a ZIP with deflated members
    # ("compression method not supported: 8"), and PNGs are compressed already.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as box:
        for n, shot in enumerate(board.shots, start=1):
            entry = {"shot": n, "text": shot.prompt, "camera": shot.camera, "duration_s": shot.duration_s,
                     "scene": shot.scene, "seed": shot.seed, "motion": shot.motion,
                     "dialogue": [{"speaker": ln.speaker, "text": ln.text} for ln in shot.dialogue], "panel": None}
            if n not in missing:
                name = f"panels/{n:03d}-{slug(shot.prompt)}{Path(shot.panel_path).suffix}"
                box.write(shot.panel_path, name)  # the signed bytes, as published
                entry["panel"] = name
                names.append(name)
            listing.append(entry)
        box.writestr("shots.json", json.dumps({"title": board.title, "style": board.style, "model": board.model,
                                               "shots": listing}, indent=2, ensure_ascii=False))
    return [*names, "shots.json"]


def require_panels(board: Board) -> None:
    missing = [str(n) for n, s in enumerate(board.shots, 1) if not (s.panel_path and Path(s.panel_path).is_file())]
    if missing:
        raise InputError(f"Shot(s) {', '.join(missing)} have no panel yet: generate them first (Generate all "
                         "panels, with 'only shots without a panel' ticked, fills the gaps).")


def _read_track(path: str, start_s: float = 0.0, text: str = "") -> animatic.Track:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return animatic.Track(np.ascontiguousarray(data.T), int(rate), start_s, text)


def animatic_artifact(board: Board, on_frame: Callable[[int, int], None] | None = None,
                      with_music: bool = True, burn_subtitles: bool = False
                      ) -> tuple[VideoArtifact, list[str], list[subtitles.Cue]]:
    """The board's animatic: panels for their durations with their moves, voice-over and music mixed,
    the takes' words as a soft subtitle track (or burnt into the picture). Returns the artifact, notices
    (takes that run past their shot, no sound at all) and the subtitle cues, for the SRT and WebVTT files."""
    require_panels(board)
    notices = []
    starts = np.concatenate([[0.0], np.cumsum([s.duration_s for s in board.shots])])[:-1]
    takes = [[ln for ln in s.dialogue if ln.audio_path and Path(ln.audio_path).is_file()] for s in board.shots]
    times = animatic.voice_times(starts, [[ln.duration_s for ln in t] for t in takes])
    voices = []
    for n, (shot, shot_takes, shot_times) in enumerate(zip(board.shots, takes, times), start=1):
        for line, t in zip(shot_takes, shot_times):
            voices.append(_read_track(line.audio_path, t, line.text))  # its words: the animatic's subtitles
        if shot_takes and shot_times[-1] + shot_takes[-1].duration_s > starts[n - 1] + shot.duration_s:
            notices.append(f"Shot {n}'s voice-over runs past the end of the shot; 'Fit shots to dialogue' "
                           "lengthens such shots.")
    music = _read_track(board.music_path) if with_music and board.music_path and Path(board.music_path).is_file() \
        else None
    if not voices and music is None:
        notices.append("The animatic has no sound: make the voice-over or a music bed first.")
    clips = [animatic.Clip(Image.open(s.panel_path), s.duration_s, s.motion) for s in board.shots]
    params = {"task": "storyboard", "export": "animatic", "board_id": board.id, "title": board.title,
              "shots": [{"shot": n, "duration_s": s.duration_s, "motion": s.motion, "panel_id": s.panel_id,
                         "seed": s.seed, "text": s.prompt} for n, s in enumerate(board.shots, 1)],
              "music_id": board.music_id if music is not None else None}
    artifact = animatic.build(clips, fps=board.fps, size=(board.width, board.height), voices=voices, music=music,
                              params=params, music_db=board.music_level_db, on_frame=on_frame,
                              burn_subtitles=burn_subtitles)
    # The same cues build timed for the track or the burn-in (the same takes, rules and length).
    cues = animatic.subtitle_cues(voices, len(artifact.frames) / board.fps, subtitles.Rules())
    return artifact, notices, cues


def take_ingredients(board: Board) -> list[InputFile]:
    """Every voice take as a componentOf ingredient (of the animatic, and of its subtitle files, whose
    words and times come from the takes)."""
    return [InputFile(ln.audio_path, "componentOf", f"shot {n} voice-over: {speaker_label(ln.speaker)}")
            for n, shot in enumerate(board.shots, 1) for ln in shot.dialogue
            if ln.audio_path and Path(ln.audio_path).is_file()]


def ingredients(board: Board, *, audio: bool) -> list[InputFile]:
    """Every panel (and, for the animatic, every take and the music) as a componentOf ingredient."""
    files = [InputFile(s.panel_path, "componentOf", f"panel {n}: {s.prompt[:60]}")
             for n, s in enumerate(board.shots, 1) if s.panel_path and Path(s.panel_path).is_file()]
    if audio:
        files += take_ingredients(board)
        if board.music_path and Path(board.music_path).is_file():
            files.append(InputFile(board.music_path, "componentOf", "music bed"))
    return files


def export_params(board: Board, kind: str, **extra) -> dict:
    """What an export records: the board, its shots and the settings that made its panels."""
    shots = [{"shot": n, "text": s.prompt, "camera": s.camera, "duration_s": s.duration_s, "seed": s.seed,
              "panel_id": s.panel_id, "dialogue": [[ln.speaker, ln.text] for ln in s.dialogue]}
             for n, s in enumerate(board.shots, 1)]
    return {"task": "storyboard", "export": kind, "board_id": board.id, "title": board.title, "style": board.style,
            "model": board.model, "look": board.look, "seed_policy": board.seed_policy, "width": board.width,
            "height": board.height, "duration_s": round(board.duration_s, 3), "shots": shots, **extra}


def shot_caption(n: int, shot: Shot) -> str:
    head = " · ".join(p for p in (f"#{n}", shot.camera, f"{shot.duration_s:g} s") if p)
    text = shot.prompt if len(shot.prompt) <= 70 else shot.prompt[:69] + "…"
    return f"{head} — {text}"
