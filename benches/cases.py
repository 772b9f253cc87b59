"""Benchmark cases: formulas, data loaders, reference values and targets.

Every tool gets the same pandas DataFrame for a case. Grouping columns are
pandas Categoricals (bundled data: level order from ``*.levels.json``;
generated data: zero-padded labels in code order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
BUNDLED_DIR = REPO / "python" / "merx" / "data"
DATA_DIR = BENCH_DIR / "data"
REFERENCE_DIR = REPO / "tests" / "reference"


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    formula: str
    source: str                      # "bundled:<Name>" or "generated:<case>"
    repeats: int                     # default timed repeats
    target_fit_s: float              # project target for merx (2-core machine)
    target_peak_mb: float | None     # project target for merx peak RSS
    # statsmodels-style spelling (mixedlm-rs): fixed formula, re_formula,
    # groups column, vc_formula (None when the model has one grouping factor)
    sm_formula: str = ""
    sm_re_formula: str | None = None
    sm_groups: str | None = None
    sm_vc_formula: dict | None = None
    reference: str | None = None     # tests/reference/<id>.json (lme4)
    family: str | None = None        # GLMM family ("binomial"); None: an LMM (REML)
    notes: str = ""
    extra: dict = field(default_factory=dict)


CASES: dict[str, Case] = {
    c.name: c
    for c in [
        Case(
            name="sleepstudy",
            title="sleepstudy (180 rows, 18 subjects)",
            formula="Reaction ~ Days + (Days | Subject)",
            source="bundled:sleepstudy",
            repeats=30,
            target_fit_s=0.5e-3,
            target_peak_mb=None,
            sm_formula="Reaction ~ Days",
            sm_re_formula="~Days",
            sm_groups="Subject",
            reference="sleepstudy_reml",
        ),
        Case(
            name="insteval",
            title="InstEval (73,421 rows; s 2972 x d 1128 crossed + dept:service 28)",
            formula="y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)",
            source="bundled:InstEval",
            repeats=5,
            target_fit_s=0.7,
            target_peak_mb=None,
            sm_formula="y ~ 1 + service",
            sm_groups="__one__",
            sm_vc_formula={"s": "0 + C(s)", "d": "0 + C(d)",
                           "dept:service": "0 + C(dept):C(service)"},
            reference="insteval",
        ),
        Case(
            name="nested_1m",
            title="nested 1M (20,000 groups x 50 rows, correlated intercept + slope)",
            formula="y ~ x1 + x2 + (1 + x1 | g)",
            source="generated:nested_1m",
            repeats=3,
            target_fit_s=0.25,
            target_peak_mb=1500.0,
            sm_formula="y ~ x1 + x2",
            sm_re_formula="~x1",
            sm_groups="g",
        ),
        Case(
            name="crossed_1m",
            title="crossed 1M (50,000 users x 2,000 Zipf items)",
            formula="y ~ x + (1 | user) + (1 | item)",
            source="generated:crossed_1m",
            repeats=3,
            target_fit_s=2.0,
            target_peak_mb=1500.0,
            sm_formula="y ~ x",
            sm_groups="__one__",
            sm_vc_formula={"user": "0 + C(user)", "item": "0 + C(item)"},
        ),
        Case(
            name="crossed_10m",
            title="crossed 10M (200,000 lognormal users x 10,000 Zipf items)",
            formula="y ~ x + (1 | user) + (1 | item)",
            source="generated:crossed_10m",
            repeats=1,
            target_fit_s=60.0,
            target_peak_mb=4000.0,
            sm_formula="y ~ x",
            sm_groups="__one__",
            sm_vc_formula={"user": "0 + C(user)", "item": "0 + C(item)"},
        ),
        Case(
            name="verbagg",
            title="VerbAgg (7,584 rows; id 316 x item 24 crossed), binomial",
            formula="r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
            source="bundled:VerbAgg",
            repeats=10,
            target_fit_s=0.1,
            target_peak_mb=None,
            family="binomial",
        ),
        Case(
            name="binary_100k",
            title="binary 100k (5,000 groups x 20 rows), binomial",
            formula="y ~ x + (1 | g)",
            source="generated:binary_100k",
            repeats=5,
            target_fit_s=0.4,
            target_peak_mb=None,
            family="binomial",
        ),
    ]
}


# --------------------------------------------------------------------------
# loaders

def read_bundled_direct(name: str) -> pd.DataFrame:
    """csv.gz + levels.json -> DataFrame, columns in levels.json as Categorical."""
    df = pd.read_csv(BUNDLED_DIR / f"{name}.csv.gz")
    levels_path = BUNDLED_DIR / f"{name}.levels.json"
    levels = json.loads(levels_path.read_text()) if levels_path.exists() else {}
    for col, lv in levels.items():
        lv = [str(v) for v in lv]
        cat = pd.Categorical(df[col].astype(str), categories=lv)
        if pd.isna(cat).any() and not df[col].isna().any():
            raise ValueError(f"{name}.{col}: values outside levels.json")
        df[col] = cat
    return df


def read_bundled(name: str, use_merx: bool = False) -> tuple[pd.DataFrame, str]:
    """The bundled dataset; via merx.datasets.load_example when asked and available."""
    if use_merx:
        try:
            from merx.datasets import load_example  # type: ignore
        except Exception:
            pass
        else:
            return load_example(name), "merx.datasets.load_example"
    return read_bundled_direct(name), "csv.gz+levels.json"


def _categorical(codes: np.ndarray, prefix: str, n_levels: int) -> pd.Categorical:
    width = len(str(n_levels - 1))
    cats = [f"{prefix}{i:0{width}d}" for i in range(n_levels)]
    return pd.Categorical.from_codes(codes.astype(np.int32, copy=False), categories=cats)


def read_generated(name: str) -> pd.DataFrame:
    path = DATA_DIR / f"{name}.npz"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: run `python benches/generate.py` first")
    a = np.load(path)
    if name == "nested_1m":
        g = a["g"]
        return pd.DataFrame({"y": a["y"], "x1": a["x1"], "x2": a["x2"],
                             "g": _categorical(g, "g", int(g.max()) + 1)})
    if name == "binary_100k":
        g = a["g"]
        return pd.DataFrame({"y": a["y"], "x": a["x"],
                             "g": _categorical(g, "g", int(g.max()) + 1)})
    if name in ("crossed_1m", "crossed_10m"):
        u, i = a["user"], a["item"]
        return pd.DataFrame({"y": a["y"], "x": a["x"],
                             "user": _categorical(u, "u", int(u.max()) + 1),
                             "item": _categorical(i, "i", int(i.max()) + 1)})
    raise KeyError(name)


def load_case(case: Case, use_merx: bool = False) -> tuple[pd.DataFrame, str]:
    kind, name = case.source.split(":", 1)
    if kind == "bundled":
        return read_bundled(name, use_merx=use_merx)
    return read_generated(name), f"benches/data/{name}.npz"


def load_reference(case: Case) -> dict | None:
    """lme4 values from tests/reference (theta by lme4 name, sigma, REMLcrit, fixef)."""
    if not case.reference:
        return None
    path = REFERENCE_DIR / f"{case.reference}.json"
    if not path.exists():
        return None
    d = json.loads(path.read_text())
    return {
        "tool": "lme4 (tests/reference)",
        "version": d.get("versions", {}).get("lme4"),
        "theta": {k: float(v) for k, v in d["theta"].items()},
        "sigma": float(d["sigma"]),
        "REMLcrit": float(d["REMLcrit"]),
        "fixef": {k: float(v) for k, v in d["fixef"].items()},
        "n_eval": d.get("optinfo", {}).get("feval"),
        "timing": d.get("timing"),
        "cpu": d.get("versions", {}).get("cpu"),
    }


def theta_names(blocks: list[tuple[str, list[str]]]) -> list[str]:
    """lme4's names for theta: per term the column-wise lower triangle.

    ``[("Subject", ["(Intercept)", "Days"])]`` ->
    ``["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"]``.
    """
    out = []
    for grp, cols in blocks:
        k = len(cols)
        for j in range(k):
            for i in range(j, k):
                out.append(f"{grp}.{cols[i]}" if i == j else f"{grp}.{cols[i]}.{cols[j]}")
    return out
