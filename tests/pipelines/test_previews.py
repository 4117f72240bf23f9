"""Live previews and draft decoding with the tiny autoencoder, through the production loader."""
import dataclasses

import numpy as np
import pytest

from pipelines.models import ModelManager
from pipelines.progress import Progress
from pipelines.runner import execute
from pipelines.text_to_image import Request


@pytest.fixture(scope="module")
def preview_models(studio):
    """A second manager on the same data folder with previews every step (tiny models are shared)."""
    runtime = dataclasses.replace(studio.models.runtime, dtype="fp32", preview_every=1)
    return ModelManager(studio.settings.data_dir, runtime, offline=True)


@pytest.mark.parametrize("model", ["tiny-sd15", "tiny-sdxl", "tiny-sd3", "tiny-flux"])
def test_previews_arrive_before_the_final_image(preview_models, model):
    events = []
    result = execute(preview_models, "text_to_image",
                     Request(prompt="a fox", model=model, seed=1, steps=3, width=256, height=192),
                     Progress(events.append))
    previews = [e for e in events if e.preview]
    total = [e for e in events if e.stage == "denoising"][-1].total   # PNDM runs one step more
    assert len(previews) == total - 1    # every step but the last, which is the final image itself
    assert all(p.stage == "denoising" and p.done < p.total for p in previews)
    assert previews[0].preview[0].size == (256, 192)
    assert result.artifacts[0].params["decoder"] == "full VAE"


def test_previews_of_large_images_are_decoded_at_half_size_but_drafts_are_not(preview_models):
    events = []
    result = execute(preview_models, "text_to_image",
                     Request(prompt="a fox", model="tiny-sd15", seed=1, steps=2, width=512, height=448,
                             scheduler="euler"),
                     Progress(events.append))
    assert [e.preview[0].size for e in events if e.preview] == [(256, 224)]
    assert result.artifacts[0].image.size == (512, 448)
    draft = ModelManager(preview_models.data_dir,
                         dataclasses.replace(preview_models.runtime, preview_every=0, draft_decode=True), offline=True)
    final = execute(draft, "text_to_image", Request(prompt="a fox", model="tiny-sd15", steps=2, width=512, height=448))
    assert final.artifacts[0].image.size == (512, 448)


def test_draft_decode_uses_the_tiny_autoencoder_and_says_so(preview_models):
    draft_models = ModelManager(preview_models.data_dir,
                                dataclasses.replace(preview_models.runtime, preview_every=0, draft_decode=True),
                                offline=True)
    request = dict(prompt="a fox", model="tiny-sd15", seed=4, steps=2, width=256, height=256)
    draft = execute(draft_models, "text_to_image", Request(**request))
    full = execute(preview_models, "text_to_image", Request(**request))
    assert draft.artifacts[0].params["decoder"] == "tiny autoencoder (draft)"
    assert any(n.startswith("Draft:") for n in draft.notices)
    assert draft.artifacts[0].image.size == (256, 256)
    assert not np.array_equal(np.asarray(draft.artifacts[0].image), np.asarray(full.artifacts[0].image))


def test_no_previews_when_the_setting_is_off(preview_models):
    quiet = ModelManager(preview_models.data_dir, dataclasses.replace(preview_models.runtime, preview_every=0),
                         offline=True)
    events = []
    execute(quiet, "text_to_image", Request(prompt="a fox", model="tiny-sd15", steps=3, width=256, height=256),
            Progress(events.append))
    assert events and not any(e.preview for e in events)
