//! Fitting a linear mixed model and the quantities lme4 reports at the optimum.

use crate::data::ModelData;
use crate::error::Result;
use crate::family::gaussian;
use crate::optimize::{minimize, Objective, OptimizerMethod, OptimizerSettings, AUTO_QUASI_NEWTON_MAX_SCHUR};
use crate::pls::{LinearMixedModel, PlsEvaluation};

#[derive(Clone, Debug, Default)]
pub struct FitOptions {
    pub theta_start: Option<Vec<f64>>,
    /// Entries of θ held at a value (index, value) while the others are optimised.
    pub fixed: Vec<(usize, f64)>,
    pub optimizer: OptimizerSettings,
    /// Skip the selected inversion (conditional variances) when not needed.
    pub skip_condvar: bool,
}

/// The linear mixed model's profiled objective and its analytic gradient, for the optimiser.
impl Objective for LinearMixedModel {
    fn value(&mut self, theta: &[f64]) -> f64 {
        // The optimiser's first point is the start, already evaluated by `fit_lmm`.
        self.evaluate_if_needed(theta).map_or(f64::INFINITY, |e| e.objective)
    }

    fn value_and_gradient(&mut self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        // The gradient is taken at the last evaluated θ: re-evaluate only if needed.
        let f = self.evaluate_if_needed(theta).map_or(f64::INFINITY, |e| e.objective);
        if !f.is_finite() {
            return f;
        }
        match self.gradient() {
            Ok(g) => {
                gradient.copy_from_slice(&g);
                f
            }
            Err(_) => f64::INFINITY,
        }
    }

    fn reflection(&self, theta: &[f64], i: usize) -> Option<Vec<f64>> {
        self.random_effects.reflection(theta, i)
    }
}

/// A fitted mixed model: everything lme4's merMod object reports.
#[derive(Clone, Debug)]
pub struct MixedModelFit {
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
    /// Fitted values on the response scale: Xβ + Zb + offset for a linear mixed model, μ
    /// for a GLMM.
    pub fitted: Vec<f64>,
    /// The linear predictor η = Xβ + Zb + offset when it differs from `fitted` (GLMMs).
    pub linear_predictor: Option<Vec<f64>>,
    /// R's family and link names.
    pub family: String,
    pub link: String,
    /// The family's shape (the negative binomial θ), if it has one.
    pub shape: Option<f64>,
    /// Σ of the squared deviance residuals (lme4's `deviance()` of a GLMM; the weighted
    /// residual sum of squares of a linear mixed model).
    pub deviance_residuals: f64,
    /// The residual covariance's own parameters at the optimum (nlme's varIdent: the
    /// log-ratios log δ_s of the strata after the reference); empty for lme4's models.
    pub residual_parameters: Vec<f64>,
    pub n_eval: usize,
    pub converged: bool,
    pub message: String,
    pub optimizer: String,
}

/// BOBYQA's first trust-region radius from a moment start, relative to its largest θ.
const MOMENT_START_RADIUS: f64 = 0.05;

/// Optimises θ and computes the estimates at the optimum.
///
/// The optimisation and the estimates need only the cross-products, not the rows: the
/// caller adds fitted values with [`MixedModelFit::attach_fitted`] (the binding does this after
/// re-acquiring the interpreter, since the rows live in caller-owned arrays).
pub fn fit_lmm(model: &mut LinearMixedModel, options: &FitOptions) -> Result<MixedModelFit> {
    let mut params = model.parameters(None)?;
    if let Some(start) = &options.theta_start {
        params.set_values(start, "theta_start")?;
    }
    for &(i, value) in &options.fixed {
        params.fix(i, value)?;
    }
    let quasi_newton = match options.optimizer.method {
        OptimizerMethod::QuasiNewton => true,
        OptimizerMethod::Bobyqa => false,
        OptimizerMethod::Auto => model.cholesky().schur_dim() <= AUTO_QUASI_NEWTON_MAX_SCHUR,
    };
    // Where BOBYQA walks over a dense Schur complement (crossed scalar terms), it starts
    // from the terms' moment estimates with a trust region of a twentieth of the largest
    // (`pls/moment_start.rs`): 30-60% fewer evaluations, the same optimum.
    let mut settings = std::borrow::Cow::Borrowed(&options.optimizer);
    if !quasi_newton && options.theta_start.is_none() && options.fixed.is_empty() && model.cholesky().schur_is_dense() {
        if let Some(start) = model.moment_start() {
            if model.evaluate(&start).is_ok() && params.set_values(&start, "theta_start").is_ok() {
                let rho = MOMENT_START_RADIUS * start.iter().fold(0.0f64, |a, v| a.max(*v));
                settings.to_mut().rho_begin.get_or_insert(rho);
            } else {
                params = model.parameters(None)?;
            }
        }
    }
    // A failure at the start (an exact fit, a rank-deficient X) is reported as it is,
    // rather than as a non-finite objective inside the optimiser.
    model.evaluate_if_needed(&params.values)?;
    let phase = crate::timing::Phase::start("optimisation");
    let report = minimize(model, &params, &settings, quasi_newton)?;
    phase.finish();
    let _phase = crate::timing::Phase::start("estimates-at-optimum");
    estimates_at(model, &report.theta, options.skip_condvar).map(|mut fit| {
        fit.n_eval = report.n_eval;
        fit.converged = report.converged;
        fit.message = report.message;
        fit.optimizer = report.optimizer;
        fit
    })
}

/// Estimates at a given θ (no optimisation).
pub fn estimates_at(model: &mut LinearMixedModel, theta: &[f64], skip_condvar: bool) -> Result<MixedModelFit> {
    let eval = model.evaluate_if_needed(theta)?;
    let (beta, u) = model.solution()?;
    let b = model.conditional_modes(&u);
    let sigma = gaussian::sigma(eval.pwrss, model.n_obs(), model.p(), model.reml);
    let s2 = sigma * sigma;
    let vcov_beta: Vec<f64> = model.unscaled_vcov_beta()?.into_iter().map(|v| v * s2).collect();
    let condvar = if skip_condvar {
        Vec::new()
    } else {
        let _phase = crate::timing::Phase::start("conditional-variances");
        model.unscaled_condvar()?.into_iter().map(|v| v.into_iter().map(|x| x * s2).collect()).collect()
    };
    let ussq = u.iter().map(|v| v * v).sum();
    Ok(MixedModelFit {
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
        linear_predictor: None,
        family: "gaussian".into(),
        link: "identity".into(),
        shape: None,
        deviance_residuals: f64::NAN,
        residual_parameters: Vec::new(),
        n_eval: 0,
        converged: true,
        message: String::new(),
        optimizer: String::new(),
    })
}

impl MixedModelFit {
    /// Computes fitted values Xβ + Zb + offset and the weighted residual sum of squares
    /// (with the model's residual weights).
    pub fn attach_fitted(&mut self, model: &LinearMixedModel, data: &ModelData) {
        self.fitted = fitted_values(data, &self.beta, &self.b);
        let weights = model.residual_weights(data);
        self.wrss = (0..data.n())
            .map(|i| {
                let r = data.y[i] - self.fitted[i];
                weights.map_or(1.0, |w| w[i]) * r * r
            })
            .sum();
        self.deviance_residuals = self.wrss;
    }
}

/// Xβ + Σ_t Z_t b_t + offset.
pub fn fitted_values(data: &ModelData, beta: &[f64], b: &[Vec<f64>]) -> Vec<f64> {
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
