"""Signing and reading C2PA manifests. The only module of the studio that imports c2pa.

A Context and a Signer are made per call: both are cheap (<1 ms) and this keeps the module
free of shared native state, so any number of threads can sign at once.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from c2pa import Builder, C2paError, C2paSignerInfo, Context, Reader, Signer

from pipelines.errors import ProvenanceError
from provenance.identity import SigningIdentity
from provenance.manifest import IngredientInfo, ingredient_definition

# How c2pa-rs says a file holds only a remote manifest's URL (with fetching off).
_REMOTE_REFERENCE = re.compile(r"^Remote: must fetch remote manifests from url ([\x21-\x7e]{1,2048})")
# MIME spellings c2pa does not accept, mapped onto ones it does.
_C2PA_SPELLING = {
    "application/zip": "application/x-zip",
    "image/jpg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
}


def c2pa_mime(mime: str) -> str:
    """The spelling of `mime` that c2pa understands."""
    mime = mime.lower().split(";", 1)[0].strip()
    return _C2PA_SPELLING.get(mime, mime)


def can_embed(mime: str) -> bool:
    """Whether c2pa can embed a manifest in files of this type."""
    return c2pa_mime(mime) in Builder.get_supported_mime_types()


def _context(*, thumbnail: bool = False, anchors_pem: str | None = None) -> Context:
    settings: dict = {
        "builder": {"thumbnail": {"enabled": bool(thumbnail)}},
        # Files come from visitors: never fetch anything over the network on their behalf.
        "verify": {"ocsp_fetch": False, "remote_manifest_fetch": False, "verify_after_sign": False},
    }
    if anchors_pem:
        settings["trust"] = {"user_anchors": anchors_pem}
    return Context.from_dict(settings)


def _signer(identity: SigningIdentity) -> Signer:
    return Signer.from_info(C2paSignerInfo(identity.alg, identity.chain_pem, identity.key_pem, identity.tsa_url))


@dataclass(frozen=True)
class IngredientFile:
    """An input file to record as an ingredient: its description and where its bytes are."""

    info: IngredientInfo
    path: Path


def sign(src: Path, dst: Path, mime: str, manifest: dict, identity: SigningIdentity, *,
         ingredients: tuple[IngredientFile, ...] | list[IngredientFile] = (), thumbnail: bool = False,
         sidecar: bool = False, anchors_pem: str | None = None, remote_url: str | None = None) -> bytes:
    """Sign `src` into `dst` and return the manifest store bytes.

    embedded (sidecar=False): `dst` carries the manifest. sidecar=True: the manifest is not
    embedded; `dst` is the asset as hashed and the returned bytes belong in `<dst>.c2pa`.
    `remote_url`: `dst` names that URL in its XMP as where its credentials are stored (a remote
    manifest: publish the returned bytes there); with sidecar=False a copy is embedded too.
    `anchors_pem` lets c2pa judge the ingredients' signers as it records their validation.
    Raises ProvenanceError with c2pa's reason when signing fails.
    """
    definition = dict(manifest)
    streamed, listed = [], []
    for ing in ingredients:
        (streamed if ing.info.mime and can_embed(ing.info.mime) else listed).append(ing)
    if listed:
        # c2pa cannot read these formats: they are recorded by title, format and relationship.
        definition["ingredients"] = [
            {**ingredient_definition(i.info), "format": i.info.mime or "application/octet-stream"} for i in listed]
    try:
        with _context(thumbnail=thumbnail, anchors_pem=anchors_pem) as ctx, _signer(identity) as signer:
            builder = Builder(definition, context=ctx)
            for ing in streamed:
                with open(ing.path, "rb") as source:
                    builder.add_ingredient(ingredient_definition(ing.info), c2pa_mime(ing.info.mime), source)
            if sidecar:
                builder.set_no_embed()
            if remote_url:
                builder.set_remote_url(remote_url)
            with open(src, "rb") as source, open(dst, "w+b") as dest:
                return builder.sign(signer, c2pa_mime(mime), source, dest)
    except C2paError as exc:
        raise ProvenanceError(f"Could not sign the {mime} file: {_reason(exc)}.") from None
    except OSError as exc:
        raise ProvenanceError(f"Could not sign the {mime} file: {exc.strerror or exc}.") from None


def _reason(exc: C2paError) -> str:
    text = str(exc).strip()
    return text.split(": ", 1)[-1] if ": " in text else (text or type(exc).__name__)


@dataclass
class Credentials:
    """What c2pa read from a file: the manifest store and its validation, or why not."""

    present: bool  # a manifest store was found (embedded or sidecar)
    state: str | None = None  # "Trusted" | "Valid" | "Invalid" from c2pa
    store: dict | None = None  # the whole manifest store as JSON
    results: dict | None = None  # validation_results
    error: str | None = None  # a manifest was there but could not be read
    remote_url: str | None = None  # no manifest in the file, which names this URL for it instead

    @property
    def active(self) -> dict | None:
        if not self.store:
            return None
        return (self.store.get("manifests") or {}).get(self.store.get("active_manifest"))


def read_credentials(path: Path, mime: str, *, anchors_pem: str | None = None,
                     manifest_data: bytes | None = None) -> Credentials:
    """Read and validate the C2PA manifest of a file (or of its sidecar manifest bytes)."""
    try:
        with _context(anchors_pem=anchors_pem) as ctx, open(path, "rb") as stream:
            with Reader(c2pa_mime(mime), stream, manifest_data, context=ctx) as reader:
                return Credentials(True, reader.get_validation_state(), json.loads(reader.json()),
                                   reader.get_validation_results())
    except C2paError.ManifestNotFound:
        return Credentials(False)
    except C2paError as exc:
        remote = _REMOTE_REFERENCE.match(str(exc).strip())
        if remote:  # c2pa found only a reference to credentials stored at a URL, and fetches nothing
            return Credentials(False, remote_url=remote.group(1))
        return Credentials(True, error=_reason(exc))
