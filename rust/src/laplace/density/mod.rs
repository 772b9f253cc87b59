//! The conditional densities of glmmTMB's families: one file per family, each a
//! [`ConditionalDensity`] giving log f(y | μ, φ) with its first two derivatives in μ. The
//! engine chains them to the linear predictor through the link and, for zero-inflated
//! models, mixes in the point mass at zero ([`observation`]).

mod beta;
mod binomial;
mod gamma;
mod gaussian;
mod nbinom1;
mod nbinom2;
mod poisson;

use crate::error::{MerxError, Result};
use crate::family::link::Link;

pub use beta::BetaFamily;
pub use binomial::Binomial;
pub use gamma::GammaFamily;
pub use gaussian::Gaussian;
pub use nbinom1::NegativeBinomial1;
pub use nbinom2::NegativeBinomial2;
pub use poisson::Poisson;

/// log f and its first two derivatives (in μ from a density, in η after [`observation`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Derivatives {
    pub value: f64,
    pub first: f64,
    pub second: f64,
}

/// One family's conditional density of y given the mean μ and the dispersion φ (the
/// family's own parameter on its natural scale, exp of the dispersion predictor: glmmTMB's
/// `exp(betad)`); `size` is a binomial row's trials (1 elsewhere).
pub trait ConditionalDensity: Send + Sync + std::fmt::Debug {
    /// glmmTMB's family name.
    fn name(&self) -> &'static str;
    fn default_link(&self) -> Link;
    /// Whether the family has a dispersion parameter (a `dispformula`).
    fn has_dispersion(&self) -> bool;
    /// The part of log f(y | μ, φ) that depends on μ, and its derivatives in μ. A y outside
    /// the support is -∞.
    fn log_density(&self, y: f64, mu: f64, phi: f64, size: f64) -> Derivatives;
    /// The rest of log f (free of μ): log f = `log_density(..).value` + this. The engine
    /// computes it once per dispersion, not per Newton step.
    fn log_constant(&self, y: f64, phi: f64, size: f64) -> f64;
    /// The conditional variance at μ (for Pearson residuals).
    fn variance(&self, mu: f64, phi: f64, size: f64) -> f64;
    /// glmmTMB's `sigma()` from φ.
    fn sigma(&self, phi: f64) -> f64;
    /// The support of the response: the first offending row as a message, if any. Zeros of
    /// a continuous family with positive support are allowed with zero inflation (glmmTMB's
    /// `ziGamma`: the point mass at zero is then the zero-inflation probability).
    fn support_error(&self, y: f64, size: f64, zero_inflated: bool) -> Option<String>;
    /// A starting μ for a response value (the start of the fixed effects).
    fn mu_start(&self, y: f64) -> f64;
    /// With the log link: the μ-dependent part of log f and its derivatives directly in η
    /// (μ = e^η), where the family has a cheaper closed form than the chain rule; None: the
    /// engine goes through μ.
    fn log_link_density(&self, _y: f64, _eta: f64, _mu: f64, _phi: f64) -> Option<Derivatives> {
        None
    }
}

/// The family of a glmmTMB name.
pub fn density_by_name(name: &str) -> Result<Box<dyn ConditionalDensity>> {
    Ok(match name {
        "poisson" => Box::new(Poisson),
        "binomial" => Box::new(Binomial),
        "nbinom2" => Box::new(NegativeBinomial2),
        "nbinom1" => Box::new(NegativeBinomial1),
        "Gamma" => Box::new(GammaFamily),
        "beta" => Box::new(BetaFamily),
        "gaussian" => Box::new(Gaussian),
        other => {
            return Err(MerxError::InvalidInput(format!(
                "unknown family {other:?}: the Laplace engine has poisson, binomial, nbinom2, nbinom1, Gamma, beta and gaussian"
            )))
        }
    })
}

/// ln Γ.
pub(crate) fn lgamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// One observation's log-likelihood in the linear predictor η: the density through the
/// link, then zero inflation with probability `pz` (0 without it): for y = 0,
/// log(pz + (1 - pz) f(0)), else log(1 - pz) + log f(y). `weight` multiplies all three;
/// `constant` is the density's [`log_constant`](ConditionalDensity::log_constant).
#[allow(clippy::too_many_arguments)]
pub fn observation(density: &dyn ConditionalDensity, link: Link, y: f64, eta: f64, phi: f64, size: f64, pz: f64, weight: f64, constant: f64) -> Derivatives {
    let direct = if link == Link::Log { density.log_link_density(y, eta, link.inverse(eta), phi) } else { None };
    let (d, first, second) = match direct {
        Some(mut d) => {
            d.value += constant;
            (d, d.first, d.second)
        }
        None => {
            let (mu, m1, m2) = match link {
                // One exp for the log link (μ = μ' = μ'' = e^η, clamped as R's linkinv).
                Link::Log => {
                    let m = link.inverse(eta);
                    (m, m, m)
                }
                _ => (link.inverse(eta), link.mu_eta(eta), link.mu_eta_derivative(eta)),
            };
            let mut d = density.log_density(y, mu, phi, size);
            d.value += constant;
            let (first, second) =
                if d.value == f64::NEG_INFINITY { (0.0, 0.0) } else { (d.first * m1, d.second * m1 * m1 + d.first * m2) };
            (d, first, second)
        }
    };
    let out = if pz > 0.0 && y == 0.0 {
        // r = (1 - pz) f(0) / (pz + (1 - pz) f(0)): the posterior weight of the count part.
        let a = pz.ln();
        let b = (-pz).ln_1p() + d.value;
        let hi = a.max(b);
        let value = hi + ((a - hi).exp() + (b - hi).exp()).ln();
        let r = (b - value).exp();
        Derivatives { value, first: r * first, second: r * second + r * (1.0 - r) * first * first }
    } else if pz > 0.0 {
        Derivatives { value: (-pz).ln_1p() + d.value, first, second }
    } else {
        Derivatives { value: d.value, first, second }
    };
    Derivatives { value: weight * out.value, first: weight * out.first, second: weight * out.second }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each family's derivatives in μ against central differences, and through a link with
    /// zero inflation.
    #[test]
    fn derivatives_match_differences() {
        let cases: Vec<(&str, f64, f64, f64, f64)> = vec![
            ("poisson", 3.0, 2.2, f64::NAN, 1.0),
            ("binomial", 0.3, 0.4, f64::NAN, 10.0),
            ("nbinom2", 4.0, 2.5, 1.7, 1.0),
            ("nbinom1", 4.0, 2.5, 0.7, 1.0),
            ("Gamma", 1.3, 2.0, 3.0, 1.0),
            ("beta", 0.3, 0.4, 5.0, 1.0),
            ("gaussian", 0.3, 0.4, 2.0, 1.0),
        ];
        for (name, y, mu, phi, size) in cases {
            let d = density_by_name(name).unwrap();
            let h = 1e-5;
            let f = |m: f64| d.log_density(y, m, phi, size);
            let (lo, mid, hi) = (f(mu - h), f(mu), f(mu + h));
            assert!((mid.first - (hi.value - lo.value) / (2.0 * h)).abs() < 1e-6 * (1.0 + mid.first.abs()), "{name} first");
            assert!((mid.second - (hi.first - lo.first) / (2.0 * h)).abs() < 1e-6 * (1.0 + mid.second.abs()), "{name} second");
            let link = d.default_link();
            let eta = link.link(mu);
            for (yy, pz) in [(y, 0.0), (y, 0.3), (0.0, 0.3)] {
                if d.support_error(yy, size, pz > 0.0).is_some() {
                    continue;
                }
                let c = d.log_constant(yy, phi, size);
                let g = |e: f64| observation(d.as_ref(), link, yy, e, phi, size, pz, 1.5, c);
                let (lo, mid, hi) = (g(eta - h), g(eta), g(eta + h));
                assert!((mid.first - (hi.value - lo.value) / (2.0 * h)).abs() < 1e-6 * (1.0 + mid.first.abs()), "{name} η first {yy} {pz}");
                assert!((mid.second - (hi.first - lo.first) / (2.0 * h)).abs() < 1e-6 * (1.0 + mid.second.abs()), "{name} η second {yy} {pz}");
            }
        }
    }

    /// The log link's direct forms equal the chain rule through μ.
    #[test]
    fn log_link_forms_equal_the_chain_rule() {
        for name in ["poisson", "nbinom2"] {
            let d = density_by_name(name).unwrap();
            for (y, eta) in [(0.0f64, -1.3f64), (3.0, 0.4), (17.0, 2.9)] {
                let mu = eta.exp();
                let direct = d.log_link_density(y, eta, mu, 1.7).unwrap();
                let chain = d.log_density(y, mu, 1.7, 1.0);
                assert!((direct.value - chain.value).abs() < 1e-12 * (1.0 + chain.value.abs()), "{name} value");
                assert!((direct.first - chain.first * mu).abs() < 1e-12 * (1.0 + direct.first.abs()), "{name} first");
                let second = chain.second * mu * mu + chain.first * mu;
                assert!((direct.second - second).abs() < 1e-12 * (1.0 + second.abs()), "{name} second");
            }
        }
    }

    /// The densities integrate (or sum) to one.
    #[test]
    fn densities_are_normalised() {
        for (name, mu, phi) in [("poisson", 2.5, f64::NAN), ("nbinom2", 2.5, 1.3), ("nbinom1", 2.5, 0.8)] {
            let d = density_by_name(name).unwrap();
            let total: f64 = (0..400).map(|y| (d.log_density(y as f64, mu, phi, 1.0).value + d.log_constant(y as f64, phi, 1.0)).exp()).sum();
            assert!((total - 1.0).abs() < 1e-10, "{name} {total}");
        }
        let b = density_by_name("binomial").unwrap();
        let total: f64 = (0..=7).map(|k| (b.log_density(k as f64 / 7.0, 0.3, f64::NAN, 7.0).value + b.log_constant(k as f64 / 7.0, f64::NAN, 7.0)).exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
        for (name, lo, hi, mu, phi) in [("Gamma", 0.0, 60.0, 2.0, 3.0), ("beta", 0.0, 1.0, 0.3, 5.0), ("gaussian", -30.0, 30.0, 0.4, 2.0)] {
            let d = density_by_name(name).unwrap();
            let m = 200_000;
            let h = (hi - lo) / m as f64;
            let total: f64 = (0..m)
                .map(|i| {
                    let y = lo + (i as f64 + 0.5) * h;
                    (d.log_density(y, mu, phi, 1.0).value + d.log_constant(y, phi, 1.0)).exp() * h
                })
                .sum();
            assert!((total - 1.0).abs() < 1e-4, "{name} {total}");
        }
    }
}

/// ψ(x) = d ln Γ(x)/dx for x > 0 (recurrence to x ≥ 10, then the asymptotic series).
pub(crate) fn digamma(mut x: f64) -> f64 {
    let mut out = 0.0;
    while x < 10.0 {
        out -= 1.0 / x;
        x += 1.0;
    }
    let r = 1.0 / (x * x);
    out + x.ln() - 0.5 / x - r * (1.0 / 12.0 - r * (1.0 / 120.0 - r * (1.0 / 252.0 - r * (1.0 / 240.0 - r / 132.0))))
}

/// ψ'(x) for x > 0 (recurrence to x ≥ 10, then the asymptotic series).
pub(crate) fn trigamma(mut x: f64) -> f64 {
    let mut out = 0.0;
    while x < 10.0 {
        out += 1.0 / (x * x);
        x += 1.0;
    }
    let r = 1.0 / (x * x);
    out + 1.0 / x + 0.5 * r + (1.0 / x) * r * (1.0 / 6.0 - r * (1.0 / 30.0 - r * (1.0 / 42.0 - r / 30.0)))
}

#[cfg(test)]
mod special_tests {
    use super::*;

    #[test]
    fn digamma_and_trigamma_match_differences_of_lgamma() {
        for x in [0.05, 0.7, 1.0, 3.3, 12.0, 250.0] {
            let h = 1e-4 * x;
            let d = (lgamma(x + h) - lgamma(x - h)) / (2.0 * h);
            assert!((digamma(x) - d).abs() < 1e-7 * (1.0 + d.abs()), "ψ({x})");
            let t = (digamma(x + h) - digamma(x - h)) / (2.0 * h);
            assert!((trigamma(x) - t).abs() < 1e-6 * (1.0 + t.abs()), "ψ'({x})");
        }
        // ψ(1) = -γ, ψ'(1) = π²/6
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-13);
        assert!((trigamma(1.0) - std::f64::consts::PI.powi(2) / 6.0).abs() < 1e-12);
    }
}
