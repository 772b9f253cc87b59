"""Numpydoc sections of the public API: every public function of ``merx.__all__``,
``merx.plot`` and ``merx.sklearn`` (and every public method of the classes users construct)
has Parameters (when it takes any), Returns and Raises sections, and its Parameters
section names each parameter of its signature. The API reference (docs/build.py) is
generated from these docstrings."""

from __future__ import annotations

import inspect
import re

import pytest

import merx

plot = pytest.importorskip("merx.plot")
sklearn_mod = pytest.importorskip("merx.sklearn")

# Classes that users construct; the other public classes (results, errors) are made by merx.
CONSTRUCTED = {"NBinom2", "NBinom1", "BetaFamily", "LmerRegressor", "GlmerClassifier"}


def sections(doc: str) -> dict[str, list[str]]:
    """Section title -> its lines (a title is a line underlined by dashes)."""
    lines = inspect.cleandoc(doc or "").splitlines()
    out: dict[str, list[str]] = {}
    current = None
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip()) and line.strip():
            current = line.strip()
            out[current] = []
        elif current is not None and not re.fullmatch(r"-{3,}", line.strip()):
            out[current].append(line)
    return out


def documented_parameters(lines: list[str]) -> set[str]:
    """The names of a Parameters section's items (``a, b : type`` names a and b)."""
    names = set()
    for line in lines:
        if line and not line[0].isspace():
            head = line.split(" : ")[0]
            names.update(n.strip() for n in head.split(","))
    return names


def signature_parameters(obj) -> set[str]:
    out = set()
    for p in inspect.signature(obj).parameters.values():
        if p.name in ("self", "cls"):
            continue
        out.add(f"*{p.name}" if p.kind is p.VAR_POSITIONAL else f"**{p.name}" if p.kind is p.VAR_KEYWORD else p.name)
    return out


def public_objects() -> list[tuple[str, object]]:
    out = [(f"merx.{n}", getattr(merx, n)) for n in merx.__all__]
    for mod in (plot, sklearn_mod):
        out += [(f"{mod.__name__}.{n}", getattr(mod, n)) for n in mod.__all__]
    return [(n, o) for n, o in out if not inspect.ismodule(o)]


def public_functions() -> list[tuple[str, object]]:
    out = [(n, o) for n, o in public_objects() if inspect.isfunction(o)]
    for name, cls in public_objects():
        if inspect.isclass(cls) and cls.__name__ in CONSTRUCTED:
            out += [(f"{name}.{m}", f) for m, f in vars(cls).items() if inspect.isfunction(f) and not m.startswith("_")]
    return out


# Public methods of the result classes whose docstrings do not have the sections yet. The list
# may only shrink: a method not in it must have them, and one in it must still lack them (so
# that a method documented since is taken off). results/base.py is near the 400-line limit of
# tests/test_layout.py: its methods need a split of the module before their docstrings grow.
RESULT_METHODS_PENDING: set = set()


def result_methods() -> dict[str, object]:
    """qualified name → function, for the public methods of the public result classes (each
    function once, under the class that defines it)."""
    out = {}
    for _, cls in public_objects():
        if not inspect.isclass(cls) or cls.__name__ in CONSTRUCTED or issubclass(cls, Exception):
            continue
        for name in dir(cls):
            f = inspect.getattr_static(cls, name)
            if not name.startswith("_") and inspect.isfunction(f):
                out[f.__qualname__] = f
    return out


def complete(f) -> bool:
    found = sections(f.__doc__)
    params = signature_parameters(f)
    if not {"Returns", "Raises"} <= set(found) or (params and "Parameters" not in found):
        return False
    return not params or params <= documented_parameters(found["Parameters"])


def test_result_methods_sections():
    methods = result_methods()
    assert len(methods) >= 50
    undocumented = {q for q, f in methods.items() if not complete(f)}
    assert undocumented <= RESULT_METHODS_PENDING, f"methods without sections: {sorted(undocumented - RESULT_METHODS_PENDING)}"
    documented_since = RESULT_METHODS_PENDING - undocumented
    assert not documented_since, f"take these off RESULT_METHODS_PENDING: {sorted(documented_since)}"
    assert {"LmerInference.contest", "LmerResult.summary", "SimulationMethods.bootstrap",
            "BootstrapResult.confint", "VarianceDecomposition.icc"} <= set(methods) - undocumented


def test_the_walk_covers_the_api():
    names = {n for n, _ in public_functions()}
    assert {"merx.lmer", "merx.glmmTMB", "merx.plot.caterpillar", "merx.sklearn.LmerRegressor.fit"} <= names
    assert len(names) >= 30
    classes = {o.__name__ for _, o in public_objects() if inspect.isclass(o)}
    assert CONSTRUCTED <= classes


@pytest.mark.parametrize("name,obj", public_functions(), ids=lambda v: v if isinstance(v, str) else "")
def test_function_sections(name, obj):
    found = sections(obj.__doc__)
    params = signature_parameters(obj)
    required = {"Returns", "Raises"} | ({"Parameters"} if params else set())
    assert required <= set(found), f"{name}: missing {sorted(required - set(found))}"
    for title in required:
        assert any(line.strip() for line in found[title]), f"{name}: empty {title} section"
    if params:
        missing = params - documented_parameters(found["Parameters"])
        assert not missing, f"{name}: parameters not in its Parameters section: {sorted(missing)}"


@pytest.mark.parametrize("name,obj", [(n, o) for n, o in public_objects() if inspect.isclass(o)],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_class_docstrings(name, obj):
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), f"{name} has no docstring"
    if obj.__name__ in CONSTRUCTED:
        found = sections(obj.__doc__)
        assert "Parameters" in found, f"{name}: no Parameters section"
        missing = signature_parameters(obj) - documented_parameters(found["Parameters"])
        assert not missing, f"{name}: parameters not in its Parameters section: {sorted(missing)}"
    else:
        # made by merx (a fit's result, an error), never constructed by users
        assert obj.__name__.endswith("Result") or issubclass(obj, Exception), name


def test_sections_parser_finds_a_missing_section():
    def f(a, b):
        """Doc.

        Parameters
        ----------
        a, b : int
            Numbers.

        Returns
        -------
        int
        """

    found = sections(f.__doc__)
    assert set(found) == {"Parameters", "Returns"}
    assert documented_parameters(found["Parameters"]) == {"a", "b"}
