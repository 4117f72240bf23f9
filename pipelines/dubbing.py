"""Dubbing: a clip in, the clip out speaking another language.

The lines are either given, as SRT or WebVTT in the new language timed to the clip, or made in the
same job: the clip's speech is transcribed (pipelines.transcribe, Whisper; its language detected
unless `source_language` names it) and each segment translated into `language` (pipelines.translate,
keeping its time; no translation when the clip already speaks it). The transcriber and the
translator are joined models (`Task.joins`): held and run-locked for the job beside the voice
model, recorded in every output's parameters, and not loaded at all when the lines are given.
Each cue is one segment: it is said by the speech model (pipelines.speech, on the same loaded voice model as
the Voice tab, a built-in voice, or the clip's speaker cloned with the Voice tab's permission
attestation), time-fitted to its slot (the cue's time, plus any silence before the next cue): a
take too long for it is said again faster, up to `max_speed`, and past that a notice names the
segment. The takes are laid over the original sound, which plays on at `background_db` and dips
under them (pipelines.animatic.mix); the picture is the clip's own, frame for frame, so the dub
lasts exactly as long. The new language's subtitles come as a soft track in the MP4 and as SRT and
WebVTT files, timed from where each take sounds. Publishing records the clip as the `parentOf`
ingredient and a voice reference as an `inputTo` one; the parameters list every segment as
synthesized, with its slot, length and speed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines import animatic, speech, subtitles, transcribe, translate
from pipelines.audio_decode import decode_audio
from pipelines.contract import Join, Task, upload
from pipelines.errors import InputError
from pipelines.media import AudioArtifact, Result, VideoArtifact
from pipelines.presets import ModelPreset
from pipelines.progress import Progress
from pipelines.uploads import VIDEO_KINDS, probe_upload

TASK = "dubbing"
MAX_DURATION_S = 600.0          # a preset's limits.max_duration_s overrides it
SPEED_RANGE = (1.0, 2.0)        # how much faster than its natural pace a take may be said to fit its slot
BACKGROUND_RANGE = (-60.0, 0.0)
SLOT_GAP_S = 0.05               # a take may run on into the silence before the next cue, up to this gap
FIT_MARGIN = 1.02               # say it 2 % faster than the bare ratio: speed changes length only roughly


@dataclass
class Request:
    """One dub. `lines` is SRT or WebVTT in the new language, timed to the clip, or "" to make them from
    the clip's speech with the `transcriber` and `translator` presets (from `source_language`, ""
    detects it, into `language`); `background_db` the original sound's level under the new voice;
    `max_speed` the fastest a line may be said to fit."""

    media_path: str = field(default="", metadata=upload("video", flag="clip", title="original clip",
                                                        relationship="parentOf"))
    lines: str = ""
    model: str = "tiny-vits"
    language: str = "en"
    speaker: str = ""
    seed: int = 0
    background_db: float = field(default=-12.0, metadata={"lo": BACKGROUND_RANGE[0], "hi": BACKGROUND_RANGE[1]})
    max_speed: float = field(default=1.3, metadata={"lo": SPEED_RANGE[0], "hi": SPEED_RANGE[1]})
    reference_path: str = field(default="", metadata=upload("audio", flag="reference", title="reference voice"))
    clone_attested: bool = False
    transcriber: str = "tiny-whisper"
    translator: str = "tiny-marian"
    source_language: str = ""

    def check(self, preset: ModelPreset) -> None:
        """Raise `InputError` for a missing or too long clip, lines that do not parse or lie outside the
        clip, no transcriber or translator to make them, levels out of range, or a cloned voice without
        the speaker's permission. With lines given, the transcriber and translator are cleared: the job
        loads neither."""
        if not isinstance(self.media_path, str) or not self.media_path:
            raise InputError("There is no clip to dub: upload a video.")
        limit = float(preset.limit("max_duration_s", MAX_DURATION_S))
        probe = probe_upload(self.media_path, VIDEO_KINDS, title="clip", max_video_s=limit)
        self.lines = self.lines if isinstance(self.lines, str) and self.lines.strip() else ""
        if self.lines:
            cues = subtitles.parse(self.lines, "lines")
            if probe.duration_s and cues[-1].start_s >= probe.duration_s:
                raise InputError(f"The last line starts at {cues[-1].start_s:.1f} s, after the clip ends "
                                 f"({probe.duration_s:.1f} s): use subtitles timed to this clip.")
            self.transcriber, self.translator, text = "", "", " ".join(c.text for c in cues)
        else:
            self._check_chain()
            text = "Hello."   # the lines are not known yet: the voice's other rules are checked now
        self.background_db = _number("The original sound's level", self.background_db, *BACKGROUND_RANGE, "dB")
        self.max_speed = _number("The fastest speed", self.max_speed, *SPEED_RANGE, "x")
        # The Voice tab's own rules: the language and text limits, a voice that can clone, and the attestation.
        voice_request(self, text, 1.0).check(preset)

    def _check_chain(self) -> None:
        """Lines made from the clip: it needs a sound track, a transcriber, and a translator unless
        the clip is said to speak the new language already."""
        if not has_sound(self.media_path):
            raise InputError("The clip has no sound track, so there is no speech to dub: paste the lines to say "
                             "(SRT or WebVTT in the new language) or upload a clip with sound.")
        source = self.source_language.strip().lower() if isinstance(self.source_language, str) else ""
        self.source_language = "" if source in ("auto", "detect") else source
        self.transcriber = self.transcriber.strip() if isinstance(self.transcriber, str) else ""
        self.translator = self.translator.strip() if isinstance(self.translator, str) else ""
        if not self.transcriber:
            raise InputError("There are no lines to say and no transcription model to hear them: choose a "
                             "transcriber, or paste the clip's subtitles in the new language (SRT or WebVTT).")
        if self.source_language and self.source_language == self.language.strip().lower():
            self.translator = ""   # the clip already speaks the new language: re-voiced, not translated
        elif not self.translator:
            raise InputError(f"Choose a translation model into {self.language!r}, or paste the lines to say "
                             f"(SRT or WebVTT in the new language); without one, name the clip's language as "
                             f"the source language to re-voice it as it is.")


def has_sound(path: str) -> bool:
    """Whether the clip's container holds a sound track (its header only)."""
    import av

    try:
        with av.open(str(path)) as box:
            return bool(box.streams.audio)
    except av.error.FFmpegError:
        return False


def _number(name: str, value: Any, lo: float, hi: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise InputError(f"{name} is {value!r}: use a number from {lo:g} to {hi:g} {unit}.")
    return float(value)


def voice_request(request: Request, text: str, speed: float) -> speech.Request:
    """The speech request that says one segment in the dub's voice."""
    return speech.Request(text=text, model=request.model, language=request.language, speaker=request.speaker,
                          speed=speed, seed=request.seed, pause_ms=0, target_lufs=None,
                          reference_path=request.reference_path, clone_attested=request.clone_attested,
                          subtitles=False)


# ---- the clip ----------------------------------------------------------------------------------

@dataclass
class Clip:
    """A decoded clip: RGB frames, their rate, and its sound as float (channels, samples), if any."""

    frames: list[np.ndarray]
    fps: float
    sound: np.ndarray | None
    rate: int

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps


def read_clip(path: str) -> Clip:
    """Every frame and the sound of a video file (PyAV)."""
    import av

    try:
        with av.open(str(path)) as box:
            stream = box.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 24)
            frames = [f.to_ndarray(format="rgb24") for f in box.decode(stream)]
        sound, rate = _read_sound(path)
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        raise InputError(f"The clip could not be decoded ({exc}); upload an MP4, MOV or WebM video.") from None
    if not frames:
        raise InputError("The clip has no picture in it: upload a video.")
    return Clip(frames, fps, sound, rate)


def _read_sound(path: str) -> tuple[np.ndarray | None, int]:
    sound = decode_audio(path)
    if sound is None or not sound.samples.shape[-1]:
        return None, 0
    return sound.samples, sound.rate


# ---- running -----------------------------------------------------------------------------------

def load(source: str, device: str, dtype, runtime, **kwargs):
    """The voice model, loaded as the speech task loads it (usually shared with it: `from_base`)."""
    return speech.load(source, device, dtype, runtime, **kwargs)


@dataclass
class Chain:
    """The models one dub runs on: the voice, and the transcriber and translator (None when unused)."""

    voice: Any
    transcriber: Any = None
    translator: Any = None


def join(voice, transcriber, translator) -> Chain:
    """The task's `Task.join`: the loaded voice model with the joined ones."""
    return Chain(voice, transcriber, translator)


def run(chain: Chain, request: Request, progress: Progress) -> Result:
    """Say every line in the new voice, fitted to its slot, over the clip's own sound and picture; the
    lines first made from the clip's speech (transcribed, translated) when none are given."""
    progress.check()
    progress.update(0, 1, "reading the clip")
    clip = read_clip(request.media_path)
    made: dict[str, Any] = {}
    if request.lines:
        cues, notices = subtitles.parse(request.lines, "lines"), []
    else:
        cues, notices, made = lines_from_speech(chain, request, progress)
    pipe, voices, segments = chain.voice, [], []
    for i, cue in enumerate(cues):
        progress.check()
        progress.update(i, len(cues), "speaking")
        slot_end = min(cues[i + 1].start_s - SLOT_GAP_S if i + 1 < len(cues) else clip.duration_s, clip.duration_s)
        take, info = fit_take(pipe, request, cue, max(0.05, slot_end - cue.start_s))
        if not info["fits"]:
            notices.append(f"Line {i + 1} needs {info['speech_s']:.2f} s even at {request.max_speed:g}x speed; its "
                           f"slot is {info['slot_s']:.2f} s, so it runs on past it. Shorten the line's text.")
        voices.append(take)
        segments.append({"index": i + 1, "start_s": round(cue.start_s, 3), **info, "text": cue.text})
    progress.update(len(cues), len(cues), "mixing")
    original = animatic.Track(clip.sound, clip.rate) if clip.sound is not None else None
    mixed = animatic.mix(voices, original, clip.duration_s, music_db=request.background_db, duck_db=-10.0)
    cues_out = animatic.subtitle_cues(voices, clip.duration_s, subtitles.Rules())
    params = {**_params(request, clip, segments), **made}
    audio = AudioArtifact(mixed, animatic.MIX_RATE, params)
    video = VideoArtifact(clip.frames, clip.fps, params, audio=audio, subtitles=subtitles.to_srt(cues_out) or None)
    return Result([video, *subtitles.text_artifacts(cues_out, params)], notices)


def lines_from_speech(chain: Chain, request: Request, progress: Progress) -> tuple[list, list[str], dict]:
    """The clip's speech as timed lines in the new language: transcribed (stage "transcribing"), then
    translated cue by cue keeping each time (stage "translating"), unless it speaks that language.
    Returns the cues, the notices, and the parameters that say how they were made."""
    heard = transcribe.run(chain.transcriber, transcribe.Request(
        media_path=request.media_path, language=request.source_language, word_timestamps=False), progress)
    notices = list(heard.notices)
    if not heard.segments:
        raise InputError("No speech was recognised in the clip, so there is nothing to dub: paste the lines to "
                         "say (SRT or WebVTT in the new language), or name the clip's language.")
    source, translated = heard.language, False
    texts = [subtitles.Cue(s.start, s.end, s.text) for s in heard.segments]
    if chain.translator is not None and source.split("-")[0] != request.language.strip().lower().split("-")[0]:
        progress.check()
        said = translate.run(chain.translator, translate.Request(
            text=transcribe.to_srt(heard.segments), source_language=source, target_language=request.language),
            progress)
        notices += said.notices
        texts, translated = [subtitles.Cue(c.start or 0.0, c.end or 0.0, c.text) for c in said.cues], True
    # The transcript and lines are the speaker's words: publishing hashes them unless disclosure is on.
    made = {"lines_from": "transcribed and translated" if translated else "transcribed",
            "source_language": source, "target_language": request.language,
            "transcript": transcribe.to_srt(heard.segments), "lines": subtitles.to_srt(texts)}
    return texts, notices, made


def fit_take(pipe, request: Request, cue: subtitles.Cue, slot_s: float) -> tuple[animatic.Track, dict]:
    """One line said at its natural pace, or again faster (up to max_speed) when that is too long for its slot."""
    def say(speed: float) -> AudioArtifact:
        return speech.run(pipe, voice_request(request, cue.text.replace("\n", " "), speed), Progress()).artifacts[0]

    take, speed = say(1.0), 1.0
    if take.duration_s > slot_s:
        speed = min(request.max_speed, take.duration_s / slot_s * FIT_MARGIN)
        take = say(speed)
    info = {"slot_s": round(slot_s, 3), "speech_s": round(take.duration_s, 3), "speed": round(speed, 3),
            "fits": take.duration_s <= slot_s + 1e-3, "synthesized": True}
    return animatic.Track(take.samples, take.sample_rate, cue.start_s, cue.text.replace("\n", " ")), info


def _params(request: Request, clip: Clip, segments: list[dict]) -> dict[str, Any]:
    return {"task": TASK, "language": request.language, "speaker": request.speaker,
            "voice": "cloned from the reference clip" if request.reference_path else (request.speaker or
                                                                                   "the model's own voice"),
            "seed": request.seed, "background_db": request.background_db, "max_speed": request.max_speed,
            "fps": clip.fps, "frames": len(clip.frames), "duration_s": round(clip.duration_s, 4),
            "original_sound": clip.sound is not None, "segments": segments,
            "synthesized_segments": sum(s["synthesized"] for s in segments), "lines": request.lines}


CONTRACT = Task(TASK, Request, artifacts=("video", "text"), text_field="lines", base_task="speech",
                from_base=lambda pipe: pipe, dtypes=speech.SUPPORTED_DTYPES, is_downloaded=speech.is_downloaded,
                download=speech.download, tab="Dubbing",
                joins=(Join("transcribe", "transcriber", same_family=False, optional=True),
                       Join("translate", "translator", same_family=False, optional=True)), join=join)
