//! The residual covariance: Var(ε) = σ²R.
//!
//! Today's structures are diagonal and known: R = diag(1/w_i), the precision weights w
//! entering every cross-product in place of the prior weights. [`Independent`] is lme4's
//! (w = the prior weights, or 1); [`StratumWeights`] gives one weight per stratum of a
//! factor (a known variance ratio per group of rows). nlme's variance functions (whose
//! weights depend on parameters: re-accumulate the cross-products per parameter value, as
//! the PIRLS step does) and AR(1) correlation (whitening the rows of each group) come as
//! one new file each, implementing [`ResidualCovariance`].

mod independent;
mod stratum_weights;

pub use independent::Independent;
pub use stratum_weights::StratumWeights;

use crate::error::Result;
use std::borrow::Cow;

pub trait ResidualCovariance: std::fmt::Debug + Send + Sync {
    fn name(&self) -> &'static str;
    /// The precision weights w (R = diag(1/w)) for n rows with these prior weights;
    /// `None` means all ones. Checks its own inputs against n; the messages name them.
    fn precision_weights<'a>(&self, n: usize, prior: Option<&'a [f64]>) -> Result<Option<Cow<'a, [f64]>>>;
}
