//! Fitting a linear mixed model and the quantities lme4 reports at the optimum.

use crate::error::Result;
use crate::optimize::{
    minimize_bobyqa, minimize_quasi_newton, OptimizerMethod, OptimizerSettings, AUTO_QUASI_NEWTON_MAX_SCHUR,
};
use crate::pls::{LmmModel, PlsEvaluation};
use crate::problem::DataView;

#[derive(Clone, Debug, Default)]
pub struct FitOptions {
    pub theta_start: Option<Vec<f64>>,
    pub optimizer: OptimizerSettings,
    /// Skip the selected inversion (conditional variances) when not needed.
    pub skip_condvar: bool,
}

/// A fitted linear mixed model: everything lme4's merMod object reports.
#[derive(Clone, Debug)]
pub struct LmmFit {
    pub theta: Vec<f64>,
    pub beta: Vec<f64>,
    /// Spherical random effects u (q).
    pub u: Vec<f64>,
    /// Conditional modes b = Λu per term, level-major (L × k).
    pub b: Vec<Vec<f64>>,
    /// Conditional covariances of b per term and level (L × k × k, each block column-major).
    pub condvar: Vec<Vec<f64>>,
    /// vcov(β̂) (p × p, column-major).
    pub vcov_beta: Vec<f64>,
    pub sigma: f64,
    /// The profiled objective and its components at θ.
    pub evaluation: PlsEvaluation,
    pub wrss: f64,
    pub ussq: f64,
    /// Xβ + Zb + offset.
    pub fitted: Vec<f64>,
    pub n_eval: usize,
    pub converged: bool,
    pub message: String,
    pub optimizer: String,
}

/// Optimises θ and computes the estimates at the optimum.
///
/// The optimisation and the estimates need only the cross-products, not the rows: the
/// caller adds fitted values with [`LmmFit::attach_fitted`] (the binding does this after
/// re-acquiring the interpreter, since the rows live in caller-owned arrays).
pub fn fit_lmm(model: &mut LmmModel, options: &FitOptions) -> Result<LmmFit> {
    let start = options.theta_start.clone().unwrap_or_else(|| model.lambda.start());
    let lower = model.lambda.lower_bounds();
    if start.len() != lower.len() {
        return Err(crate::MerxError::InvalidInput(format!(
            "theta_start has length {} but the model has {} covariance parameters",
            start.len(),
            lower.len()
        )));
    }
    if let Some(i) = start.iter().position(|v| !v.is_finite()) {
        return Err(crate::MerxError::InvalidInput(format!(
            "theta_start has a non-finite value ({}) at position {i}",
            start[i]
        )));
    }
    // A failure at the start (an exact fit, a rank-deficient X) is reported as it is,
    // rather than as a non-finite objective inside the optimiser.
    model.evaluate(&start)?;
    let quasi_newton = match options.optimizer.method {
        OptimizerMethod::QuasiNewton => true,
        OptimizerMethod::Bobyqa => false,
        OptimizerMethod::Auto => model.cholesky().schur_dim() <= AUTO_QUASI_NEWTON_MAX_SCHUR,
    };
    let report = match quasi_newton {
        false => minimize_bobyqa(|th| model.objective(th), &start, &lower, &options.optimizer)?,
        true => {
            let max_fun = options.optimizer.max_fun.unwrap_or(200 * start.len() + 200);
            minimize_quasi_newton(
                |th, want_gradient, grad| {
                    // The gradient is taken at the last evaluated θ: re-evaluate only if needed.
                    let f = if want_gradient {
                        model.evaluate_if_needed(th).map_or(f64::INFINITY, |e| e.objective)
                    } else {
                        model.objective(th)
                    };
                    if want_gradient && f.is_finite() {
                        match model.gradient() {
                            Ok(g) => grad.copy_from_slice(&g),
                            Err(_) => return f64::INFINITY,
                        }
                    }
                    f
                },
                &start,
                &lower,
                max_fun,
            )?
        }
    };
    estimates_at(model, &report.theta, options.skip_condvar).map(|mut fit| {
        fit.n_eval = report.n_eval;
        fit.converged = report.converged;
        fit.message = report.message;
        fit.optimizer = report.optimizer;
        fit
    })
}

/// Estimates at a given θ (no optimisation).
pub fn estimates_at(model: &mut LmmModel, theta: &[f64], skip_condvar: bool) -> Result<LmmFit> {
    let eval = model.evaluate_if_needed(theta)?;
    let (beta, u) = model.solution()?;
    let b = model.conditional_modes(&u);
    let n = model.n_obs() as f64;
    let dof = if model.reml { n - model.p() as f64 } else { n };
    let sigma = (eval.pwrss / dof).sqrt();
    let s2 = sigma * sigma;
    let vcov_beta: Vec<f64> = model.unscaled_vcov_beta()?.into_iter().map(|v| v * s2).collect();
    let condvar = if skip_condvar {
        Vec::new()
    } else {
        model.unscaled_condvar()?.into_iter().map(|v| v.into_iter().map(|x| x * s2).collect()).collect()
    };
    let ussq = u.iter().map(|v| v * v).sum();
    Ok(LmmFit {
        theta: theta.to_vec(),
        beta,
        u,
        b,
        condvar,
        vcov_beta,
        sigma,
        evaluation: eval,
        wrss: f64::NAN,
        ussq,
        fitted: Vec::new(),
        n_eval: 0,
        converged: true,
        message: String::new(),
        optimizer: String::new(),
    })
}

impl LmmFit {
    /// Computes fitted values Xβ + Zb + offset and the weighted residual sum of squares.
    pub fn attach_fitted(&mut self, data: &DataView) {
        self.fitted = fitted_values(data, &self.beta, &self.b);
        self.wrss = (0..data.n())
            .map(|i| {
                let r = data.y[i] - self.fitted[i];
                data.weight(i) * r * r
            })
            .sum();
    }
}

/// Xβ + Σ_t Z_t b_t + offset.
pub fn fitted_values(data: &DataView, beta: &[f64], b: &[Vec<f64>]) -> Vec<f64> {
    let n = data.n();
    let mut out: Vec<f64> = (0..n).map(|i| data.offset_at(i)).collect();
    for (j, &bj) in beta.iter().enumerate() {
        for i in 0..n {
            out[i] += data.x[(i, j)] * bj;
        }
    }
    for (t, term) in data.terms.iter().enumerate() {
        let k = term.k();
        for i in 0..n {
            let l = term.codes[i] as usize;
            let mut acc = 0.0;
            for a in 0..k {
                acc += term.z[(i, a)] * b[t][l * k + a];
            }
            out[i] += acc;
        }
    }
    out
}
