//! The unstructured covariance (lme4's default for `(x | g)`): θ is the lower triangle of
//! the template itself, column by column; diagonal entries are bounded below by 0.

use super::{entry_name, lower_triangle, CovarianceStructure};

#[derive(Clone, Copy, Debug, Default)]
pub struct Unstructured;

impl CovarianceStructure for Unstructured {
    fn name(&self) -> &'static str {
        "unstructured"
    }

    fn n_params(&self, k: usize) -> usize {
        k * (k + 1) / 2
    }

    fn param_names(&self, group: &str, columns: &[String]) -> Vec<String> {
        lower_triangle(columns.len()).map(|(r, c)| entry_name(group, columns, r, c)).collect()
    }

    fn start(&self, k: usize) -> Vec<f64> {
        lower_triangle(k).map(|(r, c)| if r == c { 1.0 } else { 0.0 }).collect()
    }

    fn lower_bounds(&self, k: usize) -> Vec<f64> {
        lower_triangle(k).map(|(r, c)| if r == c { 0.0 } else { f64::NEG_INFINITY }).collect()
    }

    fn fill_template(&self, k: usize, params: &[f64], out: &mut [f64]) {
        out[..k * k].fill(0.0);
        for ((r, c), v) in lower_triangle(k).zip(params) {
            out[c * k + r] = *v;
        }
    }

    /// The template is linear in θ: no second derivatives.
    fn template_hessian(&self, _k: usize, _params: &[f64], out: &mut [f64]) -> bool {
        out.fill(0.0);
        true
    }

    fn template_jacobian(&self, k: usize, _params: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (i, (r, c)) in lower_triangle(k).enumerate() {
            out[i * k * k + c * k + r] = 1.0;
        }
    }

    /// T T' = Σ_j t_j t_j' over the columns t_j of T, so each column's sign is free; the
    /// bound T_jj ≥ 0 fixes it except where T_jj = 0. There, (0, v) and (0, -v) are the same
    /// covariance, but moving T_jj off 0 correlates the components with opposite signs.
    fn reflection(&self, k: usize, params: &[f64], i: usize) -> Option<Vec<f64>> {
        let (r, c) = lower_triangle(k).nth(i)?;
        if r != c || c + 1 == k {
            return None;
        }
        let mut out = params.to_vec();
        for (idx, (rr, cc)) in lower_triangle(k).enumerate() {
            if cc == c && rr > c {
                out[idx] = -out[idx];
            }
        }
        Some(out)
    }
}
