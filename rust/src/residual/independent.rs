//! Independent residuals with the prior weights: R = diag(1/w), lme4's residual model.

use super::ResidualCovariance;
use crate::error::Result;
use std::borrow::Cow;

#[derive(Clone, Copy, Debug, Default)]
pub struct Independent;

impl ResidualCovariance for Independent {
    fn name(&self) -> &'static str {
        "independent"
    }

    fn precision_weights<'a>(&self, _n: usize, prior: Option<&'a [f64]>) -> Result<Option<Cow<'a, [f64]>>> {
        Ok(prior.map(Cow::Borrowed))
    }
}
