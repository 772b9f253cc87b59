//! Penalized iteratively reweighted least squares and the Laplace approximation of a GLMM.
//!
//! At fixed θ (and, in the second stage, fixed β), PIRLS finds the conditional modes û that
//! minimise the penalized deviance Σ d(yᵢ, μᵢ) + ‖u‖², μ = g⁻¹(Xβ + ZΛu + offset). Each step
//! is one penalized weighted least-squares problem with working weights
//! wᵢ = aᵢ (dμ/dη)²/V(μ) and working response zᵢ = ηᵢ - offsetᵢ + (yᵢ - μᵢ)/(dμ/dη): the
//! linear mixed model's cross-products are re-accumulated with them in one O(n) pass
//! (`LinearMixedModel::reweight`), with no new symbolic analysis, and solved by the same
//! factorisation. A step that does not lower the penalized deviance is halved (up to twelve
//! times); a PIRLS that cannot lower it is an error that says so.
//!
//! The Laplace deviance (lme4's, `nAGQ = 1`) at the modes is
//!   -2 log p(y | μ̂) (with the family's constants) + ‖û‖² + log|L|²,
//! where L is the Cholesky factor of Λ'Z'WZΛ + I at the weights of the modes.

use crate::data::ModelData;
use crate::error::{MerxError, Result};
use crate::family::Family;
use crate::fit::fitted_values;
use crate::pls::LinearMixedModel;

const MAX_ITERATIONS: usize = 100;
const MAX_HALVINGS: usize = 12;
/// Relative change of the penalized deviance at which PIRLS has converged.
const TOLERANCE: f64 = 1e-12;

/// PIRLS's stopping and step-halving rules, shared by the in-memory loop here and the
/// streamed one (`stream_glmm`, each step a pass over the data).
pub(crate) mod rule {
    use super::{MAX_HALVINGS, MAX_ITERATIONS, TOLERANCE};
    use crate::error::{MerxError, Result};

    /// Started at the mode (a warm start from the same point), a step moves the penalized
    /// deviance by rounding only, either way: PIRLS has converged where it is (halving such
    /// a step would only fail).
    pub(crate) fn rounding_only(pdev: f64, pdev_new: f64) -> bool {
        pdev.is_finite() && pdev_new > pdev && pdev_new - pdev <= TOLERANCE * (0.1 + pdev.abs())
    }

    /// Whether the step must be halved (it did not lower the penalized deviance); an error
    /// once `halvings` have all been spent.
    pub(crate) fn must_halve(pdev: f64, pdev_new: f64, halvings: usize, iteration: usize) -> Result<bool> {
        if pdev_new <= pdev * (1.0 + 1e-14) || !pdev.is_finite() {
            return Ok(false);
        }
        if halvings == MAX_HALVINGS {
            return Err(MerxError::Numerical(format!(
                "PIRLS could not lower the penalized deviance ({pdev}) by step-halving at iteration \
                 {iteration}: the model may be separated or the link unsuited to the data"
            )));
        }
        Ok(true)
    }

    /// An error where a step (after its halvings) reached a non-finite penalized deviance.
    pub(crate) fn check_finite(pdev_new: f64) -> Result<()> {
        if pdev_new.is_finite() {
            Ok(())
        } else {
            Err(MerxError::Numerical("PIRLS reached a non-finite penalized deviance".into()))
        }
    }

    /// Whether a step of `change` to `pdev` ends PIRLS (an error after the last iteration).
    pub(crate) fn converged(pdev: f64, change: f64, iteration: usize) -> Result<bool> {
        if change <= TOLERANCE * (0.1 + pdev.abs()) {
            return Ok(true);
        }
        if iteration == MAX_ITERATIONS {
            return Err(MerxError::Numerical(format!(
                "PIRLS did not converge in {MAX_ITERATIONS} iterations (last change of the penalized deviance {change:e})"
            )));
        }
        Ok(false)
    }
}

/// The Laplace deviance and its pieces at one (θ, β).
#[derive(Clone, Debug, PartialEq)]
pub struct LaplaceEvaluation {
    /// -2 log-likelihood by the Laplace approximation.
    pub deviance: f64,
    /// Σ of the squared deviance residuals at the modes.
    pub deviance_residuals: f64,
    /// ‖û‖².
    pub ussq: f64,
    pub ld_l2: f64,
    pub ld_rx2: f64,
    pub iterations: usize,
}

/// A generalized linear mixed model: the linear mixed model's structure, re-weighted by
/// PIRLS, and the family.
pub struct GeneralizedLinearMixedModel {
    pub lmm: LinearMixedModel,
    pub family: Box<dyn Family>,
    y: Vec<f64>,
    /// Prior weights (for a binomial response: the trials times the prior weights).
    prior: Vec<f64>,
    offset: Vec<f64>,
    pub(crate) state: PirlsState,
    /// The state PIRLS starts from at each evaluation (the modes of the last optimum, or of μ's start).
    pub(crate) start: PirlsState,
    working_weights: Vec<f64>,
    working_response: Vec<f64>,
    last: Option<LaplaceEvaluation>,
    /// The family's -2 log p(y | μ = y) for its shape at the time, where -2 log p(y | μ)
    /// is it plus the deviance (exponential families without a dispersion).
    loglik_constant: Option<(Option<f64>, f64)>,
    /// lme4's starting linear predictor and its μ (`pirls_lme4`).
    pub(crate) lme4_start_mu: Option<(Vec<f64>, Vec<f64>)>,
    /// Each successful evaluation becomes the start of the next (while an optimiser walks:
    /// neighbouring points' modes are close, so PIRLS needs fewer steps; with quadratic
    /// convergence the value depends on the start only at PIRLS's tolerance). Off for finite
    /// differences, which need one function.
    pub warm_start: bool,
    /// log|L|² from the observed information at the modes (glmmTMB's Laplace) rather than
    /// the expected one (lme4's); they differ for non-canonical links only.
    pub observed_information: bool,
}

#[derive(Debug)]
pub(crate) struct PirlsState {
    pub eta: Vec<f64>,
    /// g⁻¹(η), kept with η so that each step evaluates the inverse link once per row.
    pub mu: Vec<f64>,
    pub beta: Vec<f64>,
    pub u: Vec<f64>,
    /// η is the link of the family's starting μ, not Xβ + ZΛu + offset: the first PIRLS
    /// step is taken whole (its weights come from that μ).
    pub from_mu_start: bool,
}

impl Clone for PirlsState {
    fn clone(&self) -> Self {
        PirlsState { eta: self.eta.clone(), mu: self.mu.clone(), beta: self.beta.clone(), u: self.u.clone(), from_mu_start: self.from_mu_start }
    }

    /// Field by field, so that each evaluation's reset to the start reuses the buffers.
    fn clone_from(&mut self, source: &Self) {
        self.eta.clone_from(&source.eta);
        self.mu.clone_from(&source.mu);
        self.beta.clone_from(&source.beta);
        self.u.clone_from(&source.u);
        self.from_mu_start = source.from_mu_start;
    }
}

impl std::fmt::Debug for GeneralizedLinearMixedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneralizedLinearMixedModel").field("family", &self.family).field("lmm", &self.lmm).finish()
    }
}

impl GeneralizedLinearMixedModel {
    /// `data.y` is the response (a proportion for a binomial family) and `data.weights` the
    /// prior weights (the trials times the prior weights for a binomial family).
    pub fn new(data: &ModelData, family: Box<dyn Family>) -> Result<Self> {
        data.validate()?;
        let n = data.n();
        let prior: Vec<f64> = (0..n).map(|i| data.weights.map_or(1.0, |w| w[i])).collect();
        family.check_response(data.y, &prior)?;
        let mut lmm = LinearMixedModel::new(data, false)?;
        lmm.refuse_exact_fit = false;
        let offset: Vec<f64> = (0..n).map(|i| data.offset_at(i)).collect();
        let link = family.link();
        let eta: Vec<f64> = (0..n).map(|i| link.link(family.mu_start(data.y[i], prior[i]))).collect();
        if let Some(i) = eta.iter().position(|v| !v.is_finite()) {
            return Err(MerxError::InvalidInput(format!(
                "the starting value of the linear predictor is not finite at row {i} (the {} link of μ = {})",
                link.name(),
                family.mu_start(data.y[i], prior[i])
            )));
        }
        let mu = eta.iter().map(|&e| link.inverse(e)).collect();
        let start = PirlsState { eta, mu, beta: vec![0.0; data.p()], u: vec![0.0; lmm.q()], from_mu_start: true };
        Ok(GeneralizedLinearMixedModel {
            family,
            y: data.y.to_vec(),
            prior,
            offset,
            state: start.clone(),
            start,
            working_weights: vec![0.0; n],
            working_response: vec![0.0; n],
            last: None,
            loglik_constant: None,
            lme4_start_mu: None,
            warm_start: false,
            observed_information: false,
            lmm,
        })
    }

    pub fn n_theta(&self) -> usize {
        self.lmm.n_theta()
    }

    pub fn p(&self) -> usize {
        self.lmm.p()
    }

    pub fn last_evaluation(&self) -> Option<&LaplaceEvaluation> {
        self.last.as_ref()
    }

    pub fn beta(&self) -> &[f64] {
        &self.state.beta
    }

    pub fn u(&self) -> &[f64] {
        &self.state.u
    }

    pub fn eta(&self) -> &[f64] {
        &self.state.eta
    }

    /// The response (a proportion for a binomial family).
    pub fn response(&self) -> &[f64] {
        &self.y
    }

    /// The prior weights (the trials for a binomial family).
    pub fn prior_weights(&self) -> &[f64] {
        &self.prior
    }

    /// The working weights of the last PIRLS step (at the modes, after `laplace`).
    pub fn working_weights(&self) -> &[f64] {
        &self.working_weights
    }

    /// μ at the current modes.
    pub fn mu(&self) -> Vec<f64> {
        self.state.mu.clone()
    }

    /// Makes the current state the one later evaluations start from.
    pub fn keep_state_as_start(&mut self) {
        self.start.clone_from(&self.state);
    }

    /// Forgets the last evaluation (its state is about to change).
    pub(crate) fn clear_last(&mut self) {
        self.last = None;
    }

    /// Re-accumulates the linear mixed model's cross-products with the working weights and
    /// response.
    pub(crate) fn reweight_working(&mut self, data: &ModelData) -> Result<()> {
        self.lmm.reweight_working(data, &self.working_weights, &self.working_response)
    }

    /// Σ d(yᵢ, μᵢ) + ‖u‖² at η, writing μ = g⁻¹(η) into `mu`.
    pub(crate) fn penalized_deviance(&self, eta: &[f64], u: &[f64], mu: &mut [f64]) -> f64 {
        self.family.mu_and_deviance(eta, &self.y, &self.prior, mu) + u.iter().map(|v| v * v).sum::<f64>()
    }

    /// Working weights and response at the current η.
    pub(crate) fn update_working(&mut self) {
        self.family.working(
            &self.state.eta,
            &self.state.mu,
            &self.y,
            &self.prior,
            &self.offset,
            &mut self.working_weights,
            &mut self.working_response,
        );
    }

    /// Runs PIRLS at θ from the start state: over β and u together when `beta` is None
    /// (lme4's nAGQ = 0), over u with β held otherwise; returns the Laplace deviance.
    ///
    /// With β held, each step needs only Z's cross-products (`LinearMixedModel::
    /// modes_for_response`) and Xβ + offset is formed once; X's cross-products are then
    /// stale until [`refresh_fixed_effects`](Self::refresh_fixed_effects).
    pub fn laplace(&mut self, data: &ModelData, theta: &[f64], beta: Option<&[f64]>) -> Result<LaplaceEvaluation> {
        self.last = None;
        self.state.clone_from(&self.start);
        // Xβ + offset with β held.
        let mut fixed_part = Vec::new();
        if let Some(b) = beta {
            if b.len() != self.p() {
                return Err(MerxError::InvalidInput(format!("beta has length {} but X has {} columns", b.len(), self.p())));
            }
            fixed_part = offset_plus_x_beta(data, b);
            if self.state.from_mu_start {
                // The start's η belongs to its own β: move it to the held one.
                let link = self.family.link();
                let old = offset_plus_x_beta(data, &self.state.beta);
                for i in 0..data.n() {
                    self.state.eta[i] += fixed_part[i] - old[i];
                    self.state.mu[i] = link.inverse(self.state.eta[i]);
                }
            }
            self.state.beta = b.to_vec();
        }
        let mut pdev = if self.state.from_mu_start {
            f64::INFINITY
        } else {
            // The start's modes under this θ (and β).
            let b = self.lmm.conditional_modes_at(theta, &self.state.u);
            self.state.eta = fitted_values(data, &self.state.beta, &b);
            let mut mu = std::mem::take(&mut self.state.mu);
            let pdev = self.penalized_deviance(&self.state.eta, &self.state.u, &mut mu);
            self.state.mu = mu;
            pdev
        };
        let mut iterations = 0;
        let mut mu_new = vec![0.0; data.n()];
        loop {
            iterations += 1;
            self.update_working();
            let (mut beta_new, mut u_new, mut eta_new) = match beta {
                None => {
                    self.reweight_working(data)?;
                    self.lmm.evaluate(theta)?;
                    let (beta_new, u_new) = self.lmm.solution()?;
                    let eta_new = fitted_values(data, &beta_new, &self.lmm.conditional_modes(&u_new));
                    (beta_new, u_new, eta_new)
                }
                Some(b) => {
                    let u_new = self.modes_with_beta_held(data, theta, &fixed_part)?.1;
                    let mut eta_new = fixed_part.clone();
                    add_random_part(data, &self.lmm.conditional_modes(&u_new), &mut eta_new);
                    (b.to_vec(), u_new, eta_new)
                }
            };
            let mut pdev_new = self.penalized_deviance(&eta_new, &u_new, &mut mu_new);
            if rule::rounding_only(pdev, pdev_new) {
                break;
            }
            let mut halvings = 0;
            while rule::must_halve(pdev, pdev_new, halvings, iterations)? {
                halvings += 1;
                for (new, old) in eta_new.iter_mut().zip(&self.state.eta) {
                    *new = 0.5 * (*new + old);
                }
                for (new, old) in u_new.iter_mut().zip(&self.state.u) {
                    *new = 0.5 * (*new + old);
                }
                for (new, old) in beta_new.iter_mut().zip(&self.state.beta) {
                    *new = 0.5 * (*new + old);
                }
                pdev_new = self.penalized_deviance(&eta_new, &u_new, &mut mu_new);
            }
            rule::check_finite(pdev_new)?;
            let change = (pdev - pdev_new).abs();
            std::mem::swap(&mut self.state.mu, &mut mu_new);
            self.state.eta = eta_new;
            self.state.beta = beta_new;
            self.state.u = u_new;
            self.state.from_mu_start = false;
            pdev = pdev_new;
            if rule::converged(pdev, change, iterations)? {
                break;
            }
        }
        if beta.is_some() && self.polishes_modes() {
            pdev = self.newton_polish(data, theta, &fixed_part, pdev)?;
        }
        // log|L|² of the Laplace approximation is that of the Hessian at the modes: the
        // weights of the final μ, not of the step before it (whose log|L|² differs at first
        // order in the last step, which would make the deviance rough at the 1e-9 level).
        self.update_working();
        if self.observed_information {
            for i in 0..self.y.len() {
                self.working_weights[i] = self.family.observed_weight(self.y[i], self.state.eta[i], self.prior[i]);
            }
        }
        let (ld_l2, ld_rx2) = match beta {
            None => {
                self.reweight_working(data)?;
                let evaluation = self.lmm.evaluate(theta)?;
                (evaluation.ld_l2, evaluation.ld_rx2)
            }
            Some(_) => (self.modes_with_beta_held(data, theta, &fixed_part)?.0, f64::NAN),
        };
        let ussq: f64 = self.state.u.iter().map(|v| v * v).sum();
        let dev_resid = pdev - ussq;
        let deviance = self.minus_twice_log_likelihood(dev_resid) + ussq + ld_l2;
        let out = LaplaceEvaluation { deviance, deviance_residuals: dev_resid, ussq, ld_l2, ld_rx2, iterations };
        self.last = Some(out.clone());
        if self.warm_start {
            self.start.clone_from(&self.state);
        }
        Ok(out)
    }

    /// log|L|² and the modes at the working weights, with β held (`fixed_part` = Xβ + offset).
    pub(crate) fn modes_with_beta_held(&mut self, data: &ModelData, theta: &[f64], fixed_part: &[f64]) -> Result<(f64, Vec<f64>)> {
        // The working response net of Xβ: η - Xβ - offset + (y - μ)/μ'(η).
        for ((r, f), o) in self.working_response.iter_mut().zip(fixed_part).zip(&self.offset) {
            *r -= f - o;
        }
        self.lmm.modes_for_response(data, theta, &self.working_weights, &self.working_response, false)
    }

    /// R_X and log|R_X|² at the current state's working weights (the full cross-products,
    /// which a β-held PIRLS leaves stale): for the conditional vcov of β.
    pub fn refresh_fixed_effects(&mut self, data: &ModelData, theta: &[f64]) -> Result<f64> {
        self.update_working();
        self.reweight_working(data)?;
        Ok(self.lmm.evaluate(theta)?.ld_rx2)
    }

    /// -2 log p(y | μ) at the state's μ, from the sum of the deviance residuals there and
    /// the family's constant (computed once), or directly where they do not split so.
    pub(crate) fn minus_twice_log_likelihood(&mut self, deviance_residuals: f64) -> f64 {
        let shape = self.family.shape();
        match self.loglik_constant {
            Some((s, c)) if s == shape => return deviance_residuals + c,
            _ => {}
        }
        match self.family.saturated_minus_twice_log_likelihood(&self.y, &self.prior) {
            Some(c) => {
                self.loglik_constant = Some((shape, c));
                deviance_residuals + c
            }
            None => self.family.minus_twice_log_likelihood(&self.y, &self.state.mu, &self.prior),
        }
    }
}

/// out += Zb (b per term, level-major).
pub(crate) fn add_random_part(data: &ModelData, b: &[Vec<f64>], out: &mut [f64]) {
    for (t, term) in data.terms.iter().enumerate() {
        let k = term.k();
        for (i, o) in out.iter_mut().enumerate() {
            let l = term.codes[i] as usize;
            *o += (0..k).map(|a| term.z[(i, a)] * b[t][l * k + a]).sum::<f64>();
        }
    }
}

/// offset + Xβ.
pub(crate) fn offset_plus_x_beta(data: &ModelData, beta: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = (0..data.n()).map(|i| data.offset_at(i)).collect();
    for (j, &bj) in beta.iter().enumerate() {
        for (i, o) in out.iter_mut().enumerate() {
            *o += data.x[(i, j)] * bj;
        }
    }
    out
}
