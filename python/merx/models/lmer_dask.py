"""``lmer`` on a Dask DataFrame (optional ``dask``, ``pip install merx[dask]``).

The two passes of :mod:`merx.models.lmer_stream` as Dask computations on whatever
scheduler is active (a ``distributed.Client`` when one exists): pass 1 scans every
partition for levels and missing rows on the workers and merges the scans in a tree
reduction; the client builds the designs; pass 2 accumulates each partition's
cross-products on the workers (a pilot centre from the first partition) and sums them in a
tree reduction (the core's accumulator pickles as numpy arrays); the θ optimisation runs
on the client on the reduced problem. See docs/dask.md.
"""

from __future__ import annotations

import time

from ..errors import DataError
from ..formula.model_formula import parse_formula
from ..frame.level_scan import LevelScan
from ..frame.stream_frame import ColumnMoments, batch_arrays, build_stream_spec, stacked_r
from ..results.streamed import StreamedLmerResult
from .lmer_stream import (
    add_arrays,
    check_column_args,
    finish_problem,
    fit_problem,
    model_columns,
    new_accumulator,
    pilot_of,
)


def is_dask_collection(data) -> bool:
    """A Dask DataFrame (checked without importing dask)."""
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(data, "to_delayed")


def _scan_partition(df, variables, groups, weights, offset, columns, context, index):
    scan = LevelScan(variables, groups, weights, offset, columns, context)
    scan.add(df[columns], f"partition {index}")
    return scan


def _merge_scans(a: LevelScan, b: LevelScan) -> LevelScan:
    return a.merge(b)


def _pilot_partition(df, spec):
    arrays = batch_arrays(spec, df[spec.columns], "partition 0")
    return None if arrays is None else pilot_of(spec, arrays)


def _accumulate_partition(df, spec, centre, shift, index):
    acc = new_accumulator(spec, centre, shift)
    moments = ColumnMoments(len(spec.fixed_design.colnames))
    arrays = batch_arrays(spec, df[spec.columns], f"partition {index}")
    R = None if arrays is None else add_arrays(acc, None, moments, arrays, f"partition {index}")
    return acc, R, moments


def _merge_accumulators(a, b):
    acc, R, moments = a
    acc.merge(b[0])
    if b[1] is not None:
        R = b[1] if R is None else stacked_r(R, b[1])
    return acc, R, moments.merge(b[2])


def _tree_reduce(items: list, combine):
    """Pairwise combination in rounds (order kept: the first partition's categories first)."""
    from dask import delayed

    while len(items) > 1:
        items = [delayed(combine)(items[i], items[i + 1]) if i + 1 < len(items) else items[i]
                 for i in range(0, len(items), 2)]
    return items[0]


def dask_level_pass(parsed, ddf, weights, offset) -> tuple:
    """Pass 1 over a Dask DataFrame: each partition's levels on the workers, merged in a tree
    reduction, and the model's stream spec. Returns ``(spec, partitions)``."""
    from dask import delayed

    variables, groups, columns = model_columns(parsed, weights, offset, [str(c) for c in ddf.columns])
    context = f"the formula {parsed.formula!r}"
    parts = ddf.to_delayed()
    if not parts:
        raise DataError("the Dask DataFrame has no partitions")
    scans = [delayed(_scan_partition)(p, variables, groups, weights, offset, columns, context, i)
             for i, p in enumerate(parts)]
    scan = _tree_reduce(scans, _merge_scans).compute()
    return build_stream_spec(parsed, scan.representative_rows(), scan, weights, offset, columns), parts


def lmer_dask(formula: str, ddf, REML=True, weights=None, offset=None, data_name=None, start=None,
              max_fun=None, optimize=True, optimizer="auto"):
    """``lmer`` on a Dask DataFrame (see the module documentation)."""
    try:
        import dask
        from dask import delayed
    except ImportError:  # pragma: no cover - dask is in the test extra
        raise DataError("fitting a Dask DataFrame needs dask: pip install 'merx[dask]'") from None
    check_column_args(weights, offset)
    parsed = parse_formula(formula)
    timings = {}
    t = time.perf_counter()
    spec, parts = dask_level_pass(parsed, ddf, weights, offset)
    timings["levels"] = time.perf_counter() - t
    t = time.perf_counter()
    pilots = None
    for p in parts:  # the first partition with used rows
        pilots = delayed(_pilot_partition)(p, spec).compute()
        if pilots is not None:
            break
    spec_d = delayed(spec)
    accs = [delayed(_accumulate_partition)(p, spec_d, pilots[0], pilots[1], i) for i, p in enumerate(parts)]
    acc, R, moments = dask.compute(_tree_reduce(accs, _merge_accumulators))[0]
    frame, problem = finish_problem(spec, acc, R, moments, REML, data_name, offset)
    timings["accumulate"] = time.perf_counter() - t
    t = time.perf_counter()
    fit = fit_problem(problem, start, max_fun, optimize, optimizer)
    timings["optimize"] = time.perf_counter() - t
    result = StreamedLmerResult(frame, fit, n_obs=acc.n_rows, source=ddf, spec=spec, data_name=data_name,
                                call_formula=formula, problem=problem, weights_name=weights, offset_name=offset)
    result.stream_timings = timings
    return result

