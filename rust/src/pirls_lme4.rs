//! lme4's own evaluation of the Laplace deviance, for the Hessian behind lme4's default
//! `vcov` of a GLMM.
//!
//! lme4's second-stage deviance function (`glmerLaplace`, `pwrssUpdate` with β held) does
//! not evaluate the Laplace approximation at the exact modes: each call starts PIRLS from
//! the linear predictor of the first stage's optimum (`lp0`, the `nAGQ = 0` fit), stops
//! when the penalized deviance changes by less than 1e-7 relative (`tolPwrss`), and takes
//! log|L|² from the last factorisation, whose weights are those of the iterate *before* the
//! last step. Near an optimum that is usually two iterations, so log|L|² belongs to μ one
//! Newton step from `lp0`. The value differs from the exact Laplace deviance by ~1e-4-1e-3
//! (cbpp: 5.7e-4 at lme4's optimum) and, what matters, its second derivatives differ by
//! 1-3%: lme4's standard errors are those of this function (cbpp's are 0.5-1.3% below the
//! exact Laplace Hessian's). Reproducing the evaluation reproduces lme4's `vcov`
//! (checked against lme4 1.1-31, whose deviance function this matches to 1e-12 on cbpp).
//!
//! merx's own optimum, logLik and convergence check use the exact Laplace deviance
//! (`pirls.rs`); only the Hessian for `vcov` is taken of this one.

use crate::data::ModelData;
use crate::error::{MerxError, Result};
use crate::pirls::{add_random_part, offset_plus_x_beta, GeneralizedLinearMixedModel, PirlsState};

/// lme4's `tolPwrss`: the relative change of the penalized deviance that ends PIRLS.
const LME4_TOLERANCE: f64 = 1e-7;
/// lme4's iteration limit in the second stage's PIRLS.
const LME4_MAX_ITERATIONS: usize = 30;
/// lme4's step-halving limit.
const LME4_MAX_HALVINGS: usize = 10;

impl GeneralizedLinearMixedModel {
    /// lme4's Laplace deviance at (θ, β) with PIRLS started from the linear predictor
    /// `eta0` (offset included): see the module's documentation. Leaves the state at the
    /// last iterate (not the exact modes): run [`laplace`](Self::laplace) afterwards.
    pub fn laplace_lme4(&mut self, data: &ModelData, theta: &[f64], beta: &[f64], eta0: &[f64]) -> Result<f64> {
        if beta.len() != self.p() || eta0.len() != data.n() {
            return Err(MerxError::InvalidInput("laplace_lme4: beta or the starting linear predictor has the wrong length".into()));
        }
        self.clear_last();
        // μ at lme4's start, the same for every evaluation of one Hessian: computed once.
        let mu = match &self.lme4_start_mu {
            Some((at, mu)) if at.as_slice() == eta0 => mu.clone(),
            _ => {
                let link = self.family.link();
                let mu: Vec<f64> = eta0.iter().map(|&e| link.inverse(e)).collect();
                self.lme4_start_mu = Some((eta0.to_vec(), mu.clone()));
                mu
            }
        };
        let q = self.lmm.q();
        self.state = PirlsState { eta: eta0.to_vec(), mu, beta: beta.to_vec(), u: vec![0.0; q], from_mu_start: true };
        let fixed_part = offset_plus_x_beta(data, beta);
        let mut old = f64::MAX;
        let mut mu_new = vec![0.0; data.n()];
        for _ in 0..LME4_MAX_ITERATIONS {
            self.update_working();
            let (ld_l2, mut u_new) = self.modes_with_beta_held(data, theta, &fixed_part)?;
            let mut eta_new = fixed_part.clone();
            add_random_part(data, &self.lmm.conditional_modes(&u_new), &mut eta_new);
            let mut pdev = self.penalized_deviance(&eta_new, &u_new, &mut mu_new);
            let converged = ((old - pdev) / pdev).abs() < LME4_TOLERANCE;
            if !converged && !(pdev <= old) {
                // lme4 halves the step towards the previous iterate.
                for _ in 0..LME4_MAX_HALVINGS {
                    if pdev <= old {
                        break;
                    }
                    for (new, prev) in eta_new.iter_mut().zip(&self.state.eta) {
                        *new = 0.5 * (*new + prev);
                    }
                    for (new, prev) in u_new.iter_mut().zip(&self.state.u) {
                        *new = 0.5 * (*new + prev);
                    }
                    pdev = self.penalized_deviance(&eta_new, &u_new, &mut mu_new);
                }
                if !(pdev.is_finite() && (pdev - old) / pdev <= LME4_TOLERANCE) {
                    return Err(MerxError::Numerical("PIRLS (lme4's evaluation) could not lower the penalized deviance".into()));
                }
            }
            self.state = PirlsState { eta: eta_new, mu: mu_new.clone(), beta: beta.to_vec(), u: u_new, from_mu_start: false };
            if converged {
                let ussq: f64 = self.state.u.iter().map(|v| v * v).sum();
                return Ok(self.minus_twice_log_likelihood(pdev - ussq) + ussq + ld_l2);
            }
            old = pdev;
        }
        Err(MerxError::Numerical(format!("PIRLS (lme4's evaluation) did not converge in {LME4_MAX_ITERATIONS} iterations")))
    }
}
