"""studio/ never imports torch, diffusers or transformers: not directly, and not through a task module.

Each check runs in a fresh interpreter, since this test process has long since loaded torch.
"""
import subprocess
import sys

import pytest

HEAVY = ("torch", "diffusers", "transformers")

# What `python app.py` imports before it serves a page: the Blocks module, every tab, the service and the
# CLI with its argument parser (`studio generate --help` must not wait for torch either).
WEB_APP = """
import importlib, sys
import app, studio.ui, studio.service
from studio.tabs import TABS
for name in TABS:
    importlib.import_module(name)
"""
CLI = """
import sys
from studio.cli import parser
parser().parse_args(["generate", "fill", "--image", "x.png", "--out", "o"])
"""
REPORT = "\nprint(','.join(sorted(m for m in %r if m in sys.modules)))" % (HEAVY,)


@pytest.mark.parametrize("code", [WEB_APP, CLI], ids=["web-app", "cli-parser"])
def test_no_heavy_imports(code):
    done = subprocess.run([sys.executable, "-c", code + REPORT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported {done.stdout.strip()}"


def test_a_task_module_imports_without_torch():
    """A task module's Request and helpers are torch-free to import; the model code imports torch when it runs."""
    code = "import sys, pipelines.text_to_image, pipelines.fill, pipelines.video, pipelines.music, " \
           "pipelines.sound_effects, pipelines.speech" + REPORT
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported {done.stdout.strip()}"
