"""Downloading a preset's weights, against a hub served from a loopback port (HF_ENDPOINT's layout:
`/api/models/{repo}/revision/{rev}` and `/{repo}/resolve/{rev}/{file}`) holding the tiny SD 1.5
twin plus the decoys real repositories carry: a .bin duplicate, an fp16 variant, a component folder
model_index.json does not name, Flax weights and a single-file checkpoint at the top."""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines import registry
from pipelines.downloads import DownloadControl, GatedModelError, select_files
from pipelines.errors import Cancelled, ModelMissingError
from pipelines.model_files import ABSENT, PARTIAL, READY
from pipelines.models import ModelManager

COMMIT = "c0ffee" * 6 + "c0ff"
TOKEN = "hf_right_token_for_the_test_hub"
PRESETS = """
[hub-sd15]
label = "Hub SD 1.5 (fp16)"
tier = "standard"
family = "sd15"
repo = "test-org/tiny-sd15"
variant = "fp16"
license = "CreativeML OpenRAIL-M"
commercial_use = true

[hub-sd15-plain]
label = "Hub SD 1.5"
tier = "standard"
family = "sd15"
repo = "test-org/tiny-sd15"
license = "CreativeML OpenRAIL-M"
commercial_use = true

[hub-sd15-fast]
label = "Hub SD 1.5 + LoRA"
tier = "standard"
family = "sd15"
repo = "test-org/tiny-sd15"
lora = { repo = "test-org/tiny-lora", weight_name = "pytorch_lora_weights.safetensors", scale = 1.0 }
license = "CreativeML OpenRAIL-M"
commercial_use = true

[hub-missing-lora]
label = "Hub SD 1.5 + a LoRA the hub lacks"
tier = "standard"
family = "sd15"
repo = "test-org/tiny-sd15"
lora = { repo = "test-org/tiny-lora", weight_name = "renamed_lora.safetensors" }
license = "CreativeML OpenRAIL-M"
commercial_use = true

[hub-gated]
label = "Gated twin"
tier = "quality"
family = "sd15"
repo = "test-org/gated"
gated = true
license = "FLUX.1 [dev] Non-Commercial License"
commercial_use = false
"""
# what the loader of each preset reads (the decoys never)
SHARED = ["feature_extractor/preprocessor_config.json", "model_index.json", "safety_checker/config.json",
          "safety_checker/model.safetensors", "scheduler/scheduler_config.json", "text_encoder/config.json",
          "text_encoder/model.safetensors", "tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json",
          "unet/config.json", "vae/config.json", "vae/diffusion_pytorch_model.safetensors"]
FP16_UNET, PLAIN_UNET = "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.safetensors"


class Hub:
    """A hub of in-memory repositories; records requests; can drop one file's body half-way once,
    and asks a token for gated repositories."""

    def __init__(self, repos: dict[str, dict[str, bytes]], gated: set[str]):
        self.repos, self.gated, self.drop_once, self.requests = repos, gated, set(), []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub.serve(self, body=False)

            def do_GET(self):
                hub.serve(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        path = h.path.split("?", 1)[0]
        self.requests.append((h.command, path, h.headers.get("Range"), h.headers.get("Authorization")))
        api = path.startswith("/api/models/")
        parts = path.removeprefix("/api/models/").split("/") if api else path.lstrip("/").split("/")
        repo = "/".join(parts[:2])
        if repo not in self.repos:
            return self.reply(h, 404, b"{}", {"X-Error-Code": "RepoNotFound"})
        if repo in self.gated and h.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.reply(h, 401, b'{"error": "gated"}', {"X-Error-Code": "GatedRepo"})
        files = self.repos[repo]
        if api:
            siblings = [{"rfilename": n, "size": len(b), "blobId": hashlib.sha1(b).hexdigest(),
                         "lfs": {"size": len(b), "sha256": hashlib.sha256(b).hexdigest(), "pointerSize": 130}}
                        for n, b in files.items()]
            data = {"id": repo, "sha": COMMIT, "siblings": siblings, "gated": "manual" if repo in self.gated else False}
            return self.reply(h, 200, json.dumps(data).encode(), {"Content-Type": "application/json"})
        name = "/".join(parts[4:])
        if name not in files:
            return self.reply(h, 404, b"", {"X-Error-Code": "EntryNotFound"})
        data = files[name]
        start = int(h.headers["Range"].split("=")[1].split("-")[0]) if h.headers.get("Range") else 0
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                   "Accept-Ranges": "bytes"}
        if not body:
            return self.reply(h, 200, data, headers, send=False)
        if name in self.drop_once:  # promise the whole file, send half, hang up
            self.drop_once.discard(name)
            h.send_response(200)
            for k, v in {**headers, "Content-Length": str(len(data))}.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        self.reply(h, 206 if start else 200, data[start:], headers)

    @staticmethod
    def reply(h, status: int, data: bytes, headers: dict, send: bool = True) -> None:
        h.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(data))}.items():
            h.send_header(k, v)
        h.end_headers()
        if send:
            h.wfile.write(data)

    def gets(self, name: str) -> list:
        return [r for r in self.requests if r[0] == "GET" and r[1].endswith("/" + name)]


def twin_repo(folder: Path) -> dict[str, bytes]:
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
             if p.is_file() and not p.name.startswith(".")}
    unet = files[PLAIN_UNET]
    files.update({
        "unet/diffusion_pytorch_model.bin": unet + b"bin",          # the same weights as .bin
        FP16_UNET: unet[:-8] + b"fp16fp16",                         # the variant
        "text_encoder/flax_model.msgpack": b"flax" * 100,
        "image_encoder/config.json": b"{}",                         # a folder model_index.json does not name
        "image_encoder/model.safetensors": b"x" * 5000,
        "v1-5-pruned-emaonly.safetensors": b"c" * 300_000,          # a single-file checkpoint
        "README.md": b"# card",
    })
    return files


@pytest.fixture(scope="module")
def tiny_sd15(data_dir) -> Path:
    from pipelines.tiny import ensure_built

    return ensure_built("sd15", data_dir / "models" / "tiny")


@pytest.fixture
def hub(tiny_sd15, tmp_path, monkeypatch):
    """The loopback hub as HF_ENDPOINT, online for these calls only, with an empty HF cache."""
    from huggingface_hub import constants

    repo = twin_repo(tiny_sd15)
    lora = {"pytorch_lora_weights.safetensors": b"l" * 4000, "other_lora.safetensors": b"o" * 4000,
            "README.md": b"lora"}
    server = Hub({"test-org/tiny-sd15": repo, "test-org/tiny-lora": lora, "test-org/gated": dict(repo)},
                 gated={"test-org/gated"})
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)  # several progress events per file
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    yield server
    server.server.shutdown()


@pytest.fixture
def manager(tmp_path, data_dir):
    presets = tmp_path / "presets"
    (presets / "models").mkdir(parents=True)
    (presets / "models" / "text_to_image.toml").write_text(PRESETS)
    for task in registry.TASKS:  # every other task: no presets
        if task != "text_to_image":
            (presets / "models" / f"{task}.toml").write_text("")
    return ModelManager(tmp_path / "data", offline=False, presets_dir=presets)


def test_selection_keeps_what_the_loader_reads(hub, manager):
    """The variant's UNet (others fall back to plain files), safetensors only, named components only."""
    found = manager.files.preset_files(manager.preset("text_to_image", "hub-sd15"), online=True)
    assert sorted(f.path for f in found.files) == sorted([*SHARED, FP16_UNET])
    plain = manager.files.preset_files(manager.preset("text_to_image", "hub-sd15-plain"), online=True)
    assert sorted(f.path for f in plain.files) == sorted([*SHARED, PLAIN_UNET])
    fast = manager.files.preset_files(manager.preset("text_to_image", "hub-sd15-fast"), online=True)
    assert [(f.repo, f.path) for f in fast.files if f.repo == "test-org/tiny-lora"] == [
        ("test-org/tiny-lora", "pytorch_lora_weights.safetensors")]


def test_sharded_weights_and_their_index_follow_the_variant():
    names = ["model_index.json", "transformer/config.json",
             "transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
             "transformer/diffusion_pytorch_model-00002-of-00002.safetensors",
             "transformer/diffusion_pytorch_model.safetensors.index.json",
             "transformer/diffusion_pytorch_model.fp16-00001-of-00001.safetensors",
             "transformer/diffusion_pytorch_model.safetensors.index.fp16.json",
             "vae/diffusion_pytorch_model.bin", "vae/config.json", "flux1-dev.safetensors", "ae.safetensors"]
    index = {"_class_name": "FluxPipeline", "transformer": ["diffusers", "X"], "vae": ["diffusers", "Y"],
             "text_encoder": [None, None]}
    assert select_files(names, index, None) == [
        "model_index.json", "transformer/config.json",
        "transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
        "transformer/diffusion_pytorch_model-00002-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.safetensors.index.json",
        "vae/config.json", "vae/diffusion_pytorch_model.bin"]  # .bin when a folder has nothing else
    assert select_files(names, index, "fp16")[2:4] == [
        "transformer/diffusion_pytorch_model.fp16-00001-of-00001.safetensors",
        "transformer/diffusion_pytorch_model.safetensors.index.fp16.json"]


def test_download_reports_progress_fetches_only_the_selection_and_loads(hub, manager):
    events = []
    manager.pull("text_to_image", "hub-sd15-plain", DownloadControl(on_progress=events.append))
    fetched = {r[1].split("/resolve/main/", 1)[1] for r in hub.requests if r[0] == "GET" and "/resolve/" in r[1]}
    assert fetched == {*SHARED, PLAIN_UNET}
    state = manager.weights_state(manager.preset("text_to_image", "hub-sd15-plain"))
    assert state.state == READY and state.download_bytes == state.disk_bytes
    assert state.download_bytes == sum(len(hub.repos["test-org/tiny-sd15"][n]) for n in [*SHARED, PLAIN_UNET])
    assert events[-1].done == events[-1].total == state.download_bytes
    assert len(events) > 3 and all(a.done <= b.done for a, b in zip(events, events[1:]))
    manager.offline = True  # what was fetched is enough for the loader, with no hub
    assert manager.is_available(manager.preset("text_to_image", "hub-sd15-plain"))
    loaded = manager.get("text_to_image", "hub-sd15-plain")
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"


def test_a_dropped_connection_resumes_where_it_stopped(hub, manager):
    hub.drop_once.add("text_encoder/model.safetensors")
    manager.pull("text_to_image", "hub-sd15-plain")
    gets = hub.gets("text_encoder/model.safetensors")
    size = len(hub.repos["test-org/tiny-sd15"]["text_encoder/model.safetensors"])
    assert len(gets) == 2 and gets[0][2] is None
    resumed_at = int(gets[1][2].removeprefix("bytes=").rstrip("-"))  # the last whole chunk written
    assert 0 < resumed_at <= size // 2
    assert manager.weights_state(manager.preset("text_to_image", "hub-sd15-plain")).state == READY


def test_cancel_keeps_the_part_and_the_next_download_continues(hub, manager):
    control, seen = DownloadControl(), []

    def cancel_mid_file(p):  # after some of the text encoder's bytes have been written
        seen.extend([p.done] if p.file == "text_encoder/model.safetensors" else [])
        if len(seen) >= 3:
            control.cancel.set()

    control.on_progress = cancel_mid_file
    preset = manager.preset("text_to_image", "hub-sd15-plain")
    with pytest.raises(Cancelled):
        manager.pull("text_to_image", "hub-sd15-plain", control)
    state = manager.weights_state(preset, online=False)
    assert state.state == PARTIAL and "text_encoder/model.safetensors" in state.missing
    assert 0 < state.disk_bytes < state.download_bytes
    manager.pull("text_to_image", "hub-sd15-plain")
    ranges = [g[2] for g in hub.gets("text_encoder/model.safetensors")]
    assert len(ranges) == 2 and ranges[0] is None
    assert 0 < int(ranges[1].removeprefix("bytes=").rstrip("-")) < len(hub.repos["test-org/tiny-sd15"]["text_encoder/model.safetensors"])
    assert manager.weights_state(preset).state == READY


def test_a_gated_repository_names_the_licence_and_how_to_give_a_token(hub, manager, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_secret_token_123")
    with pytest.raises(GatedModelError) as err:
        manager.pull("text_to_image", "hub-gated")
    message = str(err.value)
    assert "FLUX.1 [dev] Non-Commercial License" in message and f"{hub.url}/test-org/gated" in message
    assert "HF_TOKEN" in message and "hf auth login" in message
    assert "hf_wrong_secret_token_123" not in message + caplog.text
    assert any(r[3] == "Bearer hf_wrong_secret_token_123" for r in hub.requests)  # it was sent, never shown
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    manager.pull("text_to_image", "hub-gated")
    state = manager.weights_state(manager.preset("text_to_image", "hub-gated"))
    assert state.state == READY and state.gated is True
    assert TOKEN not in caplog.text


def test_partly_downloaded_names_missing_files_and_remove_frees_only_unshared(hub, manager):
    manager.pull("text_to_image", "hub-sd15-plain")
    fp16 = manager.preset("text_to_image", "hub-sd15")
    state = manager.weights_state(fp16)  # everything shared is there; its own UNet is not
    assert state.state == PARTIAL and state.missing == (FP16_UNET,)
    manager.pull("text_to_image", "hub-sd15")
    assert manager.weights_state(fp16).state == READY
    blobs, freed = manager.removal("text_to_image", "hub-sd15")
    assert freed == len(hub.repos["test-org/tiny-sd15"][FP16_UNET]) and len(blobs) == 1
    assert manager.remove("text_to_image", "hub-sd15") == freed
    assert manager.weights_state(fp16, online=False).missing == (FP16_UNET,)
    assert manager.weights_state(manager.preset("text_to_image", "hub-sd15-plain"), online=False).state == READY
    _, freed_plain = manager.removal("text_to_image", "hub-sd15-plain")
    manager.remove("text_to_image", "hub-sd15-plain")
    assert manager.weights_state(manager.preset("text_to_image", "hub-sd15-plain"), online=False).state == ABSENT
    assert freed_plain == sum(len(hub.repos["test-org/tiny-sd15"][n]) for n in [*SHARED, PLAIN_UNET])


def test_offline_states_without_a_hub(manager):
    manager.offline = True
    state = manager.weights_state(manager.preset("text_to_image", "hub-sd15"))
    assert state.state == ABSENT and state.download_bytes is None
    assert not manager.is_available(manager.preset("text_to_image", "hub-sd15"))


def test_a_file_the_hub_lacks_is_named(hub, manager):
    with pytest.raises(ModelMissingError, match="test-org/tiny-lora on the hub lacks a file the preset needs "
                                                r"\(renamed_lora.safetensors\)"):
        manager.pull("text_to_image", "hub-missing-lora")
    state = manager.weights_state(manager.preset("text_to_image", "hub-missing-lora"))
    assert state.state == PARTIAL and state.missing == ("renamed_lora.safetensors",)


def test_a_full_disk_keeps_the_part_and_says_so(hub, manager, monkeypatch):
    import errno

    from huggingface_hub import file_download

    real_get = file_download.http_get

    class FillsUp:  # the disk fills after 1 MB of the text encoder
        def __init__(self, out):
            self.out = out

        def write(self, data):
            if self.out.tell() + len(data) > 2**20:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.out.write(data)

        def __getattr__(self, name):
            return getattr(self.out, name)

    def full_disk(url, temp_file, **kwargs):
        wrapped = FillsUp(temp_file) if url.endswith("text_encoder/model.safetensors") else temp_file
        return real_get(url, wrapped, **kwargs)

    monkeypatch.setattr(file_download, "http_get", full_disk)
    with pytest.raises(ModelMissingError, match="disk filled up.*kept"):
        manager.pull("text_to_image", "hub-sd15-plain")
    state = manager.weights_state(manager.preset("text_to_image", "hub-sd15-plain"), online=False)
    assert state.state == PARTIAL and "text_encoder/model.safetensors" in state.missing
    monkeypatch.setattr(file_download, "http_get", real_get)
    manager.pull("text_to_image", "hub-sd15-plain")
    assert hub.gets("text_encoder/model.safetensors")[-1][2] == f"bytes={2**20 - 2**20 % (64 * 1024)}-"
    assert manager.weights_state(manager.preset("text_to_image", "hub-sd15-plain")).state == READY
