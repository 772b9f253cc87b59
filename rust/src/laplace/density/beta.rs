//! glmmTMB's `beta_family`: mean μ, precision φ (shapes μφ and (1 - μ)φ,
//! Var = μ(1 - μ)/(1 + φ)); `sigma()` is φ.

use super::{digamma, lgamma, trigamma, ConditionalDensity, Derivatives};
use crate::family::link::Link;

#[derive(Debug)]
pub struct BetaFamily;

impl ConditionalDensity for BetaFamily {
    fn name(&self) -> &'static str {
        "beta"
    }
    fn default_link(&self) -> Link {
        Link::Logit
    }
    fn has_dispersion(&self) -> bool {
        true
    }
    fn log_density(&self, y: f64, mu: f64, phi: f64, _size: f64) -> Derivatives {
        if !(y > 0.0 && y < 1.0) {
            return Derivatives { value: f64::NEG_INFINITY, first: 0.0, second: 0.0 };
        }
        let (a, b) = (mu * phi, (1.0 - mu) * phi);
        let (ly, l1y) = (y.ln(), (-y).ln_1p());
        let value = -lgamma(a) - lgamma(b) + a * ly + b * l1y;
        let first = phi * (digamma(b) - digamma(a) + ly - l1y);
        let second = -phi * phi * (trigamma(a) + trigamma(b));
        Derivatives { value, first, second }
    }
    fn log_constant(&self, y: f64, phi: f64, _size: f64) -> f64 {
        if !(y > 0.0 && y < 1.0) {
            return 0.0;
        }
        lgamma(phi) - y.ln() - (-y).ln_1p()
    }
    fn variance(&self, mu: f64, phi: f64, _size: f64) -> f64 {
        mu * (1.0 - mu) / (1.0 + phi)
    }
    fn sigma(&self, phi: f64) -> f64 {
        phi
    }
    fn support_error(&self, y: f64, _size: f64, zi: bool) -> Option<String> {
        let ok = (y > 0.0 && y < 1.0) || (zi && y == 0.0);
        (!ok).then(|| format!("{y} is outside (0, 1), the support of the beta family"))
    }
    fn mu_start(&self, y: f64) -> f64 {
        y.clamp(0.01, 0.99)
    }
}
