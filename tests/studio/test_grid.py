"""Parameter grids: every cell a queued job whose image is signed on its own, the grid a signed
composite with the cells as its ingredients and its axis labels drawn on it."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines import text_to_image
from pipelines.errors import InputError
from studio.grid import GridDone, compose, parse_axis, plan_cells, run_grid

BASE = dict(prompt="a red kite over the sea", model="tiny-sd15", steps=1, width=64, height=64, seed=0)


def test_a_3x3_grid_has_9_signed_cells_that_are_the_ingredients_of_the_grid(studio):
    session = "grid-test"
    before = len(studio.jobs.history(session))
    axes = [parse_axis("seed=1,2,3"), parse_axis("guidance=1, 4, 7.5")]
    events = list(run_grid(studio, text_to_image.Request(**BASE), axes, session))
    done = events[-1]
    assert isinstance(done, GridDone) and len(done.cells) == 9
    assert any("cell 9/9" in e.stage for e in events[:-1])

    jobs = studio.jobs.history(session)[before:]  # each cell was its own queued job
    assert [(j.task, j.scope, j.state) for j in jobs] == [("text_to_image", "grid", "done")] * 9
    for cell, (seed, guidance) in zip(done.cells, [(s, g) for g in (1.0, 4.0, 7.5) for s in (1, 2, 3)]):
        assert (cell.params["seed"], cell.params["guidance"]) == (seed, guidance)  # the first axis varies fastest
        assert studio.publisher.verify(cell.path).state in ("Valid", "Trusted")

    grid = studio.publisher.verify(done.grid.path)
    assert grid.state in ("Valid", "Trusted")
    assert [i.get("relationship") for i in grid.ingredients] == ["componentOf"] * 9
    # each ingredient carries its cell's own signed manifest, and it validates inside the grid's
    assert all(i["has_credentials"] and not i["problems"] for i in grid.ingredients)
    assert [i.get("title") for i in grid.ingredients][:2] == ["cell 1 (seed: 1, guidance: 1.0)",
                                                              "cell 2 (seed: 2, guidance: 1.0)"]
    assert grid.card["actions"].count("placed") == 9 and grid.card["actions"][0].startswith("created")
    assert done.grid.params["cells"] == [c.id for c in done.cells]
    assert done.grid.params["axes"] == {"seed": ["1", "2", "3"], "guidance": ["1.0", "4.0", "7.5"]}
    sheet = Image.open(done.grid.path)
    assert sheet.width > 3 * 64 and sheet.height > 3 * 64  # room for the labels around the cells


def test_axis_labels_are_drawn_beside_the_cells():
    cells = [Image.new("RGB", (64, 64), "gray") for _ in range(4)]
    axes = [parse_axis("seed=1,2"), parse_axis("steps=2,4")]
    sheet = np.asarray(compose(cells, axes, [(0, 0), (1, 0), (0, 1), (1, 1)]).convert("L"))
    left = sheet.shape[1] - 2 * 64
    top = sheet.shape[0] - 2 * 64
    assert left > 0 and top > 0
    assert (sheet[:top, left:] < 128).any(), "no column labels drawn"
    assert (sheet[top:, :left] < 128).any(), "no row labels drawn"
    assert (sheet[top:, left:] == 128).all(), "the cells are not where the labels say"


def test_three_axes_and_a_prompt_search_and_replace():
    axes = [parse_axis("prompt=red,blue"), parse_axis("scheduler=euler,ddim"), parse_axis("model=tiny-sd15,tiny-sdxl")]
    plan = plan_cells(text_to_image.Request(**BASE), axes)
    assert len(plan) == 8
    assert [r.prompt for _, r in plan[:2]] == ["a red kite over the sea", "a blue kite over the sea"]
    assert {(r.scheduler, r.model) for _, r in plan} == {(s, m) for s in ("euler", "ddim")
                                                          for m in ("tiny-sd15", "tiny-sdxl")}


@pytest.mark.parametrize("specs, message", [
    (["seed=1,2,3,4,5", "steps=1,2,3,4,5", "guidance=1,2,3"], "would make 75 images; the limit is 64"),
    (["seed=1", "steps=1", "guidance=1", "scheduler=ddim"], "at most 3 parameters"),
    (["prompt=green,blue"], "searches for “green”"),
    (["seed=1,2", "seed=3"], "repeats one"),
])
def test_bad_grids_are_refused_before_anything_runs(studio, specs, message):
    before = len(studio.jobs.history("grid-refused"))
    with pytest.raises(InputError, match=message):
        next(run_grid(studio, text_to_image.Request(**BASE), [parse_axis(s) for s in specs], "grid-refused"))
    assert len(studio.jobs.history("grid-refused")) == before


@pytest.mark.parametrize("spec, message", [
    ("colour=1,2", "NAME one of seed"), ("steps=a,b", "takes numbers"), ("seed=", "has no values"),
])
def test_bad_axes_get_a_message(spec, message):
    with pytest.raises(InputError, match=message):
        parse_axis(spec)


def test_a_cell_the_model_refuses_stops_the_grid_before_the_first_cell(studio):
    axes = [parse_axis("steps=1,500")]
    with pytest.raises(InputError, match="Cell 2 of the grid cannot run: Steps 500 is out of range"):
        next(run_grid(studio, text_to_image.Request(**BASE), axes, "grid-refused"))


def test_another_visitors_job_takes_its_turn_between_the_cells(studio):
    """The grid does not hold the device for all its cells: a job another visitor queues while the
    first cell runs is done before the grid's last cell."""
    import threading
    import time

    runner = threading.Thread(target=lambda: list(run_grid(studio, text_to_image.Request(**BASE),
                                                           [parse_axis("seed=1,2,3")], "grid-a")))
    runner.start()
    deadline = time.monotonic() + 300
    while not any(job.state == "running" for job in studio.jobs.active("grid-a")):
        assert time.monotonic() < deadline and runner.is_alive(), "the grid's first cell never ran"
        time.sleep(0.02)
    list(studio.stream("text_to_image", text_to_image.Request(**{**BASE, "seed": 9}), "grid-b"))
    runner.join(300)
    other = studio.jobs.history("grid-b")[-1]
    cells = studio.jobs.history("grid-a")[-3:]
    assert [c.state for c in cells] == ["done"] * 3 and other.state == "done"
    assert cells[0].finished <= other.finished < cells[-1].finished


def test_studio_grid_on_the_command_line(studio, tmp_path, capsys):
    import json

    from studio.cli import main

    code = main(["--data-dir", str(studio.settings.data_dir), "grid", "--prompt", "a red kite", "--preset",
                 "tiny-sd15", "--axis", "seed=1,2", "--set", "steps=1", "--set", "width=64", "--set", "height=64",
                 "--out", str(tmp_path)])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3 and [line["seed"] for line in lines[1:]] == [1, 2]
    assert studio.publisher.verify(lines[0]["file"]).state in ("Valid", "Trusted")  # the grid, signed
    assert main(["grid", "--prompt", "x", "--axis", "colour=1", "--out", str(tmp_path)]) == 2
    assert "NAME one of seed" in capsys.readouterr().err


def test_cancel_stops_the_running_cell_and_queues_no_further_one(studio):
    from pipelines import text_to_image
    from pipelines.errors import Cancelled
    from studio.grid import GridRuns, parse_axis, run_grid

    runs, session = GridRuns(), "grid-cancel"
    cancel = runs.start(session)
    base = text_to_image.Request(prompt="a kite", model="tiny-sd15", steps=1, width=64, height=64)
    with pytest.raises(Cancelled, match="stopped after 1 of its 3 cells"):
        for event in run_grid(studio, base, [parse_axis("seed=1,2,3")], session, cancel=cancel):
            if event.stage.startswith("cell 2/3"):
                assert runs.cancel(studio, session) == 1
    assert [j.state for j in studio.jobs.history(session)] == ["done", "cancelled"]


def test_the_tab_counts_the_cells_as_typed_and_says_when_a_grid_is_too_large():
    from studio.grid import AXES
    from studio.tabs.grid import AXIS_CHOICES, count_text

    assert {value for _, value in AXIS_CHOICES if value} == set(AXES)   # the tab offers every axis
    assert count_text("seed", "1,2", "guidance", "4, 7", "", "").startswith("**4 images** (2 × 2)")
    too_many = count_text("seed", "1,2,3,4,5", "steps", ",".join(map(str, range(1, 14))), "", "")
    assert "65 images" in too_many and "the limit is 64" in too_many
    assert "not a parameter a grid can vary" in count_text("colour", "1", "", "", "", "")
    assert count_text("", "", "", "", "", "").startswith("No axis yet")
