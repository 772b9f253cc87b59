//! Gaussian with a dispersion model: φ = σ² (glmmTMB 1.1's `betad` is log σ²; `sigma()` is
//! √φ); log f = -½ log(2πφ) - (y - μ)²/(2φ).

use super::{ConditionalDensity, Derivatives};
use crate::family::link::Link;

#[derive(Debug)]
pub struct Gaussian;

impl ConditionalDensity for Gaussian {
    fn name(&self) -> &'static str {
        "gaussian"
    }
    fn default_link(&self) -> Link {
        Link::Identity
    }
    fn has_dispersion(&self) -> bool {
        true
    }
    fn log_density(&self, y: f64, mu: f64, phi: f64, _size: f64) -> Derivatives {
        let r = y - mu;
        let value = -0.5 * r * r / phi;
        Derivatives { value, first: r / phi, second: -1.0 / phi }
    }
    fn log_constant(&self, _y: f64, phi: f64, _size: f64) -> f64 {
        -0.5 * (2.0 * std::f64::consts::PI * phi).ln()
    }
    fn variance(&self, _mu: f64, phi: f64, _size: f64) -> f64 {
        phi
    }
    fn sigma(&self, phi: f64) -> f64 {
        phi.sqrt()
    }
    fn support_error(&self, y: f64, _size: f64, _zi: bool) -> Option<String> {
        (!y.is_finite()).then(|| format!("{y} is not finite"))
    }
    fn mu_start(&self, y: f64) -> f64 {
        y
    }
}
