"""The result of an ``lmer`` fit to data read in batches: :class:`StreamedLmerResult`.

Everything of :class:`~merx.results.lmer.LmerResult` that comes from the cross-products
(fixed effects, conditional modes, VarCorr, fit statistics, ``summary()``, ``predict`` on
new data) is there; per-row quantities are not held: :meth:`StreamedLmerResult.write_fitted`
writes fitted values and residuals of every row of the data to Parquet in one more pass (a
file for Parquet data; for a Dask DataFrame a directory written by the workers, one file
per partition); rows dropped for missing values get missing values, so the output lines
up with the input row by row.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import MerxError
from ..frame.stream_frame import batch_arrays
from . import prediction
from .lmer import LmerResult
from .rows_not_held import RowsNotHeld, linear_predictor


class StreamedLmerResult(RowsNotHeld, LmerResult):
    """An ``lmer`` fit whose rows were read in batches and are not held in memory."""

    def __init__(self, frame: Any, fit: Any, n_obs: int, source: Any = None, spec: Any = None, **kwargs):
        super().__init__(frame, fit, **kwargs)
        self._n_obs = int(n_obs)
        self._source = source
        self._spec = spec
        self.stream_timings: dict = {}

    def _core_problem(self, purpose: str):
        problem = getattr(self, "_problem", None)
        if not isinstance(problem, _core.LinearMixedModel) or bool(problem.reml) != self.reml:
            # The in-memory results rebuild their core model from the frame's rows.
            hint = " or use ddf=\"lme4\"" if purpose == "degrees of freedom" else ""
            raise MerxError(
                f"this fit to data read in batches no longer has its cross-products (a pickled result keeps "
                f"none): refit it for its {purpose}{hint}"
            )
        return problem

    # The rows are not held: fitted values, residuals and predictions on the data itself raise
    # (write_fitted writes them); predictions on newdata are a Series indexed like newdata, as
    # for an in-memory fit.

    def residuals(self, type: str = "response", scaled: bool = False) -> pd.Series:  # noqa: A002 - lme4 name
        raise self._no_rows("residuals")

    def predict(self, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False) -> pd.Series:
        """lme4's ``predict`` on ``newdata`` (required: the fit holds no rows), a Series named
        ``predicted`` indexed like ``newdata``."""
        if newdata is None:
            raise self._no_rows("predictions on the data")
        # (the fitted values are only read for predictions on the data itself)
        eta = prediction.predict(self.frame, self._beta, self.fit.b, None, newdata, re_form, allow_new_levels)
        return prediction.per_row(eta, self.frame, newdata, "predicted")

    def write_fitted(self, path: str | os.PathLike) -> int:
        """Writes columns ``fitted`` and ``residual`` (response scale, y - fitted) of every row
        of the data, in the data's row order: to the Parquet file ``path`` for Parquet data,
        to the Parquet directory ``path`` (one file per partition, by the workers) for a Dask
        DataFrame. Returns the number of rows written."""
        coefs = (self._spec, list(self.frame._x_keep), self._beta, [np.asarray(v, dtype=float) for v in self.fit.b])
        return self._write_rows(path, ["fitted", "residual"], _fitted_values, self._spec, coefs)


def _fitted_values(df, where: str, spec, kept: list, beta: np.ndarray, b: list) -> dict:
    """Fitted values and residuals of a batch's rows (missing where the row was dropped)."""
    out = {c: np.full(len(df), np.nan) for c in ("fitted", "residual")}
    arrays = batch_arrays(spec, df, where)
    if arrays is not None:
        eta = linear_predictor(arrays, kept, beta, b)
        out["fitted"][arrays.keep] = eta + arrays.offset
        out["residual"][arrays.keep] = arrays.r - eta
    return out
