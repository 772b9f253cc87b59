//! The binomial family: y the proportion of successes, w the trials (times prior weights),
//! as R's `binomial()` takes a `cbind(successes, failures)` or 0/1 response.
//!
//! With prior weights on a `cbind` response the weights w are the trials n times the prior
//! weights, and the log-likelihood needs n apart: R's `binomial()$aic` is
//! -2 Σ (w/m) log dbinom(round(m y), round(m), μ) with m = n where any n > 1 and m = w
//! otherwise, so each row's binomial log-probability counts with its prior weight w/n.
//! [`Binomial::with_trials`] keeps n; without it m = w (the weights are the trials).

use std::sync::Arc;

use super::link::{EPS, MTHRESH, THRESH};
use super::{fastmath, generic_mu_and_deviance, generic_working, y_log_y, Family, Link};
use crate::error::{invalid, Result};

#[derive(Clone, Debug)]
pub struct Binomial {
    link: Link,
    /// R's n: the trials s + f of a `cbind(s, f)` response (1 for other responses).
    trials: Option<Arc<[f64]>>,
    /// Whether any of the trials exceeds 1 (R's m is then n, else the weights).
    several_trials: bool,
}

impl Binomial {
    pub fn new(link: Link) -> Self {
        Binomial { link, trials: None, several_trials: false }
    }

    /// The family with R's n of each row (the trials of a `cbind` response), for prior
    /// weights besides the trials.
    pub fn with_trials(link: Link, trials: Vec<f64>) -> Result<Self> {
        if let Some(i) = trials.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return invalid(format!("binomial trials must be finite and non-negative; row {i} has {}", trials[i]));
        }
        let several_trials = trials.iter().any(|v| *v > 1.0);
        Ok(Binomial { link, trials: Some(trials.into()), several_trials })
    }

    /// R's m of row i (n where any n > 1, else the weight w).
    fn m_of(&self, i: usize, w: f64) -> f64 {
        match &self.trials {
            Some(n) if self.several_trials => n[i],
            _ => w,
        }
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

    /// The logit link's pass as R computes it (μ = e/(1 + e) with R's thresholds), in a loop
    /// of its own: with AVX2 and FMA, `fastmath`'s exp and ln four rows at a time; other
    /// links by the generic pass.
    fn mu_and_deviance(&self, eta: &[f64], y: &[f64], prior: &[f64], mu: &mut [f64]) -> f64 {
        if self.link != Link::Logit {
            return generic_mu_and_deviance(self, eta, y, prior, mu);
        }
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { logit_pass_avx2(eta, y, prior, mu) };
            }
        }
        logit_pass(eta, y, prior, mu)
    }

    /// The logit link's working weights and response: μ' = V = μ(1 - μ) inside R's thresholds.
    fn working(&self, eta: &[f64], mu: &[f64], y: &[f64], prior: &[f64], offset: &[f64], weights: &mut [f64], response: &mut [f64]) {
        if self.link != Link::Logit {
            return generic_working(self, eta, mu, y, prior, offset, weights, response);
        }
        for i in 0..eta.len() {
            let (x, m) = (eta[i], mu[i]);
            let v = m * (1.0 - m);
            let d = if (MTHRESH..=THRESH).contains(&x) { v } else { EPS };
            weights[i] = if prior[i] > 0.0 { prior[i] * d * d / v } else { 0.0 };
            response[i] = x - offset[i] + (y[i] - m) / d;
        }
    }

    fn deviance_residual(&self, y: f64, mu: f64, w: f64) -> f64 {
        2.0 * w * (y_log_y(y, mu) + y_log_y(1.0 - y, 1.0 - mu))
    }

    /// Splits when R's m (the trials) and the successes m y are whole numbers (R rounds them
    /// in the likelihood but not in the deviance).
    fn saturated_minus_twice_log_likelihood(&self, y: &[f64], w: &[f64]) -> Option<f64> {
        let whole = |v: f64| (v - v.round()).abs() <= 1e-9 * v.abs().max(1.0);
        let splits = (0..y.len()).all(|i| {
            let m = self.m_of(i, w[i]);
            whole(m) && whole(m * y[i])
        });
        splits.then(|| self.minus_twice_log_likelihood(y, y, w))
    }

    /// R: -2 Σ (wt/m) dbinom(round(m y), round(m), μ, log = TRUE) with m = the trials; the
    /// trials are the weights here, so wt/m = 1 where m > 0.
    fn minus_twice_log_likelihood(&self, y: &[f64], mu: &[f64], w: &[f64]) -> f64 {
        // With the trials kept apart (prior weights), m is R's: the trials where any exceeds
        // 1, else the weights, and wt/m is the prior weight (the module's notes); rows with
        // m = 0 drop out.
        let mut s = 0.0;
        for i in 0..y.len() {
            let m_raw = self.m_of(i, w[i]);
            if !(m_raw > 0.0) {
                continue;
            }
            let prior = w[i] / m_raw;
            let m = m_raw.round();
            let k = (m_raw * y[i]).round();
            let log_p = if mu[i] <= 0.0 {
                if k == 0.0 { 0.0 } else { f64::NEG_INFINITY }
            } else if mu[i] >= 1.0 {
                if k == m { 0.0 } else { f64::NEG_INFINITY }
            } else {
                log_choose(m, k) + k * mu[i].ln() + (m - k) * (1.0 - mu[i]).ln()
            };
            s += if prior == 1.0 { log_p } else { prior * log_p };
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
        if let Some(n) = &self.trials {
            if n.len() != y.len() {
                return invalid(format!("binomial trials: {} values for {} observations", n.len(), y.len()));
            }
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

#[cfg(test)]
mod tests {

    /// The vectorised logit pass (where the CPU runs it) equals the C library's loop.
    #[test]
    fn vectorised_logit_pass_equals_the_library_loop() {
        let n = 1003;
        let eta: Vec<f64> = (0..n).map(|i| ((i * 37) % 101) as f64 / 7.0 - 7.0 + if i % 97 == 0 { 40.0 } else { 0.0 }).collect();
        let y: Vec<f64> = (0..n).map(|i| if i % 5 == 0 { 0.4 } else { (i % 2) as f64 }).collect();
        let prior: Vec<f64> = (0..n).map(|i| 1.0 + (i % 3) as f64).collect();
        let (mut mu_a, mut mu_b) = (vec![0.0; n], vec![0.0; n]);
        let a = logit_pass(&eta, &y, &prior, &mut mu_a);
        let b = Binomial::new(Link::Logit).mu_and_deviance(&eta, &y, &prior, &mut mu_b);
        assert!((a - b).abs() <= 1e-12 * a.abs(), "{a} vs {b}");
        for (u, v) in mu_a.iter().zip(&mu_b) {
            assert!((u - v).abs() <= 4.0 * f64::EPSILON * u.abs().max(1e-300), "{u} vs {v}");
        }
    }

    use super::*;

    /// R 4.2: `binomial()$aic(y, n, mu, wt, 0)` for cbind(s, f) with prior weights p, where
    /// y = s/n, wt = p n: s = (3, 0, 5, 2), n = (5, 4, 5, 0), p = (0.5, 2, 1.5, 3),
    /// mu = (0.4, 0.2, 0.7, 0.5) gives 10.388359330268743.
    #[test]
    fn prior_weights_apart_from_the_trials() {
        let (s, n, p) = ([3.0, 0.0, 5.0, 2.0], [5.0, 4.0, 5.0, 0.0], [0.5, 2.0, 1.5, 3.0]);
        let y: Vec<f64> = (0..4).map(|i| if n[i] > 0.0 { s[i] / n[i] } else { 0.0 }).collect();
        let w: Vec<f64> = (0..4).map(|i| p[i] * n[i]).collect();
        let mu = [0.4, 0.2, 0.7, 0.5];
        let f = Binomial::with_trials(Link::Logit, n.to_vec()).unwrap();
        assert!((f.minus_twice_log_likelihood(&y, &mu, &w) - 10.388359330268743).abs() < 1e-12);
        // unit prior weights: the same as the trials-as-weights family
        let plain = Binomial::new(Link::Logit);
        assert!((f.minus_twice_log_likelihood(&y, &mu, &n) - plain.minus_twice_log_likelihood(&y, &mu, &n)).abs() < 1e-12);
        assert!(f.check_response(&y[..3], &w[..3]).is_err());
        assert!(Binomial::with_trials(Link::Logit, vec![1.0, -1.0]).is_err());
    }
}

/// The logit pass with the C library's exp and log (CPUs without AVX2 and FMA).
fn logit_pass(eta: &[f64], y: &[f64], prior: &[f64], mu: &mut [f64]) -> f64 {
    let mut dev = 0.0;
    for i in 0..eta.len() {
        let x = eta[i];
        let e = x.clamp(MTHRESH, THRESH).exp();
        let e = if x < MTHRESH { EPS } else if x > THRESH { 1.0 / EPS } else { e };
        let m = e / (1.0 + e);
        mu[i] = m;
        let yi = y[i];
        // A 0/1 response needs one logarithm, chosen without a branch (y is unpredictable).
        let t = if yi == 0.0 || yi == 1.0 {
            -(if yi == 1.0 { m } else { 1.0 - m }).ln()
        } else {
            yi * (yi / m).ln() + (1.0 - yi) * ((1.0 - yi) / (1.0 - m)).ln()
        };
        dev += 2.0 * prior[i] * t;
    }
    dev
}

/// One row of the logit pass with `fastmath`, branch-free: μ and y ln(y/μ) + (1-y) ln((1-y)/(1-μ)).
#[inline(always)]
fn logit_row(x: f64, yi: f64) -> (f64, f64) {
    let e = fastmath::exp(x.clamp(MTHRESH, THRESH));
    let e = if x < MTHRESH { EPS } else if x > THRESH { 1.0 / EPS } else { e };
    let m = e / (1.0 + e);
    let a = if yi > 0.0 { yi / m } else { 1.0 };
    let b = if yi < 1.0 { (1.0 - yi) / (1.0 - m) } else { 1.0 };
    (m, yi * fastmath::ln(a) + (1.0 - yi) * fastmath::ln(b))
}

/// The logit pass eight rows at a time (eight partial sums, so that the loop vectorises).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn logit_pass_avx2(eta: &[f64], y: &[f64], prior: &[f64], mu: &mut [f64]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let full = eta.len() / LANES * LANES;
    for (((e, yy), pp), mm) in eta[..full]
        .chunks_exact(LANES)
        .zip(y[..full].chunks_exact(LANES))
        .zip(prior[..full].chunks_exact(LANES))
        .zip(mu[..full].chunks_exact_mut(LANES))
    {
        for l in 0..LANES {
            let (m, t) = logit_row(e[l], yy[l]);
            mm[l] = m;
            acc[l] += 2.0 * pp[l] * t;
        }
    }
    let mut dev: f64 = acc.iter().sum();
    for i in full..eta.len() {
        let (m, t) = logit_row(eta[i], y[i]);
        mu[i] = m;
        dev += 2.0 * prior[i] * t;
    }
    dev
}
