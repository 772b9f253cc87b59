"""What results of fits to data read in batches share: the rows are not in memory.

:class:`RowsNotHeld` is mixed into :class:`~merx.results.streamed.StreamedLmerResult` and
:class:`~merx.results.streamed_glmer.StreamedGlmerResult`: per-row quantities of the data
itself raise (``write_fitted`` writes them), a pickled result drops its data source, and
``write_fitted`` runs one more pass, batch by batch for Parquet data or partition by
partition on the Dask workers.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..errors import MerxError
from ..frame.batch_source import output_writer


class RowsNotHeld:
    """A mixin for results whose rows were read in batches (needs ``_n_obs``, ``_source``)."""

    #: No per-row residuals: ``summary()`` leaves out the scaled residuals' quantiles.
    rows_in_memory = False
    #: What ``write_fitted`` writes, for the messages.
    _written = "fitted values and residuals"

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_source"] = None  # a dataset handle or Dask collection: not part of the result
        return state

    @property
    def nobs(self) -> int:
        """Number of observations used in the fit."""
        return self._n_obs

    def _no_rows(self, what: str) -> MerxError:
        return MerxError(
            f"{what} of a model fitted to data read in batches are not held in memory; "
            f"m.write_fitted(path) writes {self._written} of every row to Parquet"
        )

    def _fitted_values(self) -> np.ndarray:
        raise self._no_rows("fitted values")

    @property
    def fitted(self) -> pd.Series:
        raise self._no_rows("fitted values")

    def _write_rows(self, path: str | os.PathLike, columns: list, columns_of_batch: Callable, spec: Any,
                    coefs: tuple) -> int:
        """Writes ``columns_of_batch(df, where, *coefs)`` (a dict of arrays) for every batch or
        partition of the data to ``path``; returns the number of rows written."""
        if self._source is None:
            raise MerxError("write_fitted needs the data the model was fitted to, which a pickled result does not keep")
        if not hasattr(self._source, "batches"):  # a Dask DataFrame: one file per partition
            meta = pd.DataFrame({c: np.empty(0) for c in columns})
            out = self._source.map_partitions(_partition_frame, columns_of_batch, spec.columns, coefs, meta=meta)
            out.to_parquet(os.fspath(path), write_index=False)
            return int(self._source.map_partitions(len).sum().compute())
        writer, pa = output_writer(path, columns)
        n = 0
        with writer:
            for df, where in self._source.batches(spec.columns):
                writer.write_table(pa.table(columns_of_batch(df, where, *coefs)))
                n += len(df)
        return n


def linear_predictor(arrays: Any, kept: list, beta: np.ndarray, b: list) -> np.ndarray:
    """Xβ + Zb of a batch's kept rows (without the offset)."""
    eta = arrays.X[:, kept] @ beta
    for (codes, Z), bt in zip(arrays.terms, b):
        eta += np.einsum("ij,ij->i", Z, bt.reshape(-1, Z.shape[1])[codes])
    return eta


def _partition_frame(df, columns_of_batch: Callable, columns: list, coefs: tuple) -> pd.DataFrame:
    """A Dask partition's output columns (a pandas frame)."""
    return pd.DataFrame(columns_of_batch(df[columns], "a partition", *coefs))
