"""The Library tab: one place to find anything the visitor made, across tabs and storyboards.

Search words (prompts, board and shot text, automatic captions and tags; see studio/library.py for
what a query may say), filters, sort and pages; tick items to download them as one ZIP of the signed
files, or to delete them, or to add them to one of the visitor's storyboards (as new panels, or one
as the board's reference); "More like this" ranks the visitor's own pictures by their likeness to the
ticked one. API: `library_search` (JSON), `library_download` (a ZIP of ids), `library_similar` (JSON),
`library_add_to_board` (JSON).
"""
from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from pipelines.errors import InputError, StudioError
from studio.library import KINDS, SORTS, UPLOAD_TASK, Filters, Page
from studio.sessions import Session, ensure
from studio.service import NeedsConfirmation, Studio
from studio.storyboard.service import BoardService

ANY = "any"
ICONS = {"image": "🖼", "audio": "🔊", "video": "🎞", "text": "📝"}
ZIP_KEEP_S = 3600          # a ZIP made for a download is removed after this long
AS_PANELS, AS_REFERENCE = "as new panels", "as the board's reference"


def build(studio: Studio, session_state: gr.State) -> None:
    """Add the Library tab: search row, filters, the page's items, and what to do with a selection."""
    with gr.Tab("Library", id="library") as tab:
        search = _search_row()
        filters = _filter_box()
        results = _results()
        actions = _actions()
        to_board = _board_row()
        api = _api_controls()
    boards = BoardService(studio)
    page_state = gr.State(0)
    fields = [search.query, filters.kind, filters.task, filters.model, filters.date_from, filters.date_to,
              filters.verdict, filters.license, filters.shared, search.sort]
    shown = [results.gallery, results.pick, results.summary, page_state, session_state]
    run = lambda delta: (lambda session, page, *values: show(studio, session, page, delta, *values))  # noqa: E731
    for trigger in (search.button.click, search.query.submit):
        trigger(run(None), [session_state, page_state, *fields], shown, api_name=False, queue=False)
    results.older.click(run(+1), [session_state, page_state, *fields], shown, api_name=False, queue=False)
    results.newer.click(run(-1), [session_state, page_state, *fields], shown, api_name=False, queue=False)
    tab.select(lambda session, *values: (*facet_updates(studio, session), board_choices(boards, session),
                                         *show(studio, session, 0, None, *values)),
               [session_state, *fields], [filters.task, filters.model, filters.verdict, to_board.board, *shown],
               api_name=False, queue=False)
    to_board.add.click(lambda session, ids, board_id, mode: add_to_board(studio, boards, session, ids, board_id,
                                                                         mode)[::2],
                       [session_state, results.pick, to_board.board, to_board.mode], [to_board.status, session_state],
                       api_name=False, queue=False)
    api.add.click(lambda session, ids, board_id, mode: api_add_to_board(studio, boards, session, ids, board_id, mode),
                  [session_state, api.ids, api.board, api.mode], [api.json, session_state],
                  api_name="library_add_to_board", queue=False)
    actions.download.click(lambda session, ids, shared: download(studio, session, ids, shared),
                           [session_state, results.pick, filters.shared], [actions.file, actions.status, session_state],
                           api_name=False)
    actions.delete.click(lambda session, ids, sure: delete(studio, session, ids, sure),
                         [session_state, results.pick, actions.confirm], [actions.status, actions.confirm,
                                                                          session_state], api_name=False,
                         queue=False).success(run(0), [session_state, page_state, *fields], shown, api_name=False,
                                           queue=False)
    api.search.click(lambda session, *values: api_search(studio, session, *values),
                     [session_state, *api.inputs], [api.json, session_state], api_name="library_search", queue=False)
    actions.similar.click(lambda session, ids: more_like(studio, session, ids), [session_state, results.pick], shown,
                          api_name=False, queue=False)
    api.similar.click(lambda session, item_id, limit: api_similar(studio, session, item_id, limit),
                      [session_state, api.ids, api.limit], [api.json, session_state], api_name="library_similar",
                      queue=False)
    api.zip.click(lambda session, ids, shared: api_download(studio, session, ids, shared),
                  [session_state, api.ids, api.shared], [api.file, session_state], api_name="library_download")


def _search_row() -> SimpleNamespace:
    with gr.Row():
        query = gr.Textbox(label="Search", placeholder='words, "a phrase", prefix*', scale=5,
                           elem_id="library-query", max_length=10_000)
        sort = gr.Dropdown(list(SORTS), value="newest", label="Sort", scale=1, elem_id="library-sort")
        button = gr.Button("Search", variant="primary", scale=1, elem_id="library-search")
    return SimpleNamespace(query=query, sort=sort, button=button)


def _filter_box() -> SimpleNamespace:
    with gr.Accordion("Filters", open=False):
        with gr.Row():
            kind = gr.Dropdown([ANY, *KINDS], value=ANY, label="Kind", elem_id="library-kind")
            task = gr.Dropdown([ANY], value=ANY, label="Made by (task)", elem_id="library-task")
            model = gr.Dropdown([ANY], value=ANY, label="Model", elem_id="library-model")
            verdict = gr.Dropdown([ANY], value=ANY, label="Detector verdict")
        with gr.Row():
            date_from = gr.Textbox(label="From (YYYY-MM-DD)", elem_id="library-from")
            date_to = gr.Textbox(label="To (YYYY-MM-DD)", elem_id="library-to")
            license = gr.Textbox(label="Licence contains", elem_id="library-license")
            shared = gr.Textbox(label="Also search a board shared with you (its link)", elem_id="library-shared")
    return SimpleNamespace(kind=kind, task=task, model=model, verdict=verdict, date_from=date_from,
                           date_to=date_to, license=license, shared=shared)


def _results() -> SimpleNamespace:
    summary = gr.Markdown(elem_id="library-summary")
    gallery = gr.Gallery(label="Images and video on this page", columns=6, height="auto", elem_id="library-gallery")
    pick = gr.CheckboxGroup([], label="Items on this page (tick to select)", elem_id="library-pick")
    with gr.Row():
        newer = gr.Button("◀ Newer page", size="sm", elem_id="library-newer")
        older = gr.Button("Older page ▶", size="sm", elem_id="library-older")
    return SimpleNamespace(summary=summary, gallery=gallery, pick=pick, newer=newer, older=older)


def _actions() -> SimpleNamespace:
    with gr.Row():
        similar = gr.Button("More like this (the first ticked)", elem_id="library-similar")
        download = gr.Button("Download selected (ZIP)", elem_id="library-download")
        confirm = gr.Checkbox(False, label="Yes, delete the selected items for good", elem_id="library-confirm")
        delete = gr.Button("Delete selected", variant="stop", elem_id="library-delete")
    status = gr.Markdown(elem_id="library-status")
    file = gr.File(label="Your ZIP of signed files", elem_id="library-zip")
    return SimpleNamespace(similar=similar, download=download, confirm=confirm, delete=delete, status=status, file=file)


def _board_row() -> SimpleNamespace:
    with gr.Row():
        board = gr.Dropdown([], label="Your storyboard", elem_id="library-board", scale=2)
        mode = gr.Radio([AS_PANELS, AS_REFERENCE], value=AS_PANELS, label="Add", elem_id="library-board-mode",
                        scale=2)
        add = gr.Button("Add selected to board", elem_id="library-add-to-board", scale=1)
    status = gr.Markdown(elem_id="library-board-status")
    return SimpleNamespace(board=board, mode=mode, add=add, status=status)


def _api_controls() -> SimpleNamespace:
    """Hidden controls behind the named API endpoints."""
    with gr.Row(visible=False):
        inputs = [gr.Textbox(label="query"), gr.Textbox(label="kind"), gr.Textbox(label="task"),
                  gr.Textbox(label="model"), gr.Textbox(label="date_from"), gr.Textbox(label="date_to"),
                  gr.Textbox(label="verdict"), gr.Textbox(label="license"), gr.Textbox(label="shared board link"),
                  gr.Textbox("newest", label="sort"), gr.Number(0, precision=0, label="page (0: the first)"),
                  gr.Number(24, precision=0, label="page_size")]
        ids, shared = gr.Textbox(label="ids (comma-separated)"), gr.Textbox(label="shared board link")
        limit = gr.Number(24, precision=0, label="limit")
        board = gr.Textbox(label="board id")
        mode = gr.Textbox(AS_PANELS, label=f"mode ({AS_PANELS!r} or {AS_REFERENCE!r})")
        json_out, file_out = gr.JSON(), gr.File()
        search, zip_button, similar, add = gr.Button(), gr.Button(), gr.Button(), gr.Button()
    return SimpleNamespace(inputs=inputs, ids=ids, shared=shared, limit=limit, board=board, mode=mode, json=json_out,
                           file=file_out, search=search, zip=zip_button, similar=similar, add=add)


# ---- handlers -------------------------------------------------------------------------------------


def _filters(kind, task, model, date_from, date_to, verdict, license) -> Filters:
    pick = lambda v: "" if v in (None, ANY) else str(v).strip()  # noqa: E731
    return Filters(kind=pick(kind), task=pick(task), model=pick(model), date_from=pick(date_from),
                   date_to=pick(date_to), verdict=pick(verdict), license=pick(license))


def find(studio: Studio, session: Session, query, kind, task, model, date_from, date_to, verdict, license,
         shared, sort, page: int, page_size: int | None = None) -> Page:
    """The library search behind the tab and the API; studio errors become `gr.Error`."""
    try:
        return studio.library.search(session.id, query or "", _filters(kind, task, model, date_from, date_to,
                                                                      verdict, license),
                                     sort=sort or "newest", page=page, shared=[shared] if shared else [],
                                     page_size=page_size or studio.settings.gallery_page_size)
    except StudioError as e:
        raise gr.Error(str(e), print_exception=False) from None


def show(studio: Studio, session, page: int, delta: int | None, *values) -> tuple:
    """(gallery, selection choices, summary, page, session) for the tab; delta None: back to page 0."""
    session = ensure(session)
    page = 0 if delta is None else max(0, int(page or 0) + delta)
    found = find(studio, session, *values, page=page)
    if found.hits == [] and page > 0 and delta:  # past the end (items deleted meanwhile): the last page
        page = max(0, found.pages - 1)
        found = find(studio, session, *values, page=page)
    visual = [(h.item.path, label(h, 60)) for h in found.hits if h.item.mime.split("/")[0] in ("image", "video")]
    choices = [(label(h), h.item.id) for h in found.hits]
    summary = (f"**{found.total}** item(s) · page {page + 1} of {found.pages}" if found.total
               else "Nothing found: try fewer words, a prefix (fox*), or clear the filters.")
    return visual, gr.update(choices=choices, value=[]), summary, page, session


def similar_hits(studio: Studio, session: Session, item_id, limit: int = 24) -> list:
    """The library's "more like this" for the tab and the API; studio errors become `gr.Error`."""
    try:
        return studio.library.similar(session.id, str(item_id or "").strip(), limit)
    except StudioError as e:
        raise gr.Error(str(e), print_exception=False) from None


def more_like(studio: Studio, session, ids) -> tuple:
    """(gallery, selection choices, summary, page, session): the visitor's items most like the first ticked."""
    session = ensure(session)
    if not ids:
        raise gr.Error("Tick one item first: more like this finds your pictures that look like it.",
                       print_exception=False)
    hits = similar_hits(studio, session, ids[0], studio.settings.gallery_page_size)
    visual = [(h.item.path, label(h, 60)) for h in hits if h.item.mime.split("/")[0] in ("image", "video")]
    choices = [(f"{h.similarity:.2f} · {label(h)}", h.item.id) for h in hits]
    summary = (f"**{len(hits)}** item(s) most like the one you ticked, most alike first (Search shows all again)"
               if hits else "Nothing else of yours has been tagged yet to compare with.")
    return visual, gr.update(choices=choices, value=[]), summary, 0, session


def label(hit, width: int = 90) -> str:
    """One line naming an item: kind, task, date, its words, its tags."""
    it, shown = hit.item, hit.to_dict()
    words = shown["prompt"] or shown["auto_caption"] or it.caption
    when = dt.datetime.fromtimestamp(it.created, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    tags = f" · tags: {', '.join(shown['tags'][:5])}" if shown["tags"] else ""
    shared = " · shared board" if not hit.own else ""
    text = f"{ICONS.get(it.mime.split('/')[0], '•')} {it.task.replace('_', ' ')} · {when} · {words}"
    return (text[:width] + "…" if len(text) > width else text) + tags + shared


def facet_updates(studio: Studio, session) -> tuple:
    """Dropdown choices from what the visitor's items have."""
    facets = studio.library.facets(ensure(session).id)
    return tuple(gr.update(choices=[ANY, *facets[k]]) for k in ("task", "model", "verdict"))


def _zip_path() -> Path:
    folder = Path(tempfile.gettempdir()) / "studio-library-zips"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.zip"):  # a download is fetched at once; old ZIPs only take space
        if time.time() - old.stat().st_mtime > ZIP_KEEP_S:
            old.unlink(missing_ok=True)
    return Path(tempfile.mkdtemp(dir=folder)) / f"library-{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}.zip"


def download(studio: Studio, session, ids, shared) -> tuple:
    session = ensure(session)
    try:
        path, count = studio.library.zip(session.id, ids or [], _zip_path(), shared=[shared] if shared else [])
    except StudioError as e:
        raise gr.Error(str(e), print_exception=False) from None
    return str(path), f"{count} signed file(s) in the ZIP (each carries its own Content Credentials).", session


def delete(studio: Studio, session, ids, sure: bool) -> tuple:
    session = ensure(session)
    if not ids:
        raise gr.Error("Select one or more items first (tick them in the list).", print_exception=False)
    if not sure:
        raise gr.Error("Tick “Yes, delete the selected items for good” first: deleting cannot be undone.",
                       print_exception=False)
    count = studio.library.delete(session.id, ids)
    skipped = len(ids) - count
    note = f" ({skipped} not yours to delete or already gone)" if skipped else ""
    return f"Deleted {count} item(s){note}.", False, session


def api_search(studio: Studio, session, query, kind, task, model, date_from, date_to, verdict, license, shared,
               sort, page, page_size) -> tuple:
    """`/library_search`: one page of results as JSON (no server paths)."""
    session = ensure(session)
    number = int(page) if isinstance(page, (int, float)) and page == page else 0
    size = int(page_size) if isinstance(page_size, (int, float)) and page_size == page_size else 24
    found = find(studio, session, query, kind or ANY, task or ANY, model or ANY, date_from, date_to, verdict or ANY,
                 license, shared, sort, page=number, page_size=size)
    return {"total": found.total, "page": found.page, "pages": found.pages, "page_size": found.page_size,
            "items": [h.to_dict() for h in found.hits]}, session


def api_similar(studio: Studio, session, item_id: str, limit) -> tuple:
    """`/library_similar`: the visitor's own items most like `item_id`, most alike first, as JSON."""
    session = ensure(session)
    number = int(limit) if isinstance(limit, (int, float)) and limit == limit else 24
    hits = similar_hits(studio, session, item_id, number)
    return {"id": str(item_id or "").strip(), "items": [h.to_dict() for h in hits]}, session


def api_download(studio: Studio, session, ids: str, shared: str) -> tuple:
    """`/library_download`: a ZIP of the signed files with these ids (comma-separated)."""
    path, _, session = download(studio, session, [i.strip() for i in (ids or "").split(",") if i.strip()], shared)
    return path, session


# ---- add to board ---------------------------------------------------------------------------------


def board_choices(boards: BoardService, session) -> dict:
    """The visitor's storyboards for the "Add to board" dropdown, most recently changed first."""
    choices = boards.list(ensure(session).id)
    return gr.update(choices=choices, value=choices[0][1] if choices else None)


def add_to_board(studio: Studio, boards: BoardService, session, ids, board_id, mode) -> tuple:
    """(message, JSON summary, session): the ticked items of the visitor's own added to one of their boards,
    pictures the studio made as new panels at its end, or the first ticked picture as its reference."""
    session = ensure(session)
    try:
        if not board_id:
            raise InputError("Choose one of your storyboards first (make one in the Storyboard tab).")
        boards.get(session.id, board_id)   # theirs, before anything about the items is said
        items = studio.library.owned(session.id, ids or [])   # the visitor's own only, never a shared board's
        pictures = [i for i in items if i.mime.startswith("image/")]
        if not pictures:
            raise InputError("Tick one or more of your pictures first: panels and references are pictures.")
        if mode == AS_REFERENCE:
            return _as_reference(boards, session, board_id, pictures[0])
        if mode != AS_PANELS:
            raise InputError(f"Add {mode!r}? Choose {AS_PANELS!r} or {AS_REFERENCE!r}.")
        made = [i for i in pictures if i.task != UPLOAD_TASK]
        if not made:
            raise InputError("Uploads cannot be panels (a panel is a signed output of the studio): add an upload "
                             f"{AS_REFERENCE}, or tick pictures the studio made.")
        board = boards.add_panels(session.id, board_id, made)
    except StudioError as e:
        raise gr.Error(str(e), print_exception=False) from None
    skipped = len(ids or []) - len(made)
    note = f" ({skipped} ticked item(s) left out: not pictures the studio made for you)" if skipped else ""
    message = f"Added {len(made)} panel(s) to “{board.title}”: shots {len(board.shots) - len(made) + 1}-" \
              f"{len(board.shots)}{note}."
    return message, {"board": board.id, "added": [i.id for i in made], "shots": len(board.shots),
                     "skipped": skipped}, session


def _as_reference(boards: BoardService, session, board_id: str, item) -> tuple:
    # The studio's own output is known to be generated: that is no reason to ask. An upload is checked
    # as any reference is, and a flagged one needs the Storyboard tab's confirmation box.
    try:
        board = boards.set_reference(session.id, board_id, item.path, confirmed=item.task != UPLOAD_TASK)
    except NeedsConfirmation as e:
        raise InputError(f"{e} (Upload it as the reference in the Storyboard tab, where that box is.)") from None
    return (f"The board “{board.title}” now follows this picture as its reference; its made panels are marked "
            f"stale.", {"board": board.id, "reference": item.id, "shots": len(board.shots)}, session)


def api_add_to_board(studio: Studio, boards: BoardService, session, ids: str, board_id: str, mode: str) -> tuple:
    """`/library_add_to_board`: comma-separated ids, a board id and a mode -> JSON of what was added."""
    wanted = [i.strip() for i in (ids or "").split(",") if i.strip()]
    _, summary, session = add_to_board(studio, boards, session, wanted, (board_id or "").strip(), mode or AS_PANELS)
    return summary, session
