"""Every upload entry point of the live server, fed every hostile file and hostile numbers: each
answer is a clear sentence (never a traceback or "internal error") within a second, measured
around the call, before any model runs; nothing is written outside the session folders; another
visitor's gallery is untouched; the server still makes an image afterwards.

"Before any model runs" is asserted as such (no job was registered for a refused input), so the
second's bound can take a second measurement when the first was slow: on the 2-core CI machine the
in-process server shares its cores with everything else, and one answer in hundreds once took 4 s
there. A path that ran a model or queued a job first fails the structural check whatever the clock.

One test id per (entry point, file). Run alone with:
    HF_HUB_OFFLINE=1 .venv/bin/python -m pytest tests/studio/test_hostile_uploads.py -q
"""
import hashlib
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from hostile_files import hostile_files, long_flac, mp4_bytes, png_bytes, wav_bytes
from studio.gallery import GalleryItem

ANSWER_S = 1.0


@pytest.fixture(scope="module", autouse=True)
def idle_device(studio):
    """These tests time the server's answers: they start once the device is idle, no turn held or
    waited for (the suite keeps the Library's tagger paused, but a paused tagger still finishes the
    item in hand: a full run once timed a 1 s answer at 3.2 s beside it)."""
    deadline = time.time() + 120
    while time.time() < deadline and any(studio.jobs.turns.counts()[k] for k in ("holding", "waiting")):
        time.sleep(0.2)
IMAGE_FILES = ["pixel-bomb.png", "fits-in-disguise.png", "truncated.png", "truncated.jpg", "empty.png",
               "wav-named.png", "../../etc/passwd.png"]
AUDIO_FILES = ["truncated.wav", "empty.wav", "png-named.wav", "truncated.mp4", "fits-in-disguise.png",
               "too-long.flac", "../../etc/passwd.wav"]
# Verify and Detect read any type from the bytes: a valid file behind a wrong name is judged
# (a model runs), so they get the damaged, disguised and over-long ones.
CHECK_FILES = ["pixel-bomb.png", "fits-in-disguise.png", "truncated.png", "truncated.jpg", "truncated.mp4",
               "truncated.wav", "empty.png", "too-long.flac", "too-long.mp4", "../../etc/passwd.png"]

# entry point -> (endpoint, the upload's parameter, the other arguments)
ENTRY_POINTS = {
    "fill-source": ("/fill_image", "upload", dict(upload=None, source_id=None, editor_data=None, mask_upload=None,
                                                  prompt="a red bicycle", negative_prompt="")),
    "fill-mask": ("/fill_image", "mask_upload", dict(upload="good.png", source_id=None, editor_data=None,
                                                     prompt="a red bicycle", negative_prompt="")),
    "video-still": ("/generate_video", "upload", dict(mode="image", upload=None, still_id=None, prompt="a boat",
                                                      negative_prompt="")),
    "voice-reference": ("/speak", "reference", dict(text="Hello there.", model="tiny-xtts", reference=None,
                                                    attest=True)),
    "music-melody": ("/generate_music", "melody", dict(prompt="lo-fi", model="tiny-musicgen-melody", melody=None)),
    "storyboard-reference": ("/create_board", "reference", dict(script="A lighthouse at dawn.\nA boat leaves.",
                                                                title="", look="", seed=1, reference=None)),
    "verify": ("/verify", "path", {}),
    "detect": ("/detect", "path", {}),
}
FILES_OF = {"fill-source": IMAGE_FILES, "fill-mask": IMAGE_FILES + ["wrong-shape-mask.png"],
            "video-still": IMAGE_FILES, "storyboard-reference": IMAGE_FILES, "voice-reference": AUDIO_FILES,
            "music-melody": AUDIO_FILES, "verify": CHECK_FILES, "detect": CHECK_FILES}
# Numbers no form should take: (entry point, field, value).
NUMBERS = [("fill-source", "steps", float("nan")), ("fill-source", "feather", -4),
           ("video-still", "fps", float("nan")), ("video-still", "frames", -3),
           ("voice-reference", "speed", float("nan")), ("voice-reference", "pause_ms", -100),
           ("music-melody", "duration", float("nan")), ("music-melody", "top_k", -1),
           ("storyboard-reference", "duration", float("nan")), ("storyboard-reference", "width", -256)]
CLEAR_VERDICT = ("unreadable", "cannot judge", "not ", "could not", "empty", "damaged", "incomplete")


@pytest.fixture(scope="module")
def files(tmp_path_factory, live_url):
    """name -> a path the client can upload. A traversal name cannot exist on disk, so that file is
    uploaded raw under its hostile name first and the server's copy (which must be safe) is used."""
    root = tmp_path_factory.mktemp("hostile-uploads")
    data = {**hostile_files(), "good.png": png_bytes(), "too-long.flac": long_flac(605.0),
            "too-long.mp4": mp4_bytes(frames=125, fps=1, size=(16, 16))}
    paths = {}
    for name, blob in data.items():
        paths[name] = root / name
        paths[name].write_bytes(blob)
    Image.new("L", (300, 60), 255).save(root / "wrong-shape-mask.png")   # the source is 300×300
    paths["wrong-shape-mask.png"] = root / "wrong-shape-mask.png"
    for name, blob in (("../../etc/passwd.png", png_bytes()[:300]), ("../../etc/passwd.wav", wav_bytes()[:2000])):
        r = httpx.post(live_url + "gradio_api/upload", files={"files": (name, blob, "application/octet-stream")},
                       timeout=10)
        assert r.status_code == 200, r.text
        stored = Path(r.json()[0])
        assert ".." not in stored.parts and not Path("/etc/passwd.png").exists()
        paths[name] = stored
    return paths


@pytest.fixture(scope="module")
def bystander(studio):
    """Another visitor's finished file and gallery row, put there without running a model."""
    session = "bystander-" + "b" * 32
    folder = studio.settings.outputs_dir / session
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "theirs.png"
    path.write_bytes(png_bytes((64, 64)))
    studio.gallery.add(GalleryItem("bystander-item", session, "text_to_image", str(path), "image/png", "theirs", {},
                                   time.time()))
    return session, path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def clients(live_url, files):
    """One visitor per entry point (each their own session), reused over that entry point's files.
    Each endpoint is called once untimed first: its first call pays Gradio's one-time setup."""
    visitors = {name: Client(live_url, verbose=False) for name in ENTRY_POINTS}
    for name, visitor in visitors.items():
        call(visitor, name, {ENTRY_POINTS[name][1]: "empty.png"}, files)
    return visitors


def assert_clear(text: str) -> None:
    assert text and "Traceback" not in text and 'File "' not in text, text
    assert "internal error" not in text.lower() and "went wrong" not in text.lower(), text


def call(client: Client, entry: str, args: dict, files: dict) -> tuple[float, str]:
    """Call the entry point; (seconds the call took, the error or verdict text)."""
    endpoint, _, fixed = ENTRY_POINTS[entry]
    kwargs = {k: handle_file(str(files[v])) if isinstance(v, str) and v in files else v
              for k, v in {**fixed, **args}.items()}
    t0 = time.perf_counter()
    try:
        out = client.predict(**kwargs, api_name=endpoint)
    except AppError as e:
        return time.perf_counter() - t0, str(e)
    elapsed = time.perf_counter() - t0
    assert entry in ("verify", "detect"), f"{entry} accepted it: {out!r}"
    text = str(out[0])
    assert any(w in text.lower() for w in CLEAR_VERDICT), text
    return elapsed, text


def answered_fast(studio, attempt, label: str, refused: bool = True) -> str:
    """`attempt()` -> (seconds, text), asserted under `ANSWER_S` (measured again once if the first
    took longer: see the module's note) and, when the input is `refused` (not judged by a model),
    with no job registered for it; returns the text."""
    records = studio.jobs.counts()["records"]
    seconds, text = attempt()
    if seconds >= ANSWER_S:
        seconds = min(seconds, attempt()[0])
    assert seconds < ANSWER_S, f"{label}: {seconds:.2f} s ({text})"
    if refused:
        assert studio.jobs.counts()["records"] == records, f"{label}: a job was registered before the refusal"
    return text


@pytest.mark.parametrize("entry, name", [(e, n) for e, names in FILES_OF.items() for n in names])
def test_hostile_file_gets_a_clear_answer_fast(studio, clients, files, entry, name):
    text = answered_fast(studio, lambda: call(clients[entry], entry, {ENTRY_POINTS[entry][1]: name}, files),
                         f"{entry} {name}", refused=entry not in ("verify", "detect"))
    assert_clear(text)


def raw_call(live_url: str, client: Client, entry: str, args: dict, files: dict) -> tuple[float, str]:
    """The call through Gradio's plain HTTP API, whose JSON may carry NaN (gradio_client's JSON cannot):
    positional data in the endpoint's order, the rest at their defaults; (seconds, error or output)."""
    import json

    endpoint, _, fixed = ENTRY_POINTS[entry]
    values = {**fixed, **args}
    data = []
    for p in client.view_api(return_format="dict", print_info=False)["named_endpoints"][endpoint]["parameters"]:
        value = values.get(p["parameter_name"], p.get("parameter_default"))
        if isinstance(value, str) and value in files:
            r = httpx.post(live_url + "gradio_api/upload", files={"files": (value, files[value].read_bytes())})
            value = {"path": r.json()[0], "meta": {"_type": "gradio.FileData"}}
        data.append(value)
    t0 = time.perf_counter()
    r = httpx.post(live_url + f"gradio_api/call{endpoint}", content=json.dumps({"data": data}),
                   headers={"content-type": "application/json"}, timeout=10)
    r.raise_for_status()
    with httpx.stream("GET", live_url + f"gradio_api/call{endpoint}/{r.json()['event_id']}", timeout=10) as events:
        lines = [line for line in events.iter_lines() if line]
    seconds = time.perf_counter() - t0
    assert any(line == "event: error" for line in lines), f"{entry} accepted it: {lines[-2:]}"
    return seconds, " ".join(line.removeprefix("data:").strip() for line in lines if line.startswith("data:"))


@pytest.mark.parametrize("entry, field, value", NUMBERS)
def test_hostile_number_gets_a_clear_error_fast(studio, live_url, clients, files, entry, field, value):
    args = {field: value}
    if entry in ("fill-source", "video-still"):
        args["upload"] = "good.png"
    if entry == "fill-source":
        args["mask_upload"] = "good.png"
    text = answered_fast(studio, lambda: raw_call(live_url, clients[entry], entry, args, files),
                         f"{entry} {field}={value}")
    assert_clear(text)
    assert text.strip() not in ("", "null"), f"{entry} {field}={value}: an error without a message"


def test_nothing_outside_the_session_folders_and_the_bystander_untouched(studio, bystander, live_url):
    data_dir = studio.settings.data_dir
    assert not Path("/etc/passwd.png").exists() and not Path("/etc/passwd.wav").exists()
    # A name that climbed out would land as a bare "passwd.*" somewhere above the data folder (the
    # suites' own hostile files carry the escaped name, "..%2F..%2Fetc%2Fpasswd.png", and don't match).
    assert not list(data_dir.parent.parent.rglob("passwd.*")), "a traversal name was written somewhere"
    session, path, digest = bystander
    assert [i.id for i in studio.gallery.list(session)] == ["bystander-item"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    # The one model run: the server still makes an image for a new visitor.
    gallery, status = Client(live_url, verbose=False).predict("a lighthouse", "", api_name="/generate_image")
    assert len(gallery) == 1 and "made" in status.lower()
