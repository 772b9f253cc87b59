//! The binomial family: y the proportion of successes, w the trials (times prior weights),
//! as R's `binomial()` takes a `cbind(successes, failures)` or 0/1 response.

use super::{y_log_y, Family, Link};
use crate::error::{invalid, Result};

#[derive(Clone, Copy, Debug)]
pub struct Binomial {
    link: Link,
}

impl Binomial {
    pub fn new(link: Link) -> Self {
        Binomial { link }
    }
}

/// log C(n, k).
fn log_choose(n: f64, k: f64) -> f64 {
    libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0)
}

impl Family for Binomial {
    fn name(&self) -> &'static str {
        "binomial"
    }

    fn link(&self) -> Link {
        self.link
    }

    fn variance(&self, mu: f64) -> f64 {
        mu * (1.0 - mu)
    }

    fn deviance_residual(&self, y: f64, mu: f64, w: f64) -> f64 {
        2.0 * w * (y_log_y(y, mu) + y_log_y(1.0 - y, 1.0 - mu))
    }

    /// Splits when the trials and the successes are whole numbers (R rounds them in the
    /// likelihood but not in the deviance).
    fn saturated_minus_twice_log_likelihood(&self, y: &[f64], w: &[f64]) -> Option<f64> {
        let whole = |v: f64| (v - v.round()).abs() <= 1e-9 * v.abs().max(1.0);
        y.iter().zip(w).all(|(&yi, &wi)| whole(wi) && whole(wi * yi)).then(|| self.minus_twice_log_likelihood(y, y, w))
    }

    /// R: -2 Σ (wt/m) dbinom(round(m y), round(m), μ, log = TRUE) with m = the trials; the
    /// trials are the weights here, so wt/m = 1 where m > 0.
    fn minus_twice_log_likelihood(&self, y: &[f64], mu: &[f64], w: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 0..y.len() {
            let m = w[i].round();
            if m <= 0.0 {
                continue;
            }
            let k = (m * y[i]).round();
            let log_p = if mu[i] <= 0.0 {
                if k == 0.0 { 0.0 } else { f64::NEG_INFINITY }
            } else if mu[i] >= 1.0 {
                if k == m { 0.0 } else { f64::NEG_INFINITY }
            } else {
                log_choose(m, k) + k * mu[i].ln() + (m - k) * (1.0 - mu[i]).ln()
            };
            s += log_p;
        }
        -2.0 * s
    }

    /// R: (w y + 0.5) / (w + 1).
    fn mu_start(&self, y: f64, w: f64) -> f64 {
        (w * y + 0.5) / (w + 1.0)
    }

    fn check_response(&self, y: &[f64], w: &[f64]) -> Result<()> {
        if let Some(i) = y.iter().position(|v| !(0.0..=1.0).contains(v)) {
            return invalid(format!(
                "a binomial response is a proportion in [0, 1] (with the trials as weights); row {i} has {}",
                y[i]
            ));
        }
        if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return invalid(format!("binomial trials (weights) must be finite and non-negative; row {i} has {}", w[i]));
        }
        Ok(())
    }

    fn variance_derivative(&self, mu: f64) -> Option<f64> {
        let _ = mu;
        Some(1.0 - 2.0 * mu)
    }

    fn canonical_link(&self) -> bool {
        self.link == Link::Logit
    }
}
