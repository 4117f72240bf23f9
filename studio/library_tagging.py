"""Automatic captions and tags for the library, as low-priority work that never delays a visitor.

After an output is published the library wakes this worker (a daemon thread). It takes the items
still waiting for tags (the queue is the index itself, so it survives a restart) one at a time,
newest first (what a visitor has just made is findable first, whatever backlog is behind it), and
only through `DeviceTurns.take_if_idle`: a turn taken when no visitor's job waits or runs, never a
place in line, and only after the device has been quiet for `quiet_s` (5 s unless the settings name
an accelerator: on a CPU host the tagger shares the cores the visitor's next click will need). A
visitor who arrives while an item is being tagged waits for one model call at most: between the
caption and the tags the tagger looks again and, if anyone waits, gives the turn back and does the
item later (a tiny twin's call takes a fraction of a second; BLIP base a few seconds on CPU).

Why not fewer torch threads for the tagger: `torch.set_num_threads` called in the tagger's thread
changes the BLAS pool and the default of every thread started after it (measured here: the main
thread's matmul slowed to the one-thread time), so it would slow the visitors' jobs too.

Pictures get a caption (BLIP) and zero-shot tags over the vocabulary file (CLIP), and CLIP's image
embedding is kept for "more like this"; a video its first frame. Sounds (voice, music, sound effects,
uploaded audio) get zero-shot tags over the sound vocabulary (CLAP) from their first 10 s, and no
caption or embedding ("more like this" compares pictures only). Text and anything unreadable are
marked done with no tags. Results go to the search index only: never into a signed file.

Settings: `library_tagging` (off: no tagging), `library_captioner` / `library_tagger` name presets of
presets/models/tagging.toml ("": those of the studio's default tier, else the tiny ones); the sound
tagger is the default tier's CLAP preset (else the first real one, else the tiny one).
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path

import numpy as np

from pipelines.audio_decode import decode_audio
from pipelines.errors import InputError, StudioError
from studio.gallery import GalleryItem

log = logging.getLogger(__name__)
TASK = "tagging"
IDLE_POLL_S = 2.0          # how often a worker with work waits for the device to be free
QUIET_S = 1.0              # the device must have been idle this long before a tagging turn (accelerator)
CPU_QUIET_S = 5.0          # ... on a CPU host (or "auto"), where tagging shares the visitors' cores
BACKOFF_S = 300.0          # after a model problem (not downloaded, out of memory): try again later


def pick_preset(studio, family: str, named: str) -> str:
    """The preset `named` in the settings, else the first of `family` in the default tier, else (a real
    tier with no such preset) the family's first real one, else the tiny one."""
    named = named.strip()
    if named:
        return named
    presets = [(name, p) for name, p in studio.models.presets(TASK).items() if p.family == family]
    tier = studio.settings.default_tier
    same = [name for name, p in presets if p.tier == tier]
    real = [name for name, p in presets if p.tier != "tiny"] if tier != "tiny" else []
    return (same or real or [f"tiny-{family}"])[0]


class LibraryTagger:
    """Tags published items in the background, one device-idle turn per item."""

    def __init__(self, studio, captioner: str | None = None, tagger: str | None = None, start: bool = True):
        self.studio = studio
        self.captioner = captioner or pick_preset(studio, "blip", studio.settings.library_captioner)
        self.tagger = tagger or pick_preset(studio, "clip", studio.settings.library_tagger)
        self.sound_tagger = pick_preset(studio, "clap", "")
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self.quiet_s = QUIET_S if studio.settings.device.startswith(("cuda", "mps")) else CPU_QUIET_S
        self.start = start and studio.settings.library_tagging
        if self.start:
            studio.library.on_add = self.wake

    def wake(self) -> None:
        """Something was published: tag it when the device is free (the thread starts on first use)."""
        if not self.start:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="library-tagging", daemon=True)
                self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait(timeout=60)
            self._wake.clear()
            try:
                while time.time() >= self._paused_until and self.pending():
                    if not self.tag_next():
                        time.sleep(IDLE_POLL_S)   # the device is busy: a visitor goes first
            except Exception:  # noqa: BLE001 - a bug here must not end the thread
                log.exception("library tagging failed")

    def pause(self, seconds: float) -> None:
        """No tagging turn for `seconds` (after the item in hand): a maintenance window, or a test of
        response times, where tagging on the CPU beside the server would be measured too."""
        self._paused_until = time.time() + seconds

    def resume(self) -> None:
        self._paused_until = 0.0
        self._wake.set()

    def pending(self) -> bool:
        return bool(self.studio.library.untagged(1))

    def tag_next(self) -> bool:
        """Tag the newest waiting item in one low-priority turn; False when the device was busy or a visitor
        came while it was in hand."""
        items = self.studio.library.untagged(1)
        if not items:
            return True
        turn = f"tagging-{secrets.token_hex(4)}"
        if self.quiet_s and not self._quiet():
            return False
        turns = self.studio.jobs.turns  # once: the turn is left where it was taken, whatever replaces jobs
        if not turns.take_if_idle(turn):
            return False
        try:
            done = self.tag(items[0], give_way=lambda: turns.counts()["waiting"] > 0) is not None
        finally:
            turns.leave(turn)
        return done

    def _quiet(self) -> bool:
        """No job held or waited for a turn over the last `quiet_s` (a visitor between two clicks goes first)."""
        deadline = time.time() + self.quiet_s
        while time.time() < deadline:
            counts = self.studio.jobs.turns.counts()
            if counts["waiting"] or counts["holding"]:
                return False
            time.sleep(0.1)
        return True

    def tag(self, item: GalleryItem, give_way=lambda: False) -> tuple[str, list[str]] | None:
        """Caption and tag one item now (the caller holds a turn, or is a test or a benchmark); None when
        `give_way()` said, between two model calls, that a visitor waits (the item stays in the queue)."""
        from pipelines.tagging import Request

        sound = first_sound(item) if item.mime.startswith("audio/") else None
        picture = None if sound is not None else first_picture(item)
        try:
            if sound is not None:
                tags = [t for t, _ in self._execute(Request(sounds=[sound], model=self.sound_tagger)).tags[0]]
                caption, vector = "", None
            elif picture is not None:
                caption = self._execute(Request(images=[picture], model=self.captioner)).captions[0]
                if give_way():
                    return None
                tagged = self._execute(Request(images=[picture], model=self.tagger))
                tags = [t for t, _ in tagged.tags[0]]
                vector = np.asarray(tagged.embeddings[0], dtype=np.float32).tobytes() if tagged.embeddings else None
            else:
                tags = None
        except InputError as e:    # this item cannot be tagged (the request's check says why): skip it
            log.info("library tagging: %s skipped: %s", item.id, e)
            tags = None
        if tags is None:
            self.studio.library.mark_tagged(item.id)
            return "", []
        self.studio.library.set_tags(item.id, caption, tags, vector)
        return caption, tags

    def _execute(self, request):
        """One tagging request in this process through the model layer, like the detector (small models
        beside publishing, never a Ray deployment of their own)."""
        from pipelines.progress import NO_PROGRESS
        from pipelines.runner import execute

        try:
            return execute(self.studio.models, TASK, request, NO_PROGRESS)
        except InputError:
            raise
        except StudioError as e:   # a model not downloaded, out of memory: the items wait for later
            log.warning("library tagging paused for %.0f s: %s", BACKOFF_S, e)
            self._paused_until = time.time() + BACKOFF_S
            raise


def first_picture(item: GalleryItem):
    """The item as a picture to tag: an image itself, a video's first frame; None for anything else."""
    from PIL import Image

    kind = item.mime.split("/")[0]
    try:
        if kind == "image":
            with Image.open(Path(item.path)) as im:
                return im.convert("RGB")
        if kind == "video":
            import av

            with av.open(item.path) as container:
                for frame in container.decode(video=0):
                    return frame.to_image().convert("RGB")
    except Exception as e:  # noqa: BLE001 - PIL and PyAV raise many kinds for a damaged file; it is skipped
        log.info("library tagging: %s not readable as a picture (%s)", item.id, type(e).__name__)
    return None


def first_sound(item: GalleryItem, seconds: float = 10.0):
    """The item's first `seconds` of sound as (mono float32 waveform, sample rate); None if unreadable.
    PyAV reads every format the studio makes or takes (WAV, FLAC, MP3, OGG, M4A)."""
    try:
        sound = decode_audio(item.path, mono=True, max_seconds=seconds)
        wave = None if sound is None else sound.samples[0, : int(seconds * sound.rate)]
        return (wave, sound.rate) if wave is not None and wave.size else None
    except Exception as e:  # noqa: BLE001 - PyAV raises many kinds for a damaged file; it is skipped
        log.info("library tagging: %s not readable as sound (%s)", item.id, type(e).__name__)
    return None
