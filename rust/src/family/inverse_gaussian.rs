//! The inverse Gaussian family (R's `inverse.gaussian()`): positive responses, V(μ) = μ³,
//! a dispersion φ = 1/λ. See `dispersion.rs` for how lme4 treats φ.

use super::dispersion::{first_non_positive, weighted_rows};
use super::{Family, Link};
use crate::error::{invalid, Result};

const LOG_2PI: f64 = 1.8378770664093453;

#[derive(Clone, Copy, Debug)]
pub struct InverseGaussian {
    link: Link,
}

impl InverseGaussian {
    pub fn new(link: Link) -> Self {
        InverseGaussian { link }
    }
}

impl Family for InverseGaussian {
    fn name(&self) -> &'static str {
        "inverse.gaussian"
    }

    fn link(&self) -> Link {
        self.link
    }

    fn variance(&self, mu: f64) -> f64 {
        mu * mu * mu
    }

    /// w (y - μ)² / (y μ²).
    fn deviance_residual(&self, y: f64, mu: f64, w: f64) -> f64 {
        w * (y - mu) * (y - mu) / (y * mu * mu)
    }

    /// R's `inverse.gaussian()$aic` in full, its +2 included (lme4 keeps it): with
    /// φ = dev/Σw, Σw (1 + log(2πφ)) + 3 Σ w log y + 2. (The weights enter as R has them:
    /// no -Σ log w.)
    fn minus_twice_log_likelihood(&self, y: &[f64], mu: &[f64], w: &[f64]) -> f64 {
        let sum_w = weighted_rows(w, |i| w[i]);
        let dev = weighted_rows(w, |i| self.deviance_residual(y[i], mu[i], w[i]));
        sum_w * (1.0 + LOG_2PI + (dev / sum_w).ln()) + 3.0 * weighted_rows(w, |i| w[i] * y[i].ln()) + 2.0
    }

    /// R: μ starts at y.
    fn mu_start(&self, y: f64, _w: f64) -> f64 {
        y
    }

    fn check_response(&self, y: &[f64], _w: &[f64]) -> Result<()> {
        if let Some(i) = first_non_positive(y) {
            return invalid(format!("an inverse Gaussian response must be positive; row {i} has {}", y[i]));
        }
        Ok(())
    }

    fn canonical_link(&self) -> bool {
        self.link == Link::InverseSquare
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R 4.2: `inverse.gaussian()$dev.resids` and `$aic` on the vectors of the Gamma test.
    #[test]
    fn matches_r() {
        let (y, mu, w) = ([0.5, 1.2, 3.4, 0.8, 2.2], [0.7, 1.0, 2.9, 1.1, 2.5], [1.0, 2.0, 1.0, 0.5, 1.0]);
        let f = InverseGaussian::new(Link::Log);
        let want = [0.1632653061224489111, 0.0666666666666666380, 0.0087430929565643131, 0.0464876033057851287, 0.0065454545454545375];
        for i in 0..5 {
            assert!((f.deviance_residual(y[i], mu[i], w[i]) - want[i]).abs() < 1e-15);
        }
        assert!((f.minus_twice_log_likelihood(&y, &mu, &w) - 6.1726716626049143).abs() < 1e-12);
        assert!(f.check_response(&[1.0, -2.0], &[1.0, 1.0]).unwrap_err().to_string().contains("row 1"));
    }
}
