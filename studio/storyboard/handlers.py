"""The Storyboard tab's event handlers: each a `BoardService` call whose result becomes what the tab
shows (the tab, studio/tabs/storyboard.py, lays the parts out and wires them to these).

A board run is several jobs (one per panel or take), so the long handlers stream the service's
events into the progress bar rather than one `stream_job`; studio errors become `gr.Error` here.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from pipelines.errors import StudioError
from studio.service import Studio
from studio.sessions import Session, ensure
from studio.storyboard import view
from studio.storyboard.board import parse_voices, voices_text
from studio.storyboard.events import EXPORT_TASK, PANEL_TASK, Finished, Step
from studio.storyboard.panels import NOTHING_TO_MAKE
from studio.storyboard.script import dialogue_text
from studio.storyboard.service import BoardService, frame_size
from studio.storyboard.tab_parts import base_url
from studio.widgets import license_markdown, user_message

log = logging.getLogger(__name__)
SHARED_HIDDEN = ("With prompt disclosure off on this studio, the owner's words (title, shots, dialogue) show as "
                 "their SHA-256 here.")


def friendly(fn):
    """Studio errors become the message the visitor sees (plain handlers; generators use `drain`)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StudioError as e:
            raise gr.Error(str(e), print_exception=False) from None
    return wrapper


def drain(events: Iterator[Step | Finished], progress) -> Iterator[Step | Finished]:
    """A service run, reported to Gradio's progress bar; studio errors become `gr.Error`."""
    try:
        for event in events:
            if isinstance(event, Step):
                progress((event.done, event.total), desc=event.label)
            yield event
    except StudioError as e:
        raise gr.Error(str(e), print_exception=False) from None
    except Exception as e:  # noqa: BLE001 - the visitor sees a pointer to the log, never a traceback
        log.error("storyboard run failed", exc_info=e)
        raise gr.Error(user_message(e), print_exception=False) from None


def _index(evt: gr.SelectData):
    return evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index


def _notes(notices) -> str:
    return "".join(f"  \nNote: {n}" for n in notices)


class BoardTab:
    """The handlers of one Storyboard tab; every board view they return is
    (boards dropdown, summary, panels, shot table, status, session)."""

    def __init__(self, studio: Studio, service: BoardService, templates: dict):
        self.studio, self.service, self.templates = studio, service, templates

    def show(self, session: Session, board, message: str = ""):
        choices = self.service.list(session.id)
        return (gr.update(choices=choices, value=board.id if board else None), view.summary_markdown(board),
                view.panel_tiles(board), view.shot_rows(board), message, session)

    @staticmethod
    def settings_of(style, look, model, seed_policy, seed, width, height, steps, fps) -> dict[str, Any]:
        return dict(style=style, look=look or "", model=model, seed_policy=seed_policy,
                    seed=None if seed is None or seed != seed else seed, width=width, height=height,
                    steps=steps, fps=fps)

    # ---- boards -----------------------------------------------------------------------------------

    @friendly
    def on_create(self, session, script, title, style, look, model, seed_policy, seed, width, height, steps, fps,
                  duration, motion, reference, confirm, strength=None):
        session = ensure(session)
        board = self.service.create(session.id, script or "", title=title or "", reference=reference,
                                    confirmed=bool(confirm), duration_s=duration, motion=motion,
                                    reference_strength=strength,
                                    **self.settings_of(style, look, model, seed_policy, seed, width, height, steps,
                                                       fps))
        return self.show(session, board, f"Created **{board.title}** with {len(board.shots)} shots. Press "
                                         "**Generate all panels**.")

    @friendly
    def on_apply(self, session, board_id, style, look, model, seed_policy, seed, width, height, steps, fps,
                 reference, confirm, strength=None):
        session = ensure(session)
        board = self.service.update_settings(session.id, board_id, reference_strength=strength, **self.settings_of(
            style, look, model, seed_policy, seed, width, height, steps, fps))
        if reference:
            board = self.service.set_reference(session.id, board_id, reference, bool(confirm))
        return self.show(session, board, "Settings applied; panels made with other settings are marked outdated.")

    def on_pick(self, session, board_id):
        session = ensure(session)
        if not board_id:
            return self.show(session, None) + (gr.update(),) * 13
        try:
            board = self.service.get(session.id, board_id)
        except StudioError as e:
            raise gr.Error(str(e), print_exception=False) from None
        return self.show(session, board) + (board.style, board.look, board.model, board.seed_policy, board.seed,
                                            board.width, board.height, board.steps, board.fps,
                                            voices_text(board.voices), board.music_prompt, board.music_level_db,
                                            board.reference_strength)

    @friendly
    def on_delete_board(self, session, board_id, sure):
        session = ensure(session)
        board = self.service.get(session.id, board_id)
        if not sure:
            raise gr.Error(f"Tick “Yes, delete this board” first: deleting **{board.title}** cannot be undone.",
                           print_exception=False)
        self.service.delete(session.id, board_id)
        return (*self.show(session, None, f"Deleted **{board.title}**; its share link no longer opens it. Its "
                                          "panels and exports stay in your gallery until the gallery's retention "
                                          "removes them."), False)

    def on_template(self, name):
        t = self.templates.get(name)
        return (t.script, t.style, t.look, t.motion) if t else (gr.update(),) * 4

    def on_model(self, name):
        p = self.studio.models.preset(PANEL_TASK, name)
        return (license_markdown(self.studio, p), *frame_size(p), p.defaults.get("steps", 25))

    def license_of(self, task: str):
        """A model picker's change handler: the chosen model's licence."""
        return lambda name: license_markdown(self.studio, self.studio.models.preset(task, name))

    def on_tab(self, session):
        session = ensure(session)
        return gr.update(choices=self.service.list(session.id)), self.exports_value(session), session

    # ---- runs ---------------------------------------------------------------------------------------

    def run_board(self, session, events, progress):
        """Stream a service run into the board view; the last yield shows the finished board."""
        for event in drain(events, progress):
            if isinstance(event, Finished):
                yield self.show(session, event.board, f"**{event.message}**{_notes(event.notices)}")
            elif event.board is not None:
                yield self.show(session, event.board, event.label)
            else:
                yield (gr.update(),) * 4 + (event.label, session)

    @friendly
    def on_generate(self, session, board_id, only_missing, confirm):
        """Mark the panels to make; the chain below makes them, one queued device event each."""
        session = ensure(session)
        run = self.service.plan_panels(session.id, board_id, only_missing=bool(only_missing),
                                       confirmed=bool(confirm))
        board = self.service.get(session.id, board_id)
        if not run.total:
            return (*self.show(session, board, NOTHING_TO_MAKE), gr.update())
        return (*self.show(session, board, f"Queued {run.total} panel(s); each is made in its turn, so other "
                                           f"visitors' jobs are not held up.{_notes(run.notices)}"), run.chain)

    def on_next(self, session, link, progress=gr.Progress()):
        """One panel of the run named by `link` ("board:run:n", or a board id from the API); while
        panels remain, a new `link` re-triggers this event at the back of the queue."""
        session = ensure(session)
        board_id, _, rest = (link or "").partition(":")
        if not board_id:
            yield (gr.update(),) * 4 + (gr.update(), session, gr.update())
            return
        try:
            events = self.service.next_panel(session.id, board_id, rest.partition(":")[0])
        except StudioError as e:
            raise gr.Error(str(e), print_exception=False) from None
        last = None
        for shown in self.run_board(session, events, progress):
            if last is not None:
                yield (*last, gr.update())
            last = shown
        run = self.service.current_run(session.id, board_id)
        more = run is not None and run.remaining and not run.cancelled.is_set()
        yield (*last, run.chain if more else gr.update())

    def stop(self, session: Session):
        n = self.service.cancel(session.id) if session else 0
        return "Cancelling…" if n else "Nothing of yours is running."

    def on_regenerate(self, session, board_id, number, confirm, progress=gr.Progress()):
        session = ensure(session)
        yield from self.run_board(session, self.service.generate_panels(
            session.id, board_id, [number], new_take=True, confirmed=bool(confirm)), progress)

    def on_voices(self, session, board_id, voice_model, voices, progress=gr.Progress()):
        session = ensure(session)
        try:
            mapping = parse_voices(voices) if (voices or "").strip() else None
        except StudioError as e:
            raise gr.Error(str(e), print_exception=False) from None
        yield from self.run_board(session, self.service.generate_voices(session.id, board_id, voice_model=voice_model,
                                                                        voices=mapping), progress)

    def on_music(self, session, board_id, music_model, prompt, level, progress=gr.Progress()):
        session = ensure(session)
        if level is not None:
            try:
                self.service.update_settings(session.id, board_id, music_level_db=float(level))
            except StudioError as e:
                raise gr.Error(str(e), print_exception=False) from None
        yield from self.run_board(session, self.service.generate_music(session.id, board_id, prompt=prompt or "",
                                                                       music_model=music_model), progress)

    @friendly
    def on_fit(self, session, board_id):
        session = ensure(session)
        board, changed = self.service.fit_to_dialogue(session.id, board_id)
        said = f"Lengthened shot(s) {', '.join(map(str, changed))}." if changed else "Every shot already fits."
        return self.show(session, board, said)

    # ---- the shot editor ----------------------------------------------------------------------------

    def shot_fields(self, session, board_id, number):
        board = self.service.get(session.id, board_id)
        shot = board.shot(number)
        item = self.studio.gallery.get(session.id, shot.panel_id) if shot.panel_id else None
        return (int(number), shot.prompt, shot.camera, shot.duration_s, shot.motion, dialogue_text(
            [(ln.speaker, ln.text) for ln in shot.dialogue]), shot.seed, shot.seed_locked,
            item.params if item else None, gr.Accordion(open=True))

    @friendly
    def on_select(self, session, board_id, evt: gr.SelectData):
        session = ensure(session)
        return self.shot_fields(session, board_id, int(_index(evt)) + 1)

    @friendly
    def on_save(self, session, board_id, number, prompt, camera, duration, motion, dialogue, seed, locked):
        session = ensure(session)
        board = self.service.edit_shot(session.id, board_id, number, prompt=prompt, camera=camera or "",
                                       duration_s=duration, motion=motion, dialogue_text=dialogue or "",
                                       seed=seed, seed_locked=bool(locked))
        return self.show(session, board, f"Saved shot {int(number)}.")

    @friendly
    def on_insert(self, session, board_id, number, prompt):
        session = ensure(session)
        board = self.service.insert_shot(session.id, board_id, number, prompt or "")
        return self.show(session, board, f"Inserted a shot after shot {int(number)}.")

    @friendly
    def on_delete(self, session, board_id, number):
        session = ensure(session)
        board = self.service.delete_shot(session.id, board_id, number)
        return self.show(session, board, f"Deleted shot {int(number)}.")

    @friendly
    def on_move(self, session, board_id, number, to):
        session = ensure(session)
        board = self.service.move_shot(session.id, board_id, number, to)
        return self.show(session, board, f"Moved shot {int(number)} to position {int(to)}.")

    # ---- exports and sharing ------------------------------------------------------------------------

    def exports_value(self, session: Session):
        return view.export_rows(list(reversed(self.studio.gallery.list(session.id, EXPORT_TASK))))

    def on_export(self, kind: str):
        """The handler of one export button (file, player, exports table, status, session); the animatic's
        takes its subtitles burnt into the picture when `burn_subtitles` (default: a soft track)."""
        def handler(session, board_id, burn_subtitles=False, progress=gr.Progress()):
            session = ensure(session)
            yield None, None, gr.update(), f"Exporting the {kind}…", session
            export = self.service.export(session.id, board_id, kind, burn_subtitles=bool(burn_subtitles))
            for event in drain(export, progress):
                if isinstance(event, Finished):
                    item = event.items[0]
                    yield (item.path, item.path if kind == "animatic" else None, self.exports_value(session),
                           f"**{event.message}**{_notes(event.notices)}", session)
                else:
                    yield gr.update(), gr.update(), gr.update(), event.label, session
        return handler

    def on_animatic_subtitles(self, session, board_id) -> list[str]:
        """The SRT and WebVTT files of the board's newest animatic, each followed by its .c2pa sidecar
        manifest (the credentials a text file cannot carry inside); [] when it has no subtitles."""
        session = ensure(session)
        items = self.studio.gallery.list(session.id, EXPORT_TASK)
        animatic = next((i for i in reversed(items) if i.params.get("export") == "animatic"
                         and i.params.get("board_id") == board_id), None)
        if animatic is None:
            return []
        paths = []
        for item in items:
            if item.params.get("animatic_id") == animatic.id:
                sidecar = Path(item.path).with_name(Path(item.path).name + ".c2pa")
                paths += [item.path, *([str(sidecar)] if sidecar.is_file() else [])]
        return paths

    def on_export_select(self, session, evt: gr.SelectData):
        session = ensure(session)
        items = list(reversed(self.studio.gallery.list(session.id, EXPORT_TASK)))
        index = _index(evt)
        if index is None or index >= len(items):
            return None, None
        return items[index].params, items[index].path

    @friendly
    def on_share(self, session, board_id, request: gr.Request):
        session = ensure(session)
        token = self.service.share(session.id, board_id)
        return f"{base_url(request)}?board={token}", "Anyone with this link can look at the board, not change it."

    @friendly
    def on_unshare(self, session, board_id):
        self.service.unshare(ensure(session).id, board_id)
        return "", "Sharing stopped: the old link no longer opens the board."

    @friendly
    def on_open_shared(self, link, session=None):
        """The Open button and the API: the shared board as this visitor may see it."""
        return self.open_shared(link, ensure(session).id)

    @friendly
    def open_shared(self, link, viewer_id: str | None):
        """A shared board, read-only (summary, panels, shots, exports); the visitor's words stay readable
        for the board's owner, or for everyone while the studio discloses prompts (sharing.py)."""
        shared = self.service.shared_view(link or "", viewer_id)
        board, files = shared.board, [i.path for i in shared.exports]
        summary = view.summary_markdown(board, read_only=True)
        if shared.withheld:
            left_out = (f" {shared.exports_left_out} export(s) that carry them (contact sheet, panels ZIP, an animatic "
                        "with voice-over and its subtitle files) are not offered." if shared.exports_left_out else "")
            summary += f"  \n*{SHARED_HIDDEN}{left_out}*"
        return summary, view.panel_tiles(board), view.shot_rows(board), files or None

    def on_load_shared(self, session, request: gr.Request):
        """A page opened with ?board=<token>: that board in the Storyboard tab (no session is made for it;
        a page whose session is not known yet sees what any visitor sees)."""
        token = (request.query_params if request is not None else {}).get("board")
        if not token:
            return (gr.update(),) * 7
        link = f"?board={token}"
        shown = (gr.Tabs(selected="storyboard"), gr.Accordion(open=True), link)
        try:
            return (*shown, *self.open_shared(link, session.id if isinstance(session, Session) else None))
        except gr.Error as e:
            return (*shown, f"**{e.message}**", [], [], None)
