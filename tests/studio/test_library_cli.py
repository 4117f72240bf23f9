"""`studio library search`: the CLI's own outputs, found by their words."""
import json

from studio.cli import main


def test_library_search_finds_what_the_cli_made(tmp_path, data_dir, capsys, studio):
    code = main(["--data-dir", str(data_dir), "generate", "image", "--prompt", "a red fox on a frozen lake",
                 "--preset", "tiny-sd15", "--out", str(tmp_path), "--seed", "3", "--steps", "2"])
    assert code == 0
    made = json.loads(capsys.readouterr().out.splitlines()[0])["id"]
    assert main(["--data-dir", str(data_dir), "library", "search", "red fox", "--kind", "image", "--json"]) == 0
    found = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert made in [f["id"] for f in found]
    assert all("fox" in f["prompt"] for f in found) and all(f["mime"] == "image/png" for f in found)
    assert main(["--data-dir", str(data_dir), "library", "search", "red fox", "--kind", "audio", "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_library_search_bad_input_exits_2_with_the_message(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "library", "search", "x" * 10_000]) == 2
    assert "limit is 500" in capsys.readouterr().err
    assert main(["--data-dir", str(data_dir), "library", "search", "fox", "--since", "last week"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
