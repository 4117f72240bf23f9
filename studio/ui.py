"""The studio's Blocks: a header, one tab per module in studio.tabs.TABS and one per task that asks for a
generic tab (studio/task_tab.py), and the queue."""
from __future__ import annotations

import functools
import importlib
import inspect
import logging
import time
from contextlib import contextmanager
from pathlib import Path

import gradio as gr

from studio import NAME
from studio.sessions import Session, ensure, resolve, serve
from studio.service import Studio

log = logging.getLogger(__name__)
STARTUP_PROBE_S = 60.0   # how long launch waits for its own page to answer (see patient_startup_probe)

MORE_TOOLS = "More tools"   # the tab that holds the tabs built from task contracts
CSS = """
#t2i-status, .studio-status { min-height: 2.5em; }
footer { visibility: hidden; }
"""


def build_ui(studio: Studio) -> gr.Blocks:
    """Build the whole studio; every tab shares one session state and one device queue."""
    identity = studio.publisher.identity_summary()
    dev = (" — a **development identity**: readers elsewhere will show it as untrusted; configure your own "
           "certificate for production") if identity.get("development") else ""
    with gr.Blocks(title=NAME, analytics_enabled=False, delete_cache=cache_cleanup(studio.settings)) as demo:
        gr.Markdown(f"# {NAME}\nEvery file you download carries signed C2PA Content Credentials that declare it "
                    f"AI-generated, signed by *{identity.get('issuer', '?')}*{dev}. {_detector_line(studio)}")
        session_state = gr.State(None)
        # The token lives in the browser's local storage. Gradio encrypts it there with `secret`, in the
        # page itself; a stable secret (not Gradio's per-launch one) is what lets it be read after a
        # restart. The token is only a lookup key: the server's session table decides what it opens.
        token = gr.BrowserState(None, storage_key="genmedia-studio-session", secret=browser_secret(studio))
        with gr.Tabs():
            handles = [h for h in build_tabs(studio, session_state) if h is not None and h.refresh]
        galleries = [h.gallery for h in handles]
        more = session_controls(studio, session_state)

        def start(saved_token, request: gr.Request):
            if studio.settings.auth_header and not studio.login_session(request):
                raise gr.Error("Sign-in is required: this studio expects the reverse proxy to identify you.")
            session = resolve(studio, request, saved_token=saved_token, page=True)
            # A signed-in visitor's session follows the login; the browser's own token stays for later.
            return (session, session.token or saved_token, *[h.refresh(session) for h in handles])

        for fn in demo.fns.values():  # device jobs take fair turns in studio.jobs, not Gradio's FIFO queue
            if fn.concurrency_id == "device":
                fn.concurrency_limit = studio.jobs.events_in_flight
        demo.load(start, [token], [session_state, token, *galleries], api_name=False, queue=False)
        more.click(lambda session: show_more(session, handles), [session_state], [session_state, *galleries],
                   api_name=False, queue=False)
    serve(demo, studio)
    demo.queue(max_size=studio.settings.queue_size, default_concurrency_limit=studio.settings.jobs_per_device)
    return demo


def build_tabs(studio: Studio, session_state: gr.State) -> list:
    """Every tab, in order: the tab modules of studio.tabs.TABS, and a tab built from the contract of
    each task that asks for one (`Task.tab`), before GENERIC_BEFORE. Returns their handles."""
    from studio.tabs import GENERIC_BEFORE, SPECS, TABS
    from studio.task_tab import build_task_tab, generic_tasks

    handles = []
    for name in TABS:
        if name == GENERIC_BEFORE:
            # One top-level tab holding them: a row of more tabs than the page is wide hides the rest
            # behind Gradio's overflow menu. Parameter grids (studio/tabs/grid.py) come first there.
            with gr.Tab(MORE_TOOLS, id="more-tools"), gr.Tabs():
                handles.append(importlib.import_module("studio.tabs.grid").build(studio, session_state))
                for task in generic_tasks():
                    spec = importlib.import_module(SPECS[task]).spec(studio) if task in SPECS else None
                    handles.append(build_task_tab(studio, session_state, task, spec))
        build = importlib.import_module(name).build
        handles.append(build(studio, session_state) if len(inspect.signature(build).parameters) > 1 else build(studio))
    return handles


def session_controls(studio: Studio, session_state: gr.State) -> gr.Button:
    """Below the tabs: "Show older" (one more gallery page in every tab). For API callers:
    `/session_token`, a client's token (send it later as `X-Studio-Session`), and `/gallery_page`."""
    page = studio.settings.gallery_page_size
    more = gr.Button(f"Show {page} older items in each gallery", size="sm", elem_id="gallery-more")
    with gr.Row(visible=False):
        token_out = gr.Textbox(label="token")
        task_in = gr.Textbox(label="task")
        number_in = gr.Number(0, precision=0, minimum=0, label="page (0: the newest)")
        files_out = gr.File(file_count="multiple", label="files, newest first")
        token_button, page_button = gr.Button(), gr.Button()

    def session_token(session: Session | None):
        session = ensure(session)
        return session.token, session

    def gallery_page(session: Session | None, task: str, number):
        session = ensure(session)
        number = int(number) if isinstance(number, (int, float)) and number == number else 0  # NaN: the newest
        items = studio.gallery.page(session.id, task or None, number)
        return [i.path for i in items], session

    token_button.click(session_token, [session_state], [token_out, session_state], api_name="session_token",
                       queue=False)
    page_button.click(gallery_page, [session_state, task_in, number_in], [files_out, session_state],
                      api_name="gallery_page", queue=False)
    return more


def show_more(session: Session | None, handles) -> tuple:
    """One more page of every tab's gallery (responses carry the newest pages only)."""
    session = ensure(session)
    session.pages += 1
    return (session, *[h.refresh(session) for h in handles])


def browser_secret(studio: Studio) -> str:
    """The key Gradio's page encrypts the browser's token with: stable across restarts, derived one
    way from the studio's server secret (the page holds it, so it guards nothing on the server)."""
    import hashlib
    import hmac

    from studio.auth import server_secret

    return hmac.new(server_secret(studio.settings.data_dir), b"browser-state", hashlib.sha256).hexdigest()[:32]


def cache_cleanup(settings) -> tuple[int, int]:
    """Gradio's `delete_cache` (every, older than; seconds) for its copies of outputs and uploads: the
    outputs' retention, or a day when outputs are kept forever (a copy is made again when a gallery
    shows the file again)."""
    age = int(settings.retention_days * 86400) if settings.retention_days > 0 else 86400
    return max(60, min(3600, age // 4)), max(60, age)


class OutputsNotServed:
    """ASGI guard: Gradio's `/file=` route never serves the outputs folder itself. Galleries and
    downloads use Gradio's cached copies; the outputs stay in `allowed_paths` only so that Gradio may
    copy a published file into its cache."""

    def __init__(self, app, outputs_dir: str):
        self.app, self.outputs_dir = app, Path(outputs_dir).resolve()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and "/file=" in scope.get("path", ""):
            target = Path(scope["path"].split("/file=", 1)[1])
            try:
                inside = target.resolve().is_relative_to(self.outputs_dir)
            except (OSError, ValueError):
                inside = True  # a path that cannot be resolved is refused too
            if inside:
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "http.response.body", "body": b"File not allowed."})
                return
        await self.app(scope, receive, send)


def _detector_line(studio: Studio) -> str:
    """Which classifiers score files, and whether they are test models (the header must not promise a check)."""
    from provenance.detect_verdict import detector_header

    det = studio.detector
    image = studio.models.preset("detect_image", det.image_preset)
    audio = studio.models.preset("detect_audio", det.audio_preset)
    return detector_header(image.label, image.tier == "tiny", audio.label, audio.tier == "tiny")


def launch_options(studio: Studio) -> dict:
    """Gradio's launch options for this studio: no folder served as such (the outputs only reach
    Gradio's cache, see `OutputsNotServed`), keys and database blocked, uploads capped."""
    from starlette.middleware import Middleware

    s = studio.settings
    s.outputs_dir.mkdir(parents=True, exist_ok=True)
    blocked = [s.data_dir / "identity", s.data_dir / "models", s.db_path]
    options = dict(allowed_paths=[str(s.outputs_dir)], blocked_paths=[str(p) for p in blocked],
                   max_file_size=f"{s.max_upload_mb}mb", css=CSS, show_error=False,
                   app_kwargs={"middleware": [Middleware(OutputsNotServed, outputs_dir=str(s.outputs_dir))]})
    if s.auth_file:
        from studio.auth import password_checker

        options["auth"] = password_checker(s.auth_file)
    return options


@contextmanager
def patient_startup_probe(deadline_s: float = STARTUP_PROBE_S):
    """Within it, Gradio's launch waits up to `deadline_s` for its own page.

    Gradio checks that the page it just started answers (`gradio.networking.url_ok`: one HEAD with a
    3 s timeout, no retry after a timeout) and otherwise refuses to start with "When localhost is not
    accessible, a shareable link must be created". On a busy CPU host this studio's page (~800 KB of
    config) took 2-3 s, and the studio failed to start for that reason. The check stays Gradio's;
    it is only asked again until the deadline."""
    from gradio import networking

    before = networking.url_ok
    once = getattr(before, "__wrapped__", before)   # Gradio's own, also when this is nested

    @functools.wraps(once)
    def url_ok(url: str) -> bool:
        deadline = time.monotonic() + deadline_s
        while not once(url):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True

    networking.url_ok = url_ok
    try:
        yield
    finally:
        networking.url_ok = before


def launch(studio: Studio, **kwargs) -> None:
    from studio import retention

    s = studio.settings
    retention.start(s.outputs_dir, studio.gallery, s.retention_days, sessions=studio.sessions)
    demo = build_ui(studio)
    with patient_startup_probe():
        demo.launch(server_name=s.host, server_port=s.port, share=s.share, **launch_options(studio), **kwargs)
