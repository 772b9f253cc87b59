//! Derivative-free, bound-constrained minimisation of the profiled objective over θ.
//!
//! BOBYQA (Powell 2009, via the pure-Rust PRIMA port in the `bobyqa` crate), as lme4's
//! default `nloptwrap` optimizer uses. Start: lme4's (identity templates). The initial
//! trust-region radius follows minqa's rule as used by lme4 (0.2 · max|θ₀|, at most 0.95).

use crate::error::{MerxError, Result};
use bobyqa::{Bobyqa, Config, Status};

/// Settings of one optimisation.
#[derive(Clone, Debug)]
pub struct OptimizerSettings {
    pub rho_begin: Option<f64>,
    pub rho_end: f64,
    pub max_fun: Option<usize>,
    /// Interpolation points (default: the full quadratic (n+1)(n+2)/2 for small n).
    pub npt: Option<usize>,
    /// Stop when a whole trust-region stage improves the objective by less than this.
    pub ftol_abs: Option<f64>,
}

impl Default for OptimizerSettings {
    fn default() -> Self {
        OptimizerSettings { rho_begin: None, rho_end: 1e-6, max_fun: None, npt: None, ftol_abs: None }
    }
}

/// What the optimiser did.
#[derive(Clone, Debug)]
pub struct OptimizerReport {
    pub theta: Vec<f64>,
    pub objective: f64,
    pub n_eval: usize,
    pub converged: bool,
    pub message: String,
    pub optimizer: String,
}

/// Minimises `f` from `start` subject to `lower ≤ θ` (upper bounds are infinite).
pub fn minimize_bobyqa<F: FnMut(&[f64]) -> f64>(
    mut f: F,
    start: &[f64],
    lower: &[f64],
    settings: &OptimizerSettings,
) -> Result<OptimizerReport> {
    let n = start.len();
    if n == 0 {
        return Err(MerxError::InvalidInput("no covariance parameters to optimise".into()));
    }
    let max_abs = start.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let rho_begin = settings.rho_begin.unwrap_or_else(|| (0.2 * max_abs).clamp(1e-3, 0.95));
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
    let upper = vec![f64::INFINITY; n];
    // Start strictly inside the box as BOBYQA requires (lower bound 0 on a diagonal).
    let mut x: Vec<f64> = start.iter().zip(lower).map(|(&s, &lo)| s.max(lo)).collect();
    let outcome = solver.minimize(&mut f, &mut x, lower, &upper);
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
