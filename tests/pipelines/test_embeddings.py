"""The prompt-embedding cache: a hit returns the very tensors of the miss, and images are the
same as when the pipeline encodes the prompt itself."""
import dataclasses

import numpy as np
import pytest

from pipelines.embeddings import EmbeddingCache
from pipelines.models import ModelManager
from pipelines.runner import execute
from pipelines.text_to_image import Request


@pytest.fixture(scope="module")
def uncached(studio):
    """A manager with the embedding cache off (budget 0), on the same tiny models folder."""
    return ModelManager(studio.settings.data_dir, dataclasses.replace(studio.models.runtime, preview_every=0),
                        offline=True, embedding_cache_mb=0)


@pytest.mark.parametrize("model", ["tiny-sd15", "tiny-sdxl", "tiny-sd3", "tiny-flux"])
def test_cached_embeddings_give_the_same_image(studio, uncached, model):
    request = dict(prompt="a red kite over the sea", negative_prompt="blurry", model=model, seed=9, steps=2,
                   width=256, height=256, guidance=5.0, batch=2)
    hits = studio.models.embeddings.hits
    first = execute(studio.models, "text_to_image", Request(**request))
    second = execute(studio.models, "text_to_image", Request(**request))
    plain = execute(uncached, "text_to_image", Request(**request))
    assert studio.models.embeddings.hits == hits + 1
    for a, b, c in zip(first.artifacts, second.artifacts, plain.artifacts):
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
        assert np.array_equal(np.asarray(a.image), np.asarray(c.image))


def test_hit_returns_the_same_tensors_and_budget_evicts(studio):
    pipe = studio.models.get("text_to_image", "tiny-sd15").pipe
    cache = EmbeddingCache(budget_bytes=10**9)
    calls = []

    def compute():
        calls.append(1)
        return pipe.encode_prompt("a fox", pipe._execution_device, 1, True, negative_prompt=None)

    a = cache.get(pipe, ("sd", "a fox"), compute)
    b = cache.get(pipe, ("sd", "a fox"), compute)
    assert a is b and len(calls) == 1 and cache.hits == 1
    tiny = EmbeddingCache(budget_bytes=1)  # smaller than one entry: never stored
    tiny.get(pipe, ("sd", "a fox"), compute)
    tiny.get(pipe, ("sd", "a fox"), compute)
    assert len(calls) == 3 and tiny.hits == 0
