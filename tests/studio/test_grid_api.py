"""Parameter grids over the API (`/generate_grid`, `/cancel_grid`) through gradio_client against the
live server."""
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from studio.tabs.grid import api_names

ARGS = dict(prompt="a red kite over the sea", negative_prompt="", model="tiny-sd15", seed=3, steps=1, guidance=6.0,
            width=64, height=64, scheduler="default", x_axis="seed", x_values="1,2", y_axis="guidance",
            y_values="4,7", z_axis="", z_values="")


def call(client, **kw):
    a = {**ARGS, **kw}
    return client.predict(*[a[n] for n in api_names()], api_name="/generate_grid")


@pytest.fixture(scope="module")
def client(live_url):
    return Client(live_url, verbose=False)


def test_a_2x2_grid_downloads_signed_with_its_4_verified_cells_as_ingredients(client, studio):
    grid, cells, grids, status = call(client)
    assert "a grid of 4 cells" in status
    report = studio.publisher.verify(grid)          # the file the API caller downloaded
    assert report.state in ("Valid", "Trusted"), report.summary_lines()
    assert [i.get("relationship") for i in report.ingredients] == ["componentOf"] * 4
    # each ingredient is a signed cell whose own manifest validates inside the grid's
    assert all(i["has_credentials"] and not i["problems"] for i in report.ingredients)
    titles = ["cell 1 (seed: 1, guidance: 4.0)", "cell 2 (seed: 2, guidance: 4.0)",
              "cell 3 (seed: 1, guidance: 7.0)", "cell 4 (seed: 2, guidance: 7.0)"]
    assert [i.get("title") for i in report.ingredients] == titles
    # the cells as downloaded, each signed on its own, captioned with their values in grid order
    assert [c["caption"] for c in cells] == titles
    assert all(studio.publisher.verify(c["image"]).state in ("Valid", "Trusted") for c in cells)
    assert len(grids) >= 1   # the caller's grids


@pytest.mark.parametrize("kw, message", [
    (dict(x_values="1,2,3,4,5", y_axis="steps", y_values=",".join(map(str, range(1, 14)))),
     "would make 65 images; the limit is 64"),
    (dict(x_axis="colour"), "'colour' is not a parameter a grid can vary: use one of seed"),
    (dict(y_axis="steps", y_values="a,b"), "Axis steps takes numbers"),
    (dict(x_axis="", x_values="", y_axis="", y_values=""), "at least one axis"),
    (dict(x_axis=""), "given without a parameter"),
    (dict(x_axis="model", x_values="tiny-sd15,no-such-model"), "Cell 2 of the grid cannot run"),
])
def test_bad_grids_are_refused_with_the_message_before_any_cell_runs(client, studio, kw, message):
    before = {s: len(studio.jobs.history(s)) for s in studio.jobs.sessions()}
    with pytest.raises(AppError, match=message):
        call(client, **kw)
    assert {s: len(studio.jobs.history(s)) for s in studio.jobs.sessions()} == before


def test_cancel_grid_with_nothing_running_says_so(client):
    assert client.predict(api_name="/cancel_grid") == "No grid of yours is running."
