//! A projected quasi-Newton method (BFGS on the free variables) for objectives with an
//! analytic gradient.

use super::OptimizerReport;
use crate::error::{MerxError, Result};

/// Minimises `f` with a projected quasi-Newton method (BFGS on the free variables, active
/// bounds held fixed, projected Armijo backtracking), for objectives with an analytic
/// gradient. `fg(θ, want_gradient, grad)` returns f(θ) (+∞ where undefined) and, when asked,
/// writes the gradient. Stops when the predicted decrease g'Hg/2 of a quasi-Newton step
/// falls below `rel_tol · max(1, |f|)` (1e-13 by default) or when a line search cannot improve f; `max_fun` is
/// checked after each line search (each may take up to 40 evaluations). `h0` is a first
/// inverse Hessian (row-major) where the caller has one; else the identity, scaled after the
/// first step.
pub fn minimize_quasi_newton<F: FnMut(&[f64], bool, &mut [f64]) -> f64>(
    mut fg: F,
    start: &[f64],
    lower: &[f64],
    upper: &[f64],
    max_fun: usize,
    h0: Option<&[f64]>,
    rel_tol: f64,
) -> Result<OptimizerReport> {
    let n = start.len();
    if n == 0 {
        return Err(MerxError::InvalidInput("no covariance parameters to optimise".into()));
    }
    let mut x: Vec<f64> = (0..n).map(|i| start[i].clamp(lower[i], upper[i])).collect();
    let mut g = vec![0.0; n];
    let mut n_eval = 1;
    let mut f = fg(&x, true, &mut g);
    if !f.is_finite() {
        return Err(MerxError::Numerical("the objective is not finite at the starting θ".into()));
    }
    // Inverse Hessian approximation (row-major n × n), scaled after the first step.
    let mut h = vec![0.0; n * n];
    for i in 0..n {
        h[i * n + i] = 1.0;
    }
    let mut first = true;
    if let Some(h0) = h0 {
        h.copy_from_slice(h0);
        first = false;
    }
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    let mut d = vec![0.0; n];
    let tol = |f: f64| rel_tol * f.abs().max(1.0);
    // A variable on a bound with the gradient pushing outward is held there.
    let at_bound = |x: &[f64], g: &[f64], i: usize| (x[i] <= lower[i] && g[i] > 0.0) || (x[i] >= upper[i] && g[i] < 0.0);
    let mut message = String::from("the predicted decrease fell below the tolerance");
    let mut converged = true;
    loop {
        // Direction on the free variables.
        let free: Vec<bool> = (0..n).map(|i| !at_bound(&x, &g, i)).collect();
        for i in 0..n {
            d[i] = if free[i] { -(0..n).filter(|&j| free[j]).map(|j| h[i * n + j] * g[j]).sum::<f64>() } else { 0.0 };
        }
        let mut slope: f64 = d.iter().zip(&g).map(|(a, b)| a * b).sum();
        if !(slope < 0.0) {
            // Not a descent direction: reset to steepest descent on the free variables.
            for i in 0..n {
                h.iter_mut().skip(i * n).take(n).enumerate().for_each(|(j, v)| *v = if i == j { 1.0 } else { 0.0 });
                d[i] = if free[i] { -g[i] } else { 0.0 };
            }
            first = true;
            slope = d.iter().zip(&g).map(|(a, b)| a * b).sum();
        }
        if -slope / 2.0 <= tol(f) {
            break;
        }
        // First step: at most 0.5 in any coordinate (θ lives on the scale of 1).
        let mut alpha: f64 = if first { (0.5 / d.iter().fold(0.0f64, |m, v| m.max(v.abs()))).min(1.0) } else { 1.0 };
        let mut accepted = false;
        for _ in 0..40 {
            for i in 0..n {
                x_new[i] = (x[i] + alpha * d[i]).clamp(lower[i], upper[i]);
            }
            let decrease: f64 = (0..n).map(|i| g[i] * (x_new[i] - x[i])).sum();
            n_eval += 1;
            let f_try = fg(&x_new, false, &mut g_new);
            if f_try.is_finite() && f_try <= f + 1e-4 * decrease {
                accepted = f_try < f || decrease.abs() <= tol(f);
                break;
            }
            // Backtrack with a safeguarded quadratic interpolation.
            let q = if f_try.is_finite() { -decrease * alpha / (2.0 * (f_try - f - decrease)) } else { 0.1 * alpha };
            alpha = q.clamp(0.1 * alpha, 0.5 * alpha);
        }
        if !accepted {
            message = "the line search could not decrease the objective further".into();
            break;
        }
        if n_eval >= max_fun {
            message = "the evaluation budget was exhausted".into();
            converged = false;
            break;
        }
        let f_new = fg(&x_new, true, &mut g_new);
        if !f_new.is_finite() {
            message = "the gradient could not be computed at an accepted point".into();
            converged = false;
            break;
        }
        let s: Vec<f64> = (0..n).map(|i| x_new[i] - x[i]).collect();
        let y: Vec<f64> = (0..n).map(|i| g_new[i] - g[i]).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        let yy: f64 = y.iter().map(|v| v * v).sum();
        if sy > 1e-12 * yy.sqrt() * s.iter().map(|v| v * v).sum::<f64>().sqrt() {
            if first {
                let scale = sy / yy;
                for i in 0..n {
                    for j in 0..n {
                        h[i * n + j] = if i == j { scale } else { 0.0 };
                    }
                }
                first = false;
            }
            // H ← (I - ρsy')H(I - ρys') + ρss'
            let rho = 1.0 / sy;
            let hy: Vec<f64> = (0..n).map(|i| (0..n).map(|j| h[i * n + j] * y[j]).sum()).collect();
            let yhy: f64 = y.iter().zip(&hy).map(|(a, b)| a * b).sum();
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] += -rho * (s[i] * hy[j] + hy[i] * s[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
                }
            }
        }
        let improvement = f - f_new;
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        f = f_new;
        if improvement <= tol(f) * 1e-2 && s.iter().all(|v| v.abs() <= 1e-10) {
            message = "the step became negligible".into();
            break;
        }
    }
    Ok(OptimizerReport { theta: x, objective: f, n_eval, converged, message, optimizer: "quasi-newton".into() })
}
