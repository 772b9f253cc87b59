"""``glmer`` on data read in batches (a Parquet file or directory, a pyarrow Dataset) and on
Dask DataFrames (:mod:`merx.models.glmer_dask` supplies the Dask passes).

Why the passes sit inside the optimiser's loop: ``lmer`` reads the rows twice because a
linear mixed model has a sufficient statistic (the cross-products); a GLMM has none. PIRLS's
working weights and response depend on η = Xβ + Zb at the current modes, so every PIRLS
step at every θ (and β) the optimiser tries needs the rows again, and the data does not fit
in memory. So: pass 1 learns the levels (:mod:`merx.frame.level_scan`), pass 2 the aliased
columns of X and its column means (the centre of the cross-products), and then the core's
``StreamedGlmm`` runs lme4's two-stage Laplace fit, calling :func:`run_pass` back for each
PIRLS step: each batch's η, μ, deviance, working weights and response are computed in Rust
(the family code of the in-memory fit) and added to a ``GlmmPassAccumulator``; the client
solves the small penalized least-squares system (q + p) of the merged cross-products, with
step halving, as the in-memory PIRLS does. Memory grows with the cross-products, never
with the rows. Supported: binomial (logit; 0/1, logical, two-level factor, proportions
with weights = trials, cbind without other prior weights) and poisson (log).
"""

from __future__ import annotations

import time

import numpy as np

from .. import _core
from ..errors import DataError
from ..families import Binomial, Poisson
from ..frame.batch_source import DEFAULT_BATCH_ROWS, ParquetBatches
from ..frame.glm_response import batch_response
from ..frame.stream_frame import ColumnMoments, batch_arrays, stacked_r
from ..formula.model_formula import parse_formula
from ..progress import ProgressBar
from ..results.streamed_glmer import StreamedGlmerResult
from .fitting import run_fit
from .lmer_stream import check_column_args, level_pass, streamed_frame

#: (family, link) pairs a streamed fit takes: the canonical links, whose PIRLS the in-memory
#: fit runs without Newton polishing of the modes.
STREAMED_FAMILIES = {"binomial": "logit", "poisson": "log"}


def check_streamed_family(fam) -> None:
    """A DataError naming what a streamed glmer cannot fit."""
    name = fam.family_name
    if not isinstance(fam, (Binomial, Poisson)):
        raise DataError(
            f"glmer on data read in batches (Parquet, Dask) fits the binomial and poisson families; the {name} family "
            "needs the data in memory (read it into a DataFrame)"
        )
    if fam.link != STREAMED_FAMILIES[name]:
        raise DataError(
            f"glmer on data read in batches fits the {name} family with its canonical {STREAMED_FAMILIES[name]!r} link "
            f"only, not {fam.link!r}; fit that link on the data in memory"
        )


class StreamedDesign:
    """What the passes share: the spec, kept columns, centre and the family (picklable)."""

    def __init__(self, spec, fam, kept: list, centre: np.ndarray):
        self.spec, self.fam, self.kept, self.centre = spec, fam, list(kept), np.asarray(centre, dtype=float)
        self.terms = [(b.n_levels, len(b.columns)) for b in spec.blocks]
        self.p_full = len(spec.fixed_design.colnames)

    def new_accumulator(self) -> "_core.GlmmPassAccumulator":
        return _core.GlmmPassAccumulator(self.fam.family_name, self.fam.link, self.p_full, self.terms,
                                         list(self.centre))

    def add(self, acc, df, where: str, point) -> None:
        """Adds one batch (or partition) at ``point``; a bad batch is a DataError naming it."""
        arrays = batch_arrays(self.spec, df, where, batch_response(self.fam, quiet=True))
        if arrays is None:
            return
        # (A point unpickled on a Dask worker may hold read-only or unaligned buffers.)
        beta, b, from_mu_start = point
        point = (np.array(beta, dtype=float), [np.array(v, dtype=float) for v in b], bool(from_mu_start))
        try:
            acc.add_batch(arrays.X, arrays.y, arrays.weights, arrays.offset, arrays.terms, point)
        except ValueError as e:
            raise DataError(f"{where}: {e}") from None


def design_batch(spec, fam, df, where: str, R, moments):
    """Pass 2 on one batch: the response checked by the family's rules, X's R factor and
    column moments updated; returns (R, rows used)."""
    arrays = batch_arrays(spec, df, where, batch_response(fam, quiet=False))
    if arrays is None or not arrays.X.shape[0]:  # (an empty partition)
        return R, 0
    moments.add(arrays.X)
    return stacked_r(R, arrays.X), arrays.X.shape[0]


def streamed_frame_and_model(spec, fam, R, moments, data_name, offset_arg):
    """``(frame, core model, design)`` after pass 2: aliased columns dropped as lme4 does."""
    if R is None:
        raise DataError("no rows without missing values in the data; glmer needs at least one")
    names = list(spec.fixed_design.colnames)
    frame, kept, intercept, term_names = streamed_frame(spec, R, moments, data_name, offset_arg)
    frame.family = fam
    terms = [(b.n_levels, len(b.columns), b.covariance) for b in frame.blocks]
    try:
        model = _core.StreamedGlmm(fam.family_name, fam.link, len(names), kept, intercept, terms, term_names)
    except ValueError as e:
        raise DataError(str(e)) from None
    # The cross-products' pilot centre (see the core's stream_crossprod): the column means
    # with an intercept, its own column left alone; none without one.
    centre = np.zeros(len(names))
    if spec.fixed_design.intercept:
        centre = np.array(moments.mean, dtype=float)
        centre[0] = 0.0
    return frame, model, StreamedDesign(spec, fam, kept, centre)


def run_streamed_fit(model, run_pass, nAGQ: int, start, max_fun):  # noqa: N803 - lme4 name
    """The core's fit; its refusals as MerxError (a pass's own errors propagate as they are)."""
    theta_start = None if start is None else [float(v) for v in np.ravel(start)]
    holder = {}

    def fit():
        f, n_passes, n_obs = model.fit(run_pass, theta_start=theta_start, fast=(nAGQ == 0), max_fun=max_fun)
        holder.update(n_passes=n_passes, n_obs=n_obs)
        return f

    result = run_fit(fit)
    return result, holder["n_passes"], holder["n_obs"]


def glmer_batches(formula: str, data, fam, weights=None, offset=None, nAGQ: int = 1, start=None,  # noqa: N803
                  max_fun=None, data_name=None, batch_rows: int = DEFAULT_BATCH_ROWS, progress: bool | None = None):
    """``glmer`` on a Parquet file, a directory of Parquet files or a pyarrow Dataset;
    ``progress``: bars over the rows of the first two passes and over the PIRLS passes.
    Ctrl-C in a pass stops the fit (the core's optimiser is cancelled, nothing is kept)."""
    check_streamed_family(fam)
    check_column_args(weights, offset)
    if nAGQ > 1:
        raise DataError("glmer on data read in batches fits the Laplace approximation (nAGQ = 1) or nAGQ = 0")
    parsed = parse_formula(formula)
    source = ParquetBatches(data, batch_rows)
    timings: dict = {}
    t = time.perf_counter()
    spec, columns, show, total = level_pass(parsed, source, weights, offset, progress, "glmer")
    R, moments = None, ColumnMoments(len(spec.fixed_design.colnames))
    with ProgressBar(total, "glmer pass 2 (design)", show, unit="rows") as bar:
        for df, where in source.batches(columns):
            R, _ = design_batch(spec, fam, df, where, R, moments)
            bar.update(len(df))
    frame, model, design = streamed_frame_and_model(spec, fam, R, moments, data_name, offset)
    timings["levels_and_design"] = time.perf_counter() - t

    def run_pass(point):
        acc = design.new_accumulator()
        for df, where in source.batches(columns):
            design.add(acc, df, where, point)
        bar.update(1)
        return acc

    t = time.perf_counter()
    with ProgressBar(None, "glmer PIRLS passes", show, unit="passes") as bar:
        fit, n_passes, n_obs = run_streamed_fit(model, run_pass, nAGQ, start, max_fun)
    timings["pirls_passes"] = time.perf_counter() - t
    result = StreamedGlmerResult(frame, fit, n_obs=spec.n_used, source=source, design=design, data_name=data_name,
                                 call_formula=formula, nAGQ=nAGQ, weights_name=weights, offset_name=offset)
    result.stream_timings = timings
    result.n_passes = n_passes + 2
    return result
