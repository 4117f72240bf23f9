"""The Storyboard tab: a script becomes a board of panels, then a PDF, a ZIP and an animatic with
voice-over and music; boards persist per visitor and can be shared read-only by link.

Layout and wiring only: the parts are built by studio.storyboard.tab_parts, every handler is a
`BoardTab` method (studio.storyboard.handlers) calling the `BoardService`, the one entry point to
boards (which imports no Gradio).
"""
from __future__ import annotations

import functools
from types import SimpleNamespace

import gradio as gr

from pipelines.presets import load_styles
from studio.service import Studio
from studio.storyboard.events import MUSIC_TASK, PANEL_TASK, VOICE_TASK
from studio.storyboard.handlers import BoardTab
from studio.storyboard.service import BoardService
from studio.storyboard.tab_parts import (build_board_view, build_boards, build_editor, build_export, build_settings,
                                         build_shared, build_sound, reference_hint)
from studio.storyboard.templates import load_templates
from studio.widgets import TabHandle, client_address, default_preset


def build(studio: Studio, session_state: gr.State) -> TabHandle:
    """The tab's layout; `wire` connects its parts to the handlers."""
    service = BoardService(studio, client=functools.partial(client_address, studio))
    templates = load_templates()
    with gr.Tab("Storyboard", id="storyboard") as tab:
        with gr.Row():
            with gr.Column(scale=2):
                start = build_boards(templates)
                settings = build_settings(studio, load_styles(), default_preset(studio, PANEL_TASK),
                                          reference_hint(service))
            with gr.Column(scale=3):
                board = build_board_view()
                editor, sound, exporting = build_editor(), build_sound(studio), build_export()
        shared = build_shared()
        ui = SimpleNamespace(tab=tab, session=session_state, start=start, settings=settings, board=board,
                             editor=editor, sound=sound, exporting=exporting, shared=shared,
                             view=[start.boards, board.summary, board.panels, board.table, board.status,
                                   session_state],
                             device=dict(concurrency_id="device", concurrency_limit=studio.settings.jobs_per_device))
        handlers = BoardTab(studio, service, templates)
        for wire in (wire_boards, wire_runs, wire_editor, wire_sound, wire_exports, wire_shared):
            wire(ui, handlers)
    return TabHandle(tab, refresh=handlers.exports_value, gallery=exporting.table, run_event=None)


def wire_boards(ui: SimpleNamespace, h: BoardTab) -> None:
    """Create, apply settings, open and delete a board; templates and the model's defaults."""
    start, settings, session = ui.start, ui.settings, ui.session
    ui.start.create.click(h.on_create, [session, start.script, start.title, *settings.inputs, settings.duration,
                                        settings.motion, settings.reference, settings.confirm, settings.strength],
                          ui.view, api_name="create_board", **ui.device)
    settings.apply.click(h.on_apply, [session, start.boards, *settings.inputs, settings.reference, settings.confirm,
                                      settings.strength], ui.view, api_name="apply_board_settings", **ui.device)
    start.boards.input(h.on_pick, [session, start.boards],
                       [*ui.view, *settings.inputs, ui.sound.voices, ui.sound.music_prompt, ui.sound.music_level,
                        settings.strength], api_name="open_board", queue=False)
    start.delete.click(h.on_delete_board, [session, start.boards, start.sure], [*ui.view, start.sure],
                       api_name="delete_board", queue=False)
    start.template.change(h.on_template, [start.template],
                          [start.script, settings.style, settings.look, settings.motion], api_name=False, queue=False)
    settings.model.change(h.on_model, [settings.model],
                          [settings.license_md, settings.width, settings.height, settings.steps], api_name=False,
                          queue=False)
    ui.tab.select(h.on_tab, [session], [start.boards, ui.exporting.table, session], api_name=False, queue=False)


def wire_runs(ui: SimpleNamespace, h: BoardTab) -> None:
    """Generate all panels (planned at once, then one queued device event per panel) and Cancel."""
    board, boards = ui.board, ui.start.boards
    board.generate.click(h.on_generate, [ui.session, boards, board.only_missing, ui.settings.confirm],
                         [*ui.view, board.chain], api_name="generate_panels", queue=False)
    board.chain.change(h.on_next, [ui.session, board.chain], [*ui.view, board.chain],
                       api_name="generate_next_panel", show_progress="minimal", **ui.device)
    board.cancel.click(h.stop, [ui.session], [board.status], queue=False, api_name="cancel_board")


def wire_editor(ui: SimpleNamespace, h: BoardTab) -> None:
    """Select a shot to edit it; save, insert, delete, move and regenerate it."""
    e, session, boards = ui.editor, ui.session, ui.start.boards
    shot_in = [e.number, e.prompt, e.camera, e.duration, e.motion, e.dialogue, e.seed, e.locked]
    for source in (ui.board.panels, ui.board.table):
        source.select(h.on_select, [session, boards], [*shot_in, e.params, e.box], api_name=False, queue=False)
    e.save.click(h.on_save, [session, boards, *shot_in], ui.view, api_name="save_shot", queue=False)
    e.insert.click(h.on_insert, [session, boards, e.number, e.new_prompt], ui.view, api_name="insert_shot",
                   queue=False)
    e.delete.click(h.on_delete, [session, boards, e.number], ui.view, api_name="delete_shot", queue=False)
    e.move.click(h.on_move, [session, boards, e.number, e.move_to], ui.view, api_name="move_shot", queue=False)
    e.regenerate.click(h.on_regenerate, [session, boards, e.number, ui.settings.confirm], ui.view,
                       api_name="regenerate_shot", **ui.device)


def wire_sound(ui: SimpleNamespace, h: BoardTab) -> None:
    """The voice-over, the music bed, fitting shots to their dialogue, the models' licences."""
    s, session, boards = ui.sound, ui.session, ui.start.boards
    s.make_voices.click(h.on_voices, [session, boards, s.voice_model, s.voices], ui.view, api_name="make_voiceover",
                        **ui.device)
    s.make_music.click(h.on_music, [session, boards, s.music_model, s.music_prompt, s.music_level], ui.view,
                       api_name="make_music", **ui.device)
    s.fit.click(h.on_fit, [session, boards], ui.view, api_name="fit_shots_to_dialogue", queue=False)
    for picker, md, task in ((s.voice_model, s.voice_license, VOICE_TASK), (s.music_model, s.music_license,
                                                                           MUSIC_TASK)):
        picker.change(h.license_of(task), [picker], [md], api_name=False, queue=False)


def wire_exports(ui: SimpleNamespace, h: BoardTab) -> None:
    """The three exports, the visitor's exports table, and the share link."""
    x, session, boards = ui.exporting, ui.session, ui.start.boards
    for kind, button in (("pdf", x.pdf), ("zip", x.zip), ("animatic", x.animatic)):
        burn = [x.burn] if kind == "animatic" else []
        event = button.click(h.on_export(kind), [session, boards, *burn],
                             [x.file, x.player, x.table, ui.board.status, session], api_name=f"export_{kind}",
                             **ui.device)
        if kind == "animatic":  # its SRT and WebVTT files, beside the MP4
            event.success(h.on_animatic_subtitles, [session, boards], [x.subtitles], api_name="animatic_subtitles",
                          queue=False)
    x.table.select(h.on_export_select, [session], [x.params, x.file], api_name=False, queue=False)
    x.share.click(h.on_share, [session, boards], [x.link, ui.board.status], api_name="share_board", queue=False)
    x.unshare.click(h.on_unshare, [session, boards], [x.link, ui.board.status], api_name="unshare_board",
                    queue=False)


def wire_shared(ui: SimpleNamespace, h: BoardTab) -> None:
    """Open a board someone shared, by its link pasted here or by opening the page with ?board=<token>."""
    shared = ui.shared
    outputs = [shared.summary, shared.panels, shared.table, shared.files]
    shared.open.click(h.on_open_shared, [shared.link, ui.session], outputs, api_name="open_shared_board",
                      queue=False)
    root, tabs = gr.context.Context.root_block, ui.tab.parent
    if root is not None and isinstance(tabs, gr.Tabs):
        root.load(h.on_load_shared, [ui.session], [tabs, shared.box, shared.link, *outputs], api_name=False,
                  queue=False)
