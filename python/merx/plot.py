"""Diagnostic plots of a fitted mixed model (lme4's, lattice's and merTools' pictures).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (nothing shown,
no global state: ``fig.savefig(path)``); matplotlib is imported on call (``merx[plot]``), not by
``import merx``. :func:`caterpillar` (lattice's ``dotplot(ranef(m, condVar = TRUE))``),
:func:`shrinkage` (lme4's ``lmList`` against ``coef(m)``), :func:`residuals_vs_fitted`,
:func:`qq_residuals`, :func:`qq_ranef`, :func:`profile_zeta` (lme4's ``xyplot(profile(m))``).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .errors import MerxError

__all__ = ["caterpillar", "shrinkage", "residuals_vs_fitted", "qq_residuals", "qq_ranef", "profile_zeta",
           "normal_quantiles", "group_least_squares"]

#: Panel size in inches (width, height) of one subplot.
PANEL_SIZE = (4.0, 3.6)
#: The confidence levels whose ±z lines :func:`profile_zeta` draws (lme4's ``xyplot`` default).
PROFILE_LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)


def _figure(n_panels: int, ncols: int | None = None, panel: tuple = PANEL_SIZE) -> tuple[Any, list]:
    """A pyplot-free Figure with ``n_panels`` axes in a grid (the unused cells removed)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # the optional extra is missing
        raise ImportError("merx.plot needs matplotlib: pip install 'merx[plot]'") from exc
    if n_panels < 1:
        raise MerxError("nothing to plot")
    ncols = ncols or min(n_panels, 3)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in grid[n_panels:]:
        fig.delaxes(ax)
    return fig, list(grid[:n_panels])


def _groups(m: Any, group: str | None) -> list[str]:
    """The grouping factors to plot: all of them (ranef's order), or the one named."""
    names = list(m.ranef().keys())
    if group is None:
        return names
    if group not in names:
        raise MerxError(f"no grouping factor {group!r} in the model: it has {names}")
    return [group]


def _terms(table: pd.DataFrame, group: str, term: str | Sequence[str] | None) -> list[str]:
    if term is None:
        return list(table.columns)
    wanted = [term] if isinstance(term, str) else list(term)
    unknown = [t for t in wanted if t not in table.columns]
    if unknown:
        raise MerxError(f"grouping factor {group!r} has no term {unknown}: its terms are {list(table.columns)}")
    return wanted


def normal_quantiles(n: int) -> np.ndarray:
    """R's ``qnorm(ppoints(n))``: the normal quantiles that ``qqnorm`` plots against.
    Parameters
    ----------
    n : int
        Number of points.
    Returns
    -------
    numpy.ndarray
        ``n`` increasing quantiles.
    Raises
    ------
    TypeError
        ``n`` not a number."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    probs = (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)
    return np.array([NormalDist().inv_cdf(float(p)) for p in probs])


def _qq_panel(ax: Any, values: np.ndarray, title: str) -> None:
    """Sorted values against normal quantiles, with R's ``qqline`` (through the quartiles)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    theoretical = normal_quantiles(values.size)
    ax.plot(theoretical, np.sort(values), "o", markersize=3, label="sample")
    q1, q3 = np.quantile(values, [0.25, 0.75])
    z1, z3 = NormalDist().inv_cdf(0.25), NormalDist().inv_cdf(0.75)
    slope = (q3 - q1) / (z3 - z1)
    ends = np.array([theoretical[0], theoretical[-1]])
    ax.plot(ends, q1 + slope * (ends - z1), "-", color="grey", linewidth=1, label="qqline")
    ax.set_xlabel("standard normal quantiles")
    ax.set_ylabel("sample quantiles")
    ax.set_title(title)


# -- random effects -----------------------------------------------------------


def caterpillar(m: Any, group: str | None = None, term: str | Sequence[str] | None = None,
                level: float = 0.95, order: bool = True) -> Any:
    """Conditional modes with ± z·(conditional SD) intervals, one panel per term of each
    grouping factor (``group=None``: all of them), z = qnorm((1 + level)/2).

    ``order=True`` sorts the levels of each panel by that term's mode (merTools' ``plotREsim``;
    lattice's ``dotplot`` orders all panels by the first term). The points are
    ``m.ranef()[group][term]``, the error bars ``m.ranef().condsd[group][term]`` times z.
    Parameters
    ----------
    m : LmerResult, GlmerResult, GlmmTMBResult or LmeResult
    group : str, optional
    term : str or sequence of str, optional
    level : float
    order : bool
    Returns
    -------
    matplotlib.figure.Figure
    Raises
    ------
    MerxError
        An unknown group or term, or ``level`` outside (0, 1).
    ImportError
        Without matplotlib."""
    if not 0.0 < level < 1.0:
        raise MerxError(f"level must be in (0, 1), got {level}")
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    re = m.ranef()
    panels = [(g, t) for g in _groups(m, group) for t in _terms(re[g], g, term)]
    fig, axes = _figure(len(panels), panel=(4.0, 4.5))
    for ax, (g, t) in zip(axes, panels):
        modes = re[g][t]
        sds = re.condsd[g][t]
        if order:
            ranks = np.argsort(modes.to_numpy(), kind="stable")
            modes, sds = modes.iloc[ranks], sds.iloc[ranks]
        positions = np.arange(len(modes))
        ax.errorbar(modes.to_numpy(), positions, xerr=z * sds.to_numpy(), fmt="o", markersize=3,
                    elinewidth=1, capsize=0)
        ax.axvline(0.0, color="grey", linewidth=0.8, linestyle="--")
        if len(modes) <= 40:  # beyond that the labels overlap; the points still say the spread
            ax.set_yticks(positions, [str(v) for v in modes.index], fontsize=7)
        else:
            ax.set_yticks([])
        ax.set_xlabel(f"conditional mode ± {z:.2f}·condSD")
        ax.set_title(f"{g}: {t}")
    return fig


def qq_ranef(m: Any, group: str | None = None) -> Any:
    """Normal QQ plots of the conditional modes, one panel per term of each grouping factor.
    Parameters
    ----------
    m : LmerResult, GlmerResult, GlmmTMBResult or LmeResult
    group : str, optional
        One grouping factor; default all.
    Returns
    -------
    matplotlib.figure.Figure
    Raises
    ------
    MerxError
        An unknown group.
    ImportError
        Without matplotlib."""
    re = m.ranef()
    panels = [(g, t) for g in _groups(m, group) for t in re[g].columns]
    fig, axes = _figure(len(panels))
    for ax, (g, t) in zip(axes, panels):
        _qq_panel(ax, re[g][t].to_numpy(), f"{g}: {t}")
    return fig


# -- shrinkage ----------------------------------------------------------------


def group_least_squares(m: Any, group: str, hold_fixed: bool = False) -> pd.DataFrame:
    """Per-level least-squares fits (lme4's ``lmList``) of the fixed-effects columns that vary
    within the levels of ``group`` (the intercept kept): rows the levels as in ``m.ranef()``,
    NaN where a level has fewer rows than columns or its design is rank deficient. Prior
    weights weight the fits and an offset is taken off the response, as ``lm`` would.

    ``hold_fixed=True`` fits only the columns of the group's random-effects terms, the other
    fixed effects held at their estimates (taken off the response): the estimates that the
    conditional modes shrink towards the population values (for ``y ~ x + (1 | g)``, the
    group means of y - x·β̂), where ``lmList``'s own slopes would move the intercepts too.
    Parameters
    ----------
    m : LmerResult
    group : str
    hold_fixed : bool
    Returns
    -------
    pandas.DataFrame
        One row per level, one column per coefficient.
    Raises
    ------
    MerxError
        Not a linear mixed model, or an unknown group."""
    if hasattr(m, "linear_predictor"):  # a GLMM: lmList would fit glm per level, not least squares
        raise MerxError("shrinkage plots compare least-squares fits: they need a linear mixed model")
    blocks = [b for b in m.frame.blocks if b.group == group]
    if not blocks:
        raise MerxError(f"no grouping factor {group!r} in the model")
    codes = np.asarray(blocks[0].codes)
    n_levels = len(blocks[0].levels)
    X = np.asarray(m.frame.X, dtype=float)
    y = np.asarray(m.frame.y, dtype=float)
    if m.frame.offset is not None:
        y = y - np.asarray(m.frame.offset, dtype=float)
    w = None if m.frame.weights is None else np.sqrt(np.asarray(m.frame.weights, dtype=float))
    names = list(m.frame.x_names)
    if hold_fixed:
        random_columns = [c for blk in blocks for c in blk.columns]
        keep = [j for j, name in enumerate(names) if name in random_columns]
        held = [j for j in range(len(names)) if j not in keep]
        y = y - X[:, held] @ m.fixef.to_numpy()[held]
    else:
        keep = [j for j, name in enumerate(names)
                if name == "(Intercept)" or _varies_within(X[:, j], codes, n_levels)]
    out = np.full((n_levels, len(keep)), np.nan)
    for lev in range(n_levels):
        rows = codes == lev
        Xg, yg = X[rows][:, keep], y[rows]
        if w is not None:
            Xg, yg = Xg * w[rows, None], yg * w[rows]
        if Xg.shape[0] < len(keep) or np.linalg.matrix_rank(Xg) < len(keep):
            continue  # lm would report NA coefficients; the level is left out of the plot
        out[lev] = np.linalg.lstsq(Xg, yg, rcond=None)[0]
    index = pd.Index([str(v) for v in blocks[0].levels])
    return pd.DataFrame(out, index=index, columns=[names[j] for j in keep])


def _varies_within(column: np.ndarray, codes: np.ndarray, n_levels: int) -> bool:
    """Whether a column takes more than one value inside some level."""
    lo = np.full(n_levels, np.inf)
    hi = np.full(n_levels, -np.inf)
    np.minimum.at(lo, codes, column)
    np.maximum.at(hi, codes, column)
    return bool(np.any(hi - lo > 0.0))


def shrinkage(m: Any, group: str | None = None, hold_fixed: bool = False) -> Any:
    """Per-level least-squares estimates (:func:`group_least_squares`, ``hold_fixed`` passed on)
    against the conditional coefficients ``m.coef[group]``, arrows from each least-squares point
    to its conditional one, the population estimate (``m.fixef``) marked. A grouping factor with one term gives a 1-D
    plot (levels on the y axis); with k terms one panel per pair of terms.

    ``group=None`` takes the first grouping factor. Terms of the random effects that are not
    fixed-effects columns varying within the groups cannot be fitted per level and are left out.
    Parameters
    ----------
    m : LmerResult
    group : str, optional
    hold_fixed : bool
    Returns
    -------
    matplotlib.figure.Figure
    Raises
    ------
    MerxError
        Not a linear mixed model, an unknown group, or no term that varies within it.
    ImportError
        Without matplotlib."""
    group = _groups(m, group)[0]
    ls = group_least_squares(m, group, hold_fixed)
    conditional = m.coef[group]
    terms = [t for t in m.ranef()[group].columns if t in ls.columns]
    if not terms:
        raise MerxError(f"no random-effects term of {group!r} is a fixed-effects column that varies within it")
    fixef = m.fixef
    if len(terms) == 1:
        fig, axes = _figure(1, panel=(5.0, 5.0))
        _shrinkage_1d(axes[0], ls[terms[0]], conditional[terms[0]], float(fixef[terms[0]]), group, terms[0])
        return fig
    pairs = [(a, b) for i, a in enumerate(terms) for b in terms[i + 1:]]
    fig, axes = _figure(len(pairs), panel=(5.0, 5.0))
    for ax, (a, b) in zip(axes, pairs):
        ok = ls[[a, b]].notna().all(axis=1).to_numpy()
        x0, y0 = ls[a].to_numpy()[ok], ls[b].to_numpy()[ok]
        x1, y1 = conditional[a].to_numpy()[ok], conditional[b].to_numpy()[ok]
        ax.plot(x0, y0, "o", color="C0", markersize=4, label="within-group least squares")
        ax.plot(x1, y1, "o", color="C1", markersize=4, label="conditional (coef)")
        for xa, ya, xb, yb in zip(x0, y0, x1, y1):
            ax.annotate("", xy=(xb, yb), xytext=(xa, ya),
                        arrowprops={"arrowstyle": "->", "color": "grey", "linewidth": 0.7})
        ax.plot([float(fixef[a])], [float(fixef[b])], "P", color="k", markersize=9, label="population (fixef)")
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        ax.set_title(f"shrinkage: {group}")
        ax.legend(fontsize=7)
    return fig


def _shrinkage_1d(ax: Any, ls: pd.Series, conditional: pd.Series, population: float, group: str,
                  term: str) -> None:
    ok = ls.notna().to_numpy()
    ls, conditional = ls[ok], conditional[ok]
    ranks = np.argsort(ls.to_numpy(), kind="stable")
    ls, conditional = ls.iloc[ranks], conditional.iloc[ranks]
    positions = np.arange(len(ls))
    ax.hlines(positions, ls.to_numpy(), conditional.to_numpy(), color="grey", linewidth=0.8)
    ax.plot(ls.to_numpy(), positions, "o", color="C0", markersize=4, label="within-group least squares")
    ax.plot(conditional.to_numpy(), positions, "o", color="C1", markersize=4, label="conditional (coef)")
    ax.axvline(population, color="k", linestyle="--", linewidth=1, label="population (fixef)")
    if len(ls) <= 40:
        ax.set_yticks(positions, [str(v) for v in ls.index], fontsize=7)
    ax.set_xlabel(term)
    ax.set_title(f"shrinkage: {group}")
    ax.legend(fontsize=7)


# -- residuals ----------------------------------------------------------------


def residuals_vs_fitted(m: Any) -> Any:
    """Pearson residuals against fitted values (lme4's ``plot(m)``), a zero line drawn.
    Parameters
    ----------
    m : LmerResult, GlmerResult, GlmmTMBResult or LmeResult
    Returns
    -------
    matplotlib.figure.Figure
    Raises
    ------
    ImportError
        Without matplotlib."""
    fig, axes = _figure(1, panel=(5.5, 4.5))
    ax = axes[0]
    ax.plot(m.fitted.to_numpy(), m.residuals(type="pearson").to_numpy(), "o", markersize=3, alpha=0.7)
    ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("fitted values")
    ax.set_ylabel("Pearson residuals")
    ax.set_title("residuals vs fitted")
    return fig


def qq_residuals(m: Any) -> Any:
    """Normal QQ plot of the Pearson residuals (R's ``qqnorm(resid(m))`` with ``qqline``).
    Parameters
    ----------
    m : LmerResult, GlmerResult, GlmmTMBResult or LmeResult
    Returns
    -------
    matplotlib.figure.Figure
    Raises
    ------
    ImportError
        Without matplotlib."""
    fig, axes = _figure(1, panel=(5.0, 4.5))
    _qq_panel(axes[0], m.residuals(type="pearson").to_numpy(), "Pearson residuals")
    return fig


# -- likelihood profiles -------------------------------------------------------


def profile_zeta(m: Any, profile: pd.DataFrame | None = None, levels: Sequence[float] = PROFILE_LEVELS) -> Any:
    """ζ against each parameter (lme4's ``xyplot(profile(m))``): one panel per parameter of
    ``m.profile()`` (or of a table given as ``profile``: columns parameter, value, zeta), dashed
    lines at ±z = ±qnorm((1 + level)/2) for each of ``levels``.
    Parameters
    ----------
    m : LmerResult, GlmerResult or LmeResult
    profile : pandas.DataFrame, optional
    levels : sequence of float
    Returns
    -------
    matplotlib.figure.Figure
    Raises
    ------
    MerxError
        A model without likelihood profiles or a table without those columns.
    ImportError
        Without matplotlib."""
    if profile is None:
        if not callable(getattr(m, "profile", None)):
            raise MerxError(f"{type(m).__name__} has no likelihood profiles")
        profile = m.profile()
    missing = {"parameter", "value", "zeta"} - set(profile.columns)
    if missing:
        raise MerxError(f"a profile table has columns parameter, value and zeta; {sorted(missing)} missing")
    names = list(pd.unique(profile["parameter"].astype(str)))
    fig, axes = _figure(len(names), panel=(3.6, 3.2))
    for ax, name in zip(axes, names):
        rows = profile[profile["parameter"].astype(str) == name]
        ax.plot(rows["value"].to_numpy(dtype=float), rows["zeta"].to_numpy(dtype=float), "-", color="C0")
        for lv in levels:
            z = NormalDist().inv_cdf(0.5 + lv / 2.0)
            for sign in (-1.0, 1.0):
                ax.axhline(sign * z, color="grey", linewidth=0.6, linestyle=":")
        ax.set_xlabel(name)
        ax.set_ylabel("ζ")
    return fig
