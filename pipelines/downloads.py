"""Fetching a preset's weights from the hub: exactly the files its loader reads, resumable, with
progress in bytes and a cancel.

Selection follows `from_pretrained`: a diffusers repository (model_index.json) gives the folders of
the components its pipeline names (weights, configs, tokenizer and scheduler files), the preset's
variant where it asks (`*.fp16.safetensors`, else the plain files), safetensors when a folder has
them (never the .bin/.ckpt/.msgpack/.onnx copies beside them) and never the single-file checkpoints
at the top. A transformers repository gives its top-level configs, tokenizer files and weights.
LoRA and IP-Adapter weights are named by file (pipelines/lora.py, pipelines/ip_adapter.py).

Files land in the HF cache in its own layout (blobs by etag, snapshot links, refs), so every loader
finds them with `local_files_only`. huggingface_hub's `hf_hub_download` resumes a dropped connection
within one call but deletes its partial file when the call fails (2.x), so a download stopped by a
cancel, a full disk or a restart would start again from zero; here each file is fetched with
huggingface_hub's `http_get` into `blobs/<etag>.part`, which the next try continues.
"""
from __future__ import annotations

import errno
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator
from urllib.parse import quote

from pipelines.errors import Cancelled, ModelMissingError

# weight files a loader reads by name: <stem>[.<variant>][-0000k-of-0000n].<format>
_WEIGHT = re.compile(r"^(?P<stem>diffusion_pytorch_model|model|pytorch_model)(?:\.(?P<variant>fp16|bf16|fp32|non_ema|ema))?"
                     r"(?:-\d{5}-of-\d{5})?\.(?P<format>safetensors|bin)$")
# their shard indexes: <stem>.<format>.index[.<variant>].json (diffusers) or <stem>[.<variant>].<format>.index.json
_INDEX = re.compile(r"^(?P<stem>diffusion_pytorch_model|model|pytorch_model)(?:\.(?P<v1>fp16|bf16|fp32|non_ema|ema))?"
                    r"\.(?P<format>safetensors|bin)\.index(?:\.(?P<v2>fp16|bf16|fp32|non_ema|ema))?\.json$")
# configs, tokenizer vocabularies and sentencepiece models: what loaders read beside the weights
_CONFIG_SUFFIXES = (".json", ".txt", ".model", ".tiktoken")
_MODEL_INDEX = "model_index.json"


@dataclass(frozen=True)
class RepoFile:
    """One file of a hub repository that a preset's loader reads."""

    repo: str
    revision: str
    path: str
    size: int | None = None      # bytes on the hub (None: not known, offline without a listing)
    etag: str | None = None      # the blob's name in the cache (LFS sha256 or git blob id), when listed


@dataclass(frozen=True)
class Listing:
    """A repository's files at a revision, as the hub lists them (or as the local cache holds them)."""

    repo: str
    revision: str
    files: dict[str, RepoFile]
    gated: bool | None = None    # None: not known (offline)
    commit: str | None = None


@dataclass(frozen=True)
class DownloadProgress:
    """Where a download stands: bytes done of the total, the file being fetched, the time left."""

    done: int
    total: int
    file: str
    seconds_left: float | None

    def describe(self) -> str:
        left = "" if self.seconds_left is None else f", about {format_duration(self.seconds_left)} left"
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        return f"{format_bytes(self.done)} of {format_bytes(self.total)}{share}{left} — {self.file}"


@dataclass
class DownloadControl:
    """Cancel flag and progress hook of one download (per call, never shared between downloads)."""

    on_progress: Callable[[DownloadProgress], None] = lambda p: None
    cancel: threading.Event = field(default_factory=threading.Event)


# ---- selection ---------------------------------------------------------------------------------------------------
def select_files(names: Iterable[str], model_index: dict | None, variant: str | None) -> list[str]:
    """The files of a repository (`names`) that `from_pretrained` reads: for a diffusers repository
    (its `model_index` given) model_index.json and the folders of the components it names; otherwise
    the top-level configs and weights."""
    names = sorted(names)
    if model_index is None:
        return folder_files(names, "", variant)
    components = [name for name, value in model_index.items()
                  if isinstance(value, list) and len(value) == 2 and value[0] and value[1]]
    return [_MODEL_INDEX] + [f for c in sorted(components) for f in folder_files(names, c, variant)]


def folder_files(names: Iterable[str], folder: str, variant: str | None) -> list[str]:
    """Configs and chosen weights directly inside `folder` ("" for the top level) of a listing."""
    prefix = f"{folder}/" if folder else ""
    direct = [n[len(prefix):] for n in names if n.startswith(prefix) and "/" not in n[len(prefix):]]
    weights = choose_weights([n for n in direct if _WEIGHT.match(n)], variant)
    chosen = {(_WEIGHT.match(w)["stem"], _WEIGHT.match(w)["variant"], _WEIGHT.match(w)["format"]) for w in weights}
    indexes = [n for n in direct if (m := _INDEX.match(n)) and (m["stem"], m["v1"] or m["v2"], m["format"]) in chosen]
    configs = [n for n in direct if n.endswith(_CONFIG_SUFFIXES) and not _INDEX.match(n)]
    return [prefix + n for n in sorted({*configs, *weights, *indexes})]


def choose_weights(files: list[str], variant: str | None) -> list[str]:
    """The variant's files when the folder has them, the plain ones otherwise (as diffusers falls
    back); safetensors when that format is among them."""
    parsed = [(f, _WEIGHT.match(f)) for f in files]
    marked = [f for f, m in parsed if variant and m["variant"] == variant]
    chosen = marked or [f for f, m in parsed if not m["variant"]]
    safetensors = [f for f in chosen if f.endswith(".safetensors")]
    return safetensors or chosen


def encoder_folder(spec: dict) -> str:
    """An IP-Adapter's image encoder folder in its repository (relative to `subfolder` without a slash)."""
    encoder = spec["image_encoder"]
    return encoder if "/" in encoder else f"{spec['subfolder']}/{encoder}"


# ---- listings ----------------------------------------------------------------------------------------------------
def hub_endpoint() -> str:
    """The hub's address (HF_ENDPOINT), read at call time."""
    from huggingface_hub import constants

    return constants.ENDPOINT


def cache_root() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def repo_storage(repo: str) -> Path:
    """The repository's folder in the HF cache."""
    from huggingface_hub.file_download import repo_folder_name

    return cache_root() / repo_folder_name(repo_id=repo, repo_type="model")


def hub_listing(repo: str, revision: str, label: str = "", license: str = "") -> Listing:
    """The repository's files with sizes and blob names, from the hub. Raises `GatedModelError`
    (messages never carry the token) or `ModelMissingError` for a repository the hub does not give."""
    from huggingface_hub import HfApi

    with hub_errors(repo, label, license):
        info = HfApi(endpoint=hub_endpoint()).model_info(repo, revision=revision, files_metadata=True)
    files = {}
    for s in info.siblings or []:
        etag = s.lfs.sha256 if s.lfs else s.blob_id
        files[s.rfilename] = RepoFile(repo, revision, s.rfilename, s.size, etag)
    return Listing(repo, revision, files, gated=bool(info.gated), commit=info.sha)


def cached_listing(repo: str, revision: str) -> Listing | None:
    """The files the HF cache holds of the repository at `revision` (sizes on disk), or None."""
    storage = repo_storage(repo)
    ref = storage / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    snapshot = storage / "snapshots" / commit
    if not snapshot.is_dir():
        return None
    files = {}
    for path in snapshot.rglob("*"):
        if path.is_file():
            name = path.relative_to(snapshot).as_posix()
            files[name] = RepoFile(repo, revision, name, path.stat().st_size)
    return Listing(repo, revision, files, None, commit)


@contextmanager
def hub_errors(repo: str, label: str = "", license: str = "") -> Iterator[None]:
    """Turn huggingface_hub's errors for `repo` into messages for a person; none carries a token
    (huggingface_hub's own messages are not repeated: they name request details)."""
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    try:
        yield
    except GatedRepoError:
        raise GatedModelError(gated_message(repo, label, license)) from None
    except RevisionNotFoundError:
        raise ModelMissingError(f"The hub has no such revision of {repo}: check the preset's revision.") from None
    except EntryNotFoundError as e:
        raise ModelMissingError(f"{repo} on the hub lacks a file the preset needs ({_entry(e)}).") from None
    except RepositoryNotFoundError:
        raise GatedModelError(f"The hub did not give {repo}: it does not exist, or it is private or gated and "
                              f"needs a token. {token_hint()}") from None
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        raise ModelMissingError("The disk filled up during the download. The part already fetched is kept: free "
                                "some space and download again to continue where it stopped.") from None


class GatedModelError(ModelMissingError):
    """The hub asks for a licence to be accepted (and a token) before it gives these weights."""


def _entry(exc: Exception) -> str:
    url = str(getattr(getattr(exc, "response", None), "url", "") or "")
    return url.split("/resolve/", 1)[-1].split("/", 1)[-1] if "/resolve/" in url else "a listed file"


def token_hint() -> str:
    return ("Give the studio a token of that account: set the HF_TOKEN environment variable, or run "
            "`hf auth login` once on this machine.")


def gated_message(repo: str, label: str = "", license: str = "") -> str:
    """What a person does to get a gated model: accept its licence on the hub, then give a token."""
    name = f"“{label}” ({repo})" if label else repo
    terms = f"its licence ({license})" if license else "its licence"
    return (f"{name} is a gated model: sign in at {hub_endpoint()}/{repo} and accept {terms} there. "
            f"{token_hint()}")


# ---- downloading -------------------------------------------------------------------------------------------------
def cached_path(file: RepoFile) -> Path | None:
    """The file in the HF cache when it is complete (its size matches the listing's, where known)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(file.repo, file.path, revision=file.revision)
    if not isinstance(found, str) or not os.path.isfile(found):
        return None
    if file.size is not None and os.path.getsize(found) != file.size:
        return None
    return Path(found)


def partial_bytes(file: RepoFile) -> int:
    """Bytes of a download of `file` stopped part-way (kept for resume)."""
    if not file.etag:
        return 0
    part = repo_storage(file.repo) / "blobs" / f"{file.etag}.part"
    return part.stat().st_size if part.is_file() else 0


def download_files(files: list[RepoFile], control: DownloadControl, label: str = "", license: str = "") -> None:
    """Fetch every file not yet complete in the cache, reporting bytes across all of them; raises
    `Cancelled` when `control.cancel` is set (the part fetched so far is kept for the next try)."""
    todo = [f for f in files if cached_path(f) is None]
    total = sum(f.size or 0 for f in files)
    meter = _Meter(total, sum(f.size or 0 for f in files if f not in todo), control)
    for file in todo:
        if control.cancel.is_set():
            raise Cancelled("Download cancelled; what was fetched is kept and the next download continues from there.")
        with hub_errors(file.repo, label, license):
            fetch(file, meter)


def fetch(file: RepoFile, meter: "_Meter") -> Path:
    """Fetch one file into the HF cache layout, continuing a `.part` left by an earlier try."""
    from huggingface_hub.file_download import get_hf_file_metadata, http_get
    from huggingface_hub.utils import build_hf_headers

    endpoint = hub_endpoint()
    url = f"{endpoint}/{file.repo}/resolve/{quote(file.revision, safe='')}/{quote(file.path)}"
    meta = get_hf_file_metadata(url, retry_on_errors=True)
    storage = repo_storage(file.repo)
    blob = storage / "blobs" / meta.etag
    blob.parent.mkdir(parents=True, exist_ok=True)
    if not (blob.is_file() and blob.stat().st_size == meta.size):
        part = blob.with_name(f"{meta.etag}.part")
        resume = part.stat().st_size if part.is_file() else 0
        if meta.size is not None and resume > meta.size:  # not this blob's bytes: start again
            part.unlink()
            resume = 0
        meter.start_file(file.path, resume)
        same_host = meta.location.startswith(endpoint)  # a CDN's signed address must not get the token
        with open(part, "ab") as out:
            http_get(meta.location, out, resume_size=resume, headers=build_hf_headers() if same_host else {},
                     expected_size=meta.size, tqdm_class=meter.bar_class(file.path))
        os.replace(part, blob)
    return _link(storage, meta.commit_hash or file.revision, file, blob)


def _link(storage: Path, commit: str, file: RepoFile, blob: Path) -> Path:
    """The snapshot's pointer to the blob, and the revision's ref, as huggingface_hub lays them out."""
    pointer = storage / "snapshots" / commit / file.path
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    try:
        os.symlink(os.path.relpath(blob, pointer.parent), pointer)
    except OSError:  # no symlinks (Windows without developer mode): huggingface_hub copies too
        import shutil

        shutil.copyfile(blob, pointer)
    if commit != file.revision:
        (storage / "refs").mkdir(exist_ok=True)
        (storage / "refs" / file.revision).write_text(commit)
    return pointer


class _Meter:
    """Bytes done across a whole download, reported through the control's hook with a time left."""

    def __init__(self, total: int, done: int, control: DownloadControl):
        self.total, self.done, self.control = total, done, control
        self.started, self.fetched, self.file = time.monotonic(), 0, ""

    def start_file(self, name: str, resumed: int) -> None:
        self.file = name
        self.add(resumed, fetched=False)

    def add(self, n: int, fetched: bool = True) -> None:
        self.done += n
        self.fetched += n if fetched else 0
        # one event per chunk huggingface_hub reads (10 MB on the hub): few enough to report each
        rate = self.fetched / max(time.monotonic() - self.started, 1e-6)
        left = (self.total - self.done) / rate if rate > 0 and self.fetched else None
        self.control.on_progress(DownloadProgress(self.done, self.total, self.file, left))

    def bar_class(self, name: str):
        """A tqdm class for huggingface_hub's `http_get`: counts bytes, stops on cancel, draws nothing."""
        from huggingface_hub.utils import tqdm as hf_tqdm

        meter = self

        class Bar(hf_tqdm):
            def __init__(self, *args, **kwargs):
                kwargs["disable"] = True
                super().__init__(*args, **kwargs)

            def update(self, n=1):
                if meter.control.cancel.is_set():
                    raise Cancelled("Download cancelled; what was fetched is kept and the next download "
                                    "continues from there.")
                meter.add(n)

        return Bar


# ---- sizes -------------------------------------------------------------------------------------------------------
def format_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def format_duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"

