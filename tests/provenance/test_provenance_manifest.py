"""Manifest building: pure functions, no signing."""
import json

import numpy as np
import pytest

from provenance.manifest import (COMPOSITE, GENERATION_LABEL, TRAINED, IngredientInfo, actions_assertion,
                                 build_manifest, disclosed_parameters, json_safe, numeric_lists_as_text,
                                 sha256_text)

PARAMS = {
    "task": "text_to_image", "model": "sd15-tiny", "model_id": "tiny/random-sd15", "revision": "0123abcd",
    "license": "creativeml-openrail-m", "seed": 1234, "steps": 4, "guidance": 7.5, "scheduler": "DDIMScheduler",
    "width": 320, "height": 320, "prompt": "a lighthouse at dusk, oil painting", "negative_prompt": "blurry",
}


def _ing(label, relationship):
    return IngredientInfo(label=label, title=f"{label}.png", relationship=relationship, mime="image/png",
                          sha256="0" * 64)


def _manifest(**overrides):
    args = dict(title="t.png", mime="image/png", task="text_to_image", params=PARAMS, disclose_prompt=True,
                studio_version="9.9.9", library_versions={"torch": "2.11.0", "diffusers": "0.42.1"},
                verdict={"score": 0.97, "label": "synthetic"}, watermark={"id": "ab" * 6, "applied": True},
                media={"width": 320, "height": 320}, created="2026-01-01T00:00:00+00:00")
    args.update(overrides)
    return build_manifest(**args)


def _generation(manifest):
    return next(a["data"] for a in manifest["assertions"] if a["label"] == GENERATION_LABEL)


def test_generation_is_created_with_trained_source():
    actions = actions_assertion("text_to_image", [], "1.0")["data"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created"]
    assert actions[0]["digitalSourceType"] == TRAINED
    assert actions[0]["softwareAgent"] == {"name": "genmedia-studio", "version": "1.0"}


def test_fill_opens_the_parent_then_edits_as_composite():
    actions = actions_assertion("fill", [_ing("p", "parentOf"), _ing("mask", "inputTo")], "1.0")["data"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[0]["parameters"]["ingredientIds"] == ["p"]
    assert actions[1]["digitalSourceType"] == COMPOSITE
    assert actions[1]["parameters"]["ingredientIds"] == ["mask"]


def test_storyboard_places_each_component():
    ings = [_ing("a", "componentOf"), _ing("b", "componentOf")]
    actions = actions_assertion("storyboard", ings, "1.0")["data"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.placed", "c2pa.placed"]
    assert actions[0]["digitalSourceType"] == COMPOSITE
    assert [a["parameters"]["ingredientIds"] for a in actions[1:]] == [["a"], ["b"]]


def test_image_to_video_cites_its_input_on_created():
    actions = actions_assertion("image_to_video", [_ing("start", "inputTo")], "1.0")["data"]["actions"]
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"] == COMPOSITE
    assert actions[0]["parameters"]["ingredientIds"] == ["start"]


def test_two_parents_are_refused():
    with pytest.raises(ValueError):
        actions_assertion("fill", [_ing("a", "parentOf"), _ing("b", "parentOf")], "1.0")


def test_studio_assertion_carries_the_generation_facts():
    manifest = _manifest()
    assert manifest["claim_generator_info"] == [{"name": "genmedia-studio", "version": "9.9.9"}]
    assert manifest["format"] == "image/png" and manifest["title"] == "t.png"
    gen = _generation(manifest)
    assert gen["model"] == {"name": "sd15-tiny", "id": "tiny/random-sd15", "revision": "0123abcd",
                            "license": "creativeml-openrail-m"}
    for key in ("seed", "steps", "guidance", "scheduler", "width", "height"):
        assert gen["parameters"][key] == PARAMS[key]
    assert gen["prompt"] == PARAMS["prompt"]
    assert gen["software"]["torch"] == "2.11.0" and gen["software"]["genmedia-studio"] == "9.9.9"
    assert gen["detector"] == {"score": 0.97, "label": "synthetic"}
    assert gen["watermark"]["id"] == "ab" * 6


def test_prompt_disclosure_off_keeps_only_hashes():
    manifest = _manifest(disclose_prompt=False)
    text = json.dumps(manifest)
    assert PARAMS["prompt"] not in text and PARAMS["negative_prompt"] not in text
    gen = _generation(manifest)
    assert gen["prompt_sha256"] == sha256_text(PARAMS["prompt"])
    assert gen["parameters"]["negative_prompt_sha256"] == sha256_text(PARAMS["negative_prompt"])
    assert "prompt" not in gen and gen["prompt_disclosed"] is False


def test_nested_prompts_are_hashed_too():
    params = {"panels": [{"prompt": "secret one", "seed": 1}, {"prompt": "secret two"}]}
    out = disclosed_parameters(params, disclose_prompt=False)
    assert "secret" not in json.dumps(out)
    assert out["panels"][0] == {"prompt_sha256": sha256_text("secret one"), "seed": 1}


def test_json_safe_converts_numpy_and_paths():
    from pathlib import Path
    out = json_safe({"a": np.float32(0.5), "b": np.int64(3), "c": (1, 2), "d": Path("/srv/x/y.png"),
                     "e": float("nan")})
    assert out == {"a": 0.5, "b": 3, "c": [1, 2], "d": "y.png", "e": "nan"}
    json.dumps(out)


def test_numeric_lists_become_text_that_round_trips():
    out = numeric_lists_as_text({"size": [512, 768], "mixed": [1, "a"], "deep": {"xs": [0.5, 300]}, "empty": []})
    assert json.loads(out["size"]) == [512, 768]
    assert out["mixed"] == [1, "a"] and out["empty"] == []
    assert json.loads(out["deep"]["xs"]) == [0.5, 300]


def test_provenance_never_imports_torch():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import sys, provenance.publish, provenance.verify; "
            "sys.exit(1 if any(m == 'torch' or m.startswith('torch.') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=root, timeout=120).returncode == 0
