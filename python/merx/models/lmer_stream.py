"""``lmer`` on data read in batches (a Parquet file or directory, a pyarrow Dataset).

Pass 1 (:mod:`merx.frame.level_scan`) learns the factor levels and the rows with missing
values; pass 2 codes each batch with those levels (:mod:`merx.frame.stream_frame`) and
adds it to the core's ``CrossProductAccumulator``, while the R factor of X's rows (for
R's rank check of X) is updated by a QR of R stacked on the batch. Memory grows with the
cross-products (levels, crossed level pairs), not with the rows. The θ optimisation is the
in-memory one on those cross-products. Dask partitions go through
:mod:`merx.models.lmer_dask` with the same pieces.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .. import _core
from ..errors import DataError, MerxError
from ..formula.expression import variable_names
from ..formula.model_formula import parse_formula
from ..frame.batch_source import DEFAULT_BATCH_ROWS, ParquetBatches
from ..frame.data_source import DataSource
from ..frame.evaluate import CONSTANTS
from ..frame.level_scan import LevelScan
from ..frame.stream_frame import (
    ColumnMoments,
    aliased_columns,
    batch_arrays,
    build_stream_spec,
    stacked_r,
    stream_variables,
    streamed_model_frame,
)
from ..progress import ProgressBar, show_progress
from ..results.streamed import StreamedLmerResult
from ..frame.fixed_effects import warn_dropped_columns
from .fitting import core_terms, memory_error, run_fit


def check_column_args(weights, offset) -> None:
    for arg, what in ((weights, "weights"), (offset, "offset")):
        if arg is not None and not isinstance(arg, str):
            raise DataError(f"when the data is read in batches, give {what}= as a column name, not an array")


def model_columns(parsed, weights, offset, available: list) -> tuple:
    """``(variables, group components, data columns used)``; a DataError names unknown columns."""
    variables, groups, _ = stream_variables(parsed, weights, offset)
    names: list = []
    for node, _desc in variables:
        variable_names(node, names)
    names += [a for a in (weights, offset) if a is not None]
    src = DataSource(_empty_frame(available))
    unknown = [nm for nm in dict.fromkeys(names) if not src.has(nm) and nm not in CONSTANTS]
    if unknown:
        raise DataError(src.unknown_message(unknown, f"the formula {parsed.formula!r}"))
    return variables, groups, [nm for nm in dict.fromkeys(names) if src.has(nm)]


def _empty_frame(columns: list) -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in columns})


def new_accumulator(spec, centre, shift) -> "_core.CrossProductAccumulator":
    terms = [(b.n_levels, len(b.columns)) for b in spec.blocks]
    return _core.CrossProductAccumulator(len(spec.fixed_design.colnames), terms, list(centre), list(shift))


def pilot_of(spec, arrays) -> tuple:
    """The pilot centre and response fit from one batch's arrays (see the core's
    ``pilot_centring``): exact results do not depend on it, only their last digits."""
    intercept = 0 if spec.fixed_design.intercept else None
    return _core.pilot_centring(arrays.X, arrays.r, arrays.weights, intercept)


def add_arrays(acc, R, moments, arrays, where: str):
    """Adds one batch's arrays to the accumulator, the column moments and the R factor;
    returns the new R."""
    try:
        acc.add_batch(arrays.X, arrays.r, arrays.weights, arrays.terms)
    except ValueError as e:
        raise DataError(f"{where}: {e}") from None
    moments.add(arrays.X)
    return stacked_r(R, arrays.X)


def streamed_frame(spec, R, moments, data_name, offset_arg) -> tuple:
    """``(frame, kept, intercept, term_names)`` of a streamed fit after its design pass: X's
    aliased columns dropped with lme4's warning (by the R factor of the rows; all kept without
    one), lme4's scale check, the position of the intercept among the kept columns and the
    terms' names for the core."""
    names = list(spec.fixed_design.colnames)
    kept = aliased_columns(R, names) if R is not None else list(range(len(names)))
    frame = streamed_model_frame(spec, kept, data_name, offset_arg)
    warn_dropped_columns(frame.dropped_x_names)
    moments.check_scale(kept)
    if not frame.blocks:
        raise MerxError(f"formula {frame.formula!r} has no random-effects term such as (1 | group)")
    _, term_names = core_terms(frame)
    intercept = kept.index(0) if spec.fixed_design.intercept and 0 in kept else None
    return frame, kept, intercept, term_names


def finish_problem(spec, acc, R, moments, REML: bool, data_name, offset_arg):
    """``(frame, problem)``: aliased columns dropped as lme4 does, the core model of the
    accumulated cross-products."""
    frame, kept, intercept, term_names = streamed_frame(spec, R, moments, data_name, offset_arg)
    try:
        problem = acc.finish(kept, intercept, bool(REML), [b.covariance for b in frame.blocks], term_names)
    except ValueError as e:
        raise memory_error(frame, e) or DataError(str(e)) from None
    return frame, problem


def fit_problem(problem, start, max_fun, optimize: bool, optimizer: str):
    theta_start = None if start is None else [float(v) for v in np.ravel(start)]
    if not optimize and theta_start is None:
        raise MerxError("optimize=False needs start= (the theta at which to evaluate the model)")
    if optimize:
        return run_fit(lambda: problem.fit(theta_start=theta_start, max_fun=max_fun, optimizer=optimizer, condvar=False))
    return run_fit(lambda: problem.estimates(theta_start, condvar=False))


def level_pass(parsed, source: ParquetBatches, weights, offset, progress, fun: str) -> tuple:
    """Pass 1 over a Parquet source: the columns the formula uses (unknown ones named), their
    levels, and the model's stream spec. Returns ``(spec, columns, show, total)``: ``show``
    whether bars are shown, ``total`` the rows a bar counts."""
    variables, groups, columns = model_columns(parsed, weights, offset, source.column_names)
    source.check_columns(columns)
    scan = LevelScan(variables, groups, weights, offset, columns, f"the formula {parsed.formula!r}")
    show = show_progress(progress)
    total = source.n_rows if show else None
    with ProgressBar(total, f"{fun} pass 1 (levels)", show, unit="rows") as bar:
        for df, where in source.batches(columns):
            scan.add(df, where)
            bar.update(len(df))
    return build_stream_spec(parsed, scan.representative_rows(), scan, weights, offset, columns), columns, show, total


def lmer_batches(formula: str, data, REML=True, weights=None, offset=None, data_name=None, start=None,
                 max_fun=None, optimize=True, optimizer="auto", batch_rows: int = DEFAULT_BATCH_ROWS,
                 progress: bool | None = None):
    """``lmer`` on a Parquet file, a directory of Parquet files or a pyarrow Dataset; ``progress``:
    a bar over the rows of each pass (:mod:`merx.progress`). Ctrl-C stops a pass between two
    batches; the passes only fill their own scan and accumulator, so nothing is left behind."""
    check_column_args(weights, offset)
    parsed = parse_formula(formula)
    source = ParquetBatches(data, batch_rows)
    timings = {}
    t = time.perf_counter()
    spec, columns, show, total = level_pass(parsed, source, weights, offset, progress, "lmer")
    timings["levels"] = time.perf_counter() - t
    t = time.perf_counter()
    acc, R, moments = None, None, ColumnMoments(len(spec.fixed_design.colnames))
    with ProgressBar(total, "lmer pass 2 (cross-products)", show, unit="rows") as bar:
        for df, where in source.batches(columns):
            bar.update(len(df))
            arrays = batch_arrays(spec, df, where)
            if arrays is None:
                continue
            if acc is None:
                acc = new_accumulator(spec, *pilot_of(spec, arrays))
            R = add_arrays(acc, R, moments, arrays, where)
    frame, problem = finish_problem(spec, acc, R, moments, REML, data_name, offset)
    timings["accumulate"] = time.perf_counter() - t
    t = time.perf_counter()
    fit = fit_problem(problem, start, max_fun, optimize, optimizer)
    timings["optimize"] = time.perf_counter() - t
    t = time.perf_counter()
    result = StreamedLmerResult(frame, fit, n_obs=acc.n_rows, source=source, spec=spec, data_name=data_name,
                                call_formula=formula, problem=problem, weights_name=weights, offset_name=offset)
    timings["post_fit"] = time.perf_counter() - t
    result.stream_timings = timings
    return result
