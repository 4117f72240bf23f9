"""Fixtures of the generative-fill tests (helpers are in fill_helpers.py)."""
from __future__ import annotations

import pytest
from fill_helpers import picture


@pytest.fixture(scope="module")
def source():
    """A 320×240 RGB picture."""
    return picture(320, 240)
