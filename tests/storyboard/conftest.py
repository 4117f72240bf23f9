"""Fixtures of the storyboard tests: one three-shot board made with the tiny models (panels, a take
per dialogue line, a music bed), shared by the export tests; one torch thread while they run
(tiny models on a loaded 2-core machine run faster on one intra-op thread)."""
from __future__ import annotations

import pytest

SESSION = "storyboard-owner-session-0001"
SCRIPT = """## EXT. PIER - DAWN
- [wide, 1s] a lighthouse on a pier in fog
> The fog came early that year.
- CU: a woman in a yellow raincoat looks up (1.2s)
ANNA: Who's there?
- [medium, pan right, 1.3s] an old fisherman mends a net
**Ben:** Only me.
"""
SMALL = dict(width=128, height=72, steps=2, fps=12, seed_policy="sequential", seed=7)


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


def finish(events):
    """Run a service generator to its end; returns (the Finished event, every Step)."""
    from studio.storyboard.service import Finished

    steps, done = [], None
    for event in events:
        if isinstance(event, Finished):
            done = event
        else:
            steps.append(event)
    assert done is not None
    return done, steps


@pytest.fixture(scope="session")
def made_board(boards):
    """The three-shot board with every panel, take and the music bed made by tiny models."""
    board = boards.create(SESSION, SCRIPT, title="Pier at dawn", **SMALL)
    finish(boards.generate_panels(SESSION, board.id))
    finish(boards.generate_voices(SESSION, board.id))
    finish(boards.generate_music(SESSION, board.id, prompt="slow foghorn drones"))
    return boards.get(SESSION, board.id)
