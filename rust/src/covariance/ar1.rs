//! glmmTMB's `ar1(0 + f | g)`: the levels of a factor f in order are an AR(1) series,
//! Var(b_level)/σ² = s²·φ^|i-j| (one relative standard deviation s for every level).
//!
//! Parameters (s, u): s ≥ 0 and u ∈ [-π/2, π/2] with φ = sin u. The angle keeps every
//! derivative of the template bounded up to |φ| = 1 (in φ itself ∂T/∂φ grows like
//! 1/√(1-φ²)) and keeps the objective's slope there: with glmmTMB's unconstrained map
//! φ = x/√(1+x²) the objective flattens as φ → ±1 (∂φ/∂x = (1-φ²)^{3/2}), and a fit whose
//! first stage runs towards φ = 1 (a binary GLMM at nAGQ = 0, say) stalls far out in x.
//! At |φ| = 1 the matrix is singular, a boundary like lme4's s = 0. With w = √(1-φ²) = cos u
//! the Cholesky factor of the correlation matrix is closed-form: column 0 is φ^i, column
//! j ≥ 1 is φ^(i-j)·w below and on the diagonal; dφ/du = w and dw/du = -φ, so each entry
//! s·φ^m·w^e (e = 0 in column 0, 1 after) has polynomial derivatives in φ and w.
//! A term with one column has s only.

use super::CovarianceStructure;
use std::f64::consts::FRAC_PI_2;

#[derive(Clone, Copy, Debug, Default)]
pub struct Ar1;

/// c·φ^m·w^e with the power skipped where the coefficient is 0 (m or e may be negative there).
fn term(c: f64, phi: f64, m: i32, w: f64, e: i32) -> f64 {
    if c == 0.0 {
        0.0
    } else {
        c * phi.powi(m) * w.powi(e)
    }
}

/// f = φ^m w^e (e ≤ 1) and its first and second derivatives in u.
fn entry(phi: f64, w: f64, m: i32, e: i32) -> (f64, f64, f64) {
    let (mf, ef) = (m as f64, e as f64);
    let f = phi.powi(m) * w.powi(e);
    let d1 = term(mf, phi, m - 1, w, e + 1) - term(ef, phi, m + 1, w, e - 1);
    let d2 = term(mf * (mf - 1.0), phi, m - 2, w, e + 2) - term(mf * (ef + 1.0) + ef * (mf + 1.0), phi, m, w, e);
    (f, d1, d2)
}

/// Per lower-triangle position (i, j): the correlation factor's entry and its u-derivatives.
fn for_each_entry(k: usize, u: f64, mut f: impl FnMut(usize, usize, (f64, f64, f64))) {
    let (phi, w) = u.sin_cos();
    for j in 0..k {
        for i in j..k {
            f(i, j, entry(phi, w, (i - j) as i32, if j == 0 { 0 } else { 1 }));
        }
    }
}

impl CovarianceStructure for Ar1 {
    fn name(&self) -> &'static str {
        "ar1"
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
            out.push(format!("{group}.(asin_phi)"));
        }
        out
    }

    fn start(&self, k: usize) -> Vec<f64> {
        vec![1.0, 0.0][..self.n_params(k)].to_vec()
    }

    fn lower_bounds(&self, k: usize) -> Vec<f64> {
        vec![0.0, -FRAC_PI_2][..self.n_params(k)].to_vec()
    }

    fn upper_bounds(&self, k: usize) -> Vec<f64> {
        vec![f64::INFINITY, FRAC_PI_2][..self.n_params(k)].to_vec()
    }

    /// Every finite (s, u) gives a factor of s²·φ^|i-j| (a negative s flips T's sign, an
    /// angle past ±π/2 is another angle's φ): the bounds only make the map one-to-one, and
    /// differences taken at a bound (a GLMM's Hessian) may step past them.
    fn domain_error(&self, _k: usize, params: &[f64]) -> Option<String> {
        params.iter().find(|p| !p.is_finite()).map(|p| format!("the parameter {p} is not finite"))
    }

    fn fill_template(&self, k: usize, params: &[f64], out: &mut [f64]) {
        out[..k * k].fill(0.0);
        let s = params[0];
        let u = if k > 1 { params[1] } else { 0.0 };
        for_each_entry(k, u, |i, j, (f, _, _)| out[j * k + i] = s * f);
    }

    fn template_jacobian(&self, k: usize, params: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        let s = params[0];
        let u = if k > 1 { params[1] } else { 0.0 };
        let kk = k * k;
        for_each_entry(k, u, |i, j, (f, d1, _)| {
            out[j * k + i] = f;
            if k > 1 {
                out[kk + j * k + i] = s * d1;
            }
        });
    }

    /// ∂²T/∂s² = 0, ∂²T/∂s∂u = ∂F/∂u and ∂²T/∂u² = s·∂²F/∂u², F the correlation factor.
    fn template_hessian(&self, k: usize, params: &[f64], out: &mut [f64]) -> bool {
        out.fill(0.0);
        if k < 2 {
            return true;
        }
        let s = params[0];
        let kk = k * k;
        for_each_entry(k, params[1], |i, j, (_, d1, d2)| {
            out[kk + j * k + i] = d1;
            out[2 * kk + j * k + i] = d1;
            out[3 * kk + j * k + i] = s * d2;
        });
        true
    }
}
