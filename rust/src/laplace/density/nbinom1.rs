//! glmmTMB's `nbinom1`: the negative binomial with Var = μ(1 + φ), i.e. shape k = μ/φ:
//! log f = ln Γ(y+k) - ln Γ(k) - ln y! - k log(1+φ) + y log(φ/(1+φ)).

use super::{digamma, lgamma, trigamma, ConditionalDensity, Derivatives};
use crate::family::link::Link;

#[derive(Debug)]
pub struct NegativeBinomial1;

impl ConditionalDensity for NegativeBinomial1 {
    fn name(&self) -> &'static str {
        "nbinom1"
    }
    fn default_link(&self) -> Link {
        Link::Log
    }
    fn has_dispersion(&self) -> bool {
        true
    }
    fn log_density(&self, y: f64, mu: f64, phi: f64, _size: f64) -> Derivatives {
        let k = mu / phi;
        let l1p = phi.ln_1p();
        let gamma_ratio = if y < 50.0 { (0..y as usize).map(|j| (k + j as f64).ln()).sum::<f64>() } else { lgamma(y + k) - lgamma(k) };
        let value = gamma_ratio - k * l1p;
        // ψ(y+k) - ψ(k) = Σ_{j<y} 1/(k+j) for small counts (exact, no cancellation).
        let (dpsi, dtri) = if y < 50.0 {
            (0..y as usize).fold((0.0, 0.0), |(a, b), j| {
                let t = 1.0 / (k + j as f64);
                (a + t, b - t * t)
            })
        } else {
            (digamma(y + k) - digamma(k), trigamma(y + k) - trigamma(k))
        };
        Derivatives { value, first: (dpsi - l1p) / phi, second: dtri / (phi * phi) }
    }
    fn log_constant(&self, y: f64, phi: f64, _size: f64) -> f64 {
        let ylog = if y == 0.0 { 0.0 } else { y * (phi.ln() - phi.ln_1p()) };
        ylog - lgamma(y + 1.0)
    }
    fn variance(&self, mu: f64, phi: f64, _size: f64) -> f64 {
        mu * (1.0 + phi)
    }
    fn sigma(&self, phi: f64) -> f64 {
        phi
    }
    fn support_error(&self, y: f64, _size: f64, _zi: bool) -> Option<String> {
        (!(y >= 0.0 && y.fract() == 0.0)).then(|| format!("{y} is not a count (a non-negative integer)"))
    }
    fn mu_start(&self, y: f64) -> f64 {
        y + 0.1
    }
}
