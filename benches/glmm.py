"""GLMM pieces of the benchmark runner (cases with ``Case.family`` set).

- ``warmup()``: the untimed first fit of a GLMM child (a small binary random-
  intercept model made here, so that the timed fits find the GLMM code paths
  imported and initialised, as the sleepstudy fit does for the LMM cases);
- ``render_markdown(results)``: the GLMM tables (fit time, estimates, agreement
  by the Laplace deviance = -2 logLik).

The estimates of a GLMM run (``tools.py``) carry ``theta`` (lme4 names),
``fixef`` (lme4 names), ``logLik``, ``deviance`` (= -2 logLik, the family's
constants included), ``n_eval`` and ``converged``; the agreement entries from
``run.agreement`` carry ``ddeviance`` (tool - baseline).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cases import CASES, Case

WARMUP = Case(name="glmm_warmup", title="binary warm-up (40 groups x 10 rows)",
              formula="y ~ x + (1 | g)", source="inline", repeats=1,
              target_fit_s=0.0, target_peak_mb=None, family="binomial")


def warmup() -> tuple[Case, pd.DataFrame]:
    """A small fixed binary data set for the untimed first fit."""
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(40), 10)
    x = rng.standard_normal(g.size)
    eta = -0.3 + 0.8 * x + rng.standard_normal(40)[g]
    y = (rng.random(g.size) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    cats = [f"g{i:02d}" for i in range(40)]
    return WARMUP, pd.DataFrame({"y": y, "x": x,
                                 "g": pd.Categorical.from_codes(g, categories=cats)})


def is_glmm(case_name: str) -> bool:
    c = CASES.get(case_name)
    return bool(c and c.family)


# --------------------------------------------------------------------------
# markdown

_FMT: dict = {}      # the runner's formatters, set by render_markdown


def _fmt_time(s) -> str:
    return _FMT["time"](s)


def _g(x, digits=3) -> str:
    return _FMT["g"](x, digits)


def _fit_row(cname: str, case: Case, r: dict) -> str:
    target = f"≤ {_fmt_time(case.target_fit_s)}"
    if not r.get("ok"):
        status = r.get("status") or ("timeout" if r.get("timed_out") else "failed")
        return (f"| {cname} | {r['tool']} | {r.get('version') or ''} | **{status}** | - | - | - | - | "
                f"{_g(r.get('others_busy_cpus_during'), 2)} | {target} |")
    est = r["estimates"]
    met = ""
    if r["tool"] == "merx":
        met = " ✅" if r["fit_median_s"] <= case.target_fit_s else " ❌"
    return (f"| {cname} | {r['tool']} | {r.get('version', '')} | "
            f"{_fmt_time(r['fit_median_s'])} ({_fmt_time(r['fit_min_s'])}) | {len(r['fit_times_s'])} | "
            f"{est.get('n_eval', '-')} | {est.get('converged')} | "
            f"{_g(r.get('peak_rss_mb'), 4)} ({_g(r.get('rss_before_fit_mb'), 4)}) | "
            f"{_g(r.get('others_busy_cpus_during'), 2)} | {target}{met} |")


def _estimate_row(cname: str, r: dict) -> str:
    e = r["estimates"]
    th = ", ".join(f"{k}={v:.6g}" for k, v in (e.get("theta") or {}).items())
    fe = ", ".join(f"{k}={v:.6g}" for k, v in (e.get("fixef") or {}).items())
    return f"| {cname} | {r['tool']} | {th} | {fe} | {e['deviance']:.10g} | {e.get('converged')} |"


def render_markdown(results: dict, fmt_time, fmt_g) -> list[str]:
    """Lines of the GLMM tables (empty when no GLMM case was run); ``fmt_time(s)`` and
    ``fmt_g(x, digits)`` are the runner's number formats."""
    _FMT.update(time=fmt_time, g=fmt_g)
    runs = [r for r in results.get("runs", []) if is_glmm(r["case"])]
    if not runs:
        return []
    glmm_cases = [(n, c) for n, c in CASES.items() if c.family]
    L = ["### GLMM: fit time", "",
         "Whole Laplace fit (nAGQ = 1: θ and β at the Laplace optimum) from the DataFrame, "
         "median of the repeats (min in parentheses), after one untimed fit of a small binary "
         "model; `n_eval`: merx = deviance evaluations of both stages, mixedlm = optimiser "
         "iterations (`res.n_iter`); peak RSS = VmHWM (RSS before the first fit); other load = CPUs "
         "kept busy by other processes while the child ran.", "",
         "| case | tool | version | fit time (min) | repeats | n_eval | converged | "
         "peak RSS MB (before fit) | other load | target (merx) |",
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for cname, case in glmm_cases:
        L += [_fit_row(cname, case, r) for r in runs if r["case"] == cname]
    na = {r["tool"]: r.get("error") for r in runs if r.get("status") == "n/a"}
    if na:
        L += [""] + [f"n/a: {t}: {why}." for t, why in na.items()]
    L += ["", "### GLMM: estimates", "",
          "deviance = −2 logLik of the Laplace approximation, the binomial constants included "
          "(for 0/1 responses they are 0).", "",
          "| case | tool | θ | β | deviance | converged |", "| --- | --- | --- | --- | --- | --- |"]
    for cname, _ in glmm_cases:
        L += [_estimate_row(cname, r) for r in runs if r["case"] == cname and r.get("ok")]
    agr = [a for a in results.get("agreement") or [] if is_glmm(a["case"])]
    if agr:
        L += ["", "### GLMM: agreement", "",
              "Differences from the baseline (merx): θ and β compared by lme4 name; Δdeviance = "
              "tool − baseline (negative: the tool found a higher Laplace likelihood).", "",
              "| case | tool | baseline | Δdeviance | max abs Δθ | max abs Δβ |",
              "| --- | --- | --- | --- | --- | --- |"]
        for a in agr:
            dth = a.get("max_abs_dtheta", a.get("max_abs_dtheta_positional"))
            names = " (names differ)" if "theta_names_mismatch" in a else ""
            L.append(f"| {a['case']} | {a['tool']} | {a['baseline']} | {_g(a.get('ddeviance'), 3)} | "
                     f"{_g(dth, 2)}{names} | {_g(a.get('max_abs_dfixef'), 2)} |")
    return L + [""]
