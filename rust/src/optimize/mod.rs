//! Bound-constrained minimisation of the profiled objective over the free entries of θ.
//!
//! Two methods: BOBYQA ([`bobyqa`], derivative-free, lme4's algorithm and start) and a
//! projected quasi-Newton method for the analytic gradient ([`quasi_newton`]);
//! [`OptimizerMethod::Auto`] chooses between them per model. Whichever runs, a reported
//! optimum with a parameter on a bound passes the second-order check of [`boundary`]
//! before it is accepted: otherwise the method restarts from the better point inside.

pub mod bobyqa;
pub mod boundary;
pub mod quasi_newton;
mod control;

pub use control::FitControl;

use crate::error::{MerxError, Result};
use crate::params::ParameterVector;

/// Which optimiser runs over θ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerMethod {
    /// The quasi-Newton method where the gradient is cheap, BOBYQA elsewhere (default).
    /// The gradient needs the inverse of the Schur complement left after the first term:
    /// none or small (single-term and nested designs) makes a gradient cost little more
    /// than an evaluation, and the quasi-Newton method needs 3-4× fewer evaluations; a
    /// large, dense one (crossed designs) makes a gradient cost about three evaluations,
    /// which outweighs that.
    Auto,
    /// Derivative-free BOBYQA, lme4's default algorithm.
    Bobyqa,
    /// Projected quasi-Newton with the analytic gradient.
    QuasiNewton,
}

/// Largest Schur complement for which [`OptimizerMethod::Auto`] picks the quasi-Newton
/// method (its inverse then costs at most ~2·10⁷ flops per gradient).
pub const AUTO_QUASI_NEWTON_MAX_SCHUR: usize = 300;

/// Restarts after a failed boundary check, at most (each must improve the objective).
const MAX_BOUNDARY_RESTARTS: usize = 3;

/// Settings of one optimisation.
#[derive(Clone, Debug)]
pub struct OptimizerSettings {
    pub method: OptimizerMethod,
    pub rho_begin: Option<f64>,
    pub rho_end: f64,
    pub max_fun: Option<usize>,
    /// Interpolation points (default: the full quadratic (n+1)(n+2)/2 for small n).
    pub npt: Option<usize>,
    /// Stop when a whole trust-region stage improves the objective by less than this.
    pub ftol_abs: Option<f64>,
    /// The quasi-Newton method's first inverse Hessian (row-major, over all parameters; used
    /// when none is fixed), where the caller knows the curvature; else a scaled identity.
    pub inverse_hessian: Option<Vec<f64>>,
    /// The quasi-Newton method stops when its predicted decrease falls below this times
    /// max(1, |f|).
    pub quasi_newton_tolerance: f64,
    /// Evaluation count and cancellation shared with a watcher (None: neither).
    pub control: Option<FitControl>,
}

impl Default for OptimizerSettings {
    fn default() -> Self {
        OptimizerSettings {
            method: OptimizerMethod::Auto,
            rho_begin: None,
            rho_end: 1e-6,
            max_fun: None,
            npt: None,
            ftol_abs: None,
            inverse_hessian: None,
            quasi_newton_tolerance: 1e-13,
            control: None,
        }
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

/// The function being minimised: f(θ) (+∞ where undefined) and, for the quasi-Newton
/// method, f with its gradient.
pub trait Objective {
    fn value(&mut self, theta: &[f64]) -> f64;
    /// f(θ), writing ∇f(θ) into `gradient`; +∞ when either cannot be computed.
    fn value_and_gradient(&mut self, theta: &[f64], gradient: &mut [f64]) -> f64;
    /// Another θ with the same objective when entry `i` is on its bound, if any (the
    /// boundary check probes from there as well).
    fn reflection(&self, _theta: &[f64], _i: usize) -> Option<Vec<f64>> {
        None
    }
}

/// The objective restricted to the free entries of θ (the fixed ones held at their values).
struct OnFree<'a> {
    objective: &'a mut dyn Objective,
    control: Option<FitControl>,
    params: &'a ParameterVector,
    free: Vec<usize>,
    full: Vec<f64>,
    full_gradient: Vec<f64>,
}

impl OnFree<'_> {
    /// False when a watcher cancelled the optimisation (the evaluation is then skipped).
    fn proceed(&self) -> bool {
        self.control.as_ref().is_none_or(FitControl::tick)
    }

    fn value(&mut self, x: &[f64]) -> f64 {
        if !self.proceed() {
            return f64::INFINITY;
        }
        self.params.expand_into(x, &mut self.full);
        self.objective.value(&self.full)
    }

    fn value_and_gradient(&mut self, x: &[f64], want_gradient: bool, gradient: &mut [f64]) -> f64 {
        if !want_gradient {
            return self.value(x);
        }
        if !self.proceed() {
            gradient.fill(0.0);
            return f64::INFINITY;
        }
        self.params.expand_into(x, &mut self.full);
        let f = self.objective.value_and_gradient(&self.full, &mut self.full_gradient);
        for (j, &i) in self.free.iter().enumerate() {
            gradient[j] = self.full_gradient[i];
        }
        f
    }

    /// The reflection at free entry `j`, when it changes only free entries.
    fn reflection(&mut self, x: &[f64], j: usize) -> Option<Vec<f64>> {
        self.params.expand_into(x, &mut self.full);
        let reflected = self.objective.reflection(&self.full, self.free[j])?;
        let fixed_unchanged = (0..self.params.len()).all(|i| !self.params.fixed[i] || reflected[i] == self.full[i]);
        fixed_unchanged.then(|| self.free.iter().map(|&i| reflected[i]).collect())
    }

    fn run(&mut self, start: &[f64], quasi_newton: bool, settings: &OptimizerSettings) -> Result<OptimizerReport> {
        let (lower, upper) = (self.params.free_lower(), self.params.free_upper());
        if quasi_newton {
            let max_fun = settings.max_fun.unwrap_or(200 * start.len() + 200);
            let h0 = settings.inverse_hessian.as_deref().filter(|h| self.free.len() == self.params.len() && h.len() == start.len().pow(2));
            quasi_newton::minimize_quasi_newton(
                |x, want, g| self.value_and_gradient(x, want, g),
                start,
                &lower,
                &upper,
                max_fun,
                h0,
                settings.quasi_newton_tolerance,
            )
        } else {
            bobyqa::minimize_bobyqa(|x| self.value(x), start, &lower, &upper, settings)
        }
    }
}

/// Minimises `objective` over the free entries of `params` from their values, by the
/// quasi-Newton method or BOBYQA, then applies the boundary check (restarting from inside
/// while it finds a lower point). The report's θ is the whole vector.
pub fn minimize(objective: &mut dyn Objective, params: &ParameterVector, settings: &OptimizerSettings, quasi_newton: bool) -> Result<OptimizerReport> {
    let free = params.free_indices();
    if free.is_empty() {
        return Err(MerxError::InvalidInput("no free covariance parameters to optimise (all are fixed)".into()));
    }
    let (lower, upper) = (params.free_lower(), params.free_upper());
    let n = params.len();
    let control = settings.control.clone();
    let mut on_free = OnFree { objective, control: control.clone(), params, free, full: vec![0.0; n], full_gradient: vec![0.0; n] };
    let interrupted = || control.as_ref().is_some_and(FitControl::is_cancelled);
    let mut report = on_free.run(&params.free_values(), quasi_newton, settings)?;
    if interrupted() {
        return Err(MerxError::Interrupted);
    }
    let mut n_eval = report.n_eval;
    for _ in 0..MAX_BOUNDARY_RESTARTS {
        let reflections: Vec<Option<Vec<f64>>> = (0..report.theta.len()).map(|j| on_free.reflection(&report.theta, j)).collect();
        let probe = boundary::probe_inward(&mut |x: &[f64]| on_free.value(x), &report.theta, report.objective, &lower, &upper, &reflections);
        n_eval += probe.n_eval;
        let Some((start, f_start)) = probe.better else { break };
        let mut again = on_free.run(&start, quasi_newton, settings)?;
        if interrupted() {
            return Err(MerxError::Interrupted);
        }
        n_eval += again.n_eval;
        if !(again.objective <= f_start) {
            again.theta = start;
            again.objective = f_start;
        }
        again.message = format!(
            "{} (restarted inside the bounds: a parameter on its bound failed the second-order check)",
            again.message
        );
        report = again;
    }
    report.n_eval = n_eval;
    report.theta = params.expand(&report.theta);
    Ok(report)
}
