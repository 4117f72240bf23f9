"""The board operations that run jobs: voice-over takes, the music bed, and exports (panels: panels.py).

Each is a generator of `Step`s ending with one `Finished`. A panel or take that fails is marked
on its shot with the message and the run goes on; a board-level problem (a flagged reference
without confirmation, an unknown model) stops the run with an `InputError`. What a job made is
written to its shot as soon as it is made, re-reading the shot first so an edit the visitor
made meanwhile is kept.
"""
from __future__ import annotations

import secrets
from typing import Iterator

from pipelines import subtitles
from pipelines.errors import Cancelled, InputError, StudioError
from pipelines.progress import ProgressEvent
from studio.gallery import GalleryItem, now
from studio.jobs import JobDone
from studio.storyboard import board as bd
from studio.storyboard import exports as ex
from studio.storyboard.board import Board
from studio.storyboard.events import (EXPORT_TASK, MUSIC_TASK, VOICE_TASK, BoardHost, ExportRequest, Finished,
                                      Step)

WAV_MIMES = ("audio/wav", "audio/x-wav", "audio/wave")


def merge_notices(notices: list[str], new: list[str]) -> list[str]:
    """Add a job's notices to a run's: each once, and one prompt-length notice for the whole run."""
    for notice in new:
        if notice in notices:
            continue
        if notice.startswith("The prompt is ") and any(n.startswith("The prompt is ") for n in notices):
            continue  # one panel's example says it; a line per panel would bury the rest
        notices.append(notice)
    return notices


def _shot_by_id(board: Board, shot_id: str):
    return next((s for s in board.shots if s.id == shot_id), None)


def generate_voices(service: BoardHost, session_id: str, board_id: str, voice_model: str | None,
                    voices: dict[str, str] | None, only_missing: bool) -> Iterator[Step | Finished]:
    """One speech take per dialogue line, each speaker in their own voice of the board's speech model."""
    from pipelines import speech

    board = service.get(session_id, board_id)
    if voice_model:
        if voice_model != board.voice_model:
            board.voices = {}
        board.voice_model = voice_model
    preset = service.studio.models.preset(VOICE_TASK, board.voice_model)
    lines = [(n, shot.id, j, line) for n, shot in enumerate(board.shots, 1) for j, line in enumerate(shot.dialogue)
             if not (only_missing and line.audio_path)]
    if not any(shot.dialogue for shot in board.shots):
        raise InputError("No shot has dialogue yet: add lines such as ANNA: Who's there? to a shot (one line each, "
                         "the speaker first), then make the voice-over.")
    yield Step("Loading the voice model", 0, max(1, len(lines)))
    info = speech.describe(service.studio.models.get(VOICE_TASK, board.voice_model).pipe)
    notices = _cast_voices(service, board, voices, list(info.speakers), preset.label)
    made, failed, items = 0, [], []
    stop = service._begin(session_id)
    try:
        for k, (n, shot_id, j, line) in enumerate(lines):
            if stop.is_set():
                raise Cancelled()
            voice = board.voices.get(line.speaker, "")
            request = speech.Request(text=line.text, model=board.voice_model, speaker=voice, seed=board.seed,
                                     language=preset.defaults.get("language", "en"))
            label = f"Voice-over, shot {n}, {bd.speaker_label(line.speaker)}"
            try:
                outcome = yield from service._run(session_id, VOICE_TASK, request, (), False, label, k, len(lines))
            except Cancelled:
                raise
            except StudioError as e:
                failed.append(f"shot {n} ({bd.speaker_label(line.speaker)}): {e}")
                board = _record_take(service, board, shot_id, j, line, error=str(e))
                continue
            wav = next(i for i in outcome.items if i.mime in WAV_MIMES)
            items += outcome.items
            merge_notices(notices, outcome.notices)
            board = _record_take(service, board, shot_id, j, line, item=wav, voice=voice)
            made += 1
            yield Step(f"{label}: done", k + 1, len(lines), board)
    except Cancelled:
        yield Finished(service.get(session_id, board_id), f"Cancelled after {made} of {len(lines)} take(s); the "
                                                         "takes made are kept.", notices, items)
        return
    finally:
        service._end(session_id, stop)
    message = f"Made {made} of {len(lines)} voice-over take(s)."
    if failed:
        message += " Failed (the others are kept): " + "; ".join(failed)
    yield Finished(service.get(session_id, board_id), message, notices, items)


def _cast_voices(service: BoardHost, board: Board, voices: dict[str, str] | None, speakers: list[str],
                 label: str) -> list[str]:
    """Give every speaker a voice of the model (the visitor's choices first) and save them; the notice
    when the model has fewer voices than the board has speakers."""
    if voices is not None:
        for speaker, voice in voices.items():
            if voice and speakers and voice not in speakers:
                raise InputError(f"The voice {voice!r} for {speaker} is not one of {label}'s: choose one of "
                                 f"{', '.join(speakers[:12])}.")
        board.voices = {k: v for k, v in voices.items() if v}
    bd.assign_voices(board, speakers)
    service.store.save_settings(board)
    return [] if len(speakers) >= len(board.speakers()) else [
        f"{label} has {len(speakers) or 'no'} built-in voice(s) for {len(board.speakers())} speakers; "
        "some speakers share a voice."]


def _record_take(service, board: Board, shot_id: str, j: int, line, *, item: GalleryItem | None = None,
                 voice: str = "", error: str = "") -> Board:
    fresh = service.store.get(board.session_id, board.id) or board
    shot = _shot_by_id(fresh, shot_id)
    target = None
    if shot is not None:  # the same line (by place, else by words) if it is still there
        same = [ln for ln in shot.dialogue if (ln.speaker, ln.text) == (line.speaker, line.text)]
        in_place = j < len(shot.dialogue) and shot.dialogue[j] in same
        target = shot.dialogue[j] if in_place else (same[0] if same else None)
    if target is None:
        return fresh
    if item is None:
        target.error = error
    else:
        target.audio_path, target.audio_id, target.voice, target.error = item.path, item.id, voice, ""
        target.duration_s = float(item.params.get("duration_s") or 0.0)
    service.store.save_shot(fresh, shot)
    return fresh


def generate_music(service: BoardHost, session_id: str, board_id: str, prompt: str | None,
                   music_model: str | None) -> Iterator[Step | Finished]:
    """A music bed as long as the board (up to the model's limit; the animatic loops a shorter bed)."""
    from pipelines import music

    board = service.get(session_id, board_id)
    board.music_prompt = (prompt if prompt is not None else board.music_prompt or "").strip()
    board.music_model = music_model or board.music_model
    if not board.music_prompt:
        raise InputError("Describe the music bed first (genre, mood, instruments, tempo), e.g. 'slow tense strings'.")
    preset = service.studio.models.preset(MUSIC_TASK, board.music_model)
    longest = float(preset.limit("max_duration_s", 30.0))
    duration = round(max(music.MIN_DURATION_S, min(board.duration_s, longest)), 2)
    notices = [] if board.duration_s <= longest else [
        f"{preset.label} makes at most {longest:g} s; the animatic loops the {duration:g}-s bed under the "
        f"{board.duration_s:g}-s board."]
    request = music.Request(prompt=board.music_prompt, model=board.music_model, duration_s=duration, seed=board.seed)
    outcome = yield from service._run(session_id, MUSIC_TASK, request, (), False, "Music bed")
    wav = next(i for i in outcome.items if i.mime in WAV_MIMES)
    fresh = service.get(session_id, board_id)
    fresh.music_prompt, fresh.music_model, fresh.music_path, fresh.music_id = (board.music_prompt, board.music_model,
                                                                               wav.path, wav.id)
    service.store.save_settings(fresh)
    yield Finished(fresh, f"Made a {duration:g}-s music bed.", notices + list(outcome.notices), list(outcome.items))


EXPORT_NAMES = {"pdf": "contact sheet.pdf", "zip": "panels.zip", "animatic": "animatic.mp4"}


def export(service: BoardHost, session_id: str, board_id: str, kind: str,
           burn_subtitles: bool = False) -> Iterator[Step | Finished]:
    """Make one export of the board as a job, sign it with every component as an ingredient, list it.
    The animatic comes with its subtitles as SRT and WebVTT files (signed, with sidecar manifests);
    in the MP4 they are a soft track, or burnt into the picture with `burn_subtitles`."""
    if kind not in EXPORT_NAMES:
        raise InputError(f"Unknown export {kind!r}: choose pdf, zip or animatic.")
    board = service.get(session_id, board_id)
    if kind == "animatic":
        ex.require_panels(board)
    notices: list[str] = []

    def work(record, progress) -> list[GalleryItem]:
        title = f"{board.title} — {EXPORT_NAMES[kind]}"
        if kind == "animatic":
            video, *subtitle_files = _publish_animatic(service, board, session_id, title, progress, notices,
                                                       burn_subtitles)
            # Listed after its subtitle files, so the exports table (newest first) shows the MP4 above them;
            # handed back first: it is what the tab shows.
            items = _list_exports(service, board, session_id, kind, record, [*subtitle_files, video])
            return items[-1:] + items[:-1]
        published = _publish_document(service, board, session_id, kind, title, progress)
        return _list_exports(service, board, session_id, kind, record, published)

    items = None
    for event in service.studio.jobs.stream(session_id, EXPORT_TASK, ExportRequest(board.id, kind), work,
                                            client=service.client()):
        if isinstance(event, JobDone):
            items = event.value  # read on to the stream's end, so the job is recorded as done
        elif isinstance(event, ProgressEvent):
            yield Step(f"{kind}: {event.stage}", event.done, event.total or 1)
    name = "animatic" if kind == "animatic" else kind.upper()
    subtitled = " Its subtitles: SRT and WebVTT files" + (", and burnt into the picture." if burn_subtitles else
                                                         ", and a soft track in the MP4.")
    yield Finished(board, f"Exported the {name}: signed, with {len(ex.ingredients(board, audio=kind == 'animatic'))} "
                          "ingredient(s)." + (subtitled if items and len(items) > 1 else ""), notices, items or [])


def _publish_animatic(service: BoardHost, board: Board, session_id: str, title: str, progress,
                      notices: list[str], burn_subtitles: bool = False) -> list:
    """Render, encode and publish the animatic (watermarked and signed like any video), then its
    subtitles as SRT and WebVTT (each with a sidecar manifest, the takes as ingredients), which
    record the animatic they belong to. Returns the MP4's publication, then the subtitle files'."""
    def on_frame(i: int, n: int) -> None:  # the encoder reads every frame twice: checking, then encoding
        if i % 12 == 0:
            progress.update(i, n, "rendering and encoding frames")

    artifact, found, cues = ex.animatic_artifact(board, on_frame, burn_subtitles=burn_subtitles)
    notices.extend(found)
    artifact.params = ex.export_params(board, "animatic", **{k: v for k, v in artifact.params.items() if k != "shots"})
    publisher = service.studio.publisher
    [video] = publisher.publish(artifact, task=EXPORT_TASK, session_id=session_id,
                                inputs=ex.ingredients(board, audio=True), title=title)
    if not cues:
        return [video]
    progress.update(0, 1, "signing the subtitle files")
    params = ex.export_params(board, "animatic subtitles", animatic_id=video.id, subtitle_cues=len(cues),
                              subtitles=artifact.params["subtitles"])
    files = []
    for text in subtitles.text_artifacts(cues, params):
        text.params["format"] = text.suffix.lstrip(".")
        files += publisher.publish(text, task=EXPORT_TASK, session_id=session_id, inputs=ex.take_ingredients(board),
                                   title=f"{board.title} — animatic subtitles{text.suffix}")
    return [video, *files]


def _publish_document(service: BoardHost, board: Board, session_id: str, kind: str, title: str, progress) -> list:
    """Lay out the PDF contact sheet or pack the ZIP of panels, then sign it as it is."""
    folder = service.folder / board.id / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    progress.update(0, 1, "laying out" if kind == "pdf" else "packing")
    path = folder / f".{secrets.token_hex(8)}.{kind}"
    try:
        if kind == "pdf":
            ex.contact_sheet(board, path)
            params = ex.export_params(board, "contact sheet", pages=-(-len(board.shots) // 6))
        else:
            params = ex.export_params(board, "panels zip", files=ex.panels_zip(board, path))
        progress.update(0, 1, "signing")
        mime = "application/pdf" if kind == "pdf" else "application/zip"
        return [service.studio.publisher.publish_file(path, mime, task=EXPORT_TASK, session_id=session_id,
                                                      inputs=ex.ingredients(board, audio=False), title=title,
                                                      params=params)]
    finally:
        path.unlink(missing_ok=True)


def _list_exports(service: BoardHost, board: Board, session_id: str, kind: str, record, published) -> list[GalleryItem]:
    """Add the published export to the visitor's gallery and to its job's record."""
    items = []
    for p in published:
        what = f"subtitles ({p.params['format']})" if p.params.get("export") == "animatic subtitles" else kind
        item = GalleryItem(id=p.id, session_id=session_id, task=EXPORT_TASK, path=str(p.path), mime=p.mime,
                           caption=f"{board.title} · {what} · {len(board.shots)} shots · {board.duration_s:g} s",
                           params=p.params, created=now())
        service.studio.gallery.add(item)
        record.outputs.append(p.id)
        items.append(item)
    return items
