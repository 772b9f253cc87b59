//! The residual covariance: Var(ε) = σ²R.
//!
//! Diagonal and known: R = diag(1/w), the precision weights w entering every cross-product
//! in place of the prior weights ([`ResidualCovariance`]). [`Independent`] is lme4's (w = the
//! prior weights, or 1); [`StratumWeights`] gives one weight per stratum of a factor (a known
//! variance ratio per group of rows).
//!
//! Estimated (nlme's `weights=` and `correlation=`): a [`ResidualStructure`] is a variance
//! function ([`VarianceFunction`]: [`VarIdent`], [`VarPower`], [`VarExp`]) times a serial
//! correlation ([`SerialCorrelation`]: [`CorAr1`], [`CorCar1`], [`CorExp`]) over the rows of a
//! [`SeriesLayout`], or compound symmetry ([`CompoundSymmetry`]). Its inverse factor is lower bidiagonal, so the cross-products of the
//! whitened rows are either combined per evaluation from per-class ones
//! ([`ClassCrossProducts`]) or re-accumulated in one pass ([`RowAccumulator`]); the model
//! that optimises the structure's parameters with θ is [`crate::lme::ResidualStructureModel`].

mod comp_symm;
mod independent;
mod serial;
mod series;
mod stratum_weights;
mod structure;
mod var_exp;
mod var_ident;
mod var_power;
mod variance_function;
mod whitened_crossprod;

pub use comp_symm::CompoundSymmetry;
pub use independent::Independent;
pub use serial::{lag_coefficients, CorAr1, CorCar1, CorExp, SerialCorrelation};
pub use series::{SeriesLayout, NO_PREVIOUS};
pub use stratum_weights::StratumWeights;
pub use structure::{ResidualStructure, RowClasses};
pub use var_exp::VarExp;
pub use var_ident::VarIdent;
pub use var_power::VarPower;
pub use variance_function::VarianceFunction;
pub use whitened_crossprod::{serial_basis_coefficients, serial_basis_starts, ClassCrossProducts, CrossProductValues, RowAccumulator};

use crate::error::Result;
use std::borrow::Cow;

pub trait ResidualCovariance: std::fmt::Debug + Send + Sync {
    fn name(&self) -> &'static str;
    /// The precision weights w (R = diag(1/w)) for n rows with these prior weights;
    /// `None` means all ones. Checks its own inputs against n; the messages name them.
    fn precision_weights<'a>(&self, n: usize, prior: Option<&'a [f64]>) -> Result<Option<Cow<'a, [f64]>>>;
}
