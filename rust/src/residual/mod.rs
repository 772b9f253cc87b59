//! The residual covariance: Var(ε) = σ²R.
//!
//! Today's structures are diagonal and known: R = diag(1/w_i), the precision weights w
//! entering every cross-product in place of the prior weights. [`Independent`] is lme4's
//! (w = the prior weights, or 1); [`StratumWeights`] gives one weight per stratum of a
//! factor (a known variance ratio per group of rows); [`VarIdent`] is nlme's `varIdent`, the
//! ratios estimated: its weights depend on one parameter per stratum, so the cross-products
//! are combined from per-stratum ones computed once ([`StratumCrossProducts`]; the model
//! that optimises the ratios with θ is [`crate::lme::VarIdentModel`]). AR(1) correlation
//! (whitening the rows of each group) comes as one new file, implementing
//! [`ResidualCovariance`].

mod independent;
mod stratum_weights;
mod var_ident;

pub use independent::Independent;
pub use stratum_weights::StratumWeights;
pub use var_ident::{StratumCrossProducts, VarIdent};

use crate::error::Result;
use std::borrow::Cow;

pub trait ResidualCovariance: std::fmt::Debug + Send + Sync {
    fn name(&self) -> &'static str;
    /// The precision weights w (R = diag(1/w)) for n rows with these prior weights;
    /// `None` means all ones. Checks its own inputs against n; the messages name them.
    fn precision_weights<'a>(&self, n: usize, prior: Option<&'a [f64]>) -> Result<Option<Cow<'a, [f64]>>>;
}
