//! nlme's `varExp(form = ~x)`: s_i = exp(δ x_i), δ unbounded (nlme's `expon`).

use super::VarianceFunction;
use crate::error::{invalid, Result};

#[derive(Clone, Debug)]
pub struct VarExp {
    covariate: Vec<f64>,
    expon: f64,
}

impl VarExp {
    pub fn new(covariate: &[f64]) -> Result<Self> {
        if let Some(i) = covariate.iter().position(|x| !x.is_finite()) {
            return invalid(format!("varExp: the variance covariate is {} at row {i}; it must be finite", covariate[i]));
        }
        Ok(VarExp { covariate: covariate.to_vec(), expon: 0.0 })
    }
}

impl VarianceFunction for VarExp {
    fn name(&self) -> &'static str {
        "varExp"
    }
    fn n_params(&self) -> usize {
        1
    }
    fn parameter_names(&self) -> Vec<String> {
        vec!["expon".into()]
    }
    fn start(&self) -> Vec<f64> {
        vec![0.0]
    }
    fn set_params(&mut self, params: &[f64]) -> Result<()> {
        match params {
            [v] if v.is_finite() => {
                self.expon = *v;
                Ok(())
            }
            _ => invalid(format!("varExp takes one finite parameter; got {params:?}")),
        }
    }
    fn log_sd(&self, row: usize) -> f64 {
        self.expon * self.covariate[row]
    }
    fn strata(&self) -> Option<(&[u32], usize)> {
        None
    }
    fn stratum_log_sd(&self, _stratum: usize) -> f64 {
        0.0
    }
}
