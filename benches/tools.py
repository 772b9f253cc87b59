"""Adapters: one per fitter, each exposing the same four operations.

``fit(case, df)``          the whole fit from the data frame (this is timed):
                           REML for an LMM case, Laplace (nAGQ = 1) for a GLMM
                           case (``case.family`` set)
``summarize(case, res)``   estimates in lme4's conventions: theta keyed by lme4
                           name, sigma, REML criterion, fixef, n_eval, converged;
                           GLMM cases: logLik and deviance = -2 logLik instead
                           of sigma and the REML criterion
``deviance_fn(case, df, res)``
                           [(label, f, theta_hat)]: f(theta) evaluates the REML
                           criterion (optionally with gradient) at theta, for
                           per-evaluation timing near the optimum (building the
                           problem is not timed)
``version()``

Peers
-----
mixedlm 1.3.x     lme4-style: ``mixedlm.lmer(formula, data, REML=True)``;
                  ``res.theta`` (lme4 layout), ``res.sigma``, ``res.REMLcrit()``,
                  ``res.fixef()``, ``res.function_evals``; deviance function via the
                  modular interface ``mkLmerDevfun(lFormula(formula, data))``.
mixedlm-rs 0.2.x  statsmodels-style: ``MixedLM.from_formula(fixed, data,
                  re_formula=..., groups=...).fit(reml=True)``; a single grouping
                  factor only (``vc_formula``/``exog_vc`` raise NotImplementedError),
                  so crossed models cannot be expressed. Estimates from the result
                  dict ``res._res`` (``lambda`` = relative covariance factor in data
                  coordinates, ``sigma``, ``deviance`` = REML criterion,
                  ``diagnostics``); its low-level core ``res._res["core"]`` is an
                  ``LmmCore`` with ``deviance(theta, reml)`` and
                  ``deviance_grad(theta, reml)`` in its internal (column-scaled)
                  coordinates, where ``res._res["theta"]`` is the optimum.
                  No GLMM (the package has no family argument anywhere).

GLMM cases: merx ``merx.glmer(formula, data, family=...)``; mixedlm
``mixedlm.glmer(formula, data, family=mixedlm.families.Binomial())`` (COBYQA,
``res.n_iter`` optimiser iterations, ``res.logLik().value``; its fixed-effect
names ``Gender.1`` are turned into lme4's ``GenderM`` via the factor levels).
No per-θ evaluation timing for GLMM cases.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd

from cases import Case, theta_names


def _val(obj: Any, name: str, default: Any = None) -> Any:
    """Attribute that may be a property or a zero-argument method."""
    if obj is None or not hasattr(obj, name):
        return default
    v = getattr(obj, name)
    if callable(v) and not isinstance(v, (np.ndarray, pd.Series, dict)):
        try:
            v = v()
        except TypeError:
            return default
    return v


def _floats(v: Any) -> list[float]:
    return [float(x) for x in np.asarray(v, dtype=float).ravel()]


def _named(values: Any, names: list[str] | None) -> dict[str, float]:
    if isinstance(values, dict):
        return {str(k): float(v) for k, v in values.items()}
    if isinstance(values, pd.Series):
        return {str(k): float(v) for k, v in values.items()}
    vals = _floats(values)
    if names is None or len(names) != len(vals):
        names = [f"[{i}]" for i in range(len(vals))]
    return dict(zip(names, vals))


def _pkg_version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _glmm_common(theta: dict, fixef: dict, loglik: float, n_eval, converged,
                 optimizer, message, **extra) -> dict:
    return {"theta": theta, "fixef": fixef, "logLik": float(loglik),
            "deviance": -2.0 * float(loglik), "n_eval": None if n_eval is None else int(n_eval),
            "converged": None if converged is None else bool(converged),
            "optimizer": None if optimizer is None else str(optimizer),
            "message": None if message is None else str(message), **extra}


class Tool:
    name = ""
    dist = ""
    glmm = False            # whether the tool fits GLMMs
    no_glmm_reason = "no GLMM fitter"

    def not_applicable(self, case: Case) -> str | None:
        """Why ``case`` cannot be run with this tool (None: it can)."""
        if case.family and not self.glmm:
            return self.no_glmm_reason
        return None

    def version(self) -> str | None:
        return _pkg_version(self.dist)

    def setup(self) -> None:
        """Imports; called once, outside any timing."""

    def build_info(self) -> dict:
        return {}

    def fit(self, case: Case, df: pd.DataFrame) -> Any:
        raise NotImplementedError

    def summarize(self, case: Case, res: Any) -> dict:
        raise NotImplementedError

    def deviance_fn(self, case: Case, df: pd.DataFrame, res: Any
                    ) -> list[tuple[str, Callable[[Any], Any], Any]]:
        return []


# --------------------------------------------------------------------------
class Merx(Tool):
    """merx: ``merx.lmer(formula, data, REML=True)``; the per-θ evaluation times
    ``LinearMixedModel.deviance`` of the model from ``merx.build_problem``."""

    name = "merx"
    dist = "merx"
    glmm = True

    def setup(self) -> None:
        import merx  # noqa: F401
        import merx._core  # noqa: F401
        self.merx = importlib.import_module("merx")
        self.lmer_fn = self.merx.lmer
        self.pipeline = "merx.lmer"

    def version(self) -> str | None:
        v = _pkg_version("merx")
        try:
            v = getattr(importlib.import_module("merx"), "__version__", v)
        except Exception:
            pass
        return v

    def build_info(self) -> dict:
        """Which compiled core was timed (the .so is rebuilt often during development)."""
        import datetime
        import hashlib
        core = importlib.import_module("merx._core")
        path = getattr(core, "__file__", None)
        info = {"core_file": path, "core_version": getattr(core, "__version__", None)}
        if path and os.path.exists(path):
            st = os.stat(path)
            info["core_mtime_utc"] = datetime.datetime.fromtimestamp(
                st.st_mtime, datetime.timezone.utc).isoformat(timespec="seconds")
            info["core_size"] = st.st_size
            with open(path, "rb") as fh:
                info["core_sha256_12"] = hashlib.sha256(fh.read()).hexdigest()[:12]
        return info

    def fit(self, case: Case, df: pd.DataFrame) -> Any:
        if case.family:
            return self.merx.glmer(case.formula, df, family=case.family)
        return self.lmer_fn(case.formula, df, REML=True)

    def summarize_glmm(self, case: Case, res: Any) -> dict:
        optinfo = _val(res, "optinfo", {}) or {}
        fit = getattr(res, "fit", None)
        n_eval = getattr(fit, "n_eval", None)
        return _glmm_common(
            _named(res.theta, None), _named(res.fixef, None), float(_val(res, "logLik")),
            n_eval if n_eval is not None else optinfo.get("feval"), _val(res, "converged"),
            optinfo.get("optimizer"), optinfo.get("message"),
            warnings=optinfo.get("warnings") or None, pipeline="merx.glmer (nAGQ=1)")

    def _blocks(self, res: Any) -> list[tuple[str, list[str]]] | None:
        for holder in (res, getattr(res, "frame", None), getattr(res, "model_frame", None)):
            blocks = getattr(holder, "blocks", None)
            if blocks:
                try:
                    return [(b.group, list(b.columns)) for b in blocks]
                except AttributeError:
                    pass
        return None

    def summarize(self, case: Case, res: Any) -> dict:
        if case.family:
            return self.summarize_glmm(case, res)
        blocks = self._blocks(res)
        names = theta_names(blocks) if blocks else None
        x_names = None
        for holder in (res, getattr(res, "frame", None)):
            x_names = x_names or getattr(holder, "x_names", None)
        theta = _floats(_val(res, "theta"))
        optinfo = _val(res, "optinfo", {}) or {}
        if not isinstance(optinfo, dict):
            optinfo = dict(vars(optinfo))
        n_eval = optinfo.get("n_eval", optinfo.get("feval", optinfo.get("nfev")))
        fixef = _val(res, "fixef")
        return {
            "theta": _named(theta, names),
            "sigma": float(_val(res, "sigma")),
            "REMLcrit": float(_val(res, "REMLcrit")),
            "fixef": _named(fixef, list(x_names) if x_names is not None else None) if fixef is not None else None,
            "n_eval": int(n_eval) if n_eval is not None else None,
            "converged": optinfo.get("converged", (optinfo["conv_code"] == 0) if "conv_code" in optinfo else None),
            "optimizer": optinfo.get("optimizer"),
            "message": optinfo.get("message"),
            "warnings": optinfo.get("warnings") or None,
            "pipeline": self.pipeline,
        }

    def deviance_fn(self, case, df, res):
        if case.family:
            return []
        frame, problem = self.merx.build_problem(case.formula, df)
        theta = np.asarray(_val(res, "theta"), float)
        self._keep = (frame, problem)
        return [("LinearMixedModel.deviance", problem.deviance, theta)]


# --------------------------------------------------------------------------
class Mixedlm(Tool):
    name = "mixedlm"
    dist = "mixedlm"
    glmm = True

    def setup(self) -> None:
        import mixedlm
        import mixedlm.families
        from mixedlm.models.modular import lFormula, mkLmerDevfun
        self.mixedlm = mixedlm
        self.lFormula, self.mkLmerDevfun = lFormula, mkLmerDevfun
        self.families = {"binomial": mixedlm.families.Binomial,
                         "poisson": mixedlm.families.Poisson}

    def fit(self, case, df):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if case.family:
                return self.mixedlm.glmer(case.formula, df, family=self.families[case.family]())
            return self.mixedlm.lmer(case.formula, df, REML=True)

    @staticmethod
    def _lme4_fixef_name(name: str, levels: dict) -> str:
        """``Gender.1`` -> ``GenderM`` (treatment contrasts: level k of the factor)."""
        var, dot, k = name.rpartition(".")
        if dot and k.isdigit() and var in levels and 0 < int(k) < len(levels[var]):
            return f"{var}{levels[var][int(k)]}"
        return name

    def summarize_glmm(self, case, res):
        m = res.matrices
        blocks = [(s.grouping_factor, list(s.term_names)) for s in m.random_structures]
        levels = getattr(m, "category_levels", None) or {}
        fixef = {self._lme4_fixef_name(str(k), levels): float(v) for k, v in res.fixef().items()}
        return _glmm_common(
            _named(res.theta, theta_names(blocks)), fixef, float(res.logLik().value),
            res.n_iter, res.converged, res.optimizer, res.message,
            n_eval_note="optimiser iterations (res.n_iter)",
            deviance_reported=float(res.deviance))

    def summarize(self, case, res):
        if case.family:
            return self.summarize_glmm(case, res)
        blocks = [(s.grouping_factor, list(s.term_names)) for s in res.matrices.random_structures]
        return {
            "theta": _named(res.theta, theta_names(blocks)),
            "sigma": float(res.sigma),
            "REMLcrit": float(res.REMLcrit()),
            "fixef": {str(k): float(v) for k, v in res.fixef().items()},
            "n_eval": int(res.function_evals),
            "converged": bool(res.converged),
            "optimizer": str(res.optimizer),
            "message": str(res.message),
        }

    def deviance_fn(self, case, df, res):
        if case.family:
            return []
        devfun = self.mkLmerDevfun(self.lFormula(case.formula, df, REML=True))
        theta = np.asarray(res.theta, float)
        self._keep = devfun
        out = [("devfun(theta) [mkLmerDevfun(lFormula(...))]", devfun, theta)]
        cache = getattr(devfun.optimizer, "_rust_cache", None)
        if cache is not None and hasattr(cache.response, "deviance_with_gradient"):
            # what its default L-BFGS-B optimiser calls (private API)
            out.append(("deviance_with_gradient(theta) [native, used by its optimiser]",
                        lambda th: cache.response.deviance_with_gradient(th, True), theta))
        return out


# --------------------------------------------------------------------------
class MixedlmRs(Tool):
    name = "mixedlm_rs"
    dist = "mixedlm-rs"
    no_glmm_reason = ("mixedlm-rs 0.2 fits linear mixed models only "
                      "(statsmodels-style MixedLM, no family argument)")

    def setup(self) -> None:
        import mixedlm_rs
        self.mlm = mixedlm_rs

    def fit(self, case, df):
        if case.sm_groups == "__one__" and "__one__" not in df.columns:
            # statsmodels idiom for crossed effects: one group + variance components
            df = df.assign(__one__=np.ones(len(df), dtype=np.int8))
        kw = {}
        if case.sm_re_formula is not None:
            kw["re_formula"] = case.sm_re_formula
        if case.sm_vc_formula is not None:
            kw["vc_formula"] = case.sm_vc_formula
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = self.mlm.MixedLM.from_formula(case.sm_formula, df, groups=case.sm_groups, **kw)
            return model.fit(reml=True)

    def summarize(self, case, res):
        r = res._res
        lam = np.asarray(r["lambda"], float)      # relative covariance factor, data coordinates
        q = lam.shape[0]
        theta = [lam[i, j] for j in range(q) for i in range(j, q)]
        re_names = ["(Intercept)" if n in ("Intercept", "Group") else n
                    for n in res.model.exog_re_names]
        names = theta_names([(case.sm_groups, re_names)])
        fe_names = ["(Intercept)" if n == "Intercept" else n for n in res.model.exog_names]
        diag = r.get("diagnostics", {})
        return {
            "theta": _named(theta, names),
            "sigma": float(r["sigma"]),
            "REMLcrit": float(r["deviance"]),
            "fixef": _named(res.fe_params, fe_names),
            "n_eval": int(diag.get("n_objective_evaluations", r.get("nfev", 0)))
                      + int(diag.get("n_criterion_evaluations", 0)),
            "n_eval_note": "criterion+gradient evaluations (L-BFGS-B)",
            "converged": bool(r["converged"]),
            "optimizer": diag.get("method"),
            "message": str(r.get("message")),
        }

    def deviance_fn(self, case, df, res):
        core = res._res["core"]
        th = np.asarray(res._res["theta"], float)    # optimum in the core's coordinates
        return [("LmmCore.deviance(theta, reml=True)", lambda t: core.deviance(t, True), th),
                ("LmmCore.deviance_grad(theta, reml=True) [used by its optimiser]",
                 lambda t: core.deviance_grad(t, True), th)]


TOOLS: dict[str, type[Tool]] = {"merx": Merx, "mixedlm": Mixedlm, "mixedlm_rs": MixedlmRs}
