"""Fixtures for the localisation tests: a publisher on a temporary data folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from provenance.publish import Publisher, PublishConfig


@pytest.fixture
def make_publisher(tmp_path: Path):
    """Build a Publisher on a fresh data folder; keyword arguments go to PublishConfig."""

    def make(**cfg) -> Publisher:
        return Publisher(PublishConfig(data_dir=cfg.pop("data_dir", tmp_path / "data"), **cfg))

    return make
