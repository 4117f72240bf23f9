"""How the storyboard code is layered: no import circle between its modules, a service layer that
never reaches Gradio (so the CLI, benchmarks and tests use boards without the web app), and a tab
made of short parts."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "studio" / "storyboard"


def imported(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function (`from a import b` counts a.b
    too, since b may be a module)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    return next((p for p in (path.with_suffix(".py"), path / "__init__.py") if p.is_file()), None)


def graph(names: set[str], inside: tuple[str, ...]) -> dict[str, set[str]]:
    """The import graph from `names`, following the project's own modules under `inside`."""
    edges, todo = {}, list(names)
    while todo:
        name = todo.pop()
        if name in edges:
            continue
        path = module_file(name)
        deps = imported(path) if path else set()
        edges[name] = deps
        todo += [d for d in deps if d.startswith(inside)]
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle in the graph, as the modules along it, or None."""
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (found := visit(dep, path + [dep])):
                return found
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_no_module_of_the_storyboard_imports_one_that_imports_it_back():
    modules = {f"studio.storyboard.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    edges = graph(modules, ("studio.storyboard",))
    inner = {m: {d for d in deps if d in modules} for m, deps in edges.items() if m in modules}
    assert inner["studio.storyboard.service"] >= {"studio.storyboard.panels", "studio.storyboard.making"}
    assert cycle(inner) is None, f"import circle: {' -> '.join(cycle(inner))}"
    # The runs are imported by the service, never the other way round.
    assert "studio.storyboard.service" not in inner["studio.storyboard.panels"] | inner["studio.storyboard.making"]


def test_the_cycle_finder_finds_a_circle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_the_service_layer_never_imports_gradio():
    # Statically: no import statement of the service or of a storyboard module it reaches (also
    # those inside functions, which run later) names Gradio or the studio's Gradio widgets.
    edges = graph({"studio.storyboard.service"}, ("studio.storyboard",))
    layer = {m: deps for m, deps in edges.items() if m.startswith("studio.storyboard")}
    assert {"studio.storyboard.panels", "studio.storyboard.making", "studio.storyboard.sharing"} <= set(layer)
    named = {d for deps in layer.values() for d in deps}
    assert not {n for n in named if n.split(".")[0] == "gradio" or n.startswith("studio.widgets")}
    # In a fresh interpreter, importing the service (with the runs and the sharing rules) loads no Gradio.
    code = ("import sys, studio.storyboard.service, studio.storyboard.sharing; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'gradio'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_no_function_of_the_storyboard_tab_or_package_is_long():
    files = [ROOT / "studio" / "tabs" / "storyboard.py", *PACKAGE.glob("*.py")]
    long = [(p.name, n.name, n.end_lineno - n.lineno + 1) for p in files for n in ast.walk(ast.parse(p.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 60]
    assert not long
