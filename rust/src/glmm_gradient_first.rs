//! The gradient of lme4's first-stage objective (`nAGQ = 0`): D₀(θ) = D(θ, β̂(θ)), the
//! Laplace deviance at the β that PIRLS finds together with the modes, for canonical links.
//!
//! dD₀/dθₖ = ∂D/∂θₖ + ∂D/∂β · dβ̂/dθₖ, with ∂D from `glmm_gradient` (û is the modes of β̂
//! too) and dβ̂/dθₖ by implicit differentiation of the profiled penalized deviance
//! P(β; θ) = min_u F(β, u; θ), whose minimum β̂ is: P_ββ dβ̂/dθₖ = -P_βθₖ with
//!   P_ββ = 2 X'(W - WZΛA⁻¹Λ'Z'W)X = 2 R_X'R_X,
//!   P_βθₖ = 2 X'W(ζₖ - ZΛA⁻¹vₖ),  ζₖ = Z ∂Λₖ û,  vₖ = Λ'Z'Wζₖ - ∂Λₖ'Z'r,
//! r = a(y - μ) the score (W is the observed information, a canonical link's PIRLS weights).
//! So dβ̂/dθₖ = -(R_X'R_X)⁻¹ X'W(ζₖ - ZΛA⁻¹vₖ): per θ entry an O(n) pass and two solves with
//! the factor in place.

use crate::data::ModelData;
use crate::error::{MerxError, Result};
use crate::pirls::GeneralizedLinearMixedModel;

impl GeneralizedLinearMixedModel {
    /// Whether [`first_stage_gradient`](Self::first_stage_gradient) applies: a canonical link
    /// with the analytic Laplace gradient.
    pub fn has_first_stage_gradient(&self) -> bool {
        self.family.canonical_link() && self.has_analytic_gradient()
    }

    /// dD₀/dθ at the state `laplace(data, θ, None)` left (its modes, β̂ and the full
    /// factorisation at the modes' weights).
    pub fn first_stage_gradient(&mut self, data: &ModelData, theta: &[f64]) -> Result<Vec<f64>> {
        if !self.has_first_stage_gradient() {
            return Err(MerxError::InvalidInput("the first stage's gradient needs a canonical link".into()));
        }
        if self.last_evaluation().is_none() || self.lmm.last_evaluation().is_none() {
            return Err(MerxError::Numerical("first-stage gradient requested before a successful evaluation".into()));
        }
        let n = data.n();
        let p = data.p();
        let re = self.lmm.random_effects.clone();
        let q = re.q;
        let nt = re.n_theta;
        let vcov = self.lmm.unscaled_vcov_beta()?;
        let w = self.working_weights().to_vec();
        let (y, prior, mu) = (self.response(), self.prior_weights(), &self.state.mu);
        let r: Vec<f64> = (0..n).map(|i| prior[i] * (y[i] - mu[i])).collect();
        let u = self.state.u.clone();
        let base_of = |i: usize, t: usize| re.terms[t].u_offset + data.terms[t].codes[i] as usize * re.terms[t].k;
        // Z'r per element of u.
        let mut ztr = vec![0.0; q];
        for (t, term) in re.terms.iter().enumerate() {
            for i in 0..n {
                let b = base_of(i, t);
                for a in 0..term.k {
                    ztr[b + a] += data.terms[t].z[(i, a)] * r[i];
                }
            }
        }
        let mut dbeta = vec![vec![0.0; p]; nt];
        let mut zeta = vec![0.0; n];
        let mut zwz = vec![0.0; q];
        let mut v = vec![0.0; q];
        let mut lam_a = vec![0.0; q];
        for (t, term) in re.terms.iter().enumerate() {
            let k = term.k;
            let mut jac = vec![0.0; term.n_theta * k * k];
            term.structure.template_jacobian(k, term.params(theta), &mut jac);
            for x in 0..term.n_theta {
                let dt = &jac[x * k * k..(x + 1) * k * k];
                // ζ = Z ∂Λ û (this term's columns only) and m = ∂Λ'Z'r.
                for (i, z) in zeta.iter_mut().enumerate() {
                    let b = base_of(i, t);
                    *z = (0..k).map(|a| data.terms[t].z[(i, a)] * (0..k).map(|c| dt[c * k + a] * u[b + c]).sum::<f64>()).sum();
                }
                // v = Λ'Z'Wζ - m.
                zwz.fill(0.0);
                for (s, other) in re.terms.iter().enumerate() {
                    for i in 0..n {
                        let b = base_of(i, s);
                        for a in 0..other.k {
                            zwz[b + a] += data.terms[s].z[(i, a)] * w[i] * zeta[i];
                        }
                    }
                }
                self.lmm.lambda_t_mul(&zwz, &mut v);
                for l in 0..term.n_levels {
                    let b = term.u_offset + l * k;
                    for c in 0..k {
                        v[b + c] -= (0..k).map(|a| dt[c * k + a] * ztr[b + a]).sum::<f64>();
                    }
                }
                // A⁻¹v through the factor, then Λ of it.
                let a_inv_v = self.lmm.a_solve(&v);
                self.lmm.lambda_mul(&a_inv_v, &mut lam_a);
                // X'W(ζ - ZΛA⁻¹v), then dβ̂/dθ = -(R_X'R_X)⁻¹ of it.
                let mut xg = vec![0.0; p];
                for i in 0..n {
                    let mut zl = 0.0;
                    for (s, other) in re.terms.iter().enumerate() {
                        let b = base_of(i, s);
                        zl += (0..other.k).map(|a| data.terms[s].z[(i, a)] * lam_a[b + a]).sum::<f64>();
                    }
                    let g = w[i] * (zeta[i] - zl);
                    for (j, acc) in xg.iter_mut().enumerate() {
                        *acc += data.x[(i, j)] * g;
                    }
                }
                let d = &mut dbeta[term.theta_offset + x];
                for (j, dj) in d.iter_mut().enumerate() {
                    *dj = -(0..p).map(|l| vcov[l * p + j] * xg[l]).sum::<f64>();
                }
            }
        }
        let full = self.laplace_gradient(data, theta)?;
        Ok((0..nt).map(|kk| full[kk] + (0..p).map(|j| full[nt + j] * dbeta[kk][j]).sum::<f64>()).collect())
    }
}
