"""The studio's Blocks: a header, one tab per module in studio.tabs.TABS, and the queue."""
from __future__ import annotations

import importlib
import inspect
import logging

import gradio as gr

from studio import NAME
from studio.sessions import Session, restore
from studio.service import Studio

log = logging.getLogger(__name__)

CSS = """
#t2i-status, .studio-status { min-height: 2.5em; }
footer { visibility: hidden; }
"""


def build_ui(studio: Studio) -> gr.Blocks:
    """Build the whole studio; every tab shares one session state and one device queue."""
    from studio.tabs import TABS

    identity = studio.publisher.identity_summary()
    dev = (" — a **development identity**: readers elsewhere will show it as untrusted; configure your own "
           "certificate for production") if identity.get("development") else ""
    with gr.Blocks(title=NAME, analytics_enabled=False) as demo:
        gr.Markdown(f"# {NAME}\nEvery file you download carries signed C2PA Content Credentials and has passed "
                    f"an AI-content check. Signed by *{identity.get('issuer', '?')}*{dev}.")
        session_state = gr.State(None)
        token = gr.BrowserState(None, storage_key="genmedia-studio-session")
        handles = []
        with gr.Tabs():
            for name in TABS:
                build = importlib.import_module(name).build
                handle = build(studio, session_state) if len(inspect.signature(build).parameters) > 1 else build(studio)
                if handle is not None and getattr(handle, "refresh", None):
                    handles.append(handle)

        def start(saved_token, request: gr.Request):
            if studio.settings.auth_header and not studio.login_session(request):
                raise gr.Error("Sign-in is required: this studio expects the reverse proxy to identify you.")
            login = studio.login_session(request)
            session = Session(id=login) if login else restore(saved_token)
            return (session, session.id, *[h.refresh(session) for h in handles])

        for fn in demo.fns.values():  # device jobs take fair turns in studio.jobs, not Gradio's FIFO queue
            if fn.concurrency_id == "device":
                fn.concurrency_limit = studio.jobs.events_in_flight
        demo.load(start, [token], [session_state, token, *[h.gallery for h in handles]], api_name=False, queue=False)
    demo.queue(max_size=studio.settings.queue_size, default_concurrency_limit=studio.settings.jobs_per_device)
    return demo


def launch_options(studio: Studio) -> dict:
    """Gradio's launch options for this studio: file access narrowed to the outputs, uploads capped."""
    s = studio.settings
    s.outputs_dir.mkdir(parents=True, exist_ok=True)
    blocked = [s.data_dir / "identity", s.data_dir / "models", s.db_path]
    options = dict(allowed_paths=[str(s.outputs_dir)], blocked_paths=[str(p) for p in blocked],
                   max_file_size=f"{s.max_upload_mb}mb", css=CSS, show_error=True)
    if s.auth_file:
        from studio.auth import password_checker

        options["auth"] = password_checker(s.auth_file)
    return options


def launch(studio: Studio, **kwargs) -> None:
    from studio import retention

    s = studio.settings
    retention.start(s.outputs_dir, studio.gallery, s.retention_days)
    demo = build_ui(studio)
    demo.launch(server_name=s.host, server_port=s.port, share=s.share, **launch_options(studio), **kwargs)
