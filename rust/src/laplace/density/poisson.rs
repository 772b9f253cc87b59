//! Poisson: log f = y log μ - μ - ln y!.

use super::{lgamma, ConditionalDensity, Derivatives};
use crate::family::link::Link;

#[derive(Debug)]
pub struct Poisson;

impl ConditionalDensity for Poisson {
    fn name(&self) -> &'static str {
        "poisson"
    }
    fn default_link(&self) -> Link {
        Link::Log
    }
    fn has_dispersion(&self) -> bool {
        false
    }
    fn log_density(&self, y: f64, mu: f64, _phi: f64, _size: f64) -> Derivatives {
        let ylogmu = if y == 0.0 { 0.0 } else { y * mu.ln() };
        Derivatives { value: ylogmu - mu, first: y / mu - 1.0, second: -y / (mu * mu) }
    }
    fn log_constant(&self, y: f64, _phi: f64, _size: f64) -> f64 {
        -lgamma(y + 1.0)
    }
    fn log_link_density(&self, y: f64, eta: f64, mu: f64, _phi: f64) -> Option<Derivatives> {
        Some(Derivatives { value: if y == 0.0 { 0.0 } else { y * eta } - mu, first: y - mu, second: -mu })
    }
    fn variance(&self, mu: f64, _phi: f64, _size: f64) -> f64 {
        mu
    }
    fn sigma(&self, _phi: f64) -> f64 {
        1.0
    }
    fn support_error(&self, y: f64, _size: f64, _zi: bool) -> Option<String> {
        (!(y >= 0.0 && y.fract() == 0.0)).then(|| format!("{y} is not a count (a non-negative integer)"))
    }
    fn mu_start(&self, y: f64) -> f64 {
        y + 0.1
    }
}
