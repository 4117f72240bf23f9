"""The tagging task's tiny twins (BLIP captioner, CLIP zero-shot tagger) through the production loader."""
from __future__ import annotations

import pytest
from PIL import Image

from pipelines.errors import InputError
from pipelines.runner import execute
from pipelines.tagging import MAX_VOCABULARY, Request, clean_vocabulary, default_vocabulary


@pytest.fixture(scope="module")
def pictures():
    return [Image.new("RGB", (96, 64), (220, 40, 30)), Image.new("RGB", (40, 120), (20, 60, 200))]


def test_tiny_blip_captions_through_the_model_layer(studio, pictures):
    result = execute(studio.models, "tagging", Request(images=pictures, model="tiny-blip"))
    assert len(result.captions) == 2 and all(isinstance(c, str) for c in result.captions)
    again = execute(studio.models, "tagging", Request(images=pictures[:1], model="tiny-blip"))
    assert again.captions[0] == result.captions[0]          # greedy: the same picture, the same caption
    loaded = studio.models.get("tagging", "tiny-blip")
    assert type(loaded.pipe.model).__name__ == "BlipForConditionalGeneration"
    assert loaded.pipe.model.config.text_config.bos_token_id == loaded.pipe.processor.tokenizer.bos_token_id


def test_tiny_clip_tags_from_a_vocabulary(studio, pictures):
    result = execute(studio.models, "tagging", Request(images=pictures, model="tiny-clip", top_k=3,
                                                       vocabulary=["fox", "cat", "日本語", "cat", " "]))
    assert len(result.tags) == 2
    for tags in result.tags:
        assert len(tags) == 3 and {t for t, _ in tags} == {"fox", "cat", "日本語"}
        assert abs(sum(p for _, p in tags) - 1) < 1e-3       # a softmax over the whole vocabulary
    default = execute(studio.models, "tagging", Request(images=pictures[:1], model="tiny-clip"))
    assert {t for t, _ in default.tags[0]} <= set(default_vocabulary())
    tokenizer = studio.models.get("tagging", "tiny-clip").pipe.processor.tokenizer
    assert len(tokenizer) == 49408 and tokenizer("a photo of a fox").input_ids[0] == 49406   # CLIP's real BPE


def test_a_vocabulary_over_the_limit_is_refused(studio, pictures):
    words = [f"word{i}" for i in range(100_000)]
    with pytest.raises(InputError, match=f"limit is {MAX_VOCABULARY:,}"):
        execute(studio.models, "tagging", Request(images=pictures[:1], model="tiny-clip", vocabulary=words))
    with pytest.raises(InputError, match="at most 60"):
        clean_vocabulary(["x" * 61])
    with pytest.raises(InputError, match="empty"):
        clean_vocabulary(["", "  "])


@pytest.mark.parametrize("kw, message", [(dict(images=[]), "1 to 16"), (dict(top_k=0), "Top tags"),
                                         (dict(images=["not a picture"]), "Only pictures"),
                                         (dict(model="tiny-vit-detector"), "Unknown|tagging uses")])
def test_bad_requests_say_what_to_do(studio, pictures, kw, message):
    with pytest.raises(Exception, match=message):
        execute(studio.models, "tagging", Request(**{"images": pictures[:1], "model": "tiny-clip", **kw}))
