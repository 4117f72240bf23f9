"""One module per tab; each has `build(studio, session) -> Tab` called inside the studio's gr.Tabs().

TABS is the order they appear in.
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
