"""The Models tab: every preset's weights — tier, licence, access, download size, size on disk, state —
with Download (progress in bytes and time left, cancel, continues a stopped download) and Remove (the
space it frees shown first, then confirmed).

All the work is the model layer's (`studio.models`: `weights_state`, `pull`, `cancel_download`,
`removal`, `remove`); this module lays out widgets and turns errors into messages. API callers get
the same through `/models_list`, `/models_details`, `/models_download`, `/models_cancel`,
`/models_remove_preview` and `/models_remove` (a preset is named "task/preset").
"""
from __future__ import annotations

import queue
import threading

import gradio as gr

from pipelines.downloads import DownloadControl, format_bytes
from pipelines.errors import StudioError
from pipelines.model_files import ROW_HEADERS

DISABLED = ("Downloading and removing models from the page is off on this studio (it is when sign-in is not "
            "configured, so that visitors cannot fill its disk). An operator can run `studio models pull NAME` "
            "on the server, or set page_model_downloads = \"on\".")


def build(studio, session_state: gr.State | None = None) -> None:
    """Add the Models tab; call inside an open `gr.Tabs()` context."""
    with gr.Tab("Models"):
        gr.Markdown("Every model preset of every task. The tiny tier is built on this machine and works offline; "
                    "other presets need their weights downloaded once (only the files the model loader reads).")
        table = gr.Dataframe(lambda: rows(studio), headers=ROW_HEADERS, type="array", interactive=False,
                             wrap=True, label="Presets (select a row)")
        picker = gr.Dropdown(preset_choices(studio), label="Preset", value=None)
        details = gr.Markdown()
        download, cancel, remove, confirm = action_buttons(allowed(studio.settings))
        status = gr.Markdown(elem_classes="studio-status")
        refresh = gr.Button("Refresh the table", size="sm")
    wire(studio, table, picker, details, (download, cancel, remove, confirm, refresh), status)


def action_buttons(enabled: bool) -> tuple[gr.Button, ...]:
    """Download, Cancel, Remove, and the confirmation Remove shows after saying what it frees."""
    with gr.Row():
        download = gr.Button("Download", variant="primary", interactive=enabled)
        cancel = gr.Button("Cancel download", interactive=enabled)
        remove = gr.Button("Remove…", variant="stop", interactive=enabled)
        confirm = gr.Button("Confirm removal", variant="stop", visible=False)
    return download, cancel, remove, confirm


def wire(studio, table, picker, details, buttons, status) -> None:
    download, cancel, remove, confirm, refresh = buttons
    table.select(pick_row, [table], [picker], api_name=False, queue=False)
    picker.change(lambda key: (describe(studio, key), gr.update(visible=False)), [picker], [details, confirm],
                  api_name="models_details")
    download.click(download_handler(studio), [picker], [status, table], api_name="models_download",
                   concurrency_limit=None)
    cancel.click(lambda key: cancel_download(studio, key), [picker], [status], api_name="models_cancel", queue=False)
    remove.click(lambda key: removal_preview(studio, key), [picker], [status, confirm], api_name="models_remove_preview")
    confirm.click(lambda key: remove_files(studio, key), [picker], [status, confirm, table], api_name="models_remove")
    refresh.click(lambda: rows(studio), None, [table], api_name="models_list", queue=False)


# ---- handlers ----------------------------------------------------------------------------------------------------
def allowed(settings) -> bool:
    """Whether the page may download and remove weights: the setting page_model_downloads, where
    "auto" means only when sign-in is configured (strangers cannot fill the disk)."""
    choice = str(settings.page_model_downloads).lower()
    if choice == "auto":
        return bool(settings.auth_file or settings.auth_header)
    return choice in ("on", "true", "1", "yes")


def rows(studio) -> list[list]:
    """The table: this machine's view (no hub call per preset; a preset's details ask the hub)."""
    return [studio.models.weights_state(p, online=False).row() for p in studio.models.all_presets()]


def preset_choices(studio) -> list[tuple[str, str]]:
    return [(f"{p.task.replace('_', ' ')} · {p.label}", f"{p.task}/{p.name}") for p in studio.models.all_presets()]


def pick_row(table: list[list], evt: gr.SelectData) -> str:
    row = table[evt.index[0]]
    return f"{row[0]}/{row[1]}"


def preset_of(studio, key: str | None):
    """The preset named "task/preset"; a clear message for anything else."""
    task, _, name = (key or "").partition("/")
    try:
        return studio.models.preset(task, name)
    except (StudioError, KeyError):
        raise gr.Error(f"Unknown model preset {key!r}: choose one in the list.", print_exception=False) from None


def describe(studio, key: str | None) -> str:
    """A preset's card: where its weights come from, licence, access, sizes and state."""
    if not key:
        return ""
    preset = preset_of(studio, key)
    try:
        state = studio.models.weights_state(preset)
    except StudioError as e:
        return f"**{preset.label}**\n\n⚠️ {e}"
    licence = f"[{preset.license}]({preset.license_url})" if preset.license_url else preset.license
    access = {True: "gated: accept its licence on the hub, then give the studio a token (HF_TOKEN or `hf auth login`)",
              False: "open", None: "not known offline"}[state.gated]
    missing = f"\n- missing: {', '.join(state.missing)}" if state.missing else ""
    size = format_bytes(state.download_bytes) if state.download_bytes is not None else "not known offline"
    return (f"**{preset.label}** — `{preset.reference}`\n\n- tier: {preset.tier}\n- licence: {licence} "
            f"({'commercial use allowed' if preset.commercial_use else 'non-commercial'})\n- access: {access}\n"
            f"- download: {size} (only the files the loader reads)\n"
            f"- on disk: {format_bytes(state.disk_bytes)}\n- state: **{state.state}**{missing}")


def download_handler(studio):
    """The Download click: the model layer's pull in a thread, its byte progress streamed to the page."""
    def download(key: str | None, progress=gr.Progress()):
        if not allowed(studio.settings):
            raise gr.Error(DISABLED, print_exception=False)
        preset = preset_of(studio, key)
        events: queue.Queue = queue.Queue()
        outcome: dict = {}
        worker = threading.Thread(target=_pull, args=(studio, preset, DownloadControl(on_progress=events.put), outcome),
                                  daemon=True, name=f"download-{preset.name}")
        worker.start()
        while worker.is_alive() or not events.empty():
            latest = _latest(events)
            if latest is not None:
                progress((latest.done, latest.total), desc=latest.describe(), unit="bytes")
                yield f"⏳ Downloading “{preset.label}”: {latest.describe()}", gr.update()
        if "error" in outcome:
            raise gr.Error(str(outcome["error"]), print_exception=False)
        state = studio.models.weights_state(preset, online=False)
        yield f"✅ “{preset.label}”: {state.state} ({format_bytes(state.disk_bytes)} on disk).", rows(studio)

    return download


def _pull(studio, preset, control: DownloadControl, outcome: dict) -> None:
    try:
        studio.models.pull(preset.task, preset.name, control)
    except StudioError as e:  # cancelled, gated, missing, disk full: messages written for people
        outcome["error"] = e
    except Exception as e:  # noqa: BLE001 - the hub unreachable and the like
        outcome["error"] = StudioError(f"The download stopped: {type(e).__name__}. What was fetched is kept; "
                                       "download again to continue.")


def _latest(events: queue.Queue):
    """The newest progress event within half a second (older ones are skipped: the page needs the last)."""
    try:
        latest = events.get(timeout=0.5)
    except queue.Empty:
        return None
    while not events.empty():
        latest = events.get_nowait()
    return latest


def cancel_download(studio, key: str | None) -> str:
    if not allowed(studio.settings):
        raise gr.Error(DISABLED, print_exception=False)
    preset = preset_of(studio, key)
    if studio.models.cancel_download(preset.task, preset.name):
        return f"Stopping the download of “{preset.label}”; what was fetched is kept for the next try."
    return f"“{preset.label}” is not downloading."


def removal_preview(studio, key: str | None):
    """What Remove would delete and free, with the confirmation button when there is anything."""
    if not allowed(studio.settings):
        raise gr.Error(DISABLED, print_exception=False)
    preset = preset_of(studio, key)
    files, freed = studio.models.removal(preset.task, preset.name)
    if not files:
        return (f"“{preset.label}” has no files of its own on this machine to remove (not downloaded, tiny, "
                "a local folder, or only files other ready presets read)."), gr.update(visible=False)
    return (f"Removing “{preset.label}” deletes {len(files)} files and frees **{format_bytes(freed)}**; files other "
            "ready presets read are kept. Press “Confirm removal”."), gr.update(visible=True)


def remove_files(studio, key: str | None):
    if not allowed(studio.settings):
        raise gr.Error(DISABLED, print_exception=False)
    preset = preset_of(studio, key)
    freed = studio.models.remove(preset.task, preset.name)
    return f"Removed “{preset.label}”: {format_bytes(freed)} freed.", gr.update(visible=False), rows(studio)
