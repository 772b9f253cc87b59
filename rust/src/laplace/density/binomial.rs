//! Binomial: y the proportion of successes out of `size` trials,
//! log f = ln C(n, ny) + ny log μ + n(1 - y) log(1 - μ).

use super::{lgamma, ConditionalDensity, Derivatives};
use crate::family::link::Link;

#[derive(Debug)]
pub struct Binomial;

impl ConditionalDensity for Binomial {
    fn name(&self) -> &'static str {
        "binomial"
    }
    fn default_link(&self) -> Link {
        Link::Logit
    }
    fn has_dispersion(&self) -> bool {
        false
    }
    fn log_density(&self, y: f64, mu: f64, _phi: f64, n: f64) -> Derivatives {
        let k = (n * y).round();
        let f = n - k;
        let value = if k > 0.0 { k * mu.ln() } else { 0.0 }
            + if f > 0.0 { f * (-mu).ln_1p() } else { 0.0 };
        let first = k / mu - f / (1.0 - mu);
        let second = -k / (mu * mu) - f / ((1.0 - mu) * (1.0 - mu));
        Derivatives { value, first, second }
    }
    fn log_constant(&self, y: f64, _phi: f64, n: f64) -> f64 {
        let k = (n * y).round();
        lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0)
    }
    fn variance(&self, mu: f64, _phi: f64, n: f64) -> f64 {
        mu * (1.0 - mu) / n
    }
    fn sigma(&self, _phi: f64) -> f64 {
        1.0
    }
    fn support_error(&self, y: f64, n: f64, _zi: bool) -> Option<String> {
        if !(n > 0.0) || (n.fract() != 0.0) {
            return Some(format!("the trials {n} are not a positive integer"));
        }
        let k = n * y;
        (!((0.0..=1.0).contains(&y) && (k - k.round()).abs() < 1e-8)).then(|| format!("{y} is not a proportion of {n} trials"))
    }
    fn mu_start(&self, y: f64) -> f64 {
        (y + 0.5) / 2.0
    }
}
