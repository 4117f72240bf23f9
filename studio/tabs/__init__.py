"""One module per tab; each has `build(studio, session) -> Tab` called inside the studio's gr.Tabs().

TABS is the order they appear in. Every registry task whose contract sets `tab` gets a tab built
from its contract (studio/task_tab.py), inside one "More tools" tab after the creation tabs, before
GENERIC_BEFORE: a new task needs no line here. A generic tab that shows its task differently (its own
looks, or its own parts beside the generic ones: `TabSpec.parts`) names the module whose
`spec(studio) -> TabSpec` says how, in SPECS.
"""
TABS = [
    "studio.tabs.concept_art",
    "studio.tabs.fill",
    "studio.tabs.video",
    "studio.tabs.voice",
    "studio.tabs.music", "studio.tabs.sound_effects",
    "studio.tabs.storyboard",
    "studio.tabs.library",
    "studio.tabs.verify",
    "studio.tabs.detect",
    "studio.tabs.models",
]
GENERIC_BEFORE = "studio.tabs.storyboard"
SPECS: dict[str, str] = {   # task -> module with spec(studio) for its generic tab
    "control": "studio.tabs.control",
    "transcribe": "studio.tabs.transcribe",
    "variation": "studio.tabs.variation",
}
