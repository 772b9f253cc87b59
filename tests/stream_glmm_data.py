"""A generated GLMM dataset shared by the streamed glmer tests (Parquet and Dask)."""

import numpy as np
import pandas as pd


def crossed_data(n=3000, seed=1) -> pd.DataFrame:
    """A binary and a count response on a crossed design (40 × 25 levels), 30 rows with a
    missing x, sorted by g1 (each batch sees a few of its levels)."""
    rng = np.random.default_rng(seed)
    g1, g2 = rng.integers(0, 40, n), rng.integers(0, 25, n)
    x = rng.normal(size=n)
    b1, b2, s1 = rng.normal(0, 0.8, 40), rng.normal(0, 0.5, 25), rng.normal(0, 0.3, 40)
    eta = -0.3 + 0.7 * x + b1[g1] + b2[g2]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    exposure = rng.uniform(0.5, 3, n)
    count = rng.poisson(np.exp(0.2 + 0.4 * x + b1[g1] + s1[g1] * x + b2[g2]) * exposure).astype(float)
    df = pd.DataFrame(dict(y=y, count=count, x=x, g1=[f"a{v}" for v in g1], g2=g2, log_exposure=np.log(exposure)))
    df.loc[rng.choice(n, 30, replace=False), "x"] = np.nan
    return df.sort_values("g1", kind="stable").reset_index(drop=True)
