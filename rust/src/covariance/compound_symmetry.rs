//! Compound symmetry (nlme's `pdCompSymm`): every component has the same variance and
//! every pair the same correlation, Var(b_level)/σ² = τ²((1-ρ)I + ρJ).
//!
//! Parameters (τ, ρ): τ ≥ 0 the relative standard deviation, ρ ∈ [-1/(k-1), 1] the
//! correlation (the range where the matrix is positive semi-definite); for k = 1 only τ.
//! The template is the Cholesky factor, in closed form: eliminating one column of
//! (1-ρ)I + cJ leaves (1-ρ)I + c'J with c' = c(1-ρ)/(1-ρ+c), so column j has pivot
//! d_j = 1-ρ+c_j (c_0 = ρ), diagonal √d_j and c_j/√d_j below it. A zero pivot (ρ at either
//! end of its range) leaves the rest of that column zero.

use super::CovarianceStructure;

#[derive(Clone, Copy, Debug, Default)]
pub struct CompoundSymmetry;

/// Per column j: the pivot d_j, its derivative in ρ, the numerator c_j and its derivative.
fn recursion(k: usize, rho: f64) -> Vec<(f64, f64, f64, f64)> {
    let s = 1.0 - rho;
    let (mut c, mut dc) = (rho, 1.0);
    let mut out = Vec::with_capacity(k);
    for _ in 0..k {
        let d = (s + c).max(0.0);
        let dd = dc - 1.0;
        out.push((d, dd, c, dc));
        if d > 0.0 {
            let next = c * s / d;
            let dnext = (dc * s - c) / d - c * s * dd / (d * d);
            c = next;
            dc = dnext;
        } else {
            c = 0.0;
            dc = 0.0;
        }
    }
    out
}

impl CovarianceStructure for CompoundSymmetry {
    fn name(&self) -> &'static str {
        "compound_symmetry"
    }

    fn n_params(&self, k: usize) -> usize {
        if k > 1 {
            2
        } else {
            1
        }
    }

    fn param_names(&self, group: &str, columns: &[String]) -> Vec<String> {
        let mut out = vec![format!("{group}.(sd)")];
        if columns.len() > 1 {
            out.push(format!("{group}.(cor)"));
        }
        out
    }

    fn start(&self, k: usize) -> Vec<f64> {
        vec![1.0, 0.0][..self.n_params(k)].to_vec()
    }

    fn lower_bounds(&self, k: usize) -> Vec<f64> {
        if k > 1 {
            vec![0.0, -1.0 / (k as f64 - 1.0)]
        } else {
            vec![0.0]
        }
    }

    fn upper_bounds(&self, k: usize) -> Vec<f64> {
        vec![f64::INFINITY, 1.0][..self.n_params(k)].to_vec()
    }

    fn domain_error(&self, k: usize, params: &[f64]) -> Option<String> {
        let lower = -1.0 / (k as f64 - 1.0);
        match params.get(1) {
            Some(&rho) if k > 1 && !(lower..=1.0).contains(&rho) => {
                Some(format!("the correlation {rho} is outside [{lower}, 1], where the matrix is positive semi-definite"))
            }
            _ => None,
        }
    }

    fn fill_template(&self, k: usize, params: &[f64], out: &mut [f64]) {
        out[..k * k].fill(0.0);
        let tau = params[0];
        let rho = if k > 1 { params[1] } else { 0.0 };
        for (j, (d, _, c, _)) in recursion(k, rho).into_iter().enumerate() {
            if d > 0.0 {
                let sd = d.sqrt();
                out[j * k + j] = tau * sd;
                for i in j + 1..k {
                    out[j * k + i] = tau * c / sd;
                }
            }
        }
    }

    fn template_jacobian(&self, k: usize, params: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        let tau = params[0];
        let rho = if k > 1 { params[1] } else { 0.0 };
        let kk = k * k;
        for (j, (d, dd, c, dc)) in recursion(k, rho).into_iter().enumerate() {
            if d <= 0.0 {
                continue;
            }
            let sd = d.sqrt();
            // ∂/∂τ: the template divided by τ.
            out[j * k + j] = sd;
            for i in j + 1..k {
                out[j * k + i] = c / sd;
            }
            if k > 1 {
                out[kk + j * k + j] = tau * dd / (2.0 * sd);
                for i in j + 1..k {
                    out[kk + j * k + i] = tau * (dc / sd - c * dd / (2.0 * d * sd));
                }
            }
        }
    }
}
