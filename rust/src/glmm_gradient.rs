//! Analytic gradient of the Laplace deviance in (θ, β), for the families without a dispersion
//! (binomial, Poisson) with any link.
//!
//! D(θ, β) = F(θ, β, û) + log|A|, F = -2 log p(y | μ(η)) + ‖u‖², η = Xβ + ZΛu + offset,
//! A = I + Λ'Z'WZΛ with lme4's (expected-information) weights W = a μ'²/V (a the prior
//! weights, μ' = dμ/dη), r = ∂log p/∂η = a (y - μ) μ'/V. PIRLS finds û with ∂F/∂u = 0; the
//! Hessian of F in u is 2A_obs, A_obs = I + Λ'Z'W_obs ZΛ with the observed information
//! W_obs = W - a (y - μ)(μ''/V - μ'²V'/V²) (= W for a canonical link, where μ' = V). With φ
//! one parameter:
//!   dD/dφ = ∂F/∂φ (envelope) + ∂log|A|/∂φ at fixed W + Σᵢ W'ᵢ hᵢ dηᵢ/dφ,
//! h the leverages diag(ZΛA⁻¹Λ'Z') and W' = dW/dη = a (2μ'μ''/V - μ'³V'/V²). With c = W'∘h,
//! v = A_obs⁻¹Λ'Z'c and s = c - 2r - W_obs∘(ZΛv), implicit differentiation of ∂F/∂u = 0
//! (A_obs dû = -Λ'Z'W_obs ∂η + ∂Λ'Z'r) gives
//!   dD/dβⱼ  = X'ⱼ s,
//!   dD/dθₖ  = s'Z ∂Λₖ û + v'∂Λₖ'Z'r + 2 tr(A⁻¹Λ'Z'WZ ∂Λₖ),
//! where the trace is the linear mixed model's (selected inverse on the pattern of A). For a
//! non-canonical link A_obs is a second numeric factorisation on the same pattern.

use crate::covariance::lower_triangle;
use crate::data::ModelData;
use crate::error::{MerxError, Result};
use crate::linalg::CholeskyFactor;
use crate::pirls::GeneralizedLinearMixedModel;

impl GeneralizedLinearMixedModel {
    /// Whether [`laplace_gradient`](Self::laplace_gradient) applies: a family without a
    /// dispersion that gives V'(μ), with lme4's expected-information log|A| (or a canonical
    /// link, where the observed information is the same).
    pub fn has_analytic_gradient(&self) -> bool {
        self.family.variance_derivative(0.5).is_some() && (self.family.canonical_link() || !self.observed_information)
    }

    /// The gradient of the Laplace deviance in (θ, β) at the state the last
    /// `laplace(data, θ, Some(β))` left (its modes and the factor at their weights).
    pub fn laplace_gradient(&mut self, data: &ModelData, theta: &[f64]) -> Result<Vec<f64>> {
        if !self.has_analytic_gradient() {
            return Err(MerxError::InvalidInput(format!(
                "the analytic gradient of the Laplace deviance is not available for the {} family with the {} link",
                self.family.name(),
                self.family.link().name()
            )));
        }
        if self.last_evaluation().is_none() {
            return Err(MerxError::Numerical("gradient requested before a successful Laplace evaluation".into()));
        }
        let n = data.n();
        let p = data.p();
        let re = self.lmm.random_effects.clone();
        let q = re.q;
        let mu = self.mu();
        let u = self.u().to_vec();
        let weights = self.working_weights().to_vec();
        let prior = self.prior_weights().to_vec();
        let y = self.response().to_vec();
        let link = self.family.link();
        let canonical = self.family.canonical_link();
        let eta = self.eta().to_vec();
        // Per row: r = ∂log p/∂η, W' = dW/dη and the observed information W_obs.
        let mut r = vec![0.0; n];
        let mut w_prime = vec![0.0; n];
        let mut w_obs = weights.clone();
        for i in 0..n {
            let v = self.family.variance(mu[i]);
            let dv = self.family.variance_derivative(mu[i]).unwrap_or(0.0);
            if canonical {
                r[i] = prior[i] * (y[i] - mu[i]);
                w_prime[i] = prior[i] * dv * v;
            } else {
                let d1 = link.mu_eta_at(eta[i], mu[i]);
                let d2 = link.mu_eta_derivative(eta[i]);
                r[i] = prior[i] * (y[i] - mu[i]) * d1 / v;
                w_prime[i] = prior[i] * (2.0 * d1 * d2 / v - d1 * d1 * d1 * dv / (v * v));
                w_obs[i] = weights[i] - prior[i] * (y[i] - mu[i]) * (d2 / v - d1 * d1 * dv / (v * v));
            }
        }

        // Rows of ZΛ: per row and term, Tₜ' zᵢₜ at the level's positions in u.
        let templates: Vec<Vec<f64>> = (0..re.terms.len()).map(|t| self.lmm.template(t).to_vec()).collect();
        let row_of = |i: usize, t: usize, out: &mut [f64]| {
            let term = &re.terms[t];
            let k = term.k;
            let tm = &templates[t];
            for a in 0..k {
                out[a] = (a..k).map(|b| tm[a * k + b] * data.terms[t].z[(i, b)]).sum();
            }
        };
        let base_of = |i: usize, t: usize| re.terms[t].u_offset + data.terms[t].codes[i] as usize * re.terms[t].k;

        // Leverages hᵢ = (ZΛ A⁻¹ Λ'Z')ᵢᵢ from the selected inverse (pairs of levels that
        // share a row are on the pattern of A).
        let inv = self.lmm.chol.selected_inverse()?;
        let max_k = re.max_k();
        let nt = re.terms.len();
        let mut zl = vec![vec![0.0; max_k]; nt];
        let mut c = vec![0.0; n];
        let mut g_u = vec![0.0; q];
        for i in 0..n {
            if prior[i] == 0.0 {
                continue;
            }
            for t in 0..nt {
                row_of(i, t, &mut zl[t]);
            }
            let mut h = 0.0;
            for t in 0..nt {
                let (bt, kt) = (base_of(i, t), re.terms[t].k);
                for s in 0..nt {
                    let (bs, ks) = (base_of(i, s), re.terms[s].k);
                    for a in 0..kt {
                        for b in 0..ks {
                            h += zl[t][a] * self.lmm.chol.inverse_entry(&inv, bt + a, bs + b)? * zl[s][b];
                        }
                    }
                }
            }
            c[i] = w_prime[i] * h;
            for t in 0..nt {
                let bt = base_of(i, t);
                for a in 0..re.terms[t].k {
                    g_u[bt + a] += c[i] * zl[t][a];
                }
            }
        }
        // The trace terms need A's factor and Z'WZ; then, for a non-canonical link, A_obs's
        // factor replaces them (the state keeps its modes but no longer its evaluation).
        let d = self.lmm.trace_blocks(&inv)?;
        if !canonical {
            self.lmm.factor_for_weights(data, theta, &w_obs)?;
            self.clear_last();
        }
        // v = A_obs⁻¹ g_u.
        let v = self.lmm.a_solve(&g_u);

        // s = c - 2r - W∘(ZΛv); Z's and Z'r per level.
        let mut s = vec![0.0; n];
        let mut zts = vec![0.0; q];
        let mut ztr = vec![0.0; q];
        for i in 0..n {
            let mut zlv = 0.0;
            for t in 0..nt {
                row_of(i, t, &mut zl[t]);
                let bt = base_of(i, t);
                zlv += (0..re.terms[t].k).map(|a| zl[t][a] * v[bt + a]).sum::<f64>();
            }
            s[i] = c[i] - 2.0 * r[i] - w_obs[i] * zlv;
            for t in 0..nt {
                let bt = base_of(i, t);
                for a in 0..re.terms[t].k {
                    let z = data.terms[t].z[(i, a)];
                    zts[bt + a] += z * s[i];
                    ztr[bt + a] += z * r[i];
                }
            }
        }
        let mut grad = vec![0.0; re.n_theta + p];
        for j in 0..p {
            grad[re.n_theta + j] = (0..n).map(|i| data.x[(i, j)] * s[i]).sum();
        }
        for (t, term) in re.terms.iter().enumerate() {
            let k = term.k;
            let m = term.n_theta;
            let mut jac = vec![0.0; m * k * k];
            term.structure.template_jacobian(k, term.params(theta), &mut jac);
            for (rr, cc) in lower_triangle(k) {
                if (0..m).all(|x| jac[x * k * k + cc * k + rr] == 0.0) {
                    continue;
                }
                let mut entry = 2.0 * d[t][rr * k + cc];
                for l in 0..term.n_levels {
                    let b = term.u_offset + l * k;
                    entry += zts[b + rr] * u[b + cc] + ztr[b + rr] * v[b + cc];
                }
                for x in 0..m {
                    grad[term.theta_offset + x] += jac[x * k * k + cc * k + rr] * entry;
                }
            }
        }
        Ok(grad)
    }
}
