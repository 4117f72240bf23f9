"""Fixtures of the storyboard tests: one three-shot board made with the tiny models (panels, a take
per dialogue line, a music bed), shared by the export tests; one torch thread while they run
(tiny models on a loaded 2-core machine run faster on one intra-op thread)."""
from __future__ import annotations

import pytest

from story_helpers import SCRIPT, SESSION, SMALL, finish  # noqa: F401 (used by fixtures below)


@pytest.fixture(autouse=True)
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def boards(studio):
    from studio.storyboard.service import BoardService

    return BoardService(studio)


@pytest.fixture(scope="session")
def made_board(boards):
    """The three-shot board with every panel, take and the music bed made by tiny models."""
    board = boards.create(SESSION, SCRIPT, title="Pier at dawn", **SMALL)
    finish(boards.generate_panels(SESSION, board.id))
    finish(boards.generate_voices(SESSION, board.id))
    finish(boards.generate_music(SESSION, board.id, prompt="slow foghorn drones"))
    return boards.get(SESSION, board.id)
