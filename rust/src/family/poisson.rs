//! The Poisson family: y counts, w prior weights.

use super::link::EPS;
use super::{generic_mu_and_deviance, generic_working, y_log_y, Family, Link};
use crate::error::{invalid, Result};

#[derive(Clone, Copy, Debug)]
pub struct Poisson {
    link: Link,
}

impl Poisson {
    pub fn new(link: Link) -> Self {
        Poisson { link }
    }
}

impl Family for Poisson {
    fn name(&self) -> &'static str {
        "poisson"
    }

    fn link(&self) -> Link {
        self.link
    }

    fn variance(&self, mu: f64) -> f64 {
        mu
    }

    /// The log link's pass (μ = max(eʸ, ε) as R), in a loop of its own; other links by the
    /// generic one.
    fn mu_and_deviance(&self, eta: &[f64], y: &[f64], prior: &[f64], mu: &mut [f64]) -> f64 {
        if self.link != Link::Log {
            return generic_mu_and_deviance(self, eta, y, prior, mu);
        }
        let mut dev = 0.0;
        for i in 0..eta.len() {
            let m = eta[i].exp().max(EPS);
            mu[i] = m;
            let yi = y[i];
            let t = if yi > 0.0 { yi * (yi / m).ln() } else { 0.0 };
            dev += 2.0 * prior[i] * (t - (yi - m));
        }
        dev
    }

    /// The log link's working weights and response: μ' = V = μ.
    fn working(&self, eta: &[f64], mu: &[f64], y: &[f64], prior: &[f64], offset: &[f64], weights: &mut [f64], response: &mut [f64]) {
        if self.link != Link::Log {
            return generic_working(self, eta, mu, y, prior, offset, weights, response);
        }
        for i in 0..eta.len() {
            let m = mu[i];
            weights[i] = if prior[i] > 0.0 { prior[i] * m } else { 0.0 };
            response[i] = eta[i] - offset[i] + (y[i] - m) / m;
        }
    }

    fn deviance_residual(&self, y: f64, mu: f64, w: f64) -> f64 {
        2.0 * w * (y_log_y(y, mu) - (y - mu))
    }

    /// R: -2 Σ dpois(y, μ, log = TRUE) wt.
    fn saturated_minus_twice_log_likelihood(&self, y: &[f64], w: &[f64]) -> Option<f64> {
        Some(self.minus_twice_log_likelihood(y, y, w))
    }

    fn minus_twice_log_likelihood(&self, y: &[f64], mu: &[f64], w: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 0..y.len() {
            if w[i] == 0.0 {
                continue;
            }
            let log_p = if y[i] == 0.0 { -mu[i] } else { y[i] * mu[i].ln() - mu[i] - libm::lgamma(y[i] + 1.0) };
            s += w[i] * log_p;
        }
        -2.0 * s
    }

    /// R: y + 0.1.
    fn mu_start(&self, y: f64, _w: f64) -> f64 {
        y + 0.1
    }

    fn check_response(&self, y: &[f64], _w: &[f64]) -> Result<()> {
        if let Some(i) = y.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return invalid(format!("a Poisson response is a non-negative count; row {i} has {}", y[i]));
        }
        Ok(())
    }

    fn variance_derivative(&self, mu: f64) -> Option<f64> {
        let _ = mu;
        Some(1.0)
    }

    fn canonical_link(&self) -> bool {
        self.link == Link::Log
    }
}
