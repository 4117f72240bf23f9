"""Live previews of video jobs: the first frame decoded mid-run by the model's own VAE (diffusers
has no tiny autoencoder for video VAEs), for every family, through the production runner."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from video_helpers import request, run_clip

from pipelines import video
from pipelines.progress import Progress
from pipelines.video_preview import decode_first_frame


@pytest.mark.parametrize("model, mode, frames, size", [
    ("tiny-ltx", "text", 9, 256),
    ("tiny-ltx", "image", 9, 256),
    ("tiny-ltx-distilled", "image", 9, 256),
    ("tiny-wan", "text", 9, 256),
    ("tiny-cogvideox", "text", 9, 128),   # 32x32 latents: decoded from 2x-pooled latents
    ("tiny-svd", "image", 4, 128),
])
def test_previews_arrive_during_the_run_for_every_family(studio, still, model, mode, frames, size):
    events = []
    run_clip(studio, events, model=model, mode=mode, image_path=still if mode == "image" else "", frames=frames,
             steps=4)
    previews = [(e.done, e.preview) for e in events if e.preview is not None]
    # every 2 steps (the studio's default), never after the last step: the final clip follows
    assert [done for done, _ in previews] == [2], [(e.stage, e.done) for e in events]
    picture = previews[0][1]
    assert picture.size == (size, size) and picture.mode == "RGB"
    assert np.asarray(picture).std() > 0   # a decoded picture, not a blank placeholder
    stages = [e.stage for e in events]
    assert stages.index("denoising") < stages.index("decoding")


def test_no_previews_when_the_setting_is_off(studio):
    loaded = studio.models.get("video", "tiny-ltx").pipe
    quiet = dataclasses.replace(loaded, preview_every=0)
    req = request(steps=4)
    req.check(studio.models.preset("video", "tiny-ltx"))
    events = []
    video.run(quiet, req, Progress(listener=events.append))
    assert not [e for e in events if e.preview is not None]
    assert loaded.preview_every == 2   # the shared model was not changed


def test_a_wan_preview_is_the_clips_first_frame_as_it_stands(studio):
    """Wan's VAE is causal in time: the first latent frame alone decodes to exactly the first
    frame of the whole clip. Decoding the final latents must give the published first frame."""
    loaded = studio.models.get("video", "tiny-wan").pipe
    req = request(model="tiny-wan", steps=2, seed=9)
    p = video.plan(req, studio.models.preset("video", "tiny-wan"))
    pipe = loaded.pipes["text"]
    args = dict(prompt=req.prompt, height=p.gen_height, width=p.gen_width, num_frames=p.frames, num_inference_steps=2,
                guidance_scale=req.guidance, max_sequence_length=512)
    with torch.inference_mode():
        latents = pipe(**args, generator=torch.Generator().manual_seed(9), output_type="latent").frames
        clip = pipe(**args, generator=torch.Generator().manual_seed(9), output_type="np").frames[0]
    preview = np.asarray(decode_first_frame(pipe, latents, p.gen_height, p.gen_width, p.frames), dtype=np.int16)
    first = (np.clip(clip[0], 0, 1) * 255).round().astype(np.int16)
    assert np.abs(preview - first).max() <= 1
