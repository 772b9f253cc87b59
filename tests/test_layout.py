"""The layout of the Python package: no import circles (also none under
``TYPE_CHECKING`` or inside functions), no file over 400 lines, the stages in
the order formula → frame → models → results, the public API in place, and
results that pickle."""

from __future__ import annotations

import ast
import pickle
import pickletools
from pathlib import Path

import numpy as np
import pandas as pd

import merx

PKG = Path(__file__).resolve().parents[1] / "python" / "merx"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _extension_modules() -> set[str]:
    """Compiled modules (``merx._core``): leaves of the graph, imported but importing nothing of ours."""
    out = set()
    for p in PKG.rglob("*"):
        if p.suffix in (".so", ".pyd"):
            parts = p.relative_to(PKG.parent).parts
            out.add(".".join(parts[:-1] + (p.name.split(".")[0],)))
    return out


def _targets(name: str, path: Path, node: ast.AST, modules: dict, extensions: set) -> list[str]:
    """The modules of the package that one import statement loads."""

    def known(mod: str) -> str | None:
        # the longest prefix that is a module of the package ("merx.frame.values.Numeric" -> values)
        while mod and mod not in modules and mod not in extensions:
            mod = mod.rpartition(".")[0]
        return mod or None

    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == "merx":
                out.append(known(alias.name))
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{node.module}" if node.module else package
        else:
            base = node.module or ""
        if base.split(".")[0] != "merx":
            return []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            out.append(sub if (sub in modules or sub in extensions) else known(base))
    return [t for t in out if t is not None and t not in extensions]


def import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports: every import statement anywhere in
    the file (top level, under ``if TYPE_CHECKING:``, inside functions), plus
    the implicit import of each enclosing subpackage (importing
    ``merx.frame.values`` runs ``merx/frame/__init__.py``). The root package
    ``merx`` is left out as an implicit parent: every module is loaded through it."""
    modules = _modules()
    extensions = _extension_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(_targets(name, path, node, modules, extensions))
        parent = name.rpartition(".")[0]
        while parent.count("."):
            edges.add(parent)
            parent = parent.rpartition(".")[0]
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_import_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert len(graph) > 25
    # a function-level import and a relative import two levels up
    assert "merx.models.lmer" in graph["merx.__main__"]
    assert "merx.rstyle.numbers" in graph["merx.frame.values"]
    # synthetic circle through TYPE_CHECKING is found
    g = {k: set(v) for k, v in graph.items()}
    g["merx.rstyle.numbers"].add("merx.results.lmer")
    assert find_cycle(g) is not None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else module


def test_stages_import_only_downwards():
    """errors < progress < rstyle < families < formula < frame < results < models < the package root."""
    order = ["merx.errors", "merx.progress", "rstyle", "merx.families", "formula", "frame", "results", "models"]
    graph = import_graph()
    for m, targets in graph.items():
        if _stage(m) not in order:
            continue
        for t in targets:
            if _stage(t) in order and _stage(t) != _stage(m):
                assert order.index(_stage(t)) < order.index(_stage(m)), f"{m} imports {t}"


def test_subpackage_inits_import_nothing():
    for path in PKG.rglob("__init__.py"):
        if path.parent == PKG:
            continue
        tree = ast.parse(path.read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))], path


def test_no_file_over_400_lines():
    long = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_public_api():
    for name in ["lmer", "build_problem", "LmerResult", "load_example", "list_examples", "read_data",
                 "MerxError", "FormulaError", "DataError"]:
        assert hasattr(merx, name), name
    assert callable(merx.lmer) and callable(merx.build_problem)
    assert issubclass(merx.FormulaError, merx.MerxError) and issubclass(merx.DataError, merx.MerxError)
    from merx.results.base import MixedModelResult

    assert issubclass(merx.LmerResult, MixedModelResult)


def test_fitted_result_pickles_in_this_layout():
    m = merx.lmer("Reaction ~ Days + (Days | Subject)", merx.load_example("sleepstudy"), data_name="sleepstudy")
    blob = pickle.dumps(m)
    # the pickle names the classes where they live now
    text = " ".join(str(arg) for _, arg, _ in pickletools.genops(blob))
    assert "merx.results.lmer" in text and "merx.frame.model_frame" in text
    back = pickle.loads(blob)
    assert type(back) is merx.LmerResult
    assert back._problem is None
    assert str(back) == str(m)
    assert str(back.summary()) == str(m.summary())
    assert str(back.VarCorr) == str(m.VarCorr)
    assert str(back.ranef()) == str(m.ranef())
    pd.testing.assert_series_equal(back.fixef, m.fixef)
    pd.testing.assert_series_equal(back.theta, m.theta)
    np.testing.assert_array_equal(back.fitted, m.fitted)
    new = merx.load_example("sleepstudy").head(20)
    np.testing.assert_array_equal(back.predict(new), m.predict(new))
