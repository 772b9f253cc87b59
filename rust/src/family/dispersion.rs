//! What the families with a dispersion parameter (Gamma, inverse Gaussian, Gaussian with any
//! link) share in lme4's `glmer`.
//!
//! lme4 fits these families by the same Laplace approximation as the binomial and Poisson
//! ones, and the dispersion φ is never a parameter of the optimisation:
//!
//! * PIRLS, ‖u‖² and log|L|² use the working weights w (dμ/dη)²/V(μ) without φ;
//! * the log-likelihood's constants are R's `family$aic(y, n, μ, w, dev)` with dev the sum
//!   of the deviance residuals at μ, and R's `aic` estimates φ inside from that deviance
//!   (Gamma and inverse Gaussian: φ = dev / Σw; Gaussian: σ² = dev / n) and *adds 2* for
//!   it. lme4 keeps that 2: its Laplace deviance is log|L|² + ‖u‖² + aic, and `logLik` is
//!   minus half of it (so logLik carries a -1 an ordinary likelihood would not have);
//! * `logLik`'s df count the dispersion (β, θ and one scale: `npar.merMod` adds `useSc`);
//! * `sigma(fit)` is not φ^½ of the `aic`: lme4 takes √((Σ w(y-μ)²/V(μ) + ‖u‖²)/n), the
//!   Pearson χ² plus the squared modes over the number of observations (`sigmaML` of
//!   `mkMerMod`, `pwrss / n`), and scales with it the printed random-effect variances
//!   ((σθ)², `VarCorr`) and the conditional variances of the modes (σ², `ranef`), but not
//!   `vcov`, which is the Hessian-based one of the deviance above.
//!
//! The families here put the +2 into `minus_twice_log_likelihood` so that the Laplace
//! deviance of `pirls.rs` is lme4's without any change there.

/// Σ over the rows with a positive prior weight of `f(i)` (R's `aic` multiplies each row's
/// log-density by its weight, so a zero weight drops the row).
pub(crate) fn weighted_rows(w: &[f64], mut f: impl FnMut(usize) -> f64) -> f64 {
    (0..w.len()).filter(|&i| w[i] > 0.0).map(|i| f(i)).sum()
}

/// The index of the first row whose response is not finite and positive.
pub(crate) fn first_non_positive(y: &[f64]) -> Option<usize> {
    y.iter().position(|v| !(v.is_finite() && *v > 0.0))
}
