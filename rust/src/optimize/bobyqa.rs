//! BOBYQA (Powell 2009, derivative-free; the pure-Rust PRIMA port in the `bobyqa` crate,
//! the algorithm of lme4's default `nloptwrap`), with minqa's initial trust-region radius
//! 0.2 · max|θ₀| (at most 0.95).

use super::{OptimizerReport, OptimizerSettings};
use crate::error::{MerxError, Result};
use bobyqa::{Bobyqa, Config, Status};

/// Minimises `f` from `start` subject to `lower ≤ θ ≤ upper`.
pub fn minimize_bobyqa<F: FnMut(&[f64]) -> f64>(
    mut f: F,
    start: &[f64],
    lower: &[f64],
    upper: &[f64],
    settings: &OptimizerSettings,
) -> Result<OptimizerReport> {
    let n = start.len();
    if n == 0 {
        return Err(MerxError::InvalidInput("no covariance parameters to optimise".into()));
    }
    let max_abs = start.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    // BOBYQA needs every box to be at least 2ρ_begin wide.
    let narrowest = lower.iter().zip(upper).map(|(lo, hi)| hi - lo).fold(f64::INFINITY, f64::min);
    let rho_begin = settings.rho_begin.unwrap_or_else(|| (0.2 * max_abs).clamp(1e-3, 0.95)).min(0.5 * narrowest);
    let mut config = Config::new(n);
    config.rho_begin = rho_begin;
    config.rho_end = settings.rho_end.min(rho_begin);
    config.ftol_abs = settings.ftol_abs;
    if let Some(npt) = settings.npt {
        config.npt = npt.clamp(n + 2, (n + 1) * (n + 2) / 2);
    }
    config.max_fun = settings.max_fun.unwrap_or(1000 * n.max(2) + 100).max(config.npt + 2);
    let mut solver = Bobyqa::new(n, config)
        .map_err(|s| MerxError::Numerical(format!("cannot set up the BOBYQA optimizer: {s}")))?;
    // A start below a bound is moved onto it (BOBYQA evaluates only inside the box).
    let mut x: Vec<f64> = (0..n).map(|i| start[i].clamp(lower[i], upper[i])).collect();
    let outcome = solver.minimize(&mut f, &mut x, lower, upper);
    let converged = matches!(outcome.status, Status::Converged | Status::FtolReached | Status::TargetReached);
    if !outcome.found_finite() {
        return Err(MerxError::Numerical(
            "the objective was not finite at any θ the optimizer tried".into(),
        ));
    }
    Ok(OptimizerReport {
        theta: x,
        objective: outcome.f,
        n_eval: outcome.n_eval,
        converged,
        message: outcome.status.to_string(),
        optimizer: "bobyqa".into(),
    })
}

