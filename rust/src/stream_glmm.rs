//! A GLMM fitted to data that is never in memory at once (Parquet batches, Dask
//! partitions): lme4's two-stage Laplace fit of `glmm_fit`, with every PIRLS step one pass
//! over the data.
//!
//! Why the data passes sit inside the optimiser's loop: a linear mixed model has a
//! sufficient statistic, the cross-products [Z X y]'W[Z X y], so one pass suffices and θ is
//! optimised on them (`stream_crossprod`). A GLMM has none: the working weights and
//! response of PIRLS depend on η = Xβ + Zb at the current modes, so each PIRLS step needs
//! the rows again, and each evaluation of the Laplace deviance at a new θ (β) needs a
//! PIRLS. Since the data does not fit in memory, the rows are re-read for each step: the
//! caller's [`PassSource`] runs one pass (a loop over Parquet batches, or a Dask map-reduce)
//! at a [`PassPoint`] and returns the merged [`GlmmPassAccumulator`]: the penalized
//! deviance there and the weighted cross-products of the step. Everything else is here: the
//! penalized least-squares solve on the small reduced system (q random effects + p), step
//! halving, PIRLS's convergence rule and the Laplace deviance exactly as `pirls.rs` has
//! them, and the optimiser (BOBYQA in both stages: the analytic gradients of the in-memory
//! fit need per-row leverages, i.e. more passes). Memory grows with the cross-products,
//! never with the rows.
//!
//! Differences from `fit_glmm`: the canonical links only (elsewhere the in-memory fit
//! polishes the modes by Newton steps on the observed information, more passes of another
//! kind). vcov(β̂) is 2H⁻¹ on β, H the Hessian of the Laplace deviance in (θ, β) by central
//! second differences (see `hessian_vcov`), each deviance a PIRLS from the optimum's modes:
//! 1 + 2m + m(m-1) evaluations for m = dim θ + dim β, a few passes each. That is the
//! Hessian of the exact Laplace deviance. lme4 (and the in-memory fit, which copies it)
//! differentiates its own evaluations of the deviance, each a PIRLS from the first stage's
//! η with lme4's stopping rule, at a step of 1e-4: on cbpp its standard errors are 0.5-1.2%
//! below the exact Hessian's (which does not move between steps 1e-4 and 1e-2). With
//! `nAGQ=0`, or where H is not positive definite, vcov is (R_X'R_X)⁻¹ at the modes' weights.

use crate::covariance::{CovarianceStructure, RandomEffects};
use crate::error::{MerxError, Result};
use crate::family::Family;
use crate::fit::MixedModelFit;
use crate::optimize::{minimize, FitControl, Objective, OptimizerMethod, OptimizerReport, OptimizerSettings};
use crate::params::ParameterVector;
use crate::glmm_fit::{glmm_fit_at, GlmmOptimum};
use crate::pirls::{rule, LaplaceEvaluation};
use crate::pls::LinearMixedModel;
pub use crate::stream_glmm_pass::{GlmmBatch, GlmmPassAccumulator, PassPoint};
use std::sync::Arc;

/// BOBYQA's final trust-region radius in a first stage that a second one follows, and its
/// first radius in the second stage (as `glmm_fit`).
const FIRST_STAGE_RHO_END: f64 = 1e-4;
const SECOND_STAGE_RHO_BEGIN: f64 = 0.05;

/// Runs one pass over all rows at a point and returns the merged accumulator.
pub trait PassSource {
    fn pass(&mut self, point: &PassPoint) -> Result<GlmmPassAccumulator>;
}

/// Where PIRLS stands: β over the kept columns, u, or the family's starting μ.
#[derive(Clone, Debug)]
struct PirlsState {
    beta: Vec<f64>,
    u: Vec<f64>,
    from_mu_start: bool,
}

/// Options of a streamed fit.
#[derive(Clone, Debug)]
pub struct StreamedGlmmOptions {
    pub theta_start: Option<Vec<f64>>,
    /// Stop after the first stage (lme4's nAGQ = 0).
    pub fast: bool,
    pub max_fun: Option<usize>,
    /// BOBYQA's final trust-region radius of the last stage.
    pub rho_end: f64,
    pub control: Option<FitControl>,
}

impl Default for StreamedGlmmOptions {
    fn default() -> Self {
        // BOBYQA's default 1e-6 (and 1e-7) left β ~4e-6 (relative) from the optimum on a
        // Poisson crossed design, where the in-memory quasi-Newton fit, with the analytic
        // gradient, is within 3e-7; 1e-8 costs ~10% more evaluations and reaches 2e-7.
        StreamedGlmmOptions { theta_start: None, fast: false, max_fun: None, rho_end: 1e-8, control: None }
    }
}

/// The model: family, design sizes and the kept columns of X; the rows are the source's.
pub struct StreamedGlmm {
    pub family: Arc<dyn Family>,
    p_full: usize,
    kept: Vec<usize>,
    intercept: Option<usize>,
    covariances: Vec<Arc<dyn CovarianceStructure>>,
    pub random_effects: RandomEffects,
    /// The solver of the last loaded pass (its symbolic analysis is reused while the block
    /// pattern stays the same).
    lmm: Option<LinearMixedModel>,
    start: PirlsState,
    state: PirlsState,
    /// Σ -2 log p(y | μ = y), from the first pass.
    saturated: Option<f64>,
    /// Each evaluation starts PIRLS from the last one's modes (canonical links, as `pirls.rs`).
    warm_start: bool,
    /// The final pass of the last evaluation (at `state`; the start's pass while warm
    /// starts are on, which make `start` that state).
    last_pass: Option<GlmmPassAccumulator>,
    pub n_passes: usize,
    pub n_obs: usize,
    pub n_rows: usize,
}

impl StreamedGlmm {
    /// `terms`: (levels, columns, covariance) per random-effects term in the model's order;
    /// `kept`: the columns of the full design X that are not aliased; `intercept`: the
    /// index in `kept` of the column of ones.
    pub fn new(
        family: Arc<dyn Family>,
        p_full: usize,
        kept: Vec<usize>,
        intercept: Option<usize>,
        terms: &[(usize, usize, Arc<dyn CovarianceStructure>)],
    ) -> Result<Self> {
        if !family.canonical_link() {
            return Err(MerxError::InvalidInput(format!(
                "glmer on data read in batches fits the canonical links (binomial with logit, poisson with log); \
                 the {} family with the {} link needs the in-memory fit",
                family.name(),
                family.link().name()
            )));
        }
        if terms.is_empty() {
            return Err(MerxError::InvalidInput("a GLMM needs at least one random-effects term".into()));
        }
        if kept.iter().any(|&j| j >= p_full) || intercept.is_some_and(|j| j >= kept.len()) {
            return Err(MerxError::InvalidInput("kept columns outside X".into()));
        }
        let random_effects = RandomEffects::new(terms);
        let q = random_effects.q;
        let start = PirlsState { beta: vec![0.0; kept.len()], u: vec![0.0; q], from_mu_start: true };
        Ok(StreamedGlmm {
            family,
            p_full,
            intercept,
            covariances: terms.iter().map(|t| t.2.clone()).collect(),
            random_effects,
            lmm: None,
            state: start.clone(),
            start,
            kept,
            saturated: None,
            warm_start: false,
            last_pass: None,
            n_passes: 0,
            n_obs: 0,
            n_rows: 0,
        })
    }

    pub fn p(&self) -> usize {
        self.kept.len()
    }

    pub fn n_theta(&self) -> usize {
        self.random_effects.n_theta
    }

    /// θ at lme4's start, with names and bounds.
    pub fn parameters(&self, names: Option<&[(String, Vec<String>)]>) -> Result<ParameterVector> {
        let re = &self.random_effects;
        ParameterVector::new(re.param_names(names), re.start(), re.lower_bounds(), re.upper_bounds())
    }

    /// One pass at `state` under θ.
    fn pass_at(&mut self, source: &mut dyn PassSource, state: &PirlsState, theta: &[f64]) -> Result<GlmmPassAccumulator> {
        let b = match (&mut self.lmm, state.from_mu_start) {
            (Some(lmm), false) => lmm.conditional_modes_at(theta, &state.u),
            (None, false) => return Err(MerxError::Numerical("PIRLS left its start before a first pass".into())),
            (_, true) => self.random_effects.terms.iter().map(|t| vec![0.0; t.n_levels * t.k]).collect(),
        };
        let mut beta = vec![0.0; self.p_full];
        for (&j, &v) in self.kept.iter().zip(&state.beta) {
            beta[j] = v;
        }
        self.n_passes += 1;
        let acc = source.pass(&PassPoint { beta, b, from_mu_start: state.from_mu_start })?;
        if acc.cross.p != self.p_full || acc.cross.term_levels.len() != self.random_effects.terms.len() {
            return Err(MerxError::InvalidInput("the pass returned cross-products of another design".into()));
        }
        if state.from_mu_start && self.saturated.is_none() {
            if !acc.saturated.is_finite() {
                return Err(MerxError::InvalidInput(
                    "the binomial log-likelihood needs whole numbers of trials and successes (weights × response); \
                     fit non-integer counts in memory"
                        .into(),
                ));
            }
            self.saturated = Some(acc.saturated);
            self.n_obs = acc.cross.n_obs;
            self.n_rows = acc.cross.n_rows;
        }
        Ok(acc)
    }

    /// Makes the solver hold the cross-products of `acc` (at its point's working weights).
    fn load(&mut self, acc: &GlmmPassAccumulator) -> Result<&mut LinearMixedModel> {
        if acc.bad_rows > 0 {
            return Err(MerxError::Numerical(format!(
                "PIRLS reached a linear predictor where {} rows have no finite working weight or response",
                acc.bad_rows
            )));
        }
        let (cp, re) = acc.cross.finish(&self.kept, self.intercept, &self.covariances)?;
        let cp = match self.lmm.as_mut() {
            Some(lmm) => lmm.replace_cross_products(cp).err(),
            None => Some(cp),
        };
        if let Some(cp) = cp {
            // A first pass, or a new block pattern (a row whose working weight became 0).
            let mut lmm = LinearMixedModel::from_cross_products(cp, re, false)?;
            lmm.refuse_exact_fit = false;
            self.lmm = Some(lmm);
        }
        self.lmm.as_mut().ok_or_else(|| MerxError::Numerical("no solver".into()))
    }

    /// PIRLS at θ from the start state (over β and u when `beta` is None, over u with β
    /// held otherwise) and the Laplace deviance, as `GeneralizedLinearMixedModel::laplace`.
    pub fn laplace(&mut self, source: &mut dyn PassSource, theta: &[f64], beta: Option<&[f64]>) -> Result<LaplaceEvaluation> {
        let mut state = self.start.clone();
        if let Some(b) = beta {
            if b.len() != self.p() {
                return Err(MerxError::InvalidInput(format!("beta has length {} but X has {} columns", b.len(), self.p())));
            }
            if state.from_mu_start {
                return Err(MerxError::InvalidInput("a held β needs a first evaluation with β in PIRLS".into()));
            }
            state.beta = b.to_vec();
        }
        let ussq = |u: &[f64]| u.iter().map(|v| v * v).sum::<f64>();
        // A warm start reuses the last evaluation's final pass: its working weights and
        // response at η of the previous modes are an IRLS step's input whatever θ (and β)
        // now is, so the first step is taken from there whole (as from the starting μ),
        // one pass fewer per evaluation; the modes reached are the same.
        let cached = if self.warm_start { self.last_pass.take() } else { None };
        let (mut acc, mut pdev) = match cached {
            Some(acc) => (acc, f64::INFINITY),
            None => {
                let acc = self.pass_at(source, &state, theta)?;
                let pdev = if state.from_mu_start { f64::INFINITY } else { acc.deviance + ussq(&state.u) };
                (acc, pdev)
            }
        };
        let mut iterations = 0;
        loop {
            iterations += 1;
            let lmm = self.load(&acc)?;
            lmm.evaluate(theta)?;
            let (beta_new, u_new) = match beta {
                None => lmm.solution()?,
                Some(b) => (b.to_vec(), lmm.modes_given_beta(b)?),
            };
            let mut cand = PirlsState { beta: beta_new, u: u_new, from_mu_start: false };
            let mut cand_acc = self.pass_at(source, &cand, theta)?;
            let mut pdev_new = cand_acc.deviance + ussq(&cand.u);
            if rule::rounding_only(pdev, pdev_new) {
                break;
            }
            let mut halvings = 0;
            while rule::must_halve(pdev, pdev_new, halvings, iterations)? {
                halvings += 1;
                for (new, old) in cand.u.iter_mut().zip(&state.u) {
                    *new = 0.5 * (*new + old);
                }
                for (new, old) in cand.beta.iter_mut().zip(&state.beta) {
                    *new = 0.5 * (*new + old);
                }
                cand_acc = self.pass_at(source, &cand, theta)?;
                pdev_new = cand_acc.deviance + ussq(&cand.u);
            }
            rule::check_finite(pdev_new)?;
            let change = (pdev - pdev_new).abs();
            state = cand;
            acc = cand_acc;
            pdev = pdev_new;
            if rule::converged(pdev, change, iterations)? {
                break;
            }
        }
        // log|L|² at the weights of the final modes: the pass at the state gave them.
        let saturated = self.saturated.unwrap_or(f64::NAN);
        let evaluation = self.load(&acc)?.evaluate(theta)?;
        let (u2, dev) = (ussq(&state.u), acc.deviance);
        let out = LaplaceEvaluation {
            deviance: dev + saturated + u2 + evaluation.ld_l2,
            deviance_residuals: dev,
            ussq: u2,
            ld_l2: evaluation.ld_l2,
            ld_rx2: evaluation.ld_rx2,
            iterations,
        };
        if self.warm_start {
            self.start = state.clone();
        }
        self.last_pass = Some(acc);
        self.state = state;
        Ok(out)
    }

    /// lme4's two-stage Laplace fit (see the module documentation).
    pub fn fit(&mut self, source: &mut dyn PassSource, options: &StreamedGlmmOptions, names: Option<&[(String, Vec<String>)]>) -> Result<MixedModelFit> {
        let mut theta_params = self.parameters(names)?;
        if let Some(start) = &options.theta_start {
            theta_params.set_values(start, "theta_start")?;
        }
        let n_theta = theta_params.len();
        self.start = PirlsState { beta: vec![0.0; self.p()], u: vec![0.0; self.random_effects.q], from_mu_start: true };
        self.laplace(source, &theta_params.values, None)?;
        self.start = self.state.clone();
        self.warm_start = true;
        let mut settings = OptimizerSettings { method: OptimizerMethod::Bobyqa, max_fun: options.max_fun, control: options.control.clone(), ..Default::default() };
        settings.rho_end = if options.fast { options.rho_end } else { FIRST_STAGE_RHO_END };
        let stage1 = {
            let mut objective = Stage { model: &mut *self, source: &mut *source, n_theta, joint: false };
            minimize(&mut objective, &theta_params, &settings, false)?
        };
        self.laplace(source, &stage1.theta, None)?;
        self.start = self.state.clone();
        let mut report = stage1;
        if !options.fast {
            let p = self.p();
            let mut names = theta_params.names.clone();
            names.extend((0..p).map(|j| format!("beta{j}")));
            let mut values = report.theta.clone();
            values.extend_from_slice(&self.state.beta);
            let mut lower = theta_params.lower.clone();
            lower.extend(std::iter::repeat(f64::NEG_INFINITY).take(p));
            let mut upper = theta_params.upper.clone();
            upper.extend(std::iter::repeat(f64::INFINITY).take(p));
            let joint = ParameterVector::new(names, values, lower, upper)?;
            settings.rho_begin = Some(SECOND_STAGE_RHO_BEGIN);
            settings.rho_end = options.rho_end;
            let stage2 = {
                let mut objective = Stage { model: &mut *self, source: &mut *source, n_theta, joint: true };
                minimize(&mut objective, &joint, &settings, false)?
            };
            report = OptimizerReport {
                n_eval: report.n_eval + stage2.n_eval,
                optimizer: "bobyqa (θ with β in PIRLS), then bobyqa (θ and β), each PIRLS step one pass over the data".into(),
                ..stage2
            };
        } else {
            report.optimizer = "bobyqa (θ with β in PIRLS), each PIRLS step one pass over the data".into();
        }
        self.warm_start = false;
        let (theta, beta_held) = report.theta.split_at(n_theta);
        let (theta, beta_held) = (theta.to_vec(), beta_held.to_vec());
        let laplace = self.laplace(source, &theta, if options.fast { None } else { Some(&beta_held) })?;
        let u = self.state.u.clone();
        let beta = self.state.beta.clone();
        let lmm = self.lmm.as_mut().ok_or_else(|| MerxError::Numerical("no pass was made".into()))?;
        // The solver holds the factor at the modes' weights, evaluated at θ (the last
        // `laplace`): the conditional variances and R_X belong to them.
        let condvar = lmm.unscaled_condvar()?;
        let rx_vcov = lmm.unscaled_vcov_beta()?;
        let b = lmm.conditional_modes(&u);
        let vcov_beta = if options.fast {
            rx_vcov
        } else {
            let hessian = self.hessian_vcov(source, &theta, &beta_held, &theta_params.lower, &rx_vcov);
            // The Hessian's evaluations moved the solver: back to the optimum, whose factor
            // `solver()` hands out.
            self.laplace(source, &theta, Some(&beta_held))?;
            match hessian {
                Ok(v) => v,
                Err(MerxError::Numerical(_)) => {
                    // As the in-memory fit: reported, and the fit not called converged.
                    report.message = format!("{}; the Hessian of the deviance is not positive definite: vcov from R_X", report.message);
                    report.converged = false;
                    rx_vcov
                }
                Err(e) => return Err(e),
            }
        };
        // No rows are held: fitted values and η are written by a pass (`write_fitted`).
        Ok(glmm_fit_at(
            GlmmOptimum { theta, beta, u, b, condvar, vcov_beta, deviance: laplace.deviance, ld_rx2: laplace.ld_rx2, fitted: Vec::new(), eta: Vec::new() },
            &laplace,
            self.family.as_ref(),
            report,
        ))
    }

    /// lme4's vcov: 2H⁻¹ on β, H by central second differences of the Laplace deviance in
    /// (θ, β), every evaluation's PIRLS started from the modes at the optimum (so that they
    /// are differences of one function). The steps are wider than lme4's 1e-4: a streamed
    /// deviance is exact to ~1e-10 relative (sums over batches in another order), which
    /// second differences divide by h²; a tenth of β's standard error from R_X (θ: 1% of
    /// max(θ, 0.1)) moves the deviance by ~0.01, so that the rounding stays below 1e-6 of H
    /// and the differences' O(h²) error below 1e-4.
    fn hessian_vcov(&mut self, source: &mut dyn PassSource, theta: &[f64], beta: &[f64], lower: &[f64], rx_vcov: &[f64]) -> Result<Vec<f64>> {
        use crate::glmm_hessian::{invert_beta_block, second_differences};
        let (nt, p) = (theta.len(), beta.len());
        self.start = self.state.clone();
        let x0: Vec<f64> = theta.iter().chain(beta).copied().collect();
        let h: Vec<f64> = theta
            .iter()
            .map(|t| 1e-2 * t.abs().max(0.1))
            .chain((0..p).map(|j| {
                let se = rx_vcov[j * p + j].sqrt();
                if se.is_finite() && se > 0.0 { 0.1 * se } else { 1e-2 * beta[j].abs().max(1.0) }
            }))
            .collect();
        let (hess, gradient) = {
            let mut deviance = |x: &[f64]| -> Result<f64> {
                // (A θ held at its lower bound 0 is evaluated just below it, as lme4's
                // differences do: the deviance is even in a scalar term's θ.)
                Ok(self.laplace(source, &x[..nt], Some(&x[nt..]))?.deviance)
            };
            second_differences(&mut deviance, &x0, &h, false)?
        };
        let active: Vec<bool> = (0..nt).map(|i| theta[i] <= lower[i] + 1e-8).collect();
        invert_beta_block(&hess, x0.len(), nt, p, &gradient, &active).map(|(vcov, _)| vcov)
    }

    /// The solver at the last evaluation (the fit's optimum after `fit`).
    pub fn solver(&self) -> Option<&LinearMixedModel> {
        self.lmm.as_ref()
    }
}

/// The Laplace deviance as a function of θ (β in PIRLS) or of (θ, β).
struct Stage<'a> {
    model: &'a mut StreamedGlmm,
    source: &'a mut dyn PassSource,
    n_theta: usize,
    joint: bool,
}

impl Objective for Stage<'_> {
    fn value(&mut self, x: &[f64]) -> f64 {
        let (theta, beta) = x.split_at(self.n_theta);
        let beta = if self.joint { Some(beta) } else { None };
        self.model.laplace(self.source, theta, beta).map_or(f64::INFINITY, |e| e.deviance)
    }

    fn value_and_gradient(&mut self, _x: &[f64], _gradient: &mut [f64]) -> f64 {
        f64::INFINITY
    }

    fn reflection(&self, x: &[f64], i: usize) -> Option<Vec<f64>> {
        if i >= self.n_theta {
            return None;
        }
        let mut theta = self.model.random_effects.reflection(&x[..self.n_theta], i)?;
        theta.extend_from_slice(&x[self.n_theta..]);
        Some(theta)
    }
}

#[cfg(test)]
#[path = "stream_glmm_tests.rs"]
mod tests;
