//! nlme's variance functions: Var(ε_i) = σ² s_i(δ)², s_i the standard-deviation ratio of row
//! i. The model whitens by 1/s_i (times the correlation's coefficients), and Σ log s_i enters
//! the likelihood through log|R|.
//!
//! A function whose s takes one value per stratum (`varIdent`) lets the cross-products be
//! combined from per-stratum ones; one with a continuous covariate (`varPower`, `varExp`)
//! changes every row's weight, so each evaluation re-accumulates them (see `crate::lme`).

use crate::error::Result;
use std::fmt::Debug;

pub trait VarianceFunction: Debug + Send + Sync {
    /// nlme's class name (`varIdent`, `varPower`, `varExp`).
    fn name(&self) -> &'static str;
    fn n_params(&self) -> usize;
    /// The parameters' names (nlme's unconstrained scale).
    fn parameter_names(&self) -> Vec<String>;
    /// nlme's start on the unconstrained scale.
    fn start(&self) -> Vec<f64>;
    /// Takes the standard-deviation ratios at these parameters from now on.
    fn set_params(&mut self, params: &[f64]) -> Result<()>;
    /// log s_i of row i at the parameters in place.
    fn log_sd(&self, row: usize) -> f64;
    /// When s takes one value per stratum: the rows' strata and their number.
    fn strata(&self) -> Option<(&[u32], usize)>;
    /// log s of a stratum at the parameters in place (only with `strata`).
    fn stratum_log_sd(&self, stratum: usize) -> f64;
}
