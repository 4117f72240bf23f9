"""The Storyboard tab: a script becomes a board of panels, then a PDF, a ZIP and an animatic with
voice-over and music; boards persist per visitor and can be shared read-only by link.

Layout and wiring only: every operation is a `BoardService` call (studio.storyboard), and the
long ones stream its `Step`s into the progress bar. A board run is several jobs (one per panel or
take), so it streams the service's events rather than one `stream_job`; errors are turned into
`gr.Error` here the same way.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Iterator

import gradio as gr

from pipelines.errors import StudioError
from pipelines.presets import load_styles
from studio.sessions import Session, ensure
from studio.service import Studio
from studio.storyboard import view
from studio.storyboard.board import FPS_CHOICES, MOTIONS, SEED_POLICIES, voices_text
from studio.storyboard.script import DEFAULT_DURATION_S, dialogue_text
from studio.storyboard.panels import NOTHING_TO_MAKE
from studio.storyboard.service import (EXPORT_TASK, MUSIC_TASK, PANEL_TASK, VOICE_TASK, BoardService, Finished,
                                       Step, frame_size)
from studio.storyboard.templates import load_templates
from studio.storyboard.tab_parts import base_url, build_editor, build_export, build_shared, build_sound
from studio.widgets import TabHandle, default_preset, license_markdown, model_picker, user_message

log = logging.getLogger(__name__)
CONFIRM_REFERENCE = "Use the reference even if the AI-content check flags it (I have the right to use it)"
SCRIPT_HELP = ("One shot per line, or markdown: `## scene`, `- [close-up, 3s] shot`, `ANNA: dialogue`, "
               "`> narration`. A leading `CU:`/`WIDE -` is the camera note; `(2.5s)` the duration.")


def friendly(fn):
    """Studio errors become the message the visitor sees (plain handlers; generators use `_drain`)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StudioError as e:
            raise gr.Error(str(e), print_exception=False) from None
    return wrapper


def _drain(events: Iterator[Step | Finished], progress) -> Iterator[Step | Finished]:
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


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    service = BoardService(studio)
    styles = load_styles()
    templates = load_templates()
    preset = default_preset(studio, PANEL_TASK)
    with gr.Tab("Storyboard", id="storyboard") as tab:
        with gr.Row():
            with gr.Column(scale=2):
                boards = gr.Dropdown([], value=None, label="Your boards", allow_custom_value=True,
                                     elem_id="sb-boards")
                with gr.Row():
                    sure = gr.Checkbox(label="Yes, delete this board", value=False, elem_id="sb-delete-sure")
                    delete_board = gr.Button("Delete board", variant="stop", size="sm", elem_id="sb-delete-board")
                with gr.Accordion("New board from a script", open=True):
                    template = gr.Dropdown([(t.label, t.name) for t in templates.values()], value="blank",
                                           label="Start from a template")
                    title = gr.Textbox(label="Title", placeholder="Taken from the first scene heading if empty")
                    script = gr.Textbox(label="Script or shot list", lines=10, info=SCRIPT_HELP, elem_id="sb-script")
                    create = gr.Button("Create board", variant="primary", elem_id="sb-create")
                with gr.Accordion("Board settings", open=False):
                    style = gr.Dropdown([(s.label, s.name) for s in styles.values()], value="storyboard-sketch",
                                        label="Style (applied to every shot)")
                    look = gr.Textbox(label="Look notes added to every shot", placeholder="Anna: yellow raincoat")
                    model, license_md = model_picker(studio, PANEL_TASK)
                    with gr.Row():
                        seed_policy = gr.Radio(list(SEED_POLICIES), value="same", label="Seed policy")
                        seed = gr.Number(value=None, precision=0, minimum=0, label="Board seed (empty: random)")
                    size = frame_size(preset)
                    with gr.Row():
                        width = gr.Number(value=size[0], precision=0, step=8, label="Width")
                        height = gr.Number(value=size[1], precision=0, step=8, label="Height")
                        steps = gr.Number(value=preset.defaults.get("steps", 25), precision=0, label="Steps")
                    with gr.Row():
                        duration = gr.Number(value=DEFAULT_DURATION_S, label="Shot length when unwritten (s)")
                        motion = gr.Dropdown(list(MOTIONS), value="none", label="Camera move when unwritten")
                        fps = gr.Dropdown(list(FPS_CHOICES), value=24, label="Animatic fps")
                    reference = gr.File(label="Character or style reference image (optional)", type="filepath",
                                        file_types=["image"], elem_id="sb-reference")
                    gr.Markdown(reference_hint(service), elem_id="sb-reference-hint")
                    strength = gr.Slider(0, 1, value=0.6, step=0.05, label="Reference strength",
                                         info="0: ignore it · 0.5-0.7: the prompt stays in charge · 1: follow it closely")
                    confirm = gr.Checkbox(label=CONFIRM_REFERENCE, value=False)
                    apply = gr.Button("Apply settings to this board")
            with gr.Column(scale=3):
                status = gr.Markdown(elem_id="sb-status", elem_classes=["studio-status"])
                summary = gr.Markdown(view.summary_markdown(None), elem_id="sb-summary")
                panels = gr.Gallery(label="Panels", columns=3, height=420, elem_id="sb-panels", preview=False,
                                    interactive=False, buttons=["download", "fullscreen"])
                with gr.Row():
                    generate = gr.Button("Generate all panels", variant="primary", elem_id="sb-generate")
                    only_missing = gr.Checkbox(label="Only shots without an up-to-date panel", value=False)
                    cancel = gr.Button("Cancel", variant="stop", elem_id="sb-cancel")
                # "board:run:n" of the panel run under way: each change makes one more panel (see on_next)
                chain = gr.Textbox(value="", visible="hidden", elem_id="sb-chain")
                table = gr.Dataframe(headers=view.SHOT_HEADERS, value=[], interactive=False, wrap=True,
                                     max_height=300, label="Shots (select one to edit it)", elem_id="sb-shots")
                editor = build_editor()
                sound = build_sound(studio)
                exporting = build_export()
        shared = build_shared()

        board_view = [boards, summary, panels, table, status, session_state]

        def show(session: Session, board, message: str = ""):
            choices = service.list(session.id)
            return (gr.update(choices=choices, value=board.id if board else None), view.summary_markdown(board),
                    view.panel_tiles(board), view.shot_rows(board), message, session)

        settings_in = [style, look, model, seed_policy, seed, width, height, steps, fps]

        def settings_of(style, look, model, seed_policy, seed, width, height, steps, fps) -> dict[str, Any]:
            return dict(style=style, look=look or "", model=model, seed_policy=seed_policy,
                        seed=None if seed is None or seed != seed else seed, width=width, height=height,
                        steps=steps, fps=fps)

        @friendly
        def on_create(session, script, title, style, look, model, seed_policy, seed, width, height, steps, fps,
                      duration, motion, reference, confirm, strength=None):
            session = ensure(session)
            board = service.create(session.id, script or "", title=title or "", reference=reference,
                                   confirmed=bool(confirm), duration_s=duration, motion=motion,
                                   reference_strength=strength,
                                   **settings_of(style, look, model, seed_policy, seed, width, height, steps, fps))
            return show(session, board, f"Created **{board.title}** with {len(board.shots)} shots. Press "
                                        "**Generate all panels**.")

        device = dict(concurrency_id="device", concurrency_limit=studio.settings.jobs_per_device)
        create.click(on_create, [session_state, script, title, *settings_in, duration, motion, reference, confirm,
                                 strength], board_view, api_name="create_board", **device)

        @friendly
        def on_apply(session, board_id, style, look, model, seed_policy, seed, width, height, steps, fps, reference,
                     confirm, strength=None):
            session = ensure(session)
            board = service.update_settings(session.id, board_id, reference_strength=strength, **settings_of(
                style, look, model, seed_policy, seed, width, height, steps, fps))
            if reference:
                board = service.set_reference(session.id, board_id, reference, bool(confirm))
            return show(session, board, "Settings applied; panels made with other settings are marked outdated.")

        apply.click(on_apply, [session_state, boards, *settings_in, reference, confirm, strength], board_view,
                    api_name="apply_board_settings", **device)

        def run_board(session, events, progress):
            """Stream a service run into the board view; the last yield shows the finished board."""
            for event in _drain(events, progress):
                if isinstance(event, Finished):
                    notes = "".join(f"  \nNote: {n}" for n in event.notices)
                    yield show(session, event.board, f"**{event.message}**{notes}")
                elif event.board is not None:
                    yield show(session, event.board, event.label)
                else:
                    yield (gr.update(),) * 4 + (event.label, session)

        @friendly
        def on_generate(session, board_id, only_missing, confirm):
            """Mark the panels to make; the chain below makes them, one queued device event each."""
            session = ensure(session)
            run = service.plan_panels(session.id, board_id, only_missing=bool(only_missing), confirmed=bool(confirm))
            board = service.get(session.id, board_id)
            if not run.total:
                return (*show(session, board, NOTHING_TO_MAKE), gr.update())
            notes = "".join(f"  \nNote: {n}" for n in run.notices)
            return (*show(session, board, f"Queued {run.total} panel(s); each is made in its turn, so other "
                                          f"visitors' jobs are not held up.{notes}"), run.chain)

        generate.click(on_generate, [session_state, boards, only_missing, confirm], [*board_view, chain],
                       api_name="generate_panels", queue=False)

        def on_next(session, link, progress=gr.Progress()):
            """One panel of the run named by `link` ("board:run:n", or a board id from the API); while
            panels remain, a new `link` re-triggers this event at the back of the queue."""
            session = ensure(session)
            board_id, _, rest = (link or "").partition(":")
            if not board_id:
                yield (gr.update(),) * 4 + (gr.update(), session, gr.update())
                return
            try:
                events = service.next_panel(session.id, board_id, rest.partition(":")[0])
            except StudioError as e:
                raise gr.Error(str(e), print_exception=False) from None
            last = None
            for shown in run_board(session, events, progress):
                if last is not None:
                    yield (*last, gr.update())
                last = shown
            run = service.current_run(session.id, board_id)
            more = run is not None and run.remaining and not run.cancelled.is_set()
            yield (*last, run.chain if more else gr.update())

        chain.change(on_next, [session_state, chain], [*board_view, chain], api_name="generate_next_panel",
                     show_progress="minimal", **device)

        def stop(session: Session):
            n = service.cancel(session.id) if session else 0
            return "Cancelling…" if n else "Nothing of yours is running."

        cancel.click(stop, [session_state], [status], queue=False, api_name="cancel_board")

        def on_pick(session, board_id):
            session = ensure(session)
            if not board_id:
                return show(session, None) + (gr.update(),) * 13
            try:
                board = service.get(session.id, board_id)
            except StudioError as e:
                raise gr.Error(str(e), print_exception=False) from None
            return show(session, board) + (board.style, board.look, board.model, board.seed_policy, board.seed,
                                           board.width, board.height, board.steps, board.fps,
                                           voices_text(board.voices), board.music_prompt, board.music_level_db,
                                           board.reference_strength)

        boards.input(on_pick, [session_state, boards], [*board_view, *settings_in, sound.voices, sound.music_prompt,
                                                        sound.music_level, strength], api_name="open_board",
                     queue=False)

        @friendly
        def on_delete_board(session, board_id, sure):
            session = ensure(session)
            board = service.get(session.id, board_id)
            if not sure:
                raise gr.Error(f"Tick “Yes, delete this board” first: deleting **{board.title}** cannot be undone.",
                               print_exception=False)
            service.delete(session.id, board_id)
            return (*show(session, None, f"Deleted **{board.title}**; its share link no longer opens it. Its panels "
                                         "and exports stay in your gallery until the gallery's retention removes "
                                         "them."), False)

        delete_board.click(on_delete_board, [session_state, boards, sure], [*board_view, sure],
                           api_name="delete_board", queue=False)

        def on_template(name):
            t = templates.get(name)
            return (t.script, t.style, t.look, t.motion) if t else (gr.update(),) * 4

        template.change(on_template, [template], [script, style, look, motion], api_name=False, queue=False)
        def on_model(name):
            p = studio.models.preset(PANEL_TASK, name)
            return (license_markdown(studio, p), *frame_size(p), p.defaults.get("steps", 25))

        model.change(on_model, [model], [license_md, width, height, steps], api_name=False, queue=False)

        # ---- the shot editor
        shot_in = [editor.number, editor.prompt, editor.camera, editor.duration, editor.motion, editor.dialogue,
                   editor.seed, editor.locked]

        def shot_fields(session, board_id, number):
            board = service.get(session.id, board_id)
            shot = board.shot(number)
            item = studio.gallery.get(session.id, shot.panel_id) if shot.panel_id else None
            return (int(number), shot.prompt, shot.camera, shot.duration_s, shot.motion, dialogue_text(
                [(ln.speaker, ln.text) for ln in shot.dialogue]), shot.seed, shot.seed_locked,
                item.params if item else None, gr.Accordion(open=True))

        @friendly
        def on_select(session, board_id, evt: gr.SelectData):
            session = ensure(session)
            index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return shot_fields(session, board_id, int(index) + 1)

        for source in (panels, table):
            source.select(on_select, [session_state, boards], [*shot_in, editor.params, editor.box], api_name=False,
                          queue=False)

        @friendly
        def on_save(session, board_id, number, prompt, camera, duration, motion, dialogue, seed, locked):
            session = ensure(session)
            board = service.edit_shot(session.id, board_id, number, prompt=prompt, camera=camera or "",
                                      duration_s=duration, motion=motion, dialogue_text=dialogue or "",
                                      seed=seed, seed_locked=bool(locked))
            return show(session, board, f"Saved shot {int(number)}.")

        editor.save.click(on_save, [session_state, boards, *shot_in], board_view, api_name="save_shot", queue=False)

        @friendly
        def on_insert(session, board_id, number, prompt):
            session = ensure(session)
            board = service.insert_shot(session.id, board_id, number, prompt or "")
            return show(session, board, f"Inserted a shot after shot {int(number)}.")

        editor.insert.click(on_insert, [session_state, boards, editor.number, editor.new_prompt], board_view,
                            api_name="insert_shot", queue=False)

        @friendly
        def on_delete(session, board_id, number):
            session = ensure(session)
            board = service.delete_shot(session.id, board_id, number)
            return show(session, board, f"Deleted shot {int(number)}.")

        editor.delete.click(on_delete, [session_state, boards, editor.number], board_view, api_name="delete_shot",
                            queue=False)

        @friendly
        def on_move(session, board_id, number, to):
            session = ensure(session)
            board = service.move_shot(session.id, board_id, number, to)
            return show(session, board, f"Moved shot {int(number)} to position {int(to)}.")

        editor.move.click(on_move, [session_state, boards, editor.number, editor.move_to], board_view,
                          api_name="move_shot", queue=False)

        def on_regenerate(session, board_id, number, confirm, progress=gr.Progress()):
            session = ensure(session)
            yield from run_board(session, service.generate_panels(session.id, board_id, [number], new_take=True,
                                                                  confirmed=bool(confirm)), progress)

        editor.regenerate.click(on_regenerate, [session_state, boards, editor.number, confirm], board_view,
                                api_name="regenerate_shot", **device)

        # ---- voice-over and music
        def on_voices(session, board_id, voice_model, voices, progress=gr.Progress()):
            from studio.storyboard.board import parse_voices

            session = ensure(session)
            try:
                mapping = parse_voices(voices) if (voices or "").strip() else None
            except StudioError as e:
                raise gr.Error(str(e), print_exception=False) from None
            yield from run_board(session, service.generate_voices(session.id, board_id, voice_model=voice_model,
                                                                  voices=mapping), progress)

        sound.make_voices.click(on_voices, [session_state, boards, sound.voice_model, sound.voices], board_view,
                                api_name="make_voiceover", **device)

        def on_music(session, board_id, music_model, prompt, level, progress=gr.Progress()):
            session = ensure(session)
            if level is not None:
                try:
                    service.update_settings(session.id, board_id, music_level_db=float(level))
                except StudioError as e:
                    raise gr.Error(str(e), print_exception=False) from None
            yield from run_board(session, service.generate_music(session.id, board_id, prompt=prompt or "",
                                                                 music_model=music_model), progress)

        sound.make_music.click(on_music, [session_state, boards, sound.music_model, sound.music_prompt,
                                          sound.music_level], board_view, api_name="make_music", **device)

        @friendly
        def on_fit(session, board_id):
            session = ensure(session)
            board, changed = service.fit_to_dialogue(session.id, board_id)
            said = f"Lengthened shot(s) {', '.join(map(str, changed))}." if changed else "Every shot already fits."
            return show(session, board, said)

        sound.fit.click(on_fit, [session_state, boards], board_view, api_name="fit_shots_to_dialogue", queue=False)
        for picker, md, task in ((sound.voice_model, sound.voice_license, VOICE_TASK),
                                 (sound.music_model, sound.music_license, MUSIC_TASK)):
            picker.change(lambda name, task=task: license_markdown(studio, studio.models.preset(task, name)),
                          [picker], [md], api_name=False, queue=False)

        # ---- exports, the visitor's storyboard outputs, sharing
        def exports_value(session: Session):
            return view.export_rows(list(reversed(studio.gallery.list(session.id, EXPORT_TASK))))

        def on_export(kind):
            def handler(session, board_id, progress=gr.Progress()):
                session = ensure(session)
                yield None, None, gr.update(), f"Exporting the {kind}…", session
                for event in _drain(service.export(session.id, board_id, kind), progress):
                    if isinstance(event, Finished):
                        item = event.items[0]
                        notes = "".join(f"  \nNote: {n}" for n in event.notices)
                        yield (item.path, item.path if kind == "animatic" else None, exports_value(session),
                               f"**{event.message}**{notes}", session)
                    else:
                        yield gr.update(), gr.update(), gr.update(), event.label, session
            return handler

        for kind, button in (("pdf", exporting.pdf), ("zip", exporting.zip), ("animatic", exporting.animatic)):
            button.click(on_export(kind), [session_state, boards], [exporting.file, exporting.player,
                                                                    exporting.table, status, session_state],
                         api_name=f"export_{kind}", **device)

        def on_export_select(session, evt: gr.SelectData):
            session = ensure(session)
            items = list(reversed(studio.gallery.list(session.id, EXPORT_TASK)))
            index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            if index is None or index >= len(items):
                return None, None
            return items[index].params, items[index].path

        exporting.table.select(on_export_select, [session_state], [exporting.params, exporting.file], api_name=False,
                               queue=False)

        @friendly
        def on_share(session, board_id, request: gr.Request):
            session = ensure(session)
            token = service.share(session.id, board_id)
            return f"{base_url(request)}?board={token}", "Anyone with this link can look at the board, not change it."

        exporting.share.click(on_share, [session_state, boards], [exporting.link, status], api_name="share_board",
                              queue=False)

        @friendly
        def on_unshare(session, board_id):
            service.unshare(ensure(session).id, board_id)
            return "", "Sharing stopped: the old link no longer opens the board."

        exporting.unshare.click(on_unshare, [session_state, boards], [exporting.link, status], api_name="unshare_board",
                                queue=False)

        @friendly
        def on_open_shared(link):
            board = service.shared(link or "")
            files = [i.path for i in service.exports(board)]
            return view.summary_markdown(board, read_only=True), view.panel_tiles(board), view.shot_rows(board), \
                files or None

        shared_out = [shared.summary, shared.panels, shared.table, shared.files]
        shared.open.click(on_open_shared, [shared.link], shared_out, api_name="open_shared_board", queue=False)

        def on_tab(session):
            session = ensure(session)
            return gr.update(choices=service.list(session.id)), exports_value(session), session

        tab.select(on_tab, [session_state], [boards, exporting.table, session_state], api_name=False, queue=False)
        _open_shared_link_on_load(tab, shared, shared_out, on_open_shared)
    return TabHandle(tab, refresh=exports_value, gallery=exporting.table, run_event=None)


def reference_hint(service: BoardService) -> str:
    """Which board models can follow the reference image."""
    names = service.reference_models()
    follow = ", ".join(f"`{n}`" for n in names) if names else "none on this studio"
    return (f"Models that follow the reference (IP-Adapter): {follow}. With other models it is recorded as an "
            "ingredient of every panel but does not steer the images.")


def _open_shared_link_on_load(tab, shared, outputs, open_board) -> None:
    """A page opened with ?board=<token> shows that board, read-only, in this tab."""
    root, tabs = gr.context.Context.root_block, getattr(tab, "parent", None)
    if root is None or not isinstance(tabs, gr.Tabs):
        return

    def on_load(request: gr.Request):
        token = (getattr(request, "query_params", None) or {}).get("board")
        if not token:
            return (gr.update(),) * (len(outputs) + 3)
        link = f"?board={token}"
        shown = (gr.Tabs(selected="storyboard"), gr.Accordion(open=True), link)
        try:
            return (*shown, *open_board(link))
        except gr.Error as e:
            return (*shown, f"**{e.message}**", [], [], None)

    root.load(on_load, None, [tabs, shared.box, shared.link, *outputs], api_name=False, queue=False)
