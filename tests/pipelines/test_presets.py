"""Preset files: every shipped file parses strictly; typos and unknown keys are errors."""
import pytest

from pipelines import registry
from pipelines.errors import PresetError
from pipelines.presets import PRESETS_DIR, load_presets, load_styles, parse_presets

GOOD = {"label": "x", "tier": "tiny", "family": "sd15", "tiny": "sd15", "license": "MIT", "commercial_use": True}


def test_every_shipped_preset_file_parses_against_its_request_type():
    for task in registry.TASKS:
        if not (PRESETS_DIR / "models" / f"{task}.toml").exists():
            continue
        presets = load_presets(task, registry.request_fields(task))
        assert presets, task
        for p in presets.values():
            assert p.license and isinstance(p.commercial_use, bool)


def test_text_to_image_covers_the_four_families_on_the_tiny_tier():
    presets = load_presets("text_to_image", registry.request_fields("text_to_image"))
    assert {p.family for p in presets.values() if p.tier == "tiny"} == {"sd15", "sdxl", "sd3", "flux"}
    assert {p.tier for p in presets.values()} == {"tiny", "cpu", "standard", "quality"}


@pytest.mark.parametrize("entry, message", [
    ({**GOOD, "stpes": 3}, "unknown keys"),
    ({**GOOD, "defaults": {"stpes": 3}}, "not request fields"),
    ({**GOOD, "limits": {"max_sise": 3}}, "unknown limits"),
    ({**GOOD, "tier": "huge"}, "tier"),
    ({**GOOD, "repo": "a/b"}, "exactly one of"),
    ({k: v for k, v in GOOD.items() if k != "license"}, "lacks"),
])
def test_bad_preset_entries_are_rejected(entry, message):
    with pytest.raises(PresetError, match=message):
        parse_presets("text_to_image", {"p": entry}, registry.request_fields("text_to_image"))


def test_styles_apply_template_and_extend_negative():
    styles = load_styles()
    assert "none" in styles
    prompt, negative = styles["cinematic"].apply("a fox", "blurry")
    assert "a fox" in prompt and prompt != "a fox"
    assert negative.startswith("blurry, ")
    assert styles["none"].apply("a fox", "") == ("a fox", "")
