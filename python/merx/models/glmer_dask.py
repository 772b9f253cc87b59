"""``glmer`` on a Dask DataFrame (optional ``dask``, ``pip install merx[dask]``).

The passes of :mod:`merx.models.glmer_stream` as Dask computations on whatever scheduler is
active (a ``distributed.Client`` when one exists): pass 1 scans the partitions for levels
and missing rows, pass 2 checks the response and finds the aliased columns of X (R factors
and column moments merged in tree reductions), and then each PIRLS step of the fit is one
map-reduce: the client sends the current point (β, b, a few numbers per random effect) to
every partition, each computes its working cross-products and deviance in Rust
(``GlmmPassAccumulator``, pickled as numpy arrays), a tree reduction sums them, and the
client solves the small system and moves on. The optimiser runs on the client. Each pass
reads the partitions again: ``ddf.persist()`` beforehand keeps them in the workers' memory
when they fit there. See docs/dask.md.
"""

from __future__ import annotations

import time

from ..errors import DataError
from ..formula.model_formula import parse_formula
from ..frame.stream_frame import ColumnMoments, stacked_r
from ..results.streamed_glmer import StreamedGlmerResult
from .glmer_stream import check_streamed_family, design_batch, run_streamed_fit, streamed_frame_and_model
from .lmer_dask import _tree_reduce, dask_level_pass
from .lmer_stream import check_column_args


def _design_partition(df, spec, fam, index):
    moments = ColumnMoments(len(spec.fixed_design.colnames))
    R, _ = design_batch(spec, fam, df[spec.columns], f"partition {index}", None, moments)
    return R, moments


def _merge_designs(a, b):
    R = b[0] if a[0] is None else (a[0] if b[0] is None else stacked_r(a[0], b[0]))
    return R, a[1].merge(b[1])


def _pass_partition(df, design, point, index):
    acc = design.new_accumulator()
    design.add(acc, df[design.spec.columns], f"partition {index}", point)
    return acc


def _merge_passes(a, b):
    a.merge(b)
    return a


def glmer_dask(formula: str, ddf, fam, weights=None, offset=None, nAGQ: int = 1, start=None,  # noqa: N803
               max_fun=None, data_name=None):
    """``glmer`` on a Dask DataFrame (see the module documentation)."""
    try:
        import dask
        from dask import delayed
    except ImportError:  # pragma: no cover - dask is in the test extra
        raise DataError("fitting a Dask DataFrame needs dask: pip install 'merx[dask]'") from None
    check_streamed_family(fam)
    check_column_args(weights, offset)
    if nAGQ > 1:
        raise DataError("glmer on a Dask DataFrame fits the Laplace approximation (nAGQ = 1) or nAGQ = 0")
    parsed = parse_formula(formula)
    timings: dict = {}
    t = time.perf_counter()
    spec, parts = dask_level_pass(parsed, ddf, weights, offset)
    spec_d = delayed(spec)
    designs = [delayed(_design_partition)(p, spec_d, fam, i) for i, p in enumerate(parts)]
    R, moments = dask.compute(_tree_reduce(designs, _merge_designs))[0]
    frame, model, design = streamed_frame_and_model(spec, fam, R, moments, data_name, offset)
    timings["levels_and_design"] = time.perf_counter() - t
    design_d = delayed(design)

    def run_pass(point):
        accs = [delayed(_pass_partition)(p, design_d, point, i) for i, p in enumerate(parts)]
        return dask.compute(_tree_reduce(accs, _merge_passes))[0]

    t = time.perf_counter()
    fit, n_passes, _ = run_streamed_fit(model, run_pass, nAGQ, start, max_fun)
    timings["pirls_passes"] = time.perf_counter() - t
    result = StreamedGlmerResult(frame, fit, n_obs=spec.n_used, source=ddf, design=design, data_name=data_name,
                                 call_formula=formula, nAGQ=nAGQ, weights_name=weights, offset_name=offset)
    result.stream_timings = timings
    result.n_passes = n_passes + 2
    return result
