"""merx.lme with corAR1 on 1,000,000 rows: 100,000 subjects × 10 occasions, a random
intercept (SD 0.5), AR(1) errors with φ = 0.5 (SD 1).

    PYTHONPATH=python python3 benches/lme_ar1.py [--subjects 100000] [--nlme-subjects 2000]

Reports the whole ``merx.lme`` call and its phases: the model frame, the core model's
construction (symbolic analysis and the per-class lag-0/lag-1 cross-products), the
optimisation (with its number of evaluations), the result; then the time of one
evaluation on the class path against one on the row path (a pass over the rows per
evaluation), and the peak resident memory of the process (``ru_maxrss``, data included).
With ``--nlme-subjects`` it also times nlme's ``lme`` (R) on a smaller design of the same
kind, when Rscript is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time

import numpy as np
import pandas as pd

import merx
from merx.formula.model_formula import parse_formula
from merx.formula.nlme_forms import lme4_formula
from merx.frame.model_frame import build_model_frame
from merx.models.fitting import core_terms
from merx.models.lme import structure_model
from merx.results.lme import LmeResult


def simulate(subjects: int, occasions: int = 10, phi: float = 0.5, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = subjects * occasions
    g = np.repeat(np.arange(subjects), occasions)
    t = np.tile(np.arange(occasions), subjects)
    e = np.empty(n)
    z = rng.standard_normal(n)
    e[t == 0] = z[t == 0]
    for k in range(1, occasions):
        rows = np.flatnonzero(t == k)
        e[rows] = phi * e[rows - 1] + np.sqrt(1 - phi**2) * z[rows]
    b = 0.5 * rng.standard_normal(subjects)
    y = 1.0 + 0.1 * t + b[g] + e
    return pd.DataFrame({"y": y, "t": t.astype(float), "g": pd.Categorical(g)})


def phases(df: pd.DataFrame) -> dict:
    """The steps of merx.lme, each timed."""
    fixed, random, cor = "y ~ t", "~1 | g", merx.corAR1("~t | g")
    out = {}
    t0 = time.perf_counter()
    frame = build_model_frame(parse_formula(lme4_formula(fixed, random)), df)
    terms, names = core_terms(frame)
    t1 = time.perf_counter()
    problem, info = structure_model(frame, df, terms, names, None, cor, True)
    t2 = time.perf_counter()
    fit = problem.fit()
    t3 = time.perf_counter()
    m = LmeResult(frame, fit, problem=problem, fixed=fixed, random=random, method="REML", structure=info)
    t4 = time.perf_counter()
    out.update(frame_s=t1 - t0, core_model_s=t2 - t1, optimisation_s=t3 - t2, result_s=t4 - t3,
               n_eval=int(fit.n_eval), n_classes=problem.n_classes, phi=float(m.corStruct["Phi"]),
               sigma=float(m.sigma), sd_intercept=float(m.theta.iloc[0] * m.sigma), logLik=float(m.logLik))
    params = list(fit.theta) + list(fit.residual_parameters)
    X, y = np.asarray(frame.X, dtype=np.float64), np.ascontiguousarray(frame.y, dtype=np.float64)
    variance, correlation, _ = __import__("merx.models.nlme_structures", fromlist=["x"]).residual_structure(
        frame, df, None, cor, list(frame.blocks))
    for path in ("classes", "rows"):
        model = merx._core.ResidualStructureModel(X, y, terms, correlation=correlation, path=path)
        ts = []
        for k in range(5):
            p = list(params)
            p[-1] += 1e-3 * (k + 1)  # a new structure parameter: the cross-products are formed again
            s = time.perf_counter()
            model.deviance(p)
            ts.append(time.perf_counter() - s)
        out[f"evaluation_{path}_s"] = float(np.median(ts))
    return out


def nlme_time(subjects: int) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    df = simulate(subjects)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.csv")
        df.assign(g=df["g"].astype(int)).to_csv(path, index=False)
        script = (
            "suppressMessages(library(nlme)); d <- read.csv('%s'); d$g <- factor(d$g);"
            "t <- system.time(m <- lme(y ~ t, data=d, random=~1|g, correlation=corAR1(form=~t|g)))[['elapsed']];"
            "cat(t, coef(m$modelStruct$corStruct, unconstrained=FALSE), as.numeric(logLik(m)))" % path
        )
        res = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, timeout=3600)
    if res.returncode != 0:
        return {"error": res.stderr[-300:]}
    el, phi, ll = map(float, res.stdout.split())
    t0 = time.perf_counter()
    m = merx.lme("y ~ t", df, "~1 | g", correlation=merx.corAR1("~t | g"))
    merx_s = time.perf_counter() - t0
    return {"rows": len(df), "nlme_s": el, "nlme_phi": phi, "nlme_logLik": ll, "merx_s": merx_s,
            "merx_phi": float(m.corStruct["Phi"]), "merx_logLik": float(m.logLik)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--nlme-subjects", type=int, default=0)
    args = ap.parse_args()
    df = simulate(args.subjects)
    t0 = time.perf_counter()
    m = merx.lme("y ~ t", df, "~1 | g", correlation=merx.corAR1("~t | g"))
    total = time.perf_counter() - t0
    report = {"rows": len(df), "lme_total_s": total, "n_eval": int(m.fit.n_eval)}
    report.update(phases(df))
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.nlme_subjects:
        report["nlme"] = nlme_time(args.nlme_subjects)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
