//! Uncorrelated components (lme4's `(x || g)`): a diagonal template, one parameter per
//! column, each bounded below by 0.

use super::{entry_name, CovarianceStructure};

#[derive(Clone, Copy, Debug, Default)]
pub struct Diagonal;

impl CovarianceStructure for Diagonal {
    fn name(&self) -> &'static str {
        "diagonal"
    }

    fn n_params(&self, k: usize) -> usize {
        k
    }

    fn param_names(&self, group: &str, columns: &[String]) -> Vec<String> {
        (0..columns.len()).map(|j| entry_name(group, columns, j, j)).collect()
    }

    fn start(&self, k: usize) -> Vec<f64> {
        vec![1.0; k]
    }

    fn lower_bounds(&self, k: usize) -> Vec<f64> {
        vec![0.0; k]
    }

    fn fill_template(&self, k: usize, params: &[f64], out: &mut [f64]) {
        out[..k * k].fill(0.0);
        for j in 0..k {
            out[j * k + j] = params[j];
        }
    }

    /// The template is linear in θ: no second derivatives.
    fn template_hessian(&self, _k: usize, _params: &[f64], out: &mut [f64]) -> bool {
        out.fill(0.0);
        true
    }

    fn template_jacobian(&self, k: usize, _params: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for j in 0..k {
            out[j * k * k + j * k + j] = 1.0;
        }
    }
}
