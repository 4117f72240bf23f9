"""Settings: defaults, overridden by a TOML file (STUDIO_CONFIG) and then by STUDIO_* variables.

Every setting is documented in the README's Settings table.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass
class Settings:
    data_dir: Path = Path("data")          # outputs, ledger, keys, tiny models
    host: str = "127.0.0.1"
    port: int = 7860
    # device and precision
    device: str = "auto"                   # auto, cpu, cuda, cuda:N, mps
    dtype: str = "auto"                    # auto, fp32, fp16, bf16
    attention: str = "auto"                # auto (SDPA; xformers on CUDA when installed), sdpa, xformers
    offload: str = "none"                  # none, model, sequential (CUDA)
    vae_tiling: bool = False
    vae_slicing: bool = False
    preview_every: int = 2                 # live preview every N steps (0: off)
    draft_decode: bool = False             # final image from the tiny autoencoder too (CPU drafts)
    compile: str = "off"                   # off, regional (torch.compile of repeated blocks; CUDA)
    cache_hook: str = "off"                # off, first_block, faster, pab (transformer models)
    channels_last: bool = False
    safety_checker: bool = True            # the checker some models ship (SD 1.x); false: loaded without it
    cpu_backend: str = "pytorch"           # pytorch, openvino, auto: SD-family images on a CPU (README)
    embedding_cache_mb: float = 512        # prompt-embedding cache budget (0: off)
    model_cache_gb: float | str = "auto"   # loaded-model cache budget in GB; "auto": from the device (README)
    model_dir: Path | None = None          # folder with one sub-folder of weights per preset name
    default_tier: str = "tiny"             # tier whose first preset each tab selects at start
    detect_image_preset: str = "tiny-vit-detector"        # AI-content check of images and video frames
    detect_audio_preset: str = "tiny-wav2vec2-detector"   # synthetic-speech check of audio
    library_tagging: bool = True           # caption and tag published items in device-idle turns (Library)
    library_captioner: str = ""            # tagging preset for captions ("": the default tier's, else tiny-blip)
    library_tagger: str = ""               # tagging preset for zero-shot tags ("": the default tier's, else tiny-clip)
    # queue
    queue_size: int = 64                   # jobs waiting at most, over all visitors
    jobs_per_device: int = 1               # jobs running at once on the accelerator
    # where tasks run (README: "Scale-out on Ray Serve")
    backend: str = "local"                 # local (in this process) or ray (Ray Serve deployments)
    ray_address: str = ""                  # "": start a local Ray on 127.0.0.1; "auto" or "ray://host:10001": join a cluster
    ray_num_cpus: int = 0                  # CPUs of the local Ray the studio starts (0: all of this machine's)
    ray_serve_config: str = ""             # deployment options file ("": presets/serve.toml)
    jobs_per_visitor: int = 2              # jobs one visitor may have running or waiting at once
    jobs_per_minute: int = 30              # jobs one visitor may start per minute
    max_upload_mb: int = 50                # largest file a visitor may upload
    max_image_pixels: int = 40_000_000     # Pillow's decompression-bomb guard for uploads
    # uploads and strangers (hosted demos): durations are read from the file's header, before decoding
    max_upload_audio_s: float = 600        # longest audio upload (melody, voice reference, checks); 0: no limit
    max_upload_video_s: float = 120        # longest video upload (Verify, Detect); 0: no limit
    jobs_per_ip_minute: int = 60           # jobs one network address may start per minute, all its sessions (0: off)
    trusted_proxy_hops: int = 0            # reverse proxies in front that append X-Forwarded-For (0: socket peer)
    retention_days: float = 0              # delete outputs older than this (0: keep forever)
    storyboard_max_shots: int = 200        # shots a storyboard holds at most; longer scripts get a message
    # sessions and responses (README: "Hosting a shared demo")
    session_idle_days: float = 30          # a session unused this long ends; its token then gets a new one (0: never)
    sessions_per_ip_minute: int = 30       # new sessions one network address may start per minute (0: off)
    gallery_page_size: int = 24            # gallery items a response carries; "Show older" adds a page
    share: bool = False                    # Gradio share links (off: hosted demos must opt in)
    auth_file: Path | None = None          # password file (`studio users add`): sign-in required
    auth_header: str = ""                  # trusted reverse-proxy header carrying the user name
    page_model_downloads: str = "auto"     # Models tab may download/remove weights: auto (only with sign-in), on, off
    # provenance: trust, time and remote credentials (README: "Settings"); handed to
    # provenance.config.PublishConfig by `publish_overrides`
    trust_anchors_file: str = ""           # PEM CA certificates whose signers read "Trusted"
    trust_list_file: str = ""              # C2PA's trust list (PEM) whose signers read "Trusted"
    tsa_url: str = ""                      # RFC 3161 timestamp authority for every signature ("": none)
    signing_ca_dir: str = ""               # the development CA's key ("": the folder <data_dir>-ca)
    remote_manifests: bool = True          # fetch credentials a file says are stored at a URL (https)
    remote_manifest_timeout_s: float = 5   # deadline of one such fetch
    remote_manifest_max_mb: float = 10     # largest remote manifest fetched
    remote_manifest_ca_file: str = ""      # extra CA certificates for those fetches (a private PKI)
    remote_manifest_private_hosts: bool = False  # let them reach loopback and private addresses
    extra: dict = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "studio.sqlite3"

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    def publish_overrides(self) -> dict:
        """The provenance settings as keyword arguments of `PublishConfig.from_env`."""
        from provenance.remote_manifest import RemotePolicy

        return {
            "trust_anchors_file": self.trust_anchors_file or None, "trust_list_file": self.trust_list_file or None,
            "tsa_url": self.tsa_url or None, "signing_ca_dir": self.signing_ca_dir or None,
            "remote": RemotePolicy(fetch=self.remote_manifests, timeout_s=float(self.remote_manifest_timeout_s),
                                   max_bytes=int(float(self.remote_manifest_max_mb) * 1024 * 1024),
                                   ca_file=Path(self.remote_manifest_ca_file) if self.remote_manifest_ca_file else None,
                                   allow_private=self.remote_manifest_private_hosts),
        }


def _coerce(name: str, current, raw):
    kind = type(current) if current is not None else str
    if name == "model_cache_gb":
        from pipelines.cache import parse_budget_gb

        return parse_budget_gb(raw)
    if name in ("data_dir", "model_dir", "auth_file"):
        return Path(raw).expanduser() if raw not in ("", None) else None
    if kind is bool:
        return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
    if kind in (int, float):
        return kind(raw)
    return raw


def load_settings(env: dict[str, str] | None = None, **overrides) -> Settings:
    """Build the settings: defaults < TOML file < environment < keyword overrides."""
    env = os.environ if env is None else env
    settings = Settings()
    names = {f.name for f in fields(Settings)} - {"extra"}
    values: dict = {}
    if env.get("STUDIO_CONFIG"):
        with open(env["STUDIO_CONFIG"], "rb") as f:
            data = tomllib.load(f)
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"{env['STUDIO_CONFIG']}: unknown settings {sorted(unknown)}")
        values.update(data)
    for name in names:
        key = f"STUDIO_{name.upper()}"
        if key in env:
            values[name] = env[key]
    values.update(overrides)
    for name, raw in values.items():
        setattr(settings, name, _coerce(name, getattr(settings, name), raw))
    settings.data_dir = Path(settings.data_dir).resolve()
    check_cache_hook(settings)
    if settings.cpu_backend not in CPU_BACKENDS:
        raise ValueError(f"cpu_backend = {settings.cpu_backend!r}: use one of {', '.join(CPU_BACKENDS)}.")
    return settings


CPU_BACKENDS = ("auto", "pytorch", "openvino")   # pipelines.openvino_backend.BACKENDS


def check_cache_hook(settings: Settings) -> None:
    """Refuse a caching hook with several jobs per device: the hook keeps its per-run state on the
    shared model's modules (README: "Settings")."""
    if settings.cache_hook != "off" and settings.jobs_per_device > 1:
        raise ValueError(f"cache_hook = {settings.cache_hook!r} needs jobs_per_device = 1 (it is "
                         f"{settings.jobs_per_device}): the hook keeps per-run state on the shared model. "
                         "Set cache_hook = \"off\" or jobs_per_device = 1.")
