//! Quantities at the last evaluated θ: β̂ and û, b = Λû, vcov(β̂)/σ² and the conditional
//! covariances of b (selected inverse of A).

use super::LinearMixedModel;
use crate::error::{MerxError, Result};
use crate::linalg::CholeskyFactor;
use faer::{Accum, Mat, Par};

impl LinearMixedModel {
    /// β̂ and û (unpermuted) at the last evaluated θ.
    pub fn solution(&mut self) -> Result<(Vec<f64>, Vec<f64>)> {
        let (mut beta, u) = self.solution_for_shifted_response()?;
        for (b, g) in beta.iter_mut().zip(&self.cp.response_shift) {
            *b += g;
        }
        self.cp.to_original_coefficients(&mut beta);
        Ok((beta, u))
    }

    /// β̂ for the response r - Xγ of the cross-products (β̂ - γ, for the centred columns of
    /// X) and û.
    pub(crate) fn solution_for_shifted_response(&mut self) -> Result<(Vec<f64>, Vec<f64>)> {
        if self.last_evaluation.is_none() {
            return Err(MerxError::Numerical("solution requested before a successful evaluation".into()));
        }
        let beta = self.internal_beta()?;
        let u = self.modes_for_internal_beta(&beta);
        Ok((beta, u))
    }

    /// β̂ - γ at the last evaluated θ (the coefficients of the shifted response).
    pub(crate) fn internal_beta(&self) -> Result<Vec<f64>> {
        if self.last_evaluation.is_none() {
            return Err(MerxError::Numerical("solution requested before a successful evaluation".into()));
        }
        let p = self.cp.p;
        // R_X β = c_β, with R_X = (leading block of S's factor)' and c_β its last row.
        let mut beta: Vec<f64> = (0..p).map(|j| self.s_factor[(p, j)]).collect();
        for i in (0..p).rev() {
            let mut acc = beta[i];
            for j in i + 1..p {
                acc -= self.s_factor[(j, i)] * beta[j];
            }
            beta[i] = acc / self.s_factor[(i, i)];
        }
        Ok(beta)
    }

    /// û for a given β (X's original coordinates) at the last evaluated θ: the penalized
    /// least-squares modes with β held (the PIRLS step of a GLMM's Laplace deviance in θ and β).
    pub fn modes_given_beta(&mut self, beta: &[f64]) -> Result<Vec<f64>> {
        if self.last_evaluation.is_none() {
            return Err(MerxError::Numerical("modes requested before a successful evaluation".into()));
        }
        if beta.len() != self.cp.p {
            return Err(MerxError::InvalidInput(format!("beta has length {} but X has {} columns", beta.len(), self.cp.p)));
        }
        let mut internal = beta.to_vec();
        self.cp.to_centred_coefficients(&mut internal);
        for (b, g) in internal.iter_mut().zip(&self.cp.response_shift) {
            *b -= g;
        }
        Ok(self.modes_for_internal_beta(&internal))
    }

    /// L' (P u) = c_u - R_ZX β for β in the cross-products' coordinates.
    fn modes_for_internal_beta(&mut self, beta: &[f64]) -> Vec<f64> {
        let q = self.random_effects.q;
        let (mut pu, mut u) = (Mat::<f64>::zeros(q, 1), vec![0.0; q]);
        self.modes_for_internal_beta_into(beta, &mut pu, &mut u);
        u
    }

    /// The same into `u` (q), with `work` (q rows, at least one column) for the solve.
    pub(crate) fn modes_for_internal_beta_into(&mut self, beta: &[f64], work: &mut Mat<f64>, u: &mut [f64]) {
        let p = self.cp.p;
        let q = self.random_effects.q;
        let mut pu = work.as_mut().subcols_mut(0, 1);
        for i in 0..q {
            let mut acc = self.solved[(i, p)];
            for j in 0..p {
                acc -= self.solved[(i, j)] * beta[j];
            }
            pu[(i, 0)] = acc;
        }
        self.chol.lt_solve_in_place(pu.as_mut());
        self.chol.unpermute_rows(pu.as_ref(), faer::MatMut::from_column_major_slice_mut(u, q, 1));
    }

    /// (R_X'R_X)⁻¹ (p × p, column-major): vcov(β̂) / σ².
    pub fn unscaled_vcov_beta(&self) -> Result<Vec<f64>> {
        let mut v = self.unscaled_vcov_centred()?;
        self.cp.to_original_covariance(&mut v);
        Ok(v)
    }

    /// The same for the coefficients of X's centred columns (the cross-products' own).
    pub(crate) fn unscaled_vcov_centred(&self) -> Result<Vec<f64>> {
        if self.last_evaluation.is_none() {
            return Err(MerxError::Numerical("vcov requested before a successful evaluation".into()));
        }
        let p = self.cp.p;
        let l = self.s_factor.as_ref().submatrix(0, 0, p, p);
        let mut linv = Mat::<f64>::identity(p, p);
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(l, linv.as_mut(), Par::Seq);
        let mut out = Mat::<f64>::zeros(p, p);
        faer::linalg::matmul::matmul(out.as_mut(), Accum::Replace, linv.transpose(), linv.as_ref(), 1.0, Par::Seq);
        Ok((0..p * p).map(|i| out[(i % p, i / p)]).collect())
    }

    /// Per term, per level: the k × k block of Λ A⁻¹ Λ' (column-major), i.e. the
    /// conditional covariance of b given y divided by σ².
    pub fn unscaled_condvar(&self) -> Result<Vec<Vec<f64>>> {
        if !self.factor_in_place {
            return Err(MerxError::Numerical("conditional variances requested before an evaluation".into()));
        }
        let inv = self.chol.selected_inverse()?;
        let mut out = Vec::with_capacity(self.random_effects.terms.len());
        for (t, layout) in self.random_effects.terms.iter().enumerate() {
            let k = layout.k;
            let tc = self.template(t);
            let mut v = vec![0.0; layout.n_levels * k * k];
            let mut blk = vec![0.0; k * k];
            let mut tmp = vec![0.0; k * k];
            for l in 0..layout.n_levels {
                let base = layout.u_offset + l * k;
                for a in 0..k {
                    for b in 0..k {
                        blk[a * k + b] = self.chol.inverse_entry(&inv, base + b, base + a)?;
                    }
                }
                // T blk T'
                for a in 0..k {
                    for b in 0..k {
                        tmp[a * k + b] = (0..k).map(|c| tc[c * k + b] * blk[a * k + c]).sum();
                    }
                }
                let dst = &mut v[l * k * k..(l + 1) * k * k];
                for a in 0..k {
                    for b in 0..k {
                        dst[a * k + b] = (0..k).map(|c| tmp[c * k + b] * tc[c * k + a]).sum();
                    }
                }
            }
            out.push(v);
        }
        Ok(out)
    }

    /// b = Λ(θ)u per term, for a θ other than the last evaluated one (the templates are set
    /// to θ's, so the factorisation in place no longer counts as evaluated).
    pub fn conditional_modes_at(&mut self, theta: &[f64], u: &[f64]) -> Vec<Vec<f64>> {
        self.random_effects.fill_templates(theta, &self.template_off, &mut self.templates);
        self.invalidate();
        self.conditional_modes(u)
    }

    /// b = Λ u, per term as level-major (L × k) rows.
    pub fn conditional_modes(&self, u: &[f64]) -> Vec<Vec<f64>> {
        let mut b = vec![0.0; u.len()];
        self.lambda_mul(u, &mut b);
        self.random_effects
            .terms
            .iter()
            .map(|t| b[t.u_offset..t.u_offset + t.n_levels * t.k].to_vec())
            .collect()
    }
}
