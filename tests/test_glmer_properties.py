"""GLMM fits do not depend on the order of the rows or the labels of the levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import merx


def _data(seed: int, family: str, groups: int, per: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = groups * per
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=n)
    eta = -0.3 + 0.8 * x + 0.9 * rng.normal(size=groups)[g]
    if family == "binomial":
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = rng.poisson(np.exp(eta)).astype(float)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical([f"g{k}" for k in g])})


# A random search found completely separated data (seed=311295969, binomial, groups=4, per=3,
# nAGQ=0: two groups all 0, two all 1) where merx stops with "PIRLS could not lower the
# penalized deviance ... the model may be separated" while lme4 returns a degenerate fit with
# warnings; the suite runs derandomized (tests/conftest.py), and that case is an open issue.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), family=st.sampled_from(["binomial", "poisson"]), groups=st.integers(4, 12),
       per=st.integers(3, 10), nagq=st.sampled_from([0, 1, 7]))
def test_row_order_and_level_labels_change_nothing(seed, family, groups, per, nagq):
    d = _data(seed, family, groups, per)
    if d["y"].nunique() < 2:
        return
    base = merx.glmer("y ~ x + (1 | g)", d, family=family, nAGQ=nagq)
    rng = np.random.default_rng(seed + 1)
    shuffled = d.iloc[rng.permutation(len(d))].reset_index(drop=True)
    labels = {f"g{k}": f"h{v}" for k, v in enumerate(rng.permutation(groups))}
    shuffled["g"] = pd.Categorical(shuffled["g"].astype(str).map(labels))
    other = merx.glmer("y ~ x + (1 | g)", shuffled, family=family, nAGQ=nagq)
    assert abs(other.logLik - base.logLik) < 1e-6 * max(1.0, abs(base.logLik))
    np.testing.assert_allclose(other.fixef.values, base.fixef.values, atol=2e-4)
    np.testing.assert_allclose(other.theta.values, base.theta.values, atol=2e-4)
    # the modes follow their levels
    modes = base.ranef()["g"]["(Intercept)"]
    moved = other.ranef()["g"]["(Intercept)"]
    np.testing.assert_allclose([moved[labels[k]] for k in modes.index], modes.values, atol=2e-3)
