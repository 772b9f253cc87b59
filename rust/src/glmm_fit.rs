//! Fitting a GLMM by the Laplace approximation, as lme4's `glmer` does it, in two stages:
//! θ with β inside PIRLS (lme4's `nAGQ = 0`, the whole fit when `fast`), then θ and β
//! together with PIRLS over u only, from the first stage's optimum. Both stages use the
//! optimiser of `optimize`, boundary check included: the quasi-Newton method where the
//! objective has an analytic gradient (`glmm_gradient_first` for the first stage with a
//! canonical link, `glmm_gradient` for the second with binomial and Poisson families), else
//! BOBYQA (AGQ, an estimated shape, the families with a dispersion). The second stage's
//! quasi-Newton method starts from an inverse Hessian (`glmm_hessian`). The covariance of β̂
//! is lme4's default, twice the inverse Hessian of the deviance at the optimum
//! (`glmm_hessian`).

use crate::agq::GaussHermite;
use crate::glmm_hessian::{first_stage_inverse_hessian, hessian_vcov, initial_inverse_hessian, lme4_hessian_vcov};
use crate::data::ModelData;
use crate::error::{MerxError, Result};
use crate::fit::MixedModelFit;
use crate::family::Family;
use crate::optimize::{minimize, Objective, OptimizerMethod, OptimizerReport, OptimizerSettings};
use crate::params::ParameterVector;
use crate::pirls::{GeneralizedLinearMixedModel, LaplaceEvaluation};
use crate::pls::PlsEvaluation;

/// The convergence check: the largest entry of the Newton step H⁻¹g at the optimum above
/// which the fit is reported as not converged (lme4's raw gradient checks warn on fits that
/// are fine; a Newton step measures how far the optimum can still move).
const NEWTON_STEP_TOLERANCE: f64 = 1e-3;

/// BOBYQA's initial trust-region radius in the second stage.
const SECOND_STAGE_RHO_BEGIN: f64 = 0.05;

/// The quasi-Newton method's stopping tolerance (relative predicted decrease) in a first
/// stage that a second one follows: it gives the second stage's start and lme4's `lp0` only
/// (lme4's SEs, through lp0, moved by < 1e-5 against 1e-13 on the reference fits).
const FIRST_STAGE_QN_TOLERANCE: f64 = 1e-6;

/// BOBYQA's final trust-region radius in a first stage that a second one follows.
const FIRST_STAGE_RHO_END: f64 = 1e-4;

#[derive(Clone, Debug, Default)]
pub struct GlmmFitOptions {
    pub theta_start: Option<Vec<f64>>,
    /// Stop after the first stage (θ only, β from PIRLS): lme4's `nAGQ = 0`.
    pub fast: bool,
    /// Quadrature nodes: 1 (or 0) the Laplace approximation, more adaptive Gauss-Hermite
    /// quadrature in the second stage (one scalar random-effects term).
    pub n_agq: usize,
    /// Estimate the family's shape (the negative binomial θ, `glmer.nb`) with the other
    /// parameters, as log(shape), from the family's current value.
    pub estimate_shape: bool,
    pub optimizer: OptimizerSettings,
    pub skip_condvar: bool,
    /// Entries of θ held at a value (index, value) in both stages (a profile's point).
    pub fixed: Vec<(usize, f64)>,
    /// Skip the Hessian behind vcov(β̂) (vcov then comes from R_X, as for nAGQ = 0): a
    /// profile's points need the deviance only.
    pub skip_vcov: bool,
}

/// The Laplace deviance as a function of θ (β in PIRLS) or of (θ, β).
struct Stage<'a, 'd> {
    model: &'a mut GeneralizedLinearMixedModel,
    data: &'a ModelData<'d>,
    n_theta: usize,
    joint: bool,
    rule: Option<&'a GaussHermite>,
    /// The last entry of x is log(shape) of the family.
    shape: bool,
    /// The point and deviance of the last successful evaluation, whose modes and factor are
    /// in place: the quasi-Newton method asks for the gradient at the point its line search
    /// has just evaluated.
    last: Option<(Vec<f64>, f64)>,
}

/// Sets the family's shape from log(shape).
pub(crate) fn set_log_shape(model: &mut GeneralizedLinearMixedModel, log_shape: f64) -> Result<()> {
    match model.family.with_shape(log_shape.exp()) {
        Some(f) => {
            model.family = f;
            Ok(())
        }
        None => Err(MerxError::InvalidInput(format!("the family's shape cannot be set to exp({log_shape})"))),
    }
}

/// The deviance at θ (β from PIRLS) or at (θ, β): Laplace, or AGQ with a rule.
pub(crate) fn deviance_at(
    model: &mut GeneralizedLinearMixedModel,
    data: &ModelData,
    theta: &[f64],
    beta: Option<&[f64]>,
    rule: Option<&GaussHermite>,
) -> Result<f64> {
    match (beta, rule) {
        (Some(b), Some(r)) => model.agq_deviance(data, theta, b, r),
        _ => Ok(model.laplace(data, theta, beta)?.deviance),
    }
}

impl Objective for Stage<'_, '_> {
    fn value(&mut self, x: &[f64]) -> f64 {
        let x = if self.shape {
            if set_log_shape(self.model, x[x.len() - 1]).is_err() {
                return f64::INFINITY;
            }
            &x[..x.len() - 1]
        } else {
            x
        };
        let (theta, beta) = x.split_at(self.n_theta);
        let beta = if self.joint { Some(beta) } else { None };
        self.last = None;
        let value = deviance_at(self.model, self.data, theta, beta, self.rule).unwrap_or(f64::INFINITY);
        if value.is_finite() && !self.shape {
            self.last = Some((x.to_vec(), value));
        }
        value
    }

    /// The analytic gradient in (θ, β) (second stage, Laplace, canonical link).
    fn value_and_gradient(&mut self, x: &[f64], gradient: &mut [f64]) -> f64 {
        if self.rule.is_some() || self.shape {
            return f64::INFINITY;
        }
        let (theta, beta) = x.split_at(self.n_theta);
        let beta = if self.joint { Some(beta) } else { None };
        let value = match &self.last {
            // (A gradient with a non-canonical link replaces the factor: evaluate again.)
            Some((at, value)) if at.as_slice() == x && self.model.last_evaluation().is_some() => *value,
            _ => match self.model.laplace(self.data, theta, beta) {
                Ok(e) => {
                    self.last = Some((x.to_vec(), e.deviance));
                    e.deviance
                }
                Err(_) => return f64::INFINITY,
            },
        };
        let g = match beta {
            Some(_) => self.model.laplace_gradient(self.data, theta),
            None => self.model.first_stage_gradient(self.data, theta),
        };
        match g {
            Ok(g) => {
                gradient.copy_from_slice(&g);
                value
            }
            Err(_) => f64::INFINITY,
        }
    }

    fn reflection(&self, x: &[f64], i: usize) -> Option<Vec<f64>> {
        if i >= self.n_theta {
            return None;
        }
        let mut theta = self.model.lmm.random_effects.reflection(&x[..self.n_theta], i)?;
        theta.extend_from_slice(&x[self.n_theta..]);
        Some(theta)
    }
}

/// Fits by the Laplace approximation; the fitted values, η and the conditional variances
/// are those of the optimum.
pub fn fit_glmm(model: &mut GeneralizedLinearMixedModel, data: &ModelData, options: &GlmmFitOptions) -> Result<MixedModelFit> {
    let mut theta_params = model.lmm.parameters(None)?;
    if let Some(start) = &options.theta_start {
        theta_params.set_values(start, "theta_start")?;
    }
    for &(i, value) in &options.fixed {
        theta_params.fix(i, value)?;
    }
    let n_theta = theta_params.len();
    let rule = if options.n_agq > 1 {
        let terms = &model.lmm.random_effects.terms;
        if terms.len() != 1 || terms[0].k != 1 {
            return Err(MerxError::InvalidInput(format!(
                "nAGQ = {}: adaptive Gauss-Hermite quadrature needs a single scalar random-effects term such as (1 | g); this model has {} term(s) with {} column(s)",
                options.n_agq,
                terms.len(),
                terms.iter().map(|t| t.k.to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        if options.fast {
            return Err(MerxError::InvalidInput("nAGQ > 1 applies to the second stage; it cannot be combined with the fast (nAGQ = 0) fit".into()));
        }
        Some(GaussHermite::new(options.n_agq)?)
    } else {
        None
    };
    let shape = options.estimate_shape;
    let shape0 = match (shape, model.family.shape()) {
        (false, _) => None,
        (true, Some(v)) => Some(v),
        (true, None) => {
            return Err(MerxError::InvalidInput(format!("the {} family has no shape to estimate", model.family.name())))
        }
    };
    let with_shape = |mut params: ParameterVector, log_shape: Option<f64>| -> ParameterVector {
        if let Some(v) = log_shape {
            params.names.push("log(shape)".into());
            params.values.push(v);
            params.lower.push(f64::NEG_INFINITY);
            params.upper.push(f64::INFINITY);
            params.fixed.push(false);
        }
        params
    };
    // A failure at the start (a separated model, a bad link) is reported as it is.
    let start_deviance = model.laplace(data, &theta_params.values, None)?.deviance;
    model.keep_state_as_start();
    let stage1_params = with_shape(theta_params.clone(), shape0.map(f64::ln));
    // Warm starts where PIRLS converges quadratically (a canonical link: Fisher scoring is
    // Newton's method). Elsewhere it converges linearly, stops with the modes ~√tolerance
    // away, and log|L|² would carry that history-dependent error (~1e-5) into the deviance.
    model.warm_start = model.family.canonical_link();
    let stage1 = if stage1_params.free_indices().is_empty() {
        // Every θ held (a profile point of a one-term model): the first stage has nothing to
        // optimise; its point is the start.
        crate::optimize::OptimizerReport {
            theta: stage1_params.values.clone(),
            objective: start_deviance,
            n_eval: 1,
            converged: true,
            message: "all covariance parameters held".into(),
            optimizer: "none".into(),
        }
    } else {
        // With a canonical link the first stage's objective has an analytic gradient too
        // (`glmm_gradient_first`): the quasi-Newton method instead of BOBYQA. For a single θ
        // it starts from the curvature by a difference of that gradient (a Newton step where
        // the capped first gradient step overshoots: binary 100k 9 → 7 evaluations); with
        // more, the curvature at θ₀ predicts the optimum's too poorly to repay the
        // differences (VerbAgg: 16 evaluations either way).
        let analytic = !shape && model.has_first_stage_gradient() && options.optimizer.method != OptimizerMethod::Bobyqa;
        let mut settings = options.optimizer.clone();
        // The optimiser's first evaluation is the start's, just made (or the Hessian's).
        let mut last = (!shape).then(|| (theta_params.values.clone(), start_deviance));
        if analytic && n_theta == 1 && settings.inverse_hessian.is_none() {
            let (h0, f0) = first_stage_inverse_hessian(model, data, &theta_params.values)?;
            settings.inverse_hessian = h0;
            last = Some((theta_params.values.clone(), f0));
        }
        let mut objective = Stage { model: &mut *model, data, n_theta, joint: false, rule: None, shape, last };
        // Before a second stage the first gives its start (and lp0) only.
        if !options.fast {
            settings.rho_end = settings.rho_end.max(FIRST_STAGE_RHO_END);
            settings.quasi_newton_tolerance = settings.quasi_newton_tolerance.max(FIRST_STAGE_QN_TOLERANCE);
        }
        minimize(&mut objective, &stage1_params, &settings, analytic)?
    };
    if shape {
        set_log_shape(model, stage1.theta[n_theta])?;
    }
    model.laplace(data, &stage1.theta[..n_theta], None)?;
    model.keep_state_as_start();
    // (R_X'R_X)⁻¹ here: the β block of the second stage's first Hessian.
    let stage1_rx_inverse = model.lmm.unscaled_vcov_beta()?;
    // lme4's `lp0`: its second-stage deviance function starts PIRLS from here.
    let stage1_eta = model.eta().to_vec();
    let mut report = stage1;
    if !options.fast {
        let p = model.p();
        let mut names = theta_params.names.clone();
        names.extend((0..p).map(|j| format!("beta{j}")));
        let mut values = report.theta[..n_theta].to_vec();
        values.extend_from_slice(model.beta());
        let mut lower = theta_params.lower.clone();
        lower.extend(std::iter::repeat(f64::NEG_INFINITY).take(p));
        let mut upper = theta_params.upper.clone();
        upper.extend(std::iter::repeat(f64::INFINITY).take(p));
        let log_shape = if shape { Some(report.theta[n_theta]) } else { None };
        let mut joint = with_shape(ParameterVector::new(names, values, lower, upper)?, log_shape);
        joint.fixed[..n_theta].copy_from_slice(&theta_params.fixed);
        // The first stage's optimum is close to the second's: a first trust region of 0.05
        // instead of BOBYQA's default (0.2 max|x₀|) saves re-exploring (VerbAgg 416 → 338
        // evaluations, grouseticks 407 → 273, the same optimum).
        let mut settings = options.optimizer.clone();
        if settings.rho_begin.is_none() {
            settings.rho_begin = Some(SECOND_STAGE_RHO_BEGIN);
        }
        // With a canonical link the Laplace deviance has an analytic gradient: the
        // quasi-Newton method then needs a fraction of BOBYQA's evaluations.
        let analytic = rule.is_none() && !shape && model.has_analytic_gradient() && options.optimizer.method != OptimizerMethod::Bobyqa;
        let mut last = None;
        if analytic && settings.inverse_hessian.is_none() {
            let (h0, f0) = initial_inverse_hessian(model, data, &joint.values, n_theta, &stage1_rx_inverse)?;
            settings.inverse_hessian = h0;
            last = Some((joint.values.clone(), f0));
        }
        // With β held the modes are exact to rounding also for a non-canonical link (Newton
        // steps after PIRLS): warm starts are safe there too.
        model.warm_start = model.family.canonical_link() || (rule.is_none() && model.polishes_modes());
        let stage2 = {
            let mut objective = Stage { model: &mut *model, data, n_theta, joint: true, rule: rule.as_ref(), shape, last };
            minimize(&mut objective, &joint, &settings, analytic)?
        };
        report = crate::optimize::OptimizerReport {
            n_eval: report.n_eval + stage2.n_eval,
            optimizer: if rule.is_some() {
                format!("bobyqa (θ with β in PIRLS, then θ and β by {}-node adaptive Gauss-Hermite quadrature)", options.n_agq)
            } else {
                format!("bobyqa (θ with β in PIRLS), then {} (θ and β)", stage2.optimizer)
            },
            ..stage2
        };
    }
    model.warm_start = false;
    let mut x_opt = report.theta.clone();
    let log_shape = if shape { x_opt.pop() } else { None };
    if let Some(v) = log_shape {
        set_log_shape(model, v)?;
    }
    let (theta, beta_held) = x_opt.split_at(n_theta);
    let (theta, beta_held) = (theta.to_vec(), beta_held.to_vec());
    let beta_arg = if options.fast { None } else { Some(beta_held.as_slice()) };
    // The Hessian moves the state through the neighbourhood of the optimum; the estimates
    // are taken afterwards, at the optimum again (and R_X's vcov from its factorisation).
    let hessian = if options.fast || options.skip_vcov {
        None
    } else {
        // Parameters on a bound (a variance at 0) are not Newton-step material.
        let active: Vec<bool> = (0..theta.len()).map(|i| theta[i] <= theta_params.lower[i] + 1e-8).collect();
        let lme4_start = (rule.is_none() && log_shape.is_none() && !model.observed_information).then_some(stage1_eta.as_slice());
        Some(match lme4_start {
            // lme4's evaluations start from its own point; the exact gradient, last, leaves
            // the state at the optimum.
            Some(eta0) => lme4_hessian_vcov(model, data, &theta, &beta_held, eta0, &active),
            None => {
                // Differences of the exact deviance: PIRLS starts each from the optimum's
                // modes, so that they are differences of one function.
                model.laplace(data, &theta, beta_arg)?;
                model.keep_state_as_start();
                hessian_vcov(model, data, &theta, &beta_held, log_shape, rule.as_ref(), &active)
            }
        })
    };
    if let Some(v) = log_shape {
        set_log_shape(model, v)?;
    }
    // The estimates at the optimum (the factorisation in place belongs to its weights; AGQ
    // runs PIRLS at the same point and leaves the same modes and factor). Where the state is
    // already there (the Hessian's last step), it is used as it is.
    let at_optimum = rule.is_none()
        && beta_arg.is_some()
        && model.beta() == beta_held.as_slice()
        && model.lmm.theta() == theta.as_slice()
        && model.lmm.factor_in_place;
    let laplace = match model.last_evaluation() {
        Some(e) if at_optimum => e.clone(),
        _ => model.laplace(data, &theta, beta_arg)?,
    };
    let deviance = match rule.as_ref() {
        Some(r) => model.agq_deviance(data, &theta, &beta_held, r)?,
        None => laplace.deviance,
    };
    // The conditional variances belong to the factor at the modes' weights (the observed
    // information's where the Laplace deviance uses it); then R_X, which a β-held PIRLS
    // leaves stale, at the same weights' expected information.
    let condvar = if options.skip_condvar { Vec::new() } else { model.lmm.unscaled_condvar()? };
    let ld_rx2 = match beta_arg {
        Some(_) => model.refresh_fixed_effects(data, &theta)?,
        None => laplace.ld_rx2,
    };
    let vcov_beta = match hessian {
        None => rx_vcov(model)?,
        Some(Ok((v, step))) => {
            if step > NEWTON_STEP_TOLERANCE {
                report.converged = false;
                report.message = format!(
                    "{}; the Newton step at the optimum is {step:.2e} (> {NEWTON_STEP_TOLERANCE:e}): the optimizer stopped short",
                    report.message
                );
            }
            v
        }
        Some(Err(_)) => {
            report.message = format!("{}; the Hessian of the deviance is not positive definite: vcov from R_X", report.message);
            report.converged = false;
            rx_vcov(model)?
        }
    };
    let u = model.u().to_vec();
    let b = model.lmm.conditional_modes(&u);
    let optimum = GlmmOptimum {
        theta,
        beta: model.beta().to_vec(),
        u,
        b,
        condvar,
        vcov_beta,
        deviance,
        ld_rx2,
        fitted: model.mu(),
        eta: model.eta().to_vec(),
    };
    Ok(glmm_fit_at(optimum, &laplace, model.family.as_ref(), report))
}

/// A GLMM's estimates at its optimum, as both the in-memory and the streamed fit find them.
pub(crate) struct GlmmOptimum {
    pub theta: Vec<f64>,
    pub beta: Vec<f64>,
    pub u: Vec<f64>,
    pub b: Vec<Vec<f64>>,
    pub condvar: Vec<Vec<f64>>,
    pub vcov_beta: Vec<f64>,
    /// The deviance reported (Laplace's, or adaptive quadrature's with nAGQ > 1).
    pub deviance: f64,
    /// log|R_X|² at the final weights.
    pub ld_rx2: f64,
    /// μ and η per row (empty where the rows are not held).
    pub fitted: Vec<f64>,
    pub eta: Vec<f64>,
}

/// The fit lme4 reports (σ = 1, no REML criterion) from the optimum, the Laplace pieces at it
/// and the optimiser's report.
pub(crate) fn glmm_fit_at(o: GlmmOptimum, laplace: &LaplaceEvaluation, family: &dyn Family, report: OptimizerReport) -> MixedModelFit {
    MixedModelFit {
        theta: o.theta,
        beta: o.beta,
        u: o.u,
        b: o.b,
        condvar: o.condvar,
        vcov_beta: o.vcov_beta,
        sigma: 1.0,
        evaluation: PlsEvaluation {
            objective: o.deviance,
            deviance_ml: o.deviance,
            reml_criterion: f64::NAN,
            ld_l2: laplace.ld_l2,
            ld_rx2: o.ld_rx2,
            pwrss: laplace.deviance_residuals + laplace.ussq,
        },
        wrss: laplace.deviance_residuals,
        ussq: laplace.ussq,
        fitted: o.fitted,
        linear_predictor: Some(o.eta),
        family: family.name().into(),
        link: family.link().name().into(),
        shape: family.shape(),
        deviance_residuals: laplace.deviance_residuals,
        residual_parameters: Vec::new(),
        n_eval: report.n_eval,
        converged: report.converged,
        message: report.message,
        optimizer: report.optimizer,
    }
}

/// (R_X'R_X)⁻¹ at the last PIRLS weights (the dispersion is 1).
fn rx_vcov(model: &GeneralizedLinearMixedModel) -> Result<Vec<f64>> {
    model.lmm.unscaled_vcov_beta()
}
