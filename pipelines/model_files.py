"""A preset's weight files on this machine: which files its loader reads, their state, their removal.

The files come from `pipelines.downloads`' selection over the repository's listing: the hub's when
online (recorded under the data folder, so that an offline machine still compares sizes with it),
else what the HF cache holds. "Ready" means every selected file is in the cache at the listed size.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pipelines import registry
from pipelines.downloads import (Listing, RepoFile, cached_listing, cached_path, encoder_folder, folder_files,
                                 hub_listing, partial_bytes, repo_storage, select_files)
from pipelines.errors import ModelMissingError
from pipelines.presets import ModelPreset

READY, PARTIAL, ABSENT, LOCAL, TINY = "ready", "partly downloaded", "not downloaded", "local folder", "tiny (ready, built here)"


@dataclass(frozen=True)
class PresetFiles:
    """The hub files one preset's loader reads (model, LoRA, IP-Adapter)."""

    files: tuple[RepoFile, ...]
    gated: bool | None          # None: not known (offline)
    complete_listing: bool      # every repository listed (hub or recorded); else only the cache was seen


@dataclass(frozen=True)
class PresetState:
    """One row of the Models tab and `studio models list`."""

    task: str
    name: str
    label: str
    tier: str
    license: str
    commercial_use: bool
    gated: bool | None
    download_bytes: int | None   # what the selection fetches (None: not known offline)
    disk_bytes: int              # of those files, what is on this machine (parts included)
    state: str
    missing: tuple[str, ...] = ()
    reference: str = ""

    def row(self) -> list:
        from pipelines.downloads import format_bytes

        state = self.state + (f" (missing: {', '.join(self.missing[:4])}{' …' if len(self.missing) > 4 else ''})"
                              if self.missing else "")
        gated = {True: "gated", False: "open", None: "? (offline)"}[self.gated]
        return [self.task, self.name, self.tier, state, format_bytes(self.download_bytes),
                format_bytes(self.disk_bytes), f"{self.license} ({'commercial use ok' if self.commercial_use else 'non-commercial'})",
                gated]


ROW_HEADERS = ["task", "preset", "tier", "state", "download", "on disk", "licence", "access"]


class ModelFiles:
    """Listings, selection and state of presets' files; `data_dir` keeps the hub's recorded listings."""

    def __init__(self, data_dir: Path):
        self.listings_dir = Path(data_dir) / "models" / "listings"

    # ---- listings
    def listing(self, repo: str, revision: str, online: bool, preset: ModelPreset | None = None) -> tuple[Listing | None, bool]:
        """(listing, complete): the hub's (recorded for offline use) when online; the recorded one or
        the cache's offline."""
        record = self.listings_dir / f"{repo.replace('/', '--')}@{revision.replace('/', '--')}.json"
        if online:
            listing = hub_listing(repo, revision, *((preset.label, preset.license) if preset else ()))
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"gated": listing.gated, "commit": listing.commit, "files": {
                f.path: [f.size, f.etag] for f in listing.files.values()}}))
            return listing, True
        if record.is_file():
            data = json.loads(record.read_text())
            files = {p: RepoFile(repo, revision, p, size, etag) for p, (size, etag) in data["files"].items()}
            return Listing(repo, revision, files, data["gated"], data["commit"]), True
        return cached_listing(repo, revision), False

    def preset_files(self, preset: ModelPreset, online: bool) -> PresetFiles:
        """The files the preset's loader reads, from the hub's listing (online) or what is known here."""
        listing, complete = self.listing(preset.repo, preset.revision, online, preset)
        if listing is None:
            return PresetFiles((), preset_gated(preset), False)
        files = list(self._model_files(listing, preset.variant, online))
        gated = listing.gated if listing.gated is not None else preset_gated(preset)
        for spec, pick in ((preset.lora, lambda s: [s["weight_name"]]),
                           (preset.ip_adapter, lambda s: [f"{s['subfolder']}/{s['weight_name']}"])):
            if spec.get("repo"):
                extra, extra_complete = self.listing(spec["repo"], spec.get("revision", "main"), online)
                complete &= extra_complete
                names = pick(spec) + (folder_files(extra.files, encoder_folder(spec), None)
                                      if spec is preset.ip_adapter and extra else [])
                files += [_file(extra, spec["repo"], spec.get("revision", "main"), n) for n in names]
        return PresetFiles(tuple(files), gated, complete)

    def _model_files(self, listing: Listing, variant: str | None, online: bool) -> list[RepoFile]:
        index = None
        if "model_index.json" in listing.files:
            entry = listing.files["model_index.json"]
            if online and cached_path(entry) is None:
                from pipelines.downloads import DownloadControl, download_files

                download_files([entry], DownloadControl())
            found = cached_path(entry)
            if found is None:  # offline and never fetched: only the index itself is known
                return [entry]
            index = json.loads(found.read_text())
        return [_file(listing, listing.repo, listing.revision, n) for n in select_files(listing.files, index, variant)]

    # ---- state
    def state(self, preset: ModelPreset, local_folder: Path | None, online: bool) -> PresetState:
        """Where the preset's weights stand on this machine."""
        row = dict(task=preset.task, name=preset.name, label=preset.label, tier=preset.tier, license=preset.license,
                   commercial_use=preset.commercial_use, reference=preset.reference)
        if preset.tiny:
            return PresetState(**row, gated=False, download_bytes=0, disk_bytes=0, state=TINY)
        if local_folder or preset.local_dir:
            size = sum(f.stat().st_size for f in local_folder.rglob("*") if f.is_file()) if local_folder else 0
            return PresetState(**row, gated=False, download_bytes=None, disk_bytes=size,
                               state=LOCAL if local_folder else ABSENT,
                               missing=() if local_folder else (str(preset.local_dir),))
        downloaded = registry.contract(preset.task).is_downloaded
        if downloaded is not None:  # the task's library keeps its own cache (Coqui TTS model names)
            return PresetState(**row, gated=False, download_bytes=None, disk_bytes=0,
                               state=READY if downloaded(preset) else ABSENT)
        return self._hub_state(preset, row, online)

    def _hub_state(self, preset: ModelPreset, row: dict, online: bool) -> PresetState:
        found = self.preset_files(preset, online)
        present = {f: cached_path(f) for f in found.files}
        missing = tuple(f.path for f, p in present.items() if p is None)
        parts = sum(partial_bytes(f) for f in found.files)
        disk = sum(p.stat().st_size for p in present.values() if p) + parts
        total = sum(f.size or 0 for f in found.files) if found.complete_listing and found.files else None
        if not found.files or (not any(present.values()) and not parts):
            return PresetState(**row, gated=found.gated, download_bytes=total, disk_bytes=disk, state=ABSENT)
        if not missing and not found.complete_listing:
            missing = self._unlisted_missing(preset)
        return PresetState(**row, gated=found.gated, download_bytes=total, disk_bytes=disk,
                           state=PARTIAL if missing else READY, missing=missing)

    @staticmethod
    def _unlisted_missing(preset: ModelPreset) -> tuple[str, ...]:
        """Without a listing, what the cached snapshot plainly lacks (components without weights, shards)."""
        from pipelines.models import weight_bytes

        snapshot = cached_listing(preset.repo, preset.revision)
        folder = repo_storage(preset.repo) / "snapshots" / (snapshot.commit if snapshot else "")
        try:
            weight_bytes(folder, "fp32", preset.variant) if (folder / "model_index.json").is_file() else None
        except ModelMissingError as e:
            return (str(e).split("missing ", 1)[-1].split(". ", 1)[0],)
        return ()

    # ---- removal
    def removal(self, preset: ModelPreset, others: list[ModelPreset]) -> tuple[list[Path], int]:
        """(blobs to delete, bytes freed): the preset's files in the cache that no other ready preset
        reads, with the parts of its stopped downloads."""
        mine = self._blobs(preset)
        keep = {b for other in others if other is not preset and other.repo and not other.tiny
                for b in self._blobs(other, ready_only=True)}
        doomed = sorted(set(mine) - keep)
        return doomed, sum(b.stat().st_size for b in doomed if b.exists())

    def _blobs(self, preset: ModelPreset, ready_only: bool = False) -> list[Path]:
        """The cache blobs of the preset's files (none when `ready_only` and one is missing)."""
        if not preset.repo or preset.local_dir or registry_has_own_cache(preset):
            return []
        found = self.preset_files(preset, online=False)
        paths = [cached_path(f) for f in found.files]
        if ready_only and (not paths or None in paths):
            return []
        blobs = [Path(os.path.realpath(p)) for p in paths if p]
        parts = [repo_storage(f.repo) / "blobs" / f"{f.etag}.part" for f in found.files if partial_bytes(f)]
        return blobs + parts

    @staticmethod
    def remove(preset: ModelPreset, blobs: list[Path]) -> None:
        """Delete the blobs and every snapshot link to them in the preset's repositories."""
        doomed = {Path(os.path.realpath(b)) for b in blobs}
        repos = {preset.repo, preset.lora.get("repo"), preset.ip_adapter.get("repo")} - {None}
        for repo in repos:
            for link in (repo_storage(repo) / "snapshots").rglob("*"):
                if link.is_symlink() and Path(os.path.realpath(link)) in doomed:
                    link.unlink()
        for blob in doomed:
            blob.unlink(missing_ok=True)


def _file(listing: Listing | None, repo: str, revision: str, name: str) -> RepoFile:
    return (listing.files.get(name) if listing else None) or RepoFile(repo, revision, name)


def preset_gated(preset: ModelPreset) -> bool | None:
    """What the preset file says about access (the hub's listing says it online)."""
    return True if preset.gated else None


def registry_has_own_cache(preset: ModelPreset) -> bool:
    """Whether the task's library keeps the weights in its own cache (Coqui TTS model names)."""
    return registry.contract(preset.task).is_downloaded is not None
