//! glmmTMB's `nbinom2`: the negative binomial with mean μ and shape θ = φ,
//! Var = μ + μ²/θ; log f = ln Γ(y+θ) - ln Γ(θ) - ln y! + θ log(θ/(θ+μ)) + y log(μ/(θ+μ)).

use super::{lgamma, ConditionalDensity, Derivatives};
use crate::family::link::Link;

#[derive(Debug)]
pub struct NegativeBinomial2;

impl ConditionalDensity for NegativeBinomial2 {
    fn name(&self) -> &'static str {
        "nbinom2"
    }
    fn default_link(&self) -> Link {
        Link::Log
    }
    fn has_dispersion(&self) -> bool {
        true
    }
    fn log_density(&self, y: f64, mu: f64, theta: f64, _size: f64) -> Derivatives {
        let s = theta + mu;
        let ylog = if y == 0.0 { 0.0 } else { y * (mu / s).ln() };
        let value = -theta * s.ln() + ylog;
        Derivatives { value, first: y / mu - (y + theta) / s, second: -y / (mu * mu) + (y + theta) / (s * s) }
    }
    fn log_constant(&self, y: f64, theta: f64, _size: f64) -> f64 {
        lgamma(y + theta) - lgamma(theta) - lgamma(y + 1.0) + theta * theta.ln()
    }
    fn log_link_density(&self, y: f64, eta: f64, mu: f64, theta: f64) -> Option<Derivatives> {
        // r = μ/(θ+μ): ∂/∂η = y - (y+θ)r, ∂²/∂η² = -(y+θ)r(1-r).
        let s = theta + mu;
        let r = mu / s;
        let value = if y == 0.0 { 0.0 } else { y * eta } - (y + theta) * s.ln();
        Some(Derivatives { value, first: y - (y + theta) * r, second: -(y + theta) * r * (1.0 - r) })
    }
    fn variance(&self, mu: f64, theta: f64, _size: f64) -> f64 {
        mu + mu * mu / theta
    }
    fn sigma(&self, theta: f64) -> f64 {
        theta
    }
    fn support_error(&self, y: f64, _size: f64, _zi: bool) -> Option<String> {
        (!(y >= 0.0 && y.fract() == 0.0)).then(|| format!("{y} is not a count (a non-negative integer)"))
    }
    fn mu_start(&self, y: f64) -> f64 {
        y + 0.1
    }
}
