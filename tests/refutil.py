"""Shared helpers for tests that compare with the lme4 reference fits in tests/reference."""

import glob
import json
import os

import pytest

from merx.datasets import read_csv_with_levels

HERE = os.path.dirname(__file__)
REF_DIR = os.path.join(HERE, "reference")
DATA_DIR = os.path.join(HERE, "data")


def load_ref(name: str) -> dict:
    with open(os.path.join(REF_DIR, f"{name}.json")) as fh:
        return json.load(fh)


def refs_of_kind(*kinds) -> list:
    out = []
    for path in sorted(glob.glob(os.path.join(REF_DIR, "*.json"))):
        with open(path) as fh:
            d = json.load(fh)
        if d.get("kind") in kinds:
            out.append(pytest.param(d, id=os.path.basename(path)[:-5]))
    return out


_cache: dict = {}


def ref_data(name: str):
    if name not in _cache:
        _cache[name] = read_csv_with_levels(
            os.path.join(DATA_DIR, f"{name}.csv.gz"), os.path.join(DATA_DIR, f"{name}.levels.json")
        )
    return _cache[name].copy()


def _num(tok: str) -> float | None:
    try:
        return float(tok)
    except ValueError:
        return None


def assert_cbpp_summary_close(got: str, want: str) -> None:
    """merx's cbpp summary against lme4's printed one.

    The layout is lme4's to the character: the same lines, words, widths and stars. The
    numbers agree up to the optimizer's tolerance (merx's optimum is 2.8e-4 better in
    logLik), which moves the last printed digit of the residual quantiles, variances,
    estimates and standard errors (lme4's Hessian-based SEs, of its own deviance function,
    taken at merx's optimum: 2.5e-4 relative from lme4's), within 2e-4 + 2e-3 relative.
    """
    g = [ln for ln in got.rstrip("\n").split("\n") if not ln.startswith("   Data:")]
    w = [ln for ln in want.rstrip("\n").split("\n") if not ln.startswith("   Data:")]
    assert len(g) == len(w), got
    for i, (a, b) in enumerate(zip(g, w)):
        assert len(a) == len(b), f"line {i + 1} width:\n got: {a!r}\nwant: {b!r}"
        ta, tb = a.split(), b.split()
        assert len(ta) == len(tb), f"got: {a!r}\nwant: {b!r}"
        for x, y in zip(ta, tb):
            nx, ny = _num(x), _num(y)
            if nx is None or ny is None:
                assert x == y, f"line {i + 1}:\n got: {a!r}\nwant: {b!r}"
            else:
                assert abs(nx - ny) <= 2e-4 + 2e-3 * abs(ny), f"got: {a!r}\nwant: {b!r}"


def ref_modes(ref: dict, frame) -> tuple[list, list]:
    """lme4's conditional modes (levels × columns) and conditional covariances (levels ×
    k × k, diagonal from the condsd) per random-effects block of ``frame``, in its order."""
    import numpy as np

    b_list, cv_list = [], []
    for blk in frame.blocks:
        r = ref["ranef"][blk.group]
        assert [str(lv) for lv in blk.levels] == r["levels"]
        b_list.append(np.array([[r["values"][lv][c] for c in blk.columns] for lv in r["levels"]], dtype=float))
        sd = np.array([[r["condsd"][lv][c] for c in blk.columns] for lv in r["levels"]], dtype=float)
        cv_list.append(np.stack([np.diag(s**2) for s in sd]))
    return b_list, cv_list
