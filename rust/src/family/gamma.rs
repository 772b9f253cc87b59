//! The Gamma family (R's `Gamma()`): positive responses, V(μ) = μ², a dispersion φ (the
//! squared coefficient of variation). See `dispersion.rs` for how lme4 treats φ.

use super::dispersion::{first_non_positive, weighted_rows};
use super::{Family, Link};
use crate::error::{invalid, Result};

#[derive(Clone, Copy, Debug)]
pub struct Gamma {
    link: Link,
}

impl Gamma {
    pub fn new(link: Link) -> Self {
        Gamma { link }
    }
}

impl Family for Gamma {
    fn name(&self) -> &'static str {
        "Gamma"
    }

    fn link(&self) -> Link {
        self.link
    }

    fn variance(&self, mu: f64) -> f64 {
        mu * mu
    }

    /// -2 w (log(y/μ) - (y - μ)/μ) (log(y/μ) taken as 0 at y = 0, as R does).
    fn deviance_residual(&self, y: f64, mu: f64, w: f64) -> f64 {
        let log_ratio = if y == 0.0 { 0.0 } else { (y / mu).ln() };
        -2.0 * w * (log_ratio - (y - mu) / mu)
    }

    /// R's `Gamma()$aic` in full, its +2 included (lme4 keeps it): with the dispersion
    /// φ = dev/Σw estimated from the deviance at μ, -2 Σ w log f(y; shape 1/φ, scale μφ) + 2.
    fn minus_twice_log_likelihood(&self, y: &[f64], mu: &[f64], w: &[f64]) -> f64 {
        let dev = weighted_rows(w, |i| self.deviance_residual(y[i], mu[i], w[i]));
        let disp = dev / weighted_rows(w, |i| w[i]);
        let shape = 1.0 / disp;
        let log_density = |i: usize| {
            let scale = mu[i] * disp;
            -libm::lgamma(shape) - shape * scale.ln() + (shape - 1.0) * y[i].ln() - y[i] / scale
        };
        -2.0 * weighted_rows(w, |i| w[i] * log_density(i)) + 2.0
    }

    /// R: μ starts at y.
    fn mu_start(&self, y: f64, _w: f64) -> f64 {
        y
    }

    fn check_response(&self, y: &[f64], _w: &[f64]) -> Result<()> {
        if let Some(i) = first_non_positive(y) {
            return invalid(format!("a Gamma response must be positive; row {i} has {}", y[i]));
        }
        Ok(())
    }

    // No `variance_derivative`: the analytic gradient of `glmm_gradient` takes the
    // constants' derivative to be the deviance's, which φ = dev/Σw breaks.

    fn canonical_link(&self) -> bool {
        self.link == Link::Inverse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R 4.2: `Gamma()$dev.resids(y, mu, wt)` and `Gamma()$aic(y, 1, mu, wt, dev)` with
    /// y = (0.5, 1.2, 3.4, 0.8, 2.2), mu = (0.7, 1.0, 2.9, 1.1, 2.5), wt = (1, 2, 1, 0.5, 1).
    #[test]
    fn matches_r() {
        let (y, mu, w) = ([0.5, 1.2, 3.4, 0.8, 2.2], [0.7, 1.0, 2.9, 1.1, 2.5], [1.0, 2.0, 1.0, 0.5, 1.0]);
        let f = Gamma::new(Link::Inverse);
        let want = [0.101515901813854503, 0.070713772824181453, 0.026698196947522013, 0.045726458391261826, 0.015666743019769697];
        for i in 0..5 {
            assert!((f.deviance_residual(y[i], mu[i], w[i]) - want[i]).abs() < 1e-15);
        }
        assert!((f.minus_twice_log_likelihood(&y, &mu, &w) - 4.0177895390791827).abs() < 1e-12);
        let err = f.check_response(&[1.0, 0.0], &[1.0, 1.0]).unwrap_err().to_string();
        assert!(err.contains("row 1") && err.contains("positive"), "{err}");
        assert!(f.canonical_link() && !Gamma::new(Link::Log).canonical_link());
    }
}
