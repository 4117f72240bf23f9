"""Captions and tags after publish: through the studio's own path, found by search, never signed, and
taken only in device turns no visitor is waiting for."""
from __future__ import annotations

import threading
import time

from pipelines.text_to_image import Request
from studio.jobs import DeviceTurns
from studio.library import Filters
from studio.library_tagging import LibraryTagger


def make_image(studio, session: str, prompt: str):
    request = Request(prompt=prompt, model="tiny-sd15", seed=7, steps=2, width=64, height=64)
    return studio.produce("text_to_image", request, session_id=session).items[0]


def test_a_published_image_is_tagged_in_the_background_and_found_by_its_tags(studio, background_tagging):
    item = make_image(studio, "tagging-visitor", "a quiet harbour")
    deadline = time.time() + 180
    while time.time() < deadline and studio.library.untagged(50) and \
            item.id in [i.id for i in studio.library.untagged(50)]:
        time.sleep(0.5)
    hit = studio.library.search("tagging-visitor", "harbour").hits[0]
    assert hit.item.id == item.id and hit.tags and hit.auto_caption is not None
    found = studio.library.search("tagging-visitor", f'"{hit.tags[0]}"').hits
    assert item.id in [h.item.id for h in found]
    assert studio.library.search("someone-else", f'"{hit.tags[0]}"').hits == []


def test_tags_and_captions_never_enter_the_signed_file(studio):
    tagger = LibraryTagger(studio, start=False)
    item = make_image(studio, "tagging-visitor-2", "lighthouse")
    caption, tags = tagger.tag(item)
    assert tags and studio.library.search("tagging-visitor-2", f'"{tags[0]}"').total == 1
    manifest = str(studio.publisher.verify(item.path).to_dict())
    for word in [*tags, caption]:
        if len(word) > 3:
            assert f"'{word}'" not in manifest and f'"{word}"' not in manifest


def test_a_tagging_turn_is_taken_only_when_no_visitor_waits():
    turns = DeviceTurns(slots=1)
    turns.join("visitor", "job-1")                    # holds the turn
    assert not turns.take_if_idle("tagging-1")
    turns.join("visitor-2", "job-2")                  # waits
    turns.leave("job-1")                              # job-2 gets it at once, before any tagging
    assert turns.wait("job-2", 0)
    assert not turns.take_if_idle("tagging-1")
    turns.leave("job-2")
    assert turns.take_if_idle("tagging-1")            # idle: tagging may take a turn
    got = threading.Event()
    turns.join("visitor-3", "job-3")                  # a visitor arriving now waits for that one item only
    threading.Thread(target=lambda: got.set() if turns.wait("job-3", 10) else None).start()
    assert not got.wait(0.2)
    turns.leave("tagging-1")
    assert got.wait(5)
    assert turns.counts()["holding"] == 1


def test_the_tagger_steps_aside_when_the_device_is_busy(studio):
    tagger = LibraryTagger(studio, start=False)
    tagger.quiet_s = 0
    studio.jobs.turns.join("busy-visitor", "busy-job")   # a visitor's job holds the device
    try:
        item = make_image(studio, "tagging-visitor-3", "busy day")
        assert item.id in [i.id for i in studio.library.untagged(100)]
        assert tagger.tag_next() is False                # nothing taken, nothing tagged
        assert item.id in [i.id for i in studio.library.untagged(100)]
    finally:
        studio.jobs.turns.leave("busy-job")
    assert tagger.tag_next() is True                     # idle again: the oldest waiting item is tagged


def test_the_tiny_clap_twin_tags_a_sound_through_the_production_loader(studio):
    import numpy as np
    import pytest

    from pipelines.errors import InputError
    from pipelines.runner import execute
    from pipelines.tagging import SOUND_VOCABULARY_FILE, Request, default_vocabulary

    preset = studio.models.preset("tagging", "tiny-clap")
    pipe = studio.models.get("tagging", "tiny-clap").pipe
    assert pipe.processor.feature_extractor.sampling_rate == 48_000        # as laion/clap-htsat-unfused
    assert studio.models.preset("tagging", "clap-htsat-unfused").repo == "laion/clap-htsat-unfused"
    tone = np.sin(2 * np.pi * 440 * np.arange(16_000 * 2) / 16_000).astype(np.float32)
    first = execute(studio.models, "tagging", Request(sounds=[(tone, 16_000)], model="tiny-clap"))
    again = execute(studio.models, "tagging", Request(sounds=[(tone, 16_000)], model="tiny-clap"))
    vocabulary = default_vocabulary(SOUND_VOCABULARY_FILE)
    assert len(first.tags[0]) == preset.defaults["top_k"] and all(t in vocabulary for t, _ in first.tags[0])
    assert first.tags == again.tags                                         # greedy: the same sound, the same tags
    with pytest.raises(InputError, match="mono"):
        Request(sounds=[(np.zeros((2, 16_000), np.float32), 16_000)], model="tiny-clap").check(preset)
    with pytest.raises(InputError, match="1 to 16 sounds"):
        Request(model="tiny-clap").check(preset)


def test_a_published_voice_is_tagged_by_sound_and_found_by_its_tags(studio):
    from pipelines.speech import Request as SpeechRequest

    tagger = LibraryTagger(studio, start=False)
    item = studio.produce("speech", SpeechRequest(text="The tide is turning.", model="tiny-vits", seed=3),
                          session_id="tagging-voice").items[0]
    caption, tags = tagger.tag(item)
    assert tags and caption == ""
    hit = studio.library.search("tagging-voice", f'"{tags[0]}"', Filters(kind="audio")).hits
    assert [h.item.id for h in hit] == [item.id] and hit[0].tags == tags
    assert item.id not in [i.id for i in studio.library.untagged(500)]


def test_a_visitor_who_arrives_mid_item_waits_for_one_model_call_only(studio):
    tagger = LibraryTagger(studio, start=False)
    tagger.quiet_s = 0                               # the studio's own tagger is paused (tests/conftest.py)
    turns, calls = studio.jobs.turns, []
    try:
        item = make_image(studio, "tagging-visitor-4", "a cormorant drying its wings")
        while studio.library.untagged(1)[0].id != item.id:   # what the background tagger would have done
            tagger.tag(studio.library.untagged(1)[0])
        run = tagger._execute

        def execute(request):                        # a visitor's job arrives while the caption is made
            out = run(request)
            if not calls:
                turns.join("arriving-visitor", "arriving-job")
            calls.append(request.model)
            return out

        tagger._execute = execute
        assert tagger.tag_next() is False            # the turn is given back after one model call
        assert calls == [tagger.captioner]
        assert turns.wait("arriving-job", 0)         # the visitor holds the device now
        assert item.id in [i.id for i in studio.library.untagged(10)]   # tagged later
    finally:
        turns.leave("arriving-job")
    tagger._execute = run
    assert tagger.tag_next() is True and item.id not in [i.id for i in studio.library.untagged(500)]


def test_each_tier_tags_with_its_own_models_and_a_real_tier_never_with_a_twin(studio):
    from types import SimpleNamespace

    from studio.library_tagging import pick_preset

    for tier, blip, clap in (("tiny", "tiny-blip", "tiny-clap"), ("cpu", "blip-base", "clap-htsat-unfused"),
                             ("standard", "blip-large", "clap-htsat-unfused"),
                             ("quality", "blip-base", "clap-htsat-unfused")):
        fake = SimpleNamespace(models=studio.models, settings=SimpleNamespace(default_tier=tier))
        assert (pick_preset(fake, "blip", ""), pick_preset(fake, "clap", "")) == (blip, clap), tier
    assert pick_preset(fake, "clip", " clip-vit-l14 ") == "clip-vit-l14"   # the settings' choice goes first


def test_the_newest_item_is_tagged_first(studio):
    """A visitor searches for what they just made: a backlog of older items (a busy demo, a restart, or
    this suite's hundreds of outputs, which kept the items of the tests above waiting past 120 s) must
    not keep it waiting. (The studio's own tagger is paused here: tests/conftest.py.)"""
    older = make_image(studio, "tagging-visitor-5", "an older picture")
    newest = make_image(studio, "tagging-visitor-5", "the newest picture")
    assert [i.id for i in studio.library.untagged(2)] == [newest.id, older.id]
