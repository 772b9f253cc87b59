//! The conditional distribution of y given the random effects.
//!
//! Gaussian with the identity link now: its profiled likelihood is what the penalized
//! least squares of `pls.rs` evaluates (σ and β profiled out, [`gaussian::profiled_objective`]).
//! The GLM families of `glmer` (binomial, Poisson, Gamma, ...) come as one new file each
//! implementing [`Family`]; PIRLS needs exactly these pieces: the link and its inverse,
//! dμ/dη for the working weights, the variance function and the deviance residuals.

pub mod gaussian;

pub use gaussian::Gaussian;

pub trait Family: std::fmt::Debug + Send + Sync {
    /// R's family name (`"gaussian"`, `"binomial"`, ...).
    fn name(&self) -> &'static str;
    /// R's link name (`"identity"`, `"logit"`, ...).
    fn link_name(&self) -> &'static str;
    fn link(&self, mu: f64) -> f64;
    fn link_inverse(&self, eta: f64) -> f64;
    /// dμ/dη at η.
    fn mu_eta(&self, eta: f64) -> f64;
    /// The variance function V(μ).
    fn variance(&self, mu: f64) -> f64;
    /// Deviance residual contribution of one observation with prior weight w.
    fn deviance_residual(&self, y: f64, mu: f64, w: f64) -> f64;
    /// Whether the dispersion σ² is estimated (Gaussian, Gamma) or fixed at 1.
    fn estimates_scale(&self) -> bool;
}
