//! glmmTMB's `ar1(0 + f | g)`: the levels of a factor f in order are an AR(1) series,
//! Var(b_level)/σ² = s²·φ^|i-j| (one relative standard deviation s for every level).
//!
//! Parameters (s, x): s ≥ 0 and x unbounded with φ = x/√(1+x²) (glmmTMB's map), so that
//! φ stays inside (-1, 1) without a bound and the template stays smooth as φ nears ±1
//! (in φ itself ∂T/∂φ grows like 1/√(1-φ²)). With w = √(1-φ²) = 1/√(1+x²) the Cholesky
//! factor of the correlation matrix is closed-form: column 0 is φ^i, column j ≥ 1 is
//! φ^(i-j)·w below and on the diagonal. In x, dφ/dx = w³ and dw/dx = -φw², so every entry
//! s·φ^m·w^e (e = 0 in column 0, 1 after) has polynomial derivatives in φ and w.
//! A term with one column has s only.

use super::CovarianceStructure;

#[derive(Clone, Copy, Debug, Default)]
pub struct Ar1;

/// (φ, w) of x, with w = 1/√(1+x²) computed without overflow.
fn phi_and_w(x: f64) -> (f64, f64) {
    let r = 1.0f64.hypot(x);
    (x / r, 1.0 / r)
}

/// c·φ^m·w^e with the power skipped where the coefficient is 0 (m may be negative there).
fn term(c: f64, phi: f64, m: i32, w: f64, e: i32) -> f64 {
    if c == 0.0 {
        0.0
    } else {
        c * phi.powi(m) * w.powi(e)
    }
}

/// f = φ^m w^e and its first and second derivatives in x.
fn entry(phi: f64, w: f64, m: i32, e: i32) -> (f64, f64, f64) {
    let (mf, ef) = (m as f64, e as f64);
    let f = phi.powi(m) * w.powi(e);
    let d1 = term(mf, phi, m - 1, w, e + 3) - term(ef, phi, m + 1, w, e + 1);
    let d2 = term(mf * (mf - 1.0), phi, m - 2, w, e + 6) - term(mf * (ef + 3.0) + ef * (mf + 1.0), phi, m, w, e + 4)
        + term(ef * (ef + 1.0), phi, m + 2, w, e + 2);
    (f, d1, d2)
}

/// Per lower-triangle position (i, j): the correlation factor's entry and its x-derivatives.
fn for_each_entry(k: usize, x: f64, mut f: impl FnMut(usize, usize, (f64, f64, f64))) {
    let (phi, w) = phi_and_w(x);
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
            out.push(format!("{group}.(phi_raw)"));
        }
        out
    }

    fn start(&self, k: usize) -> Vec<f64> {
        vec![1.0, 0.0][..self.n_params(k)].to_vec()
    }

    fn lower_bounds(&self, k: usize) -> Vec<f64> {
        vec![0.0, f64::NEG_INFINITY][..self.n_params(k)].to_vec()
    }

    fn domain_error(&self, k: usize, params: &[f64]) -> Option<String> {
        if !(params[0] >= 0.0 && params[0].is_finite()) {
            return Some(format!("the relative standard deviation {} is not a finite number ≥ 0", params[0]));
        }
        match params.get(1) {
            Some(&x) if k > 1 && !x.is_finite() => Some(format!("the autocorrelation parameter {x} is not finite")),
            _ => None,
        }
    }

    fn fill_template(&self, k: usize, params: &[f64], out: &mut [f64]) {
        out[..k * k].fill(0.0);
        let s = params[0];
        let x = if k > 1 { params[1] } else { 0.0 };
        for_each_entry(k, x, |i, j, (f, _, _)| out[j * k + i] = s * f);
    }

    fn template_jacobian(&self, k: usize, params: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        let s = params[0];
        let x = if k > 1 { params[1] } else { 0.0 };
        let kk = k * k;
        for_each_entry(k, x, |i, j, (f, d1, _)| {
            out[j * k + i] = f;
            if k > 1 {
                out[kk + j * k + i] = s * d1;
            }
        });
    }

    /// ∂²T/∂s² = 0, ∂²T/∂s∂x = ∂F/∂x and ∂²T/∂x² = s·∂²F/∂x², F the correlation factor.
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
