"""`studio grid`: a parameter grid from the command line (studio/grid.py does the work).

    studio grid --prompt "a red kite over the sea" --axis seed=1,2,3 --axis guidance=4,7 --out grids/

writes the signed grid image and its signed cells into --out, one JSON line per file (the grid first).
"""
from __future__ import annotations

import argparse


def add_grid_command(sub) -> None:
    """Register `studio grid` on the `studio` command's subparsers."""
    g = sub.add_parser("grid", help="a parameter grid: one text-to-image request varied along up to 3 axes",
                       description="Vary a text-to-image request along up to 3 axes (at most 64 images); each "
                                   "cell is a queued job, signed on its own, and the labelled grid is signed with "
                                   "the cells as its ingredients.")
    g.add_argument("--prompt", required=True, help="the prompt every cell starts from")
    g.add_argument("--axis", action="append", default=[], metavar="NAME=V1,V2,...", required=True,
                   help="seed, steps, guidance, scheduler, model or prompt (search-and-replace: the first value "
                        "is the word searched); repeat for up to 3 axes, the first across, the second down")
    g.add_argument("--preset", help="text-to-image model preset (default: the first)")
    g.add_argument("--seed", type=int, help="the seed of every cell unless an axis varies it (default: random)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any text-to-image request field")
    g.add_argument("--out", required=True, help="folder to write the signed files to")
    g.set_defaults(func=cmd_grid)


def cmd_grid(args: argparse.Namespace) -> int:
    """Run the grid through the studio's job manager and write the signed files out."""
    from pipelines.text_to_image import Request
    from studio.cli import _studio, parse_sets, write_outcome
    from studio.grid import GridDone, base_request, parse_axis, run_grid
    from studio.service import Outcome

    axes = [parse_axis(spec) for spec in args.axis]  # bad axes are refused before the studio starts
    studio = _studio(args)
    base = base_request(studio, {"model": args.preset, "prompt": args.prompt, "seed": args.seed,
                                 **parse_sets(Request, args.set)})
    done = next(e for e in run_grid(studio, base, axes, session_id="cli") if isinstance(e, GridDone))
    return write_outcome(Outcome([done.grid, *done.cells], done.notices), args.out)
