"""Constants and helpers shared by the storyboard tests (a module of its own: test modules cannot
import one `conftest` reliably when several test folders have one)."""
from __future__ import annotations

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
