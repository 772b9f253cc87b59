//! The inner problem: the modes û of the spherical random effects at one outer point, by
//! damped Newton steps on g(u) = -Σ ℓᵢ(ηᵢ) + ½‖u‖² over the linear mixed model's sparse
//! factor (symbolic analysis once, a numeric refactorization per step). The Hessian is
//! H = Λ'Z'WZΛ + I with wᵢ = -∂²ℓᵢ/∂ηᵢ² (the observed information); a step solves
//! H u_new = Λ'Z'(W(η - Xβ - offset) + ∂ℓ/∂η). Where W makes H indefinite (zero-inflated
//! zeros can have negative wᵢ), the step uses |wᵢ| instead, still a descent direction;
//! the log-determinant at the mode is always the exact observed Hessian's, and an error
//! says so when that is not positive definite.
//!
//! The Laplace objective is -log p(y | û) - log p(û) + ½ log|H(û)| (the (2π) constants of
//! the prior and of the approximation cancel): g(û) + ½ log|H(û)|.

use super::model::{LaplaceModel, Predictors};
use crate::data::ModelData;
use crate::error::{MerxError, Result};
use crate::pirls::add_random_part;

const MAX_ITERATIONS: usize = 200;
const MAX_HALVINGS: usize = 40;
/// Converged when a whole Newton step moves no mode by more than this (times 1 + max|u|):
/// convergence is quadratic, so the modes are then exact to rounding.
const STEP_TOLERANCE: f64 = 1e-11;

/// The Laplace objective and its pieces at one outer point.
#[derive(Clone, Debug)]
pub struct InnerSolution {
    /// -log L by the Laplace approximation.
    pub objective: f64,
    /// Σ ℓᵢ at the modes (log p(y | û)).
    pub loglik_conditional: f64,
    /// log|H(û)|.
    pub log_det: f64,
    pub u: Vec<f64>,
    /// The conditional linear predictor at the modes.
    pub eta: Vec<f64>,
    pub iterations: usize,
}

impl LaplaceModel {
    /// η = Xβ + offset + ZΛu.
    fn eta_at(&mut self, data: &ModelData, theta: &[f64], u: &[f64], fixed: &[f64]) -> Vec<f64> {
        let b = self.lmm.conditional_modes_at(theta, u);
        let mut eta = fixed.to_vec();
        add_random_part(data, &b, &mut eta);
        eta
    }

    /// g(u) with the rows' first and second derivatives.
    fn penalized(&self, eta: &[f64], u: &[f64], pred: &Predictors, d1: &mut [f64], d2: &mut [f64]) -> (f64, f64) {
        let mut ll = 0.0;
        for i in 0..eta.len() {
            let r = self.row(i, eta[i], pred);
            ll += r.value;
            d1[i] = r.first;
            d2[i] = r.second;
        }
        let uu: f64 = u.iter().map(|v| v * v).sum();
        (-ll + 0.5 * uu, ll)
    }

    /// The Laplace objective at θ and the fixed parts' predictors, from the start modes.
    pub fn laplace_at(&mut self, data: &ModelData, theta: &[f64], pred: &Predictors) -> Result<InnerSolution> {
        let n = self.y.len();
        self.refresh_constants(pred);
        let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
        let (mut t1, mut t2) = (vec![0.0; n], vec![0.0; n]);
        let mut u = self.u_start.clone();
        let mut eta = self.eta_at(data, theta, &u, &pred.fixed);
        let (mut g, mut ll) = self.penalized(&eta, &u, pred, &mut d1, &mut d2);
        if !g.is_finite() {
            u.fill(0.0);
            eta = self.eta_at(data, theta, &u, &pred.fixed);
            (g, ll) = self.penalized(&eta, &u, pred, &mut d1, &mut d2);
            if !g.is_finite() {
                return Err(MerxError::Numerical("the conditional log-likelihood is not finite at the random effects' zero".into()));
            }
        }
        let mut w = vec![0.0; n];
        let mut rhs = vec![0.0; n];
        let mut iterations = 0;
        // log|H| of the last step when its weights were the exact observed information.
        let mut last_exact_ld;
        loop {
            iterations += 1;
            let (u_new, exact_ld) = self.newton_target(data, theta, &eta, pred, &d1, &d2, &mut w, &mut rhs)?;
            last_exact_ld = exact_ld;
            let du: Vec<f64> = u_new.iter().zip(&u).map(|(a, b)| a - b).collect();
            let scale = 1.0 + u.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let step_max = du.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let mut t = 1.0;
            let mut halvings = 0;
            let accepted = loop {
                let u_try: Vec<f64> = u.iter().zip(&du).map(|(a, d)| a + t * d).collect();
                let eta_try = self.eta_at(data, theta, &u_try, &pred.fixed);
                let (g_try, ll_try) = self.penalized(&eta_try, &u_try, pred, &mut t1, &mut t2);
                if g_try.is_finite() && g_try <= g + 1e-14 * (1.0 + g.abs()) {
                    break Some((u_try, eta_try, g_try, ll_try));
                }
                if halvings == MAX_HALVINGS || t * step_max < 1e-14 * scale {
                    break None;
                }
                halvings += 1;
                t *= 0.5;
            };
            match accepted {
                Some((u_try, eta_try, g_try, ll_try)) => {
                    u = u_try;
                    eta = eta_try;
                    g = g_try;
                    ll = ll_try;
                    std::mem::swap(&mut d1, &mut t1);
                    std::mem::swap(&mut d2, &mut t2);
                    if t == 1.0 && step_max <= STEP_TOLERANCE * scale {
                        break;
                    }
                }
                // No lower point along a tiny step: the modes are exact to rounding.
                None if step_max <= 1e-7 * scale => {
                    last_exact_ld = None;
                    break;
                }
                None => {
                    return Err(MerxError::Numerical(format!(
                        "the Newton steps for the random effects' modes could not lower the penalized log-likelihood \
                         (iteration {iterations}, step {step_max:e})"
                    )))
                }
            }
            if iterations == MAX_ITERATIONS {
                return Err(MerxError::Numerical(format!(
                    "the random effects' modes did not converge in {MAX_ITERATIONS} Newton steps (last step {step_max:e})"
                )));
            }
        }
        // log|H| at the modes with the exact observed information: that of the last step's
        // factor when it had those weights (its point is within the step tolerance of û,
        // which moves log|H| by rounding only), else a factorisation at û.
        for i in 0..n {
            w[i] = -d2[i];
        }
        let fresh = match last_exact_ld {
            Some(ld) => Ok((ld, Vec::new())),
            None => self.lmm.modes_for_response(data, theta, &w, &w, false),
        };
        let log_det = match fresh {
            Ok((ld, _)) if ld.is_finite() => ld,
            _ => {
                return Err(MerxError::Numerical(
                    "the observed Hessian of the random effects at their modes is not positive definite: the Laplace \
                     approximation does not exist at these parameters"
                        .into(),
                ))
            }
        };
        if self.warm_start {
            self.u_start.copy_from_slice(&u);
        }
        Ok(InnerSolution { objective: g + 0.5 * log_det, loglik_conditional: ll, log_det, u, eta, iterations })
    }

    /// The modes of one Newton step's quadratic model: with the observed information (and
    /// then its log-determinant), or with |wᵢ| where that is not positive definite.
    #[allow(clippy::too_many_arguments)]
    fn newton_target(
        &mut self,
        data: &ModelData,
        theta: &[f64],
        eta: &[f64],
        pred: &Predictors,
        d1: &[f64],
        d2: &[f64],
        w: &mut [f64],
        rhs: &mut [f64],
    ) -> Result<(Vec<f64>, Option<f64>)> {
        let fill = |w: &mut [f64], rhs: &mut [f64], positive: bool| {
            for i in 0..eta.len() {
                w[i] = if positive { d2[i].abs().max(1e-12) } else { -d2[i] };
                rhs[i] = w[i] * (eta[i] - pred.fixed[i]) + d1[i];
            }
        };
        fill(w, rhs, false);
        let negative = w.iter().any(|v| *v < 0.0);
        if !negative {
            let (ld, u) = self.lmm.modes_for_response(data, theta, w, rhs, true)?;
            return Ok((u, Some(ld)));
        }
        if let Ok((ld, u)) = self.lmm.modes_for_response(data, theta, w, rhs, true) {
            if ld.is_finite() {
                return Ok((u, Some(ld)));
            }
        }
        fill(w, rhs, true);
        Ok((self.lmm.modes_for_response(data, theta, w, rhs, true)?.1, None))
    }
}
