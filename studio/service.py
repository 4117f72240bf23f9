"""The studio's services in one narrow context: models, publisher, gallery, jobs.

Tabs, the CLI and the API all produce outputs through `Studio.produce`, the one path:
the task runs (pipelines.runner.execute), each artifact is published (provenance), and
the published files are added to the visitor's gallery.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from pipelines.errors import InputError
from pipelines.media import InputFile
from pipelines.models import ModelManager
from pipelines.progress import NO_PROGRESS, Progress, ProgressEvent
from pipelines.uploads import MEDIA_KINDS, Probe, probe_upload
from studio.gallery import GalleryItem, GalleryStore, now
from studio.jobs import JobDone, JobManager, JobRecord
from studio.library import Library
from studio.library_uploads import index_uploads
from studio.sessions import SessionStore
from studio.settings import Settings

log = logging.getLogger(__name__)


class NeedsConfirmation(InputError):
    """An upload was flagged by the detector and the visitor has not confirmed its use."""


@dataclass
class Outcome:
    """What a finished job hands back: the published files and notices for the visitor."""

    items: list[GalleryItem]
    notices: list[str] = field(default_factory=list)
    record: JobRecord | None = None


class Studio:
    """Owns the shared services; holds nothing per visitor except through the gallery/jobs APIs."""

    def __init__(self, settings: Settings):
        from pipelines.device import Runtime
        from provenance.detector import Detector
        from provenance.publish import PublishConfig, Publisher

        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        # Pillow's decompression-bomb guard: over this an upload is refused before decoding
        # (Pillow raises at twice the limit; pipelines reject anything over it with a message).
        Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
        runtime = Runtime(device=settings.device, dtype=settings.dtype, attention=settings.attention,
                          offload=settings.offload, vae_tiling=settings.vae_tiling, vae_slicing=settings.vae_slicing,
                          preview_every=settings.preview_every, draft_decode=settings.draft_decode,
                          compile=settings.compile, cache_hook=settings.cache_hook, channels_last=settings.channels_last,
                          safety_checker=settings.safety_checker, cpu_backend=settings.cpu_backend,
                          export_dir=str(settings.data_dir / "openvino"))
        self.models = ModelManager(settings.data_dir, runtime, settings.model_cache_gb, settings.model_dir,
                                   embedding_cache_mb=settings.embedding_cache_mb)
        # Where tasks run: in this process, or on Ray Serve (studio/backends.py); the detector and
        # publishing below stay here either way.
        from studio.backends import make_backend

        self.backend = make_backend(settings, self.models)
        self.publisher = Publisher(PublishConfig.from_env(settings.data_dir, **settings.publish_overrides()))
        self.gallery = GalleryStore(settings.db_path, page_size=settings.gallery_page_size)
        self.library = Library(self.gallery, disclose_prompt=self.publisher.cfg.disclose_prompt)  # search index
        # Sessions live in the database (token -> id), so a restart keeps every visitor's work reachable.
        self.sessions = SessionStore(settings.db_path, idle_days=settings.session_idle_days,
                                     per_ip_minute=settings.sessions_per_ip_minute)
        self.jobs = JobManager(max_active_per_session=settings.jobs_per_visitor,
                               max_per_minute=settings.jobs_per_minute,
                               max_per_ip_minute=settings.jobs_per_ip_minute,
                               slots=settings.jobs_per_device, max_waiting=settings.queue_size)
        # Every output is scored before it is signed (the verdict goes into its manifest), and
        # every upload used as an input is checked before the pipeline runs.
        self.detector = Detector(self.models, self.publisher, settings.detect_image_preset,
                                 settings.detect_audio_preset)
        self.publisher.detector = self.detector.score_output
        from studio.library_tagging import LibraryTagger

        self.tagging = LibraryTagger(self)  # captions and tags after publish, in device-idle turns only

    def login_session(self, request) -> str | None:
        """The session id of the signed-in user making `request` (password or proxy header), if any."""
        from studio.auth import server_secret, session_id_for

        user = getattr(request, "username", None)
        if not user and self.settings.auth_header and request is not None:
            user = request.headers.get(self.settings.auth_header.lower())
        return session_id_for(user, server_secret(self.settings.data_dir)) if user else None

    def probe_upload(self, path: str | None, kinds: Sequence[str] = MEDIA_KINDS, title: str = "file") -> Probe:
        """Look at an upload's header before anything decodes it: a format the studio takes, not empty,
        readable, and within the settings' pixel and duration limits; `InputError` otherwise."""
        s = self.settings
        return probe_upload(path, kinds, title=title, max_audio_s=s.max_upload_audio_s,
                            max_video_s=s.max_upload_video_s, max_pixels=s.max_image_pixels)

    def check_upload(self, path: str) -> dict:
        """Examine a file a visitor feeds in: its credentials, watermark and the detector's score."""
        return self.detector.check_upload(Path(path))

    def check_inputs(self, inputs: Sequence[InputFile], record: JobRecord | None, confirmed: bool) -> None:
        """Check every upload used as an input; a flagged one needs the visitor's confirmation."""
        for inp in inputs:
            self.probe_upload(inp.path, title=inp.title or "uploaded file")
            inp.verdict = self.check_upload(inp.path)
            if record is not None:
                record.inputs_checked.append({"path": Path(inp.path).name, "relationship": inp.relationship,
                                              **inp.verdict})
            if inp.verdict.get("flagged") and not confirmed:
                raise NeedsConfirmation(
                    f"The {inp.title or 'uploaded file'} looks AI-generated or synthetic "
                    f"({inp.verdict.get('verdict')}). If you have the right to use it, tick the confirmation box "
                    f"and run again.")

    def checked(self, task: str, request: Any) -> Any:
        """`request` checked against its preset, as the job will run it: a new, marked request
        (pipelines.runner.prepare), so the check is not repeated when it is queued and run;
        `request` itself is not changed. Raises `InputError` / `PresetError` saying what to do."""
        from pipelines.runner import prepare

        return prepare(task, request, self.models.preset(task, request.model))

    def produce(self, task: str, request: Any, session_id: str, progress: Progress = NO_PROGRESS,
                inputs: Sequence[InputFile] = (), record: JobRecord | None = None,
                confirmed: bool = False) -> Outcome:
        """Check the request (once: see `checked`) and the inputs, run it, publish every artifact
        (signed, checked), add it to the gallery. `request` itself is not changed."""
        if inputs:
            progress.update(0, 1, "checking inputs")
            self.check_inputs(inputs, record, confirmed)
            index_uploads(self.library, session_id, task, inputs, self.publisher.cfg.outputs_dir)  # accepted: findable
        request = self.checked(task, request)  # here, not in the runner, so a Ray replica gets it checked
        result = self.backend.execute(task, request, progress)
        progress.update(0, len(result.artifacts), "signing")
        items = []
        for i, artifact in enumerate(result.artifacts):
            for published in self.publisher.publish(artifact, task=task, session_id=session_id, inputs=list(inputs)):
                item = GalleryItem(id=published.id, session_id=session_id, task=task, path=str(published.path),
                                   mime=published.mime, caption=caption(published.params), params=published.params,
                                   created=now())
                self.gallery.add(item)
                self.library.add(item, published.verdict)  # post-publish: indexed now, tagged later
                items.append(item)
                if record is not None:
                    record.outputs.append(published.id)
            progress.update(i + 1, len(result.artifacts), "signing")
        if record is not None:
            record.notices = list(result.notices)
        return Outcome(items, result.notices, record)

    def close(self) -> None:
        """Release the backend: a Ray the studio started is shut down; a joined cluster keeps running."""
        self.backend.close()

    def stream(self, task: str, request: Any, session_id: str, inputs: Sequence[InputFile] = (),
               confirmed: bool = False, client: str | None = None,
               scope: str | None = None) -> Iterator[ProgressEvent | JobDone]:
        """`produce` as a job of this session: progress events, then `JobDone` with the Outcome.
        `client` is the visitor's network address, for the per-address limit (None: not counted);
        `scope` the tab whose Cancel stops it (default: the task's own tab).

        The request is checked now, before the job takes a place in the queue (after a look at
        each input's header, before anything decodes it): bad input is refused at once, and the
        job runs the checked request without checking it again."""
        for inp in inputs:
            self.probe_upload(inp.path, title=inp.title or "uploaded file")
        request = self.checked(task, request)
        return self.jobs.stream(session_id, task, request, lambda record, progress: self.produce(
            task, request, session_id, progress, inputs, record, confirmed), client=client, scope=scope)


def caption(params: dict) -> str:
    """A short gallery caption: model, seed and size (or duration)."""
    parts = [params.get("model_label") or params.get("model", "")]
    if "seed" in params:
        parts.append(f"seed {params['seed']}")
    if params.get("width") and params.get("height"):
        parts.append(f"{params['width']}×{params['height']}")
    if params.get("duration_s"):
        parts.append(f"{params['duration_s']:.1f} s")
    if params.get("tier") == "tiny":
        parts.append("tiny test model")
    return " · ".join(p for p in parts if p)
