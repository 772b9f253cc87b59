//! Newton steps on the conditional modes after PIRLS, for non-canonical links.
//!
//! PIRLS is Fisher scoring: with a non-canonical link its weights are the expected, not the
//! observed, information, and it converges linearly. Stopped by the change of the penalized
//! deviance, it leaves û about √tolerance from the mode, and log|L|², which is first-order
//! in û, carries that error into the Laplace deviance (~1e-5 on VerbAgg's probit model):
//! noise that stalls optimisers and swamps finite differences. Newton's method on
//! F(u) = -2 log p(y | μ(η)) + ‖u‖² with β held,
//!   u ← A_obs⁻¹ Λ'Z'(W_obs∘(ZΛu) + r),  A_obs = I + Λ'Z'W_obs ZΛ,
//! r = a (y - μ) μ'/V the score and W_obs = a μ'²/V - a (y - μ)(μ''/V - μ'²V'/V²) the
//! observed information, converges quadratically from there: a step or two make û exact to
//! rounding. The Laplace deviance keeps lme4's expected-information log|L|² at the modes.

use crate::data::ModelData;
use crate::error::Result;
use crate::pirls::{add_random_part, GeneralizedLinearMixedModel};

/// Newton steps at most.
const MAX_NEWTON_STEPS: usize = 4;

impl GeneralizedLinearMixedModel {
    /// Whether the modes get Newton steps after PIRLS (a non-canonical link of a family that
    /// gives V'(μ)).
    pub fn polishes_modes(&self) -> bool {
        !self.family.canonical_link() && self.family.variance_derivative(0.5).is_some()
    }

    /// Newton steps on û with β held (`fixed_part` = Xβ + offset) from the state PIRLS left,
    /// while they lower the penalized deviance `pdev`; returns the penalized deviance at the
    /// state then. A step that fails (A_obs not positive definite away from the mode, or no
    /// decrease) ends the polishing with the state as it was.
    pub(crate) fn newton_polish(&mut self, data: &ModelData, theta: &[f64], fixed_part: &[f64], mut pdev: f64) -> Result<f64> {
        let n = data.n();
        let link = self.family.link();
        let mut weights = vec![0.0; n];
        let mut rhs = vec![0.0; n];
        let mut mu_new = vec![0.0; n];
        for _ in 0..MAX_NEWTON_STEPS {
            let (y, prior) = (self.response(), self.prior_weights());
            for i in 0..n {
                let (eta, mu) = (self.state.eta[i], self.state.mu[i]);
                let d1 = link.mu_eta_at(eta, mu);
                let d2 = link.mu_eta_derivative(eta);
                let v = self.family.variance(mu);
                let dv = self.family.variance_derivative(mu).unwrap_or(0.0);
                let resid = prior[i] * (y[i] - mu);
                let w_obs = prior[i] * d1 * d1 / v - resid * (d2 / v - d1 * d1 * dv / (v * v));
                weights[i] = w_obs;
                rhs[i] = w_obs * (eta - fixed_part[i]) + resid * d1 / v;
            }
            let Ok((_, u_new)) = self.lmm.modes_for_response(data, theta, &weights, &rhs, true) else { break };
            let mut eta_new = fixed_part.to_vec();
            add_random_part(data, &self.lmm.conditional_modes(&u_new), &mut eta_new);
            let pdev_new = self.penalized_deviance(&eta_new, &u_new, &mut mu_new);
            if !(pdev_new <= pdev * (1.0 + 1e-14)) {
                break;
            }
            let scale = self.state.u.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            let step = u_new.iter().zip(&self.state.u).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            std::mem::swap(&mut self.state.mu, &mut mu_new);
            self.state.eta = eta_new;
            self.state.u = u_new;
            pdev = pdev_new;
            // The next step would be ~step²: below rounding.
            if step <= 1e-8 * scale {
                break;
            }
        }
        Ok(pdev)
    }
}
