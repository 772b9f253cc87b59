"""The one-way panel estimators behind the Hausman test, as plm 2.6-2 computes them: the within
(fixed-effects) estimator, Swamy and Arora's variance components, the random-effects GLS
estimator by quasi-demeaning, and Wooldridge's auxiliary regression. Plain numpy on a design
matrix X (with its intercept column first when it has one), a response y and the codes
0..N-1 of the grouping factor of the effect (firms for individual effects, years for time
effects).

Notation: O observations, N groups with T_i observations each, K the number of regressors
besides the intercept.

* Within: y and X demeaned per group; columns that the demeaning leaves zero (constant
  within every group, the intercept among them) are dropped; σ²_ν = e'e / (O - N - K_w) and
  vcov = σ²_ν (X̃'X̃)⁻¹ (plm's ``model = "within"``).
* Swamy-Arora (plm's ``ercomp(method = "swar")``): the within quadratic form e'e and the
  between one, the residuals of the regression of the group means ȳ_i on X̄_i repeated per
  observation (so weighted by T_i) summed over the observations. Balanced panels:
  σ²_η = (q_b / (N - K - 1) - σ²_ν) / T; unbalanced panels (plm's ``dfcor = 3``):
  q_b = (N - K - 1) σ²_ν + (O - tr((Z̄'Z̄)⁻¹ Σ_i T_i² z̄_i z̄_i')) σ²_η with Z̄ the repeated
  group means of the full design. Negative components are set to 0, as plm does.
* Random effects: θ_i = 1 - √(σ²_ν / (σ²_ν + T_i σ²_η)), y - θ_i ȳ_i on X - θ_i X̄_i by OLS;
  vcov = s² (X*'X*)⁻¹ with s² = e*'e* / (O - p) (plm's), or σ²_ν (X*'X*)⁻¹ for known
  (REML) components, the GLS covariance (X'V⁻¹X)⁻¹.
* Auxiliary regression (plm's ``phtest(method = "aux")``): the quasi-demeaned response on an
  intercept, the quasi-demeaned regressors and the within-transformed ones; the statistic
  is the Wald statistic of the within-transformed block being zero, with the OLS covariance
  or the cluster-robust one of plm's ``vcovHC`` default (Arellano, HC0, clustered by group).
  plm 2.6-2 takes that block by position (coefficients K_w + 2 .. 2 K_w + 1), which is the
  within block only when no regressor is time-invariant; with one (Grunfeld's
  ``inv ~ value + capital + firmclass``, firmclass = firm mod 3) it tests the quasi-demeaned
  firmclass with the within value (chisq 3.0087); merx tests the within block (2.7326).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "GroupStructure", "Estimate", "VarianceComponents", "group_structure", "within_columns",
    "within_estimator", "swamy_arora", "quasi_demeaning_theta", "random_effects_gls", "auxiliary_wald",
]

# a column whose within-transformed values are this small relative to its own scale is constant
# within every group (time-invariant): plm's ``cstcovar.rm = "all"``
_CONSTANT_TOL = 1e-10


@dataclass(frozen=True)
class GroupStructure:
    """Codes 0..N-1 per observation, the group sizes T_i and whether the panel is balanced."""

    codes: np.ndarray
    sizes: np.ndarray
    balanced: bool

    @property
    def n_groups(self) -> int:
        return int(self.sizes.size)

    @property
    def n_obs(self) -> int:
        return int(self.codes.size)

    def means(self, a: np.ndarray) -> np.ndarray:
        """Group means of the rows of ``a`` (one row per group)."""
        a2 = a.reshape(a.shape[0], -1)
        sums = np.zeros((self.n_groups, a2.shape[1]))
        np.add.at(sums, self.codes, a2)
        out = sums / self.sizes[:, None]
        return out.reshape((self.n_groups,) + a.shape[1:])

    def repeated_means(self, a: np.ndarray) -> np.ndarray:
        """Each observation's group mean (plm's ``Between``)."""
        return self.means(a)[self.codes]


@dataclass(frozen=True)
class Estimate:
    """Coefficients, their covariance and the residual variance of an estimator."""

    names: list
    coef: np.ndarray
    vcov: np.ndarray
    sigma2: float

    @property
    def std_error(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))


@dataclass(frozen=True)
class VarianceComponents:
    """σ²_ν (idiosyncratic), σ²_η (the effect) and θ per observation."""

    sigma2_idios: float
    sigma2_effect: float
    theta: np.ndarray
    method: str


def group_structure(codes: np.ndarray, balanced: bool) -> GroupStructure:
    codes = np.asarray(codes, dtype=np.int64)
    sizes = np.bincount(codes).astype(np.float64)
    return GroupStructure(codes=codes, sizes=sizes, balanced=balanced)


def _ols(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """β, residuals and (X'X)⁻¹ of a least-squares fit on a full-rank X."""
    xtx_inv = np.linalg.inv(X.T @ X)
    beta = xtx_inv @ (X.T @ y)
    return beta, y - X @ beta, xtx_inv


def within_columns(X: np.ndarray, groups: GroupStructure) -> tuple[np.ndarray, np.ndarray]:
    """The within-transformed X and a mask of the columns it keeps (not constant within every group)."""
    X_within = X - groups.repeated_means(X)
    scale = np.maximum(np.max(np.abs(X), axis=0), 1.0)
    keep = np.max(np.abs(X_within), axis=0) > _CONSTANT_TOL * scale
    return X_within, keep


def within_estimator(X: np.ndarray, y: np.ndarray, names: list, groups: GroupStructure) -> Estimate:
    """The fixed-effects estimator on the columns of X that vary within groups."""
    X_within, keep = within_columns(X, groups)
    y_within = y - groups.repeated_means(y)
    Xk = X_within[:, keep]
    beta, resid, xtx_inv = _ols(Xk, y_within)
    df_resid = groups.n_obs - groups.n_groups - Xk.shape[1]
    sigma2 = float(resid @ resid) / df_resid
    return Estimate([n for n, k in zip(names, keep) if k], beta, sigma2 * xtx_inv, sigma2)


def swamy_arora(X: np.ndarray, y: np.ndarray, groups: GroupStructure, within: Estimate) -> VarianceComponents:
    """Swamy and Arora's variance components (plm's default ``random.method``); X holds the
    intercept and every regressor, also those the within estimator drops."""
    n_obs, n_groups = groups.n_obs, groups.n_groups
    k = X.shape[1] - 1  # regressors besides the intercept
    X_between = groups.repeated_means(X)
    _, resid_between, xtx_between_inv = _ols(X_between, groups.repeated_means(y))
    quad_between = float(resid_between @ resid_between)
    sigma2_idios = within.sigma2
    if groups.balanced:
        t = float(groups.sizes[0])
        sigma2_effect = (quad_between / (n_groups - k - 1) - sigma2_idios) / t
    else:
        means = groups.means(X)
        weighted = (means * groups.sizes[:, None] ** 2).T @ means  # Σ_i T_i² z̄_i z̄_i'
        eta_coef = n_obs - float(np.trace(xtx_between_inv @ weighted))
        sigma2_effect = (quad_between - (n_groups - k - 1) * sigma2_idios) / eta_coef
    sigma2_effect = max(sigma2_effect, 0.0)
    return VarianceComponents(sigma2_idios, sigma2_effect,
                              quasi_demeaning_theta(sigma2_idios, sigma2_effect, groups), "swar")


def quasi_demeaning_theta(sigma2_idios: float, sigma2_effect: float, groups: GroupStructure) -> np.ndarray:
    """θ_i = 1 - √(σ²_ν / (σ²_ν + T_i σ²_η)) per observation."""
    t_i = groups.sizes[groups.codes]
    return 1.0 - np.sqrt(sigma2_idios / (sigma2_idios + t_i * sigma2_effect))


def quasi_demean(a: np.ndarray, theta: np.ndarray, groups: GroupStructure) -> np.ndarray:
    means = groups.repeated_means(a)
    return a - (theta[:, None] if a.ndim == 2 else theta) * means


def random_effects_gls(X: np.ndarray, y: np.ndarray, names: list, groups: GroupStructure,
                       components: VarianceComponents, known_components: bool = False) -> Estimate:
    """GLS by OLS on the quasi-demeaned data; ``known_components``: the covariance with σ²_ν
    itself (REML components) instead of plm's residual variance of the transformed fit."""
    X_star = quasi_demean(X, components.theta, groups)
    y_star = quasi_demean(y, components.theta, groups)
    beta, resid, xtx_inv = _ols(X_star, y_star)
    if known_components:
        sigma2 = components.sigma2_idios
    else:
        sigma2 = float(resid @ resid) / (groups.n_obs - X.shape[1])
    return Estimate(list(names), beta, sigma2 * xtx_inv, sigma2)


def auxiliary_wald(X: np.ndarray, y: np.ndarray, has_intercept: bool, groups: GroupStructure,
                   components: VarianceComponents, robust: bool) -> tuple[float, int]:
    """Wooldridge's regression-based Hausman statistic and its degrees of freedom."""
    X_slopes = X[:, 1:] if has_intercept else X
    X_within, keep = within_columns(X_slopes, groups)
    X_within = X_within[:, keep]
    y_star = quasi_demean(y, components.theta, groups)
    X_star = quasi_demean(X_slopes, components.theta, groups)
    design = np.column_stack([np.ones(groups.n_obs), X_star, X_within])
    beta, resid, xtx_inv = _ols(design, y_star)
    block = slice(1 + X_star.shape[1], design.shape[1])
    if robust:
        scores = np.zeros((groups.n_groups, design.shape[1]))
        np.add.at(scores, groups.codes, design * resid[:, None])
        vcov = xtx_inv @ (scores.T @ scores) @ xtx_inv
    else:
        vcov = xtx_inv * (float(resid @ resid) / (groups.n_obs - design.shape[1]))
    d = beta[block]
    statistic = float(d @ np.linalg.solve(vcov[block, block], d))
    return statistic, int(d.size)
