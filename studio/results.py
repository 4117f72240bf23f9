"""Where a tab shows what a task made, by artifact kind: images in a gallery, audio in a player with
its waveform and a table, video in a player beside a gallery of clips, text and reports as a text
box, downloads and a table.

Each view is laid out where it is made (inside the tab's column) and answers the same questions,
so a tab's run, select and refresh handlers need not know which one it has:
`outputs` (updated by a run, in the API's order), `gallery` (refilled on page load and "Show
older"), `rows(session)`, `done(session, outcome)`, `progress(session, event)`, `select_outputs`
and `selected(item)`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gradio as gr

from studio.gallery import GalleryItem
from studio.sessions import Session
from studio.service import Outcome, Studio

AUDIO_HEADERS = ["Made", "Prompt", "Model", "Seed", "Seconds", "File"]
TEXT_HEADERS = ["Made", "Source", "Model", "File"]
WAV_MIMES = ("audio/wav", "audio/x-wav", "audio/wave")


def short(text: str, n: int) -> str:
    """`text` cut to `n` characters with an ellipsis."""
    return text if len(text) <= n else text[: n - 1] + "…"


def made_at(item: GalleryItem) -> str:
    return time.strftime("%H:%M:%S", time.localtime(item.created))


def tiles(studio: Studio, session: Session, task: str) -> list[tuple[str, str]]:
    """The visitor's files of `task`, newest first, as (path, caption) gallery tiles."""
    return [(i.path, i.caption) for i in studio.gallery.newest(session.id, task, pages=session.pages)]


def made_lines(outcome: Outcome, most: int = 4) -> str:
    """What a finished job made, one markdown line per distinct caption (model, seed, size or duration;
    a WAV and its MP3 share one), for its status: an upscale's size is read there, not guessed from a
    thumbnail."""
    captions = list(dict.fromkeys(item.caption for item in outcome.items if item.caption))
    lines = [f"Made: {c}" for c in captions[:most]]
    if len(captions) > most:
        lines.append(f"…and {len(captions) - most} more.")
    return "".join(f"  \n{line}" for line in lines)


def preview_tiles(event, shown: list) -> list:
    """Live preview pictures of a running job, in front of the visitor's gallery."""
    return [(img, f"preview · step {int(event.done)}/{int(event.total)}") for img in event.preview] + shown


class ImageResults:
    """A gallery of the task's images; a run shows its live previews in front of them."""

    def __init__(self, studio: Studio, task: str, prefix: str, label: str = "Results", height: int = 520):
        self.studio, self.task = studio, task
        self.gallery = gr.Gallery(label=label, columns=3, height=height, elem_id=f"{prefix}-gallery",
                                  buttons=["download", "fullscreen"], preview=False, interactive=False)
        self.outputs = [self.gallery]
        self.params = None   # laid out by the tab (beside its "Reuse these settings")
        self.select_outputs: list = []

    def rows(self, session: Session):
        return tiles(self.studio, session, self.task)

    def done(self, session: Session, outcome: Outcome) -> tuple:
        return (self.rows(session),)

    def progress(self, session: Session, event) -> tuple:
        return (preview_tiles(event, self.rows(session)) if event.preview else gr.update(),)

    def selected(self, item: GalleryItem) -> tuple:
        return ()


class AudioResults:
    """Player, waveform/spectrogram picture, downloads (WAV and MP3) and the visitor's sounds as a table."""

    def __init__(self, studio: Studio, task: str, prefix: str, label: str = "Your sounds (select one)"):
        self.studio, self.task = studio, task
        self.player = gr.Audio(label="Result (signed)", type="filepath", interactive=False,
                               elem_id=f"{prefix}-player", buttons=["download"])
        self.preview = gr.Image(label="Waveform and spectrogram (preview)", type="pil", interactive=False,
                                buttons=[], elem_id=f"{prefix}-preview")
        self.files = gr.File(label="Downloads: WAV and MP3, each with signed Content Credentials",
                             file_count="multiple", interactive=False, elem_id=f"{prefix}-files")
        self.gallery = gr.Dataframe(headers=AUDIO_HEADERS, value=[], interactive=False, label=label,
                                    elem_id=f"{prefix}-gallery", max_height=320, wrap=True,
                                    column_widths=["13%", "37%", "26%", "11%", "7%", "6%"])
        self.params = gr.JSON(label="Exact parameters of the selected file")
        self.outputs = [self.player, self.preview, self.files, self.gallery]
        self.select_outputs = [self.player, self.preview, self.files]

    def rows(self, session: Session) -> list[list[Any]]:
        """One row per file (WAV and MP3 are separate rows), newest first."""
        rows = []
        for item in self.studio.gallery.newest(session.id, self.task, pages=session.pages):
            p = item.params
            rows.append([made_at(item), short(p.get("prompt", ""), 40), p.get("model_label") or p.get("model", ""),
                         p.get("seed", ""), round(float(p.get("duration_s") or 0), 2),
                         item.mime.split("/")[-1].replace("mpeg", "mp3")])
        return rows

    def done(self, session: Session, outcome: Outcome) -> tuple:
        paths = [i.path for i in outcome.items]
        wav = next((i.path for i in outcome.items if i.mime in WAV_MIMES), paths[0] if paths else None)
        return wav, preview_image(wav), paths, self.rows(session)

    def progress(self, session: Session, event) -> tuple:
        return gr.update(), gr.update(), gr.update(), gr.update()

    def selected(self, item: GalleryItem) -> tuple:
        return item.path, preview_image(item.path), [item.path]


class VideoResults:
    """The newest clip in a player, above the visitor's clips (the first frame previewed while it runs)."""

    def __init__(self, studio: Studio, task: str, prefix: str, label: str = "My clips"):
        self.studio, self.task = studio, task
        self.player = gr.Video(label="Clip", interactive=False, loop=True, height=360, elem_id=f"{prefix}-player")
        self.gallery = gr.Gallery(label=label, columns=4, height=260, elem_id=f"{prefix}-gallery",
                                  buttons=["download", "fullscreen"], preview=False, interactive=False)
        self.params = None
        self.outputs = [self.player, self.gallery]
        self.select_outputs = [self.player]

    def rows(self, session: Session):
        return tiles(self.studio, session, self.task)

    def done(self, session: Session, outcome: Outcome) -> tuple:
        return (outcome.items[-1].path if outcome.items else None), self.rows(session)

    def progress(self, session: Session, event) -> tuple:
        if not event.preview:
            return gr.update(), gr.update()
        caption = f"preview · first frame · step {int(event.done)}/{int(event.total)}"
        return gr.update(), [(event.preview, caption)] + self.rows(session)

    def selected(self, item: GalleryItem) -> tuple:
        return (item.path,)


class TextResults:
    """Text outputs (subtitles, transcripts) and reports: the newest shown as text, the files to
    download (each with its signed sidecar credentials), and the visitor's files as a table."""

    def __init__(self, studio: Studio, task: str, prefix: str, label: str = "Your files (select one)"):
        self.studio, self.task = studio, task
        self.text = gr.Textbox(label="Result", lines=10, interactive=False, buttons=["copy"],
                               elem_id=f"{prefix}-text")
        self.files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id=f"{prefix}-files")
        self.gallery = gr.Dataframe(headers=TEXT_HEADERS, value=[], interactive=False, label=label,
                                    elem_id=f"{prefix}-gallery", max_height=320, wrap=True)
        self.params = gr.JSON(label="Exact parameters of the selected file")
        self.outputs = [self.text, self.files, self.gallery]
        self.select_outputs = [self.text, self.files]

    def rows(self, session: Session) -> list[list[Any]]:
        rows = []
        for item in self.studio.gallery.newest(session.id, self.task, pages=session.pages):
            p = item.params
            source = p.get("source_name") or p.get("prompt") or p.get("text") or ""
            rows.append([made_at(item), short(str(source), 40), p.get("model_label") or p.get("model", ""),
                         Path(item.path).suffix.lstrip(".")])
        return rows

    def done(self, session: Session, outcome: Outcome) -> tuple:
        paths = [i.path for i in outcome.items]
        return read_text(paths[0] if paths else None), paths, self.rows(session)

    def progress(self, session: Session, event) -> tuple:
        return gr.update(), gr.update(), gr.update()

    def selected(self, item: GalleryItem) -> tuple:
        return read_text(item.path), [item.path]


VIEWS = {"image": ImageResults, "audio": AudioResults, "video": VideoResults, "text": TextResults,
         "report": TextResults}


def read_text(path: str | None, limit: int = 200_000) -> str:
    """A text output's first `limit` characters for the page; a media file is named, not read."""
    if not path:
        return ""
    if Path(path).suffix.lower() not in (".txt", ".srt", ".vtt", ".json", ".md"):
        return Path(path).name
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read(limit)


def preview_image(path: str | None):
    """A waveform and spectrogram picture of an audio file, for the page only (never downloadable).

    Drawn with matplotlib's object API (no pyplot: the server draws from several threads).
    """
    if not path:
        return None
    import numpy as np
    import soundfile as sf
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    data, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    seconds = np.arange(len(mono)) / rate
    fig = Figure(figsize=(9, 3.2), dpi=100)
    wave, spec = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    for ch in range(data.shape[1]):
        wave.plot(seconds, data[:, ch], linewidth=0.4, alpha=0.8)
    wave.set_ylim(-1, 1)
    wave.set_ylabel("wave")
    spec.specgram(mono + 1e-9, NFFT=1024, Fs=rate, noverlap=768, cmap="magma", scale="dB")
    spec.set_ylabel("Hz")
    spec.set_xlabel("seconds")
    fig.tight_layout(pad=0.4)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())
