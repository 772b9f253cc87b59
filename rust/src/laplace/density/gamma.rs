//! glmmTMB's `Gamma`: shape a = φ, scale μ/a (Var = μ²/a); `sigma()` is 1/√a.
//! log f = -ln Γ(a) + a log(a/μ) + (a - 1) log y - a y/μ.

use super::{lgamma, ConditionalDensity, Derivatives};
use crate::family::link::Link;

#[derive(Debug)]
pub struct GammaFamily;

impl ConditionalDensity for GammaFamily {
    fn name(&self) -> &'static str {
        "Gamma"
    }
    fn default_link(&self) -> Link {
        Link::Inverse
    }
    fn has_dispersion(&self) -> bool {
        true
    }
    fn log_density(&self, y: f64, mu: f64, a: f64, _size: f64) -> Derivatives {
        if y <= 0.0 {
            return Derivatives { value: f64::NEG_INFINITY, first: 0.0, second: 0.0 };
        }
        let value = -a * mu.ln() - a * y / mu;
        Derivatives { value, first: a * (y - mu) / (mu * mu), second: a / (mu * mu) - 2.0 * a * y / (mu * mu * mu) }
    }
    fn log_constant(&self, y: f64, a: f64, _size: f64) -> f64 {
        if y <= 0.0 {
            return 0.0;
        }
        -lgamma(a) + a * a.ln() + (a - 1.0) * y.ln()
    }
    fn variance(&self, mu: f64, a: f64, _size: f64) -> f64 {
        mu * mu / a
    }
    fn sigma(&self, a: f64) -> f64 {
        1.0 / a.sqrt()
    }
    fn support_error(&self, y: f64, _size: f64, zi: bool) -> Option<String> {
        let ok = y > 0.0 || (zi && y == 0.0);
        (!ok).then(|| {
            if zi {
                format!("{y} is negative (the Gamma family with zero inflation takes y ≥ 0)")
            } else {
                format!("{y} is not positive (the Gamma family takes y > 0; zeros need zero inflation, glmmTMB's ziGamma)")
            }
        })
    }
    fn mu_start(&self, y: f64) -> f64 {
        y.max(1e-3)
    }
}
