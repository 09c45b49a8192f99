"""The shape of core, held by tools (docs/architecture.md): import-linter checks the layers contract in
pyproject.toml; these tests add what a contract cannot say."""
from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
# The command line (cli, and cli_batch for recipes and batches) imports its commands' modules when a command
# runs, not at start: `tf-freezer inspect`
# prints the graph before the freeze, export and compare machinery would have finished importing. The
# supervisor imports the command line only to run it or to name what crashed.
LAZY_IMPORTERS = {"cli", "cli_batch", "supervise"}


def _core_modules() -> set[str]:
    return {p.stem for p in CORE.glob("*.py") if p.stem != "__init__"}


def _layers() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract, = (c for c in config["contracts"] if c["type"] == "layers")
    assert contract["containers"] == ["tf_freezer.core"]
    return [{m.strip() for m in layer.replace("|", ":").split(":")} for layer in contract["layers"]]


def test_core_has_no_import_cycle():
    graph = grimp.build_graph("tf_freezer")
    edges = nx.DiGraph()
    for module in graph.modules:
        if module.startswith("tf_freezer.core."):
            for imported in graph.find_modules_directly_imported_by(module):
                if imported.startswith("tf_freezer.core."):
                    edges.add_edge(module, imported)
    assert edges.number_of_edges() > 100  # the graph was really built
    assert [sorted(c) for c in nx.strongly_connected_components(edges) if len(c) > 1] == []


def test_every_core_module_has_its_layer():
    layers = _layers()
    placed = [m for layer in layers for m in layer]
    assert len(placed) == len(set(placed)), "a module in two layers"
    assert set(placed) == _core_modules()


def test_no_private_name_crosses_modules():
    crossings = []
    for path in CORE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("tf_freezer")):
                crossings += [f"{path.stem}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert crossings == []


def test_core_imports_its_own_modules_at_the_top():
    inside = []
    for path in CORE.glob("*.py"):
        if path.stem in LAZY_IMPORTERS:
            continue
        for function in ast.walk(ast.parse(path.read_text())):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside += [f"{path.stem}:{n.lineno} {n.module}" for n in ast.walk(function)
                           if isinstance(n, ast.ImportFrom) and n.level]
    assert inside == []


def test_the_command_line_starts_without_the_pipeline():
    """What LAZY_IMPORTERS buys: starting `tf-freezer` loads no stage and not numpy (a fresh interpreter,
    since this one has imported everything)."""
    code = ("import sys, tf_freezer.core.cli; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('tf_freezer.core.') or m == 'numpy')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = {m.rsplit(".", 1)[-1] for m in done.stdout.split()}
    assert loaded <= {"cli", "cli_batch", "errors", "fatal", "jobs", "units"}, loaded
