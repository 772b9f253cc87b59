"""The result of a ``glmer`` fit to data read in batches: :class:`StreamedGlmerResult`.

Everything of :class:`~merx.results.glmer.GlmerResult` that comes from the estimates and
the cross-products at the modes (fixed effects, conditional modes and variances, VarCorr,
logLik/AIC/BIC/deviance, ``summary()``, ``predict`` on new data) is there; per-row
quantities are not held: :meth:`StreamedGlmerResult.write_fitted` writes μ, η and the
response residual of every row to Parquet in one more pass (rows dropped for missing values
get missing values, so the output lines up with the input).

vcov(β̂) is 2H⁻¹ on β, H the Hessian of the exact Laplace deviance in (θ, β) (central
differences in the core, ``rust/src/stream_glmm.rs``); lme4 and the in-memory fit
differentiate lme4's own evaluations of the deviance, up to ~1% apart (docs/dask.md). With
nAGQ = 0 it is (R_X'R_X)⁻¹ at the modes' working weights, as in memory.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import MerxError
from ..frame.glm_response import batch_response
from ..frame.stream_frame import batch_arrays
from . import prediction
from .glmer import GlmerResult
from .rows_not_held import RowsNotHeld, linear_predictor


class StreamedGlmerResult(RowsNotHeld, GlmerResult):
    """A ``glmer`` fit whose rows were read in batches and are not held in memory."""

    _written = "fitted values, the linear predictor and residuals"

    def __init__(self, frame: Any, fit: Any, n_obs: int, source: Any = None, design: Any = None, **kwargs):
        super().__init__(frame, fit, **kwargs)
        self._n_obs = int(n_obs)
        self._source = source
        self._design = design
        self.stream_timings: dict = {}
        self.n_passes = 0

    def _eta_values(self) -> np.ndarray:
        raise self._no_rows("linear predictor values")

    def residuals(self, type: str = "deviance", scaled: bool = False) -> pd.Series:  # noqa: A002 - R name
        raise self._no_rows("residuals")

    def predict(self, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False,
                type: str = "link") -> pd.Series:  # noqa: A002 - R name
        """lme4's ``predict`` on ``newdata`` (required: the fit holds no rows), on the link
        (``type="link"``) or response scale."""
        if newdata is None:
            raise self._no_rows("predictions on the data")
        if type not in ("link", "response"):
            raise MerxError(f"unknown prediction type {type!r}: use 'link' or 'response'")
        eta = np.asarray(prediction.predict(self.frame, self._beta, self.fit.b, None, newdata, re_form,
                                            allow_new_levels), dtype=float)
        if type == "response":
            eta = np.asarray(self._glm_family().link_inverse(np.ascontiguousarray(eta)))
        return prediction.per_row(eta, self.frame, newdata, "predicted")

    def write_fitted(self, path: str | os.PathLike) -> int:
        """Writes columns ``fitted`` (μ), ``linear_predictor`` (η) and ``residual`` (the
        response residual y - μ, y a proportion for a binomial response) of every row, in
        the data's row order: to the Parquet file ``path`` for Parquet data, to the Parquet
        directory ``path`` (one file per partition) for a Dask DataFrame. Returns the rows."""
        if self._design is None:
            raise MerxError("write_fitted needs the data the model was fitted to, which a pickled result does not keep")
        d = self._design
        coefs = (d.spec, d.fam, d.kept, self._beta, [np.asarray(v, dtype=float) for v in self.fit.b])
        return self._write_rows(path, ["fitted", "linear_predictor", "residual"], _fitted_columns, d.spec, coefs)


def _fitted_columns(df, where: str, spec, fam, kept: list, beta: np.ndarray, b: list) -> dict:
    """μ, η and y - μ of a batch's rows (missing where the row was dropped)."""
    out = {c: np.full(len(df), np.nan) for c in ("fitted", "linear_predictor", "residual")}
    arrays = batch_arrays(spec, df, where, batch_response(fam, quiet=True))
    if arrays is not None:
        eta = linear_predictor(arrays, kept, beta, b) + arrays.offset
        mu = np.asarray(_core.GlmFamily(fam.family_name, fam.link, None).link_inverse(np.ascontiguousarray(eta)))
        out["fitted"][arrays.keep] = mu
        out["linear_predictor"][arrays.keep] = eta
        out["residual"][arrays.keep] = arrays.y - mu
    return out
