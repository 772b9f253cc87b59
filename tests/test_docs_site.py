"""The documentation site builds with mkdocs-material and mkdocstrings under ``--strict``
(any warning fails: a broken link, a docstring mkdocstrings cannot parse, a missing page),
the API reference has an entry for every public name, and the getting-started page's code
runs."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import merx
import merx.plot as merx_plot
import merx.sklearn as merx_sklearn

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    pytest.importorskip("material", reason="mkdocs-material is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings-python is not installed")
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, str(ROOT / "docs" / "build.py"), "--site-dir", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return out


def test_strict_build_writes_every_page(site):
    for page in ("index.html", "getting-started.html", "install.html", "lme4.html", "architecture.html",
                 "plots.html", "sklearn.html", "dask.html", "benchmarks/index.html", "benchmarks/method.html",
                 "api/index.html", "api/families.html", "api/plot.html", "api/sklearn.html"):
        assert (site / page).stat().st_size > 1000, page
    assert (site / "images" / "caterpillar_sleepstudy.png").exists()


def test_api_reference_covers_the_public_names(site):
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in merx.__all__:
        if name == "families":
            continue
        assert f'id="merx.{name}"' in api, f"merx.{name} is not in the API reference"
    assert 'id="merx.LmerResult.summary"' in api  # methods of the result classes, inherited ones too
    assert 'id="merx.LmerResult.predict_interval"' in api
    for module, page in ((merx_plot, "plot.html"), (merx_sklearn, "sklearn.html")):
        html = (site / "api" / page).read_text(encoding="utf-8")
        for name in module.__all__:
            assert f'id="{module.__name__}.{name}"' in html, f"{module.__name__}.{name} missing"
    families = (site / "api" / "families.html").read_text(encoding="utf-8")
    assert 'id="merx.families.NBinom2"' in families
    # numpydoc sections are rendered as sections, not as raw text
    assert "Raises" in api and "----------" not in api


def test_benchmark_tables_are_included(site):
    html = (site / "benchmarks" / "index.html").read_text(encoding="utf-8")
    assert "merx benchmark results" in html and "<table>" in html


def test_getting_started_code_runs():
    text = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    ns: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in blocks:
            exec(block, ns)  # noqa: S102 - the page's own examples
    assert abs(ns["m"].REMLcrit - 1743.628) < 1e-3
    assert ns["g"].family_name == "binomial"
