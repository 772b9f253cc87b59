//! nlme's `varPower(form = ~x)`: s_i = |x_i|^δ, δ unbounded (nlme's `power`). A row with
//! x = 0 would have zero variance for δ > 0, so the covariate must be non-zero.

use super::VarianceFunction;
use crate::error::{invalid, Result};

#[derive(Clone, Debug)]
pub struct VarPower {
    log_abs_x: Vec<f64>,
    power: f64,
}

impl VarPower {
    pub fn new(covariate: &[f64]) -> Result<Self> {
        if let Some(i) = covariate.iter().position(|x| !x.is_finite() || *x == 0.0) {
            return invalid(format!(
                "varPower: the variance covariate is {} at row {i}; |x|^power needs finite non-zero values",
                covariate[i]
            ));
        }
        Ok(VarPower { log_abs_x: covariate.iter().map(|x| x.abs().ln()).collect(), power: 0.0 })
    }
}

impl VarianceFunction for VarPower {
    fn name(&self) -> &'static str {
        "varPower"
    }
    fn n_params(&self) -> usize {
        1
    }
    fn parameter_names(&self) -> Vec<String> {
        vec!["power".into()]
    }
    fn start(&self) -> Vec<f64> {
        vec![0.0]
    }
    fn set_params(&mut self, params: &[f64]) -> Result<()> {
        match params {
            [v] if v.is_finite() => {
                self.power = *v;
                Ok(())
            }
            _ => invalid(format!("varPower takes one finite parameter; got {params:?}")),
        }
    }
    fn log_sd(&self, row: usize) -> f64 {
        self.power * self.log_abs_x[row]
    }
    fn strata(&self) -> Option<(&[u32], usize)> {
        None
    }
    fn stratum_log_sd(&self, _stratum: usize) -> f64 {
        0.0
    }
}
