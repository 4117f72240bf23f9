"""Publishing settings: where outputs go, which identity signs them, what the manifest discloses."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from pipelines.errors import ProvenanceError
from provenance.remote_manifest import RemotePolicy

IMAGE_FORMATS = ("png", "jpeg", "webp")
AUDIO_FORMATS = ("wav", "mp3", "flac")
_IMAGE_ALIASES = {"jpg": "jpeg"}


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ProvenanceError(f"{name} must be 0 or 1, not {raw!r}.")


@dataclass
class PublishConfig:
    """Everything `Publisher` needs to know; only `data_dir` is required.

    Signing credentials come from files (`cert_chain_path`, `key_path`) or from PEM text
    (`cert_chain_pem`, `key_pem`); with neither, a local development identity is created in
    `data_dir/identity/` on first use. The key text is kept out of `repr()`.
    """

    data_dir: Path
    cert_chain_path: Path | None = None
    key_path: Path | None = None
    tsa_url: str | None = None
    disclose_prompt: bool = True
    image_format: str = "png"
    audio_formats: tuple[str, ...] = ("wav", "mp3")
    # When a file's format cannot carry an embedded manifest: write `<file>.c2pa` beside it
    # (True) or refuse to hand the file out (False, raises ProvenanceError).
    sidecar_when_unsigned: bool = False
    # c2pa's automatic thumbnail adds ~0.6 MB to a 512 px PNG; off unless asked for.
    thumbnail: bool = False
    cert_chain_pem: str | None = field(default=None, repr=False)
    key_pem: str | None = field(default=None, repr=False)
    # Extra trust anchors (PEM) used by `Publisher.verify` besides the studio's own CA.
    trust_anchors_pem: str | None = field(default=None, repr=False)
    jpeg_quality: int = 95
    webp_quality: int = 95
    # H.264 constant rate factor of published video (lower = larger, closer to the frames).
    video_crf: int = 18
    # Trust: PEM files of CA certificates whose signers read "Trusted" (the operator's own anchors,
    # and C2PA's published trust list); both are added to `trust_anchors_pem`.
    trust_anchors_file: Path | None = None
    trust_list_file: Path | None = None
    # The development CA's private key lives here, apart from the data folder (which Ray replicas
    # and backups get); None: the folder `<data_dir>-ca` beside the data folder.
    signing_ca_dir: Path | None = None
    # Credentials stored at a URL (remote manifests): whether and how Verify fetches them.
    remote: RemotePolicy = field(default_factory=RemotePolicy)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.cert_chain_path is not None:
            self.cert_chain_path = Path(self.cert_chain_path)
        if self.key_path is not None:
            self.key_path = Path(self.key_path)
        fmt = str(self.image_format).lower()
        self.image_format = _IMAGE_ALIASES.get(fmt, fmt)
        if self.image_format not in IMAGE_FORMATS:
            raise ProvenanceError(
                f"Image format {self.image_format!r} is not one the studio publishes; "
                f"choose one of {', '.join(IMAGE_FORMATS)}.")
        self.audio_formats = tuple(str(f).lower() for f in self.audio_formats)
        unknown = [f for f in self.audio_formats if f not in AUDIO_FORMATS]
        if unknown or not self.audio_formats:
            raise ProvenanceError(
                f"Audio formats {list(self.audio_formats)} are not all publishable; "
                f"choose from {', '.join(AUDIO_FORMATS)}.")
        for name in ("trust_anchors_file", "trust_list_file", "signing_ca_dir"):
            if getattr(self, name) not in (None, ""):
                setattr(self, name, Path(getattr(self, name)).expanduser())
            else:
                setattr(self, name, None)
        self.trust_anchors_pem = (self.trust_anchors_pem or "") + "".join(
            _anchor_file(path) for path in (self.trust_anchors_file, self.trust_list_file) if path) or None
        has_cert = self.cert_chain_path is not None or self.cert_chain_pem is not None
        has_key = self.key_path is not None or self.key_pem is not None
        if has_cert != has_key:
            raise ProvenanceError(
                "Signing needs both a certificate chain and its private key; only one was configured.")

    @classmethod
    def from_env(cls, data_dir: Path, environ: Mapping[str, str] | None = None, **overrides) -> "PublishConfig":
        """Read the operator's settings from the environment.

        STUDIO_SIGN_CERT / STUDIO_SIGN_KEY (file paths) or STUDIO_SIGN_CERT_PEM /
        STUDIO_SIGN_KEY_PEM (PEM text), STUDIO_TSA_URL, STUDIO_DISCLOSE_PROMPT (0/1),
        STUDIO_C2PA_SIDECAR (0/1), STUDIO_IMAGE_FORMAT, STUDIO_C2PA_THUMBNAIL (0/1),
        STUDIO_TRUST_ANCHORS_FILE, STUDIO_TRUST_LIST_FILE, STUDIO_SIGNING_CA_DIR and the remote
        manifest settings (`RemotePolicy.from_env`). Keyword `overrides` win over the environment.
        """
        env = os.environ if environ is None else environ
        values: dict = {
            "cert_chain_path": env.get("STUDIO_SIGN_CERT") or None,
            "key_path": env.get("STUDIO_SIGN_KEY") or None,
            "cert_chain_pem": env.get("STUDIO_SIGN_CERT_PEM") or None,
            "key_pem": env.get("STUDIO_SIGN_KEY_PEM") or None,
            "tsa_url": env.get("STUDIO_TSA_URL") or None,
            "disclose_prompt": _flag(env, "STUDIO_DISCLOSE_PROMPT", True),
            "sidecar_when_unsigned": _flag(env, "STUDIO_C2PA_SIDECAR", False),
            "thumbnail": _flag(env, "STUDIO_C2PA_THUMBNAIL", False),
            "trust_anchors_file": env.get("STUDIO_TRUST_ANCHORS_FILE") or None,
            "trust_list_file": env.get("STUDIO_TRUST_LIST_FILE") or None,
            "signing_ca_dir": env.get("STUDIO_SIGNING_CA_DIR") or None,
            "remote": RemotePolicy.from_env(env, _flag),
        }
        if env.get("STUDIO_IMAGE_FORMAT"):
            values["image_format"] = env["STUDIO_IMAGE_FORMAT"]
        values.update(overrides)
        return cls(data_dir=Path(data_dir), **values)

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def identity_dir(self) -> Path:
        return self.data_dir / "identity"

    @property
    def ca_dir(self) -> Path:
        """Where the development CA's private key is kept (never inside the data folder by default)."""
        return self.signing_ca_dir or self.data_dir.with_name(self.data_dir.name + "-ca")

    @property
    def database_path(self) -> Path:
        return self.data_dir / "studio.sqlite3"


def _anchor_file(path: Path) -> str:
    """The PEM certificates of a trust file, checked to hold at least one certificate."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvenanceError(f"Cannot read the trust file {path}: {getattr(exc, 'strerror', None) or exc}.") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ProvenanceError(f"The trust file {path} holds no PEM certificates.")
    return text if text.endswith("\n") else text + "\n"
