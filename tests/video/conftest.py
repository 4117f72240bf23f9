"""Fixtures of the video tests (helpers are in video_helpers.py)."""
from __future__ import annotations

import pytest
from video_helpers import picture


@pytest.fixture(scope="module")
def still(tmp_path_factory) -> str:
    """A 320×240 PNG still, as a visitor would upload it."""
    path = tmp_path_factory.mktemp("stills") / "still.png"
    picture(320, 240).save(path)
    return str(path)
