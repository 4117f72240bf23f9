"""Publish: the one path by which a file leaves the studio.

For each output: 1. finish the media as handed out (loudness, encoding), 2. watermark it
(images, video frames; before encoding, since the watermark changes pixels), 3. run the
detector on the finished file, 4. build the manifest and sign it into the file (the signature
hashes the final bytes), 5. record it in the ledger. A file that cannot be signed is deleted
and ProvenanceError raised, unless the operator chose sidecar manifests. Text outputs (subtitles,
transcripts) always get a sidecar manifest, since C2PA has no way to embed into them
(provenance/text_files.py).
"""
from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import mimetypes
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from PIL import Image

from pipelines.errors import ProvenanceError
from pipelines.media import Artifact, AudioArtifact, ImageArtifact, InputFile, TextArtifact, VideoArtifact
from provenance import audio_watermark, encode, text_files, watermark
from provenance.config import PublishConfig
from provenance.identity import SigningIdentity, load_identity
from provenance.ledger import Ledger, LedgerRecord
from provenance.manifest import (WATERMARK_ALG, WATERMARK_ALG_PARAMS, IngredientInfo, SoftBindingInfo,
                                 build_manifest, json_safe, withheld)
from provenance.probe import kind_of, sniff_mime
from provenance.report import VerifyReport
from provenance.signing import IngredientFile, can_embed, read_credentials, sign
from provenance.verify import file_sha256, verify_file

__all__ = ["Publisher", "PublishConfig", "Published"]

Detector = Callable[[Path, Any], dict]
_LIBRARIES = ("torch", "diffusers", "transformers", "accelerate", "coqui-tts", "c2pa-python", "invisible-watermark")
_MIN_SIDE = "256x256 pixels"
_SAFE_SESSION = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def studio_version() -> str:
    """The installed studio's version, or 0.1.0 when it runs from a source tree."""
    try:
        return importlib.metadata.version("genmedia-studio")
    except importlib.metadata.PackageNotFoundError:
        return "0.1.0"


def library_versions(names: Iterable[str] = _LIBRARIES) -> dict[str, str]:
    """Versions of the generation libraries, from package metadata (nothing is imported)."""
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


@dataclass
class Published:
    """One signed file, ready to hand out."""

    id: str
    path: Path
    mime: str
    sha256: str
    watermark_id: str | None
    manifest: dict  # the active manifest as any C2PA reader sees it
    verdict: dict | None
    params: dict
    sidecar: Path | None = None  # the `<file>.c2pa` manifest beside a file that cannot embed one


@dataclass
class _Draft:
    """A finished, unsigned file waiting for steps 3-5."""

    staging: Path
    ext: str
    mime: str
    watermark_id: str | None
    watermark_info: dict
    media: dict
    width: int | None = None
    height: int | None = None
    # The rectangle (x, y, width, height) an edit changed: the edit action's region of interest.
    changed: tuple[int, int, int, int] | None = None
    # Marks other verifiers can look the file up by: one c2pa.soft-binding assertion each.
    soft_bindings: list[SoftBindingInfo] = field(default_factory=list)


class Publisher:
    """Finishes, watermarks, signs and records every file the studio hands out. Thread-safe."""

    def __init__(self, cfg: PublishConfig, detector: Detector | None = None):
        self.cfg = cfg
        self.detector = detector
        self.identity: SigningIdentity = load_identity(cfg)
        self.ledger = Ledger(cfg.database_path)
        self.studio_version = studio_version()
        self.library_versions = library_versions()

    def __repr__(self) -> str:
        return (f"Publisher(data_dir={str(self.cfg.data_dir)!r}, signer={self.identity.subject!r}, "
                f"development={self.identity.development})")

    # ----- public API -------------------------------------------------------------------------

    def publish(self, artifact: Artifact, *, task: str, session_id: str, inputs: Iterable[InputFile] = (),
                title: str = "") -> list[Published]:
        """Publish one artifact: an image gives one file, audio one per configured format,
        a video one MP4, a text one UTF-8 file with its sidecar manifest."""
        folder = self._session_folder(session_id)
        ingredients = self._ingredients(inputs)
        if isinstance(artifact, ImageArtifact):
            drafts = [self._draft_image(artifact, folder)]
        elif isinstance(artifact, VideoArtifact):
            drafts = [self._draft_video(artifact, folder)]
        elif isinstance(artifact, AudioArtifact):
            drafts = self._draft_audio(artifact, folder)
        elif isinstance(artifact, TextArtifact):
            drafts = [self._draft_text(artifact, folder)]
        else:
            raise ProvenanceError(f"Cannot publish a {type(artifact).__name__}.")
        try:
            return [self._finish(draft, folder, artifact=artifact, task=task, session_id=session_id,
                                 ingredients=ingredients, title=title, params=artifact.params) for draft in drafts]
        finally:
            for draft in drafts:  # each is removed once signed; this catches the rest on failure
                draft.staging.unlink(missing_ok=True)

    def publish_file(self, path: Path, mime: str, *, task: str, session_id: str,
                     inputs: Iterable[InputFile] = (), title: str = "", params: dict | None = None) -> Published:
        """Sign an already-encoded file (an export made elsewhere); the source is left as it is.

        No watermark is added. Formats c2pa cannot embed into get a sidecar manifest when the
        configuration allows it, otherwise ProvenanceError.
        """
        path = Path(path)
        if not path.is_file():
            raise ProvenanceError(f"There is no file to publish at {path.name}.")
        folder = self._session_folder(session_id)
        ext = path.suffix.lstrip(".").lower() or (mimetypes.guess_extension(mime) or ".bin").lstrip(".")
        draft = _Draft(staging=path, ext=ext, mime=mime, watermark_id=None,
                       watermark_info={"applied": False, "reason": "file published as encoded elsewhere"},
                       media={"bytes": path.stat().st_size})
        return self._finish(draft, folder, artifact=None, task=task, session_id=session_id,
                            ingredients=self._ingredients(inputs), title=title or path.name,
                            params=params or {}, keep_source=True)

    def verify(self, path: Path) -> VerifyReport:
        """Examine a file with this studio's ledger and its own CA as a trust anchor."""
        detector = None
        if self.detector is not None:
            detector = lambda p: self.detector(p, None)  # noqa: E731 - an upload has no artifact
        return verify_file(Path(path), self.ledger, self._anchors(), detector=detector, remote=self.cfg.remote)

    def identity_summary(self) -> dict:
        """Issuer, subject, development flag and expiry of the signing identity (never the key)."""
        return self.identity.summary()

    # ----- steps ------------------------------------------------------------------------------

    def _session_folder(self, session_id: str) -> Path:
        if not isinstance(session_id, str) or not _SAFE_SESSION.match(session_id):
            raise ProvenanceError("The session id must be 1-128 letters, digits, '-' or '_'.")
        folder = self.cfg.outputs_dir / session_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _ingredients(self, inputs: Iterable[InputFile]) -> list[IngredientFile]:
        files = []
        for i, item in enumerate(inputs):
            if item.relationship not in ("parentOf", "componentOf", "inputTo"):
                raise ProvenanceError(f"Unknown input relationship {item.relationship!r}.")
            path = Path(item.path)
            try:
                with open(path, "rb") as f:
                    head = f.read(64)
                sha = file_sha256(path)
            except OSError:
                raise ProvenanceError(f"The input file {path.name} is missing or unreadable.") from None
            # An upload's file name and a title made from a prompt are the visitor's words.
            title = withheld(item.title or path.name, self.cfg.disclose_prompt)
            info = IngredientInfo(label=f"input-{i}", title=title, relationship=item.relationship,
                                  mime=sniff_mime(head), sha256=sha, verdict=item.verdict)
            files.append(IngredientFile(info, path))
        if sum(f.info.relationship == "parentOf" for f in files) > 1:
            raise ProvenanceError("An output can be an edit of only one parent file (one parentOf input).")
        return files

    def _staging(self, folder: Path, ext: str) -> Path:
        return folder / f".{secrets.token_hex(8)}.partial.{ext}"

    def _draft_image(self, artifact: ImageArtifact, folder: Path) -> _Draft:
        image = artifact.image
        alpha = image.getchannel("A") if "A" in image.getbands() else None
        rgb = np.asarray(image.convert("RGB"))
        width, height = image.size
        region = None
        if artifact.changed_mask is not None:
            if artifact.changed_mask.size != image.size:
                raise ProvenanceError(f"The changed-area mask is {artifact.changed_mask.size}, the image {image.size}.")
            region = np.asarray(artifact.changed_mask.convert("L")) > 0
        changed = None if region is None else watermark.region_box(region)
        rgb, wm_id, wm_info = self._watermark_image(rgb, region)
        finished = Image.fromarray(rgb)
        if alpha is not None:
            finished.putalpha(alpha)
        fmt = self.cfg.image_format
        staging = self._staging(folder, encode.EXTENSION[fmt])
        encode.write_image(finished, fmt, staging, jpeg_quality=self.cfg.jpeg_quality,
                           webp_quality=self.cfg.webp_quality)
        bindings = [SoftBindingInfo(WATERMARK_ALG, wm_id, WATERMARK_ALG_PARAMS,
                                    region=changed if wm_info.get("region") else None)] if wm_id else []
        return _Draft(staging, encode.EXTENSION[fmt], encode.IMAGE_MIME[fmt], wm_id, wm_info,
                      {"width": width, "height": height}, width, height, changed, bindings)

    @staticmethod
    def _watermark_image(rgb: np.ndarray, region: np.ndarray | None) -> tuple[np.ndarray, str | None, dict]:
        """Mark the picture; an edit only inside its changed `region`, the rest kept byte for byte.

        A mark confined to a region is read back before it is claimed: a small region has too few
        blocks to carry 48 bits, and then the manifest says so instead of naming an id.
        """
        height, width = rgb.shape[:2]
        info: dict = {"scheme": watermark.SCHEME, "applied": False, "original_size": {"width": width, "height": height}}
        if not watermark.can_carry(width, height):
            info["reason"] = f"the image ({width}x{height}) is smaller than the watermark's minimum of {_MIN_SIDE}"
            return rgb, None, info
        wm_id = watermark.new_watermark_id()
        if region is None:
            info.update(applied=True, id=wm_id, bits=watermark.PAYLOAD_BITS)
            return watermark.embed(rgb, wm_id), wm_id, info
        box = watermark.region_box(region)
        marked = watermark.embed_within(rgb, wm_id, region) if box else rgb
        # Read within the mask's bounding box, the region the soft binding names: what a verifier can know.
        whole = watermark.read(marked)
        within = watermark.read_in_boxes(marked, [box]) if box else None
        within = within or watermark.WatermarkReading(None, 0.0)
        if whole.watermark_id == wm_id or within.watermark_id == wm_id:
            info.update(applied=True, id=wm_id, bits=watermark.PAYLOAD_BITS, region=list(box),
                        readable_in_whole_image=whole.watermark_id == wm_id)
            return marked, wm_id, info
        info["reason"] = (f"the changed area ({box[2]}x{box[3]} px box) is too small to carry the watermark; "
                          "it was left unmarked so that every pixel outside it stays the source's"
                          if box else "nothing was changed")
        return rgb, None, info

    def _draft_video(self, artifact: VideoArtifact, folder: Path) -> _Draft:
        encode.check_frames(artifact.frames)
        width, height = artifact.size
        wm_id = watermark.new_watermark_id() if watermark.can_carry(width, height) else None
        wm_info = {"scheme": watermark.SCHEME, "applied": wm_id is not None,
                   "original_size": {"width": width, "height": height}}
        if wm_id:
            wm_info.update(id=wm_id, bits=watermark.PAYLOAD_BITS, frames="all")
        else:
            wm_info["reason"] = f"the frames ({width}x{height}) are smaller than the watermark's minimum of {_MIN_SIDE}"
        frames = (encode.even_frame(watermark.embed(f, wm_id) if wm_id else f) for f in artifact.frames)
        media: dict = {"width": width, "height": height, "fps": artifact.fps, "frames": len(artifact.frames),
                       "duration_s": round(len(artifact.frames) / artifact.fps, 3), "audio": None}
        sound, rate = None, 0
        if artifact.audio is not None:
            rate = artifact.audio.sample_rate
            sound, loudness = encode.normalise_loudness(
                encode.check_audio(artifact.audio.samples, rate), rate, artifact.audio.target_lufs)
            media["audio"] = {"codec": "aac", "sample_rate": rate, "channels": sound.shape[0],
                              "duration_s": round(sound.shape[1] / rate, 3), "loudness": loudness or None}
        staging = self._staging(folder, "mp4")
        try:
            encode.write_video(frames, artifact.fps, staging, size=(width + width % 2, height + height % 2),
                               audio=sound, audio_rate=rate, crf=self.cfg.video_crf)
            if artifact.subtitles:  # before signing: the track is part of what the signature covers
                text_files.add_subtitle_track(staging, artifact.subtitles, artifact.subtitle_language)
                media["subtitles"] = {"codec": "mov_text", "language": artifact.subtitle_language,
                                      "cues": artifact.subtitles.count("-->")}
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        bindings = [SoftBindingInfo(WATERMARK_ALG, wm_id, WATERMARK_ALG_PARAMS)] if wm_id else []
        return _Draft(staging, "mp4", "video/mp4", wm_id, wm_info, media, width, height, soft_bindings=bindings)

    def _draft_audio(self, artifact: AudioArtifact, folder: Path) -> list[_Draft]:
        rate = artifact.sample_rate
        samples, loudness = encode.normalise_loudness(encode.check_audio(artifact.samples, rate), rate,
                                                      artifact.target_lufs)
        media = {"sample_rate": rate, "channels": samples.shape[0], "duration_s": round(samples.shape[1] / rate, 3),
                 "loudness": loudness or None}
        drafts: list[_Draft] = []
        try:
            for fmt in self.cfg.audio_formats:
                # Each file its own id (marked after loudness, before encoding), so a copy found
                # later points at the very file it came from.
                marked, wm_id, info = audio_watermark.mark(samples, rate)
                staging = self._staging(folder, encode.EXTENSION[fmt])
                draft = _Draft(staging, encode.EXTENSION[fmt], encode.AUDIO_MIME[fmt], wm_id, info, media)
                drafts.append(draft)
                encode.write_audio(marked, rate, fmt, staging)
                lost = audio_watermark.confirm(staging, info, fmt) if wm_id else None
                if lost is not None:  # claimed only when the file carries it; else handed out unmarked
                    draft.watermark_id, draft.watermark_info = None, lost
                    encode.write_audio(samples, rate, fmt, staging)
                if draft.watermark_id:
                    draft.soft_bindings = [SoftBindingInfo(audio_watermark.SOFT_BINDING_ALG, draft.watermark_id,
                                                           audio_watermark.SOFT_BINDING_PARAMS)]
        except BaseException:
            for draft in drafts:
                draft.staging.unlink(missing_ok=True)
            raise
        return drafts

    def _draft_text(self, artifact: TextArtifact, folder: Path) -> _Draft:
        mime = text_files.mime_for_suffix(artifact.suffix)
        staging = self._staging(folder, text_files.EXTENSION[mime])
        staging.write_bytes(artifact.text.encode("utf-8"))
        return _Draft(staging, text_files.EXTENSION[mime], mime, None, dict(text_files.WATERMARK_INFO),
                      text_files.text_media(artifact.text, mime))

    def _finish(self, draft: _Draft, folder: Path, *, artifact, task: str, session_id: str,
                ingredients: list[IngredientFile], title: str, params: dict, keep_source: bool = False) -> Published:
        """Steps 3-5 for one finished file: detect, sign, record."""
        output_id = secrets.token_urlsafe(12)
        final = folder / f"{secrets.token_urlsafe(16)}.{draft.ext}"
        sidecar = final.with_name(final.name + ".c2pa")
        try:
            verdict = None
            if self.detector is not None and kind_of(draft.mime):
                verdict = json_safe(self.detector(draft.staging, artifact))
            default_title = f"{task.replace('_', ' ')}.{draft.ext}"
            manifest = build_manifest(
                title=title or default_title, default_title=default_title, mime=draft.mime, task=task, params=params,
                disclose_prompt=self.cfg.disclose_prompt, studio_version=self.studio_version,
                library_versions=self.library_versions, verdict=verdict, watermark=draft.watermark_info,
                media=draft.media, ingredients=[i.info for i in ingredients], changed=draft.changed,
                soft_bindings=draft.soft_bindings, edit_actions=_edit_actions(task, params),
                created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
            store_bytes = self._sign(draft, final, manifest, ingredients)
            if store_bytes is not None:
                sidecar.write_bytes(store_bytes)
            store, active = self._read_back(final, draft.mime, store_bytes)
            sha = file_sha256(final)
            self.ledger.record(LedgerRecord(
                id=output_id, created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
                session_id=session_id, path=str(final), mime=draft.mime, sha256=sha,
                watermark_id=draft.watermark_id, width=draft.width, height=draft.height,
                manifest_json=json.dumps(store)))
        except BaseException:
            final.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
            raise
        finally:
            if not keep_source:
                draft.staging.unlink(missing_ok=True)
        return Published(output_id, final, draft.mime, sha, draft.watermark_id, active, verdict, dict(params),
                         sidecar if store_bytes is not None else None)

    def _sign(self, draft: _Draft, final: Path, manifest: dict, ingredients: list[IngredientFile]) -> bytes | None:
        """Embed the manifest; returns sidecar bytes instead when embedding is not possible and
        the operator allows sidecars."""
        sidecar_ok = self.cfg.sidecar_when_unsigned or text_files.is_text_mime(draft.mime)
        if can_embed(draft.mime):
            try:
                sign(draft.staging, final, draft.mime, manifest, self.identity, ingredients=ingredients,
                     thumbnail=self.cfg.thumbnail, anchors_pem=self._anchors())
                return None
            except ProvenanceError as exc:
                if not sidecar_ok:
                    raise ProvenanceError(f"{exc} The file was not handed out.") from None
        elif not sidecar_ok:
            raise ProvenanceError(f"c2pa cannot embed a manifest in {draft.mime} files, so the file was not "
                                  "handed out; set STUDIO_C2PA_SIDECAR=1 to publish such files with a "
                                  "separate .c2pa manifest.")
        return sign(draft.staging, final, draft.mime, manifest, self.identity, ingredients=ingredients,
                    thumbnail=self.cfg.thumbnail, sidecar=True, anchors_pem=self._anchors())

    def _anchors(self) -> str | None:
        """PEM of the CAs this studio trusts: its own chain's root and the configured extras."""
        own = self.identity.anchor_pem.decode() if self.identity.anchor_pem else ""
        return (own + (self.cfg.trust_anchors_pem or "")) or None

    def _read_back(self, final: Path, mime: str, store_bytes: bytes | None) -> tuple[dict, dict]:
        """Read the signed file as any reader would; a file that does not verify is not handed out."""
        creds = read_credentials(final, mime, anchors_pem=self._anchors(), manifest_data=store_bytes)
        failures = [f.get("code") for f in ((creds.results or {}).get("activeManifest") or {}).get("failure") or []]
        if not creds.present or creds.error or creds.state == "Invalid" or creds.active is None:
            raise ProvenanceError(f"The signed {mime} file did not verify ({creds.error or failures}); "
                                  "it was not handed out.")
        return creds.store, creds.active


def _edit_actions(task: str, params: dict) -> tuple[str, ...]:
    """The C2PA actions the task declares for an edit of a parentOf input (an upscale: c2pa.resized;
    with a creative pass, c2pa.edited after it)."""
    from pipelines import registry

    if task not in registry.TASKS:
        return ("c2pa.edited",)
    contract = registry.contract(task)
    more = contract.more_edit_actions(params) if contract.more_edit_actions else ()
    return (contract.edit_action, *more)
