//! The Gaussian distribution with the identity link, and its profiled likelihood.

use super::{Family, Link};
use crate::error::Result;

const LOG_2PI: f64 = 1.8378770664093453;

#[derive(Clone, Copy, Debug, Default)]
pub struct Gaussian;

impl Family for Gaussian {
    fn name(&self) -> &'static str {
        "gaussian"
    }
    fn link(&self) -> Link {
        Link::Identity
    }
    fn variance(&self, _mu: f64) -> f64 {
        1.0
    }
    fn deviance_residual(&self, y: f64, mu: f64, w: f64) -> f64 {
        w * (y - mu) * (y - mu)
    }
    /// With σ² profiled out (σ̂² = RSS/n): n (1 + log(2π RSS/n)) - Σ log w.
    fn minus_twice_log_likelihood(&self, y: &[f64], mu: &[f64], w: &[f64]) -> f64 {
        let n = w.iter().filter(|v| **v > 0.0).count() as f64;
        let rss: f64 = (0..y.len()).map(|i| self.deviance_residual(y[i], mu[i], w[i])).sum();
        let sum_log_w: f64 = w.iter().filter(|v| **v > 0.0).map(|v| v.ln()).sum();
        n * (1.0 + LOG_2PI + (rss / n).ln()) - sum_log_w
    }
    fn mu_start(&self, y: f64, _w: f64) -> f64 {
        y
    }
    fn check_response(&self, _y: &[f64], _w: &[f64]) -> Result<()> {
        Ok(())
    }
}

/// The pieces of the profiled Gaussian likelihood at one θ (Bates et al. 2015, eqs. 34, 41).
#[derive(Clone, Copy, Debug)]
pub struct ProfiledPieces {
    /// log|L|² of A = Λ'Z'WZΛ + I.
    pub ld_l2: f64,
    /// log|R_X|².
    pub ld_rx2: f64,
    /// Σ log w over the observations.
    pub sum_log_w: f64,
    /// Penalized weighted residual sum of squares r².
    pub pwrss: f64,
    /// Observations (rows with positive weight) and fixed-effect columns.
    pub n: usize,
    pub p: usize,
}

/// (ML deviance, REML criterion) with β and σ profiled out:
///   ML:   log|L|² - Σlog w + n (1 + log(2π r²/n))
///   REML: log|L|² - Σlog w + log|R_X|² + (n-p)(1 + log(2π r²/(n-p)))
pub fn profiled_objective(x: &ProfiledPieces) -> (f64, f64) {
    let n = x.n as f64;
    let nmp = n - x.p as f64;
    let deviance_ml = x.ld_l2 - x.sum_log_w + n * (1.0 + LOG_2PI + (x.pwrss / n).ln());
    let reml = x.ld_l2 - x.sum_log_w + x.ld_rx2 + nmp * (1.0 + LOG_2PI + (x.pwrss / nmp).ln());
    (deviance_ml, reml)
}

/// σ̂ at the optimum: √(r²/(n-p)) for REML, √(r²/n) for ML.
pub fn sigma(pwrss: f64, n: usize, p: usize, reml: bool) -> f64 {
    let dof = if reml { n - p } else { n } as f64;
    (pwrss / dof).sqrt()
}
