"""Text and image to video with tiny models of the real classes, through the production loader
(ModelManager -> pipelines.video.load -> runner.execute) and the one publish path (Studio.produce):
frame counts, sizes, fps and codec of the MP4 the visitor gets, its signature and watermark."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from video_helpers import read_mp4, request, run_clip, top_level_boxes

from pipelines import video
from pipelines.errors import Cancelled, OutOfMemory
from pipelines.media import InputFile
from pipelines.progress import Progress

SESSION = "video-tests"


def produce(studio, inputs=(), events=None, **fields):
    """One clip through Studio.produce (run, encode, watermark, sign, gallery); returns the item."""
    progress = Progress(listener=events.append) if events is not None else Progress()
    outcome = studio.produce("video", request(**fields), SESSION, progress, inputs=list(inputs))
    assert len(outcome.items) == 1
    return outcome.items[0], outcome.notices


def assert_signed_and_marked(studio, path, still_name=None):
    report = studio.publisher.verify(path)
    assert report.state in ("Valid", "Trusted"), report.summary_lines()
    assert report.watermark_id, f"the frames carry no watermark: {report.watermark_note}"
    if still_name:
        assert any(i.get("relationship") == "inputTo" for i in report.ingredients), report.ingredients
    return report


@pytest.mark.parametrize("model", ["tiny-ltx", "tiny-wan", "tiny-cogvideox", "tiny-svd"])
def test_each_tiny_model_loads_through_the_model_layer_and_obeys_its_preset(studio, model):
    preset = studio.models.preset("video", model)
    loaded = studio.models.get("video", model).pipe
    assert loaded.modes == preset.limit("modes")
    for pipe in loaded.pipes.values():
        assert video.model_rules(pipe) == (preset.limit("size_multiple"), preset.limit("frame_rule"))
    if len(loaded.pipes) == 2:  # both modes share one set of weights
        text, image = loaded.pipes["text"], loaded.pipes["image"]
        assert text.transformer is image.transformer and text.vae is image.vae


@pytest.mark.parametrize("model, mode, frames, pipeline", [
    ("tiny-ltx", "text", 9, "LTXPipeline"),
    ("tiny-ltx", "image", 17, "LTXImageToVideoPipeline"),
    ("tiny-wan", "text", 5, "WanPipeline"),
    ("tiny-wan", "image", 9, "WanImageToVideoPipeline"),
    ("tiny-cogvideox", "text", 9, "CogVideoXPipeline"),
    ("tiny-svd", "image", 4, "StableVideoDiffusionPipeline"),
    ("tiny-ltx-distilled", "text", 9, "LTXConditionPipeline"),
    ("tiny-ltx-distilled", "image", 9, "LTXConditionPipeline"),
])
def test_each_family_makes_a_signed_browser_playable_mp4_as_asked(studio, still, model, mode, frames, pipeline):
    events = []
    inputs = [InputFile(still, "inputTo", "still")] if mode == "image" else []
    item, notices = produce(studio, inputs, events, model=model, mode=mode, image_path=still if mode == "image" else "",
                            frames=frames, fps=8, seed=5)
    mp4 = read_mp4(item.path)
    assert (mp4["codec"], mp4["pix_fmt"]) == ("h264", "yuv420p")
    assert (mp4["frames"], mp4["fps"], mp4["width"], mp4["height"]) == (frames, Fraction(8), 256, 256)
    boxes = top_level_boxes(item.path)
    assert "moof" not in boxes and boxes.index("moov") < boxes.index("mdat"), boxes  # whole file, faststart
    assert_signed_and_marked(studio, item.path, still_name="still" if mode == "image" else None)
    p = item.params
    assert (p["task"], p["mode"], p["model"], p["pipeline"]) == ("video", mode, model, pipeline)
    assert (p["frames"], p["fps"], p["width"], p["height"], p["seed"], p["steps"]) == (frames, 8, 256, 256, 5, 2)
    assert p["duration_s"] == round(frames / 8, 3) and p["license"] and p["dtype"] == "fp32"
    stages = [e.stage for e in events]
    assert stages.index("denoising") < stages.index("decoding") < stages.index("signing")
    assert [e.done for e in events if e.stage == "denoising"][-2:] == [1, 2]
    if mode == "image":
        assert p["still"] == "still.png" and stages[0] == "checking inputs"
    assert item in studio.gallery.list(SESSION, "video")


def test_the_distilled_ltx_preset_runs_on_its_own_schedule_when_the_steps_match(studio):
    """The distilled preset's timesteps reach the scheduler (8 steps): the clip differs from the
    same 8 steps on the pipeline's default spacing, and the schedule is recorded in the output."""
    import dataclasses

    from pipelines.runner import execute

    preset = studio.models.preset("video", "tiny-ltx-distilled")
    schedule = preset.limit("timesteps")
    assert len(schedule) == 8 and preset.fast
    events = []
    distilled = execute(studio.models, "video", request(model="tiny-ltx-distilled", steps=8, guidance=1.0, seed=4),
                        Progress(listener=events.append))
    assert distilled.artifacts[0].params["timesteps"] == schedule
    assert [e.done for e in events if e.stage == "denoising"][-1] == 8
    assert not any("distilled for 8 steps" in n for n in distilled.notices)

    plain = request(model="tiny-ltx-distilled", steps=8, guidance=1.0, seed=4)
    plain.check(dataclasses.replace(preset, limits={k: v for k, v in preset.limits.items() if k != "timesteps"}))
    loaded = studio.models.get("video", "tiny-ltx-distilled").pipe
    spaced = video.run(loaded, plain, Progress()).artifacts[0]
    assert "timesteps" not in spaced.params
    assert not all(np.array_equal(a, b) for a, b in zip(distilled.artifacts[0].frames, spaced.frames))

    other = execute(studio.models, "video", request(model="tiny-ltx-distilled", steps=4, guidance=1.0, seed=4))
    assert "timesteps" not in other.artifacts[0].params
    assert any("distilled for 8 steps" in n for n in other.notices)


def test_a_size_off_the_grid_and_a_duration_come_out_exactly_as_planned(studio):
    item, notices = produce(studio, width=270, height=256, frames=0, duration_s=1.0, fps=12)
    mp4 = read_mp4(item.path)
    assert (mp4["width"], mp4["height"], mp4["frames"], mp4["fps"]) == (270, 256, 9, Fraction(12))
    assert (item.params["generated_width"], item.params["generated_height"]) == (288, 256)
    assert any("multiples of 32" in n for n in notices) and any("is 12 frames" in n for n in notices)
    assert_signed_and_marked(studio, item.path)


def test_same_seed_same_clip_and_the_shared_pipeline_is_untouched(studio):
    shared = studio.models.get("video", "tiny-ltx").pipe.pipes["text"]
    scheduler, config = shared.scheduler, dict(shared.scheduler.config)
    a = run_clip(studio, seed=11).artifacts[0]
    b = run_clip(studio, seed=11).artifacts[0]
    c = run_clip(studio, seed=12).artifacts[0]
    assert all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames))
    assert not np.array_equal(a.frames[0], c.frames[0])
    assert shared.scheduler is scheduler and dict(shared.scheduler.config) == config
    assert getattr(shared, "_guidance_scale", None) is None  # per-call state lives on the request's view
    published = studio.publisher.publish(a, task="video", session_id=SESSION)[0]
    assert_signed_and_marked(studio, published.path)


def test_cancel_stops_between_steps_and_the_next_clip_runs(studio):
    progress = Progress()
    progress._listener = lambda e: progress.cancel_event.set() if e.stage == "denoising" and e.done >= 1 else None
    with pytest.raises(Cancelled):
        run_clip(studio, progress=progress, steps=4)
    assert len(run_clip(studio).artifacts[0].frames) == 9


def test_out_of_memory_says_what_to_lower_and_the_studio_keeps_serving(studio):
    transformer = studio.models.get("video", "tiny-ltx").pipe.pipes["text"].transformer

    def exhausted(module, args, kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    hook = transformer.register_forward_pre_hook(exhausted, with_kwargs=True)
    try:
        with pytest.raises(OutOfMemory, match="Lower the size, the batch or the frame count"):
            run_clip(studio)
    finally:
        hook.remove()
    assert len(run_clip(studio).artifacts[0].frames) == 9


def test_memory_settings_apply_where_the_model_supports_them_and_say_so_where_not(studio):
    from pipelines.device import Runtime

    runtime = Runtime(vae_tiling=True, vae_slicing=True, offload="model")
    svd_folder, _ = studio.models.source(studio.models.preset("video", "tiny-svd"))
    svd, notices = video.load(svd_folder, "cpu", torch.float32, runtime)
    assert svd.decode_chunk_size == 2   # SVD slices its decode by frames
    assert any("VAE tiling is not available for AutoencoderKLTemporalDecoder" in n for n in notices)
    assert any("CPU offload (model) needs CUDA" in n for n in notices)
    ltx_folder, _ = studio.models.source(studio.models.preset("video", "tiny-ltx"))
    ltx, notices = video.load(ltx_folder, "cpu", torch.float32, runtime)
    vae = ltx.pipes["text"].vae
    assert vae.use_tiling and vae.use_slicing and ltx.pipes["image"].vae is vae
    assert not any("tiling" in n for n in notices)


def test_both_modes_keep_the_loaded_precision(studio):
    from pipelines.device import Runtime

    ltx_folder, _ = studio.models.source(studio.models.preset("video", "tiny-ltx"))
    ltx, _ = video.load(ltx_folder, "cpu", torch.bfloat16, Runtime())
    for pipe in ltx.pipes.values():  # from_pipe would cast the shared weights to float32 unless told
        assert {pipe.transformer.dtype, pipe.vae.dtype, pipe.text_encoder.dtype} == {torch.bfloat16}
    wan_folder, _ = studio.models.source(studio.models.preset("video", "tiny-wan"))
    wan, _ = video.load(wan_folder, "cpu", torch.bfloat16, Runtime())
    for pipe in wan.pipes.values():  # Wan's VAE decodes in float32, as published
        assert (pipe.transformer.dtype, pipe.vae.dtype) == (torch.bfloat16, torch.float32)
