//! The penalized least-squares modes with β held, from Z's cross-products alone: the PIRLS
//! step of a GLMM's second stage. With r the working response net of Xβ (and the offset),
//!   A(θ) = Λ'Z'WZΛ + I = P'LL'P,  L L' (P u) = P Λ'Z'W r,
//! so neither X'WX nor Z'WX is needed: the step costs the Z part of the O(n) pass, one
//! numeric factorisation of A and two triangular solves, whatever the number of columns of X.

use super::LinearMixedModel;
use crate::data::ModelData;
use crate::error::Result;
use crate::linalg::CholeskyFactor;
use faer::Mat;

impl LinearMixedModel {
    /// Re-accumulates Z'WZ and Z'Wr with these weights and working response r (net of Xβ
    /// and the offset), factorises A(θ) and returns log|L|² and the modes û. With
    /// `weighted`, `response` is W r itself (a Newton step's right-hand side). X's
    /// cross-products are stale afterwards: the next [`evaluate`](Self::evaluate) needs a
    /// [`reweight`](Self::reweight) first.
    pub fn modes_for_response(
        &mut self,
        data: &ModelData,
        theta: &[f64],
        weights: &[f64],
        response: &[f64],
        weighted: bool,
    ) -> Result<(f64, Vec<f64>)> {
        self.factor_z(data, theta, weights, response, weighted)?;
        let ld_l2 = self.chol.log_det();
        let (p, q) = (self.cp.p, self.random_effects.q);
        let mut rhs = vec![0.0; q];
        self.lambda_t_mul(&self.cp.ztxy[p * q..(p + 1) * q], &mut rhs);
        Ok((ld_l2, self.a_solve(&rhs)))
    }

    /// Factorises A(θ) = I + Λ'Z'WZΛ for these weights alone (a second matrix on the same
    /// pattern, such as the observed information of a GLMM's modes); X's cross-products are
    /// stale afterwards, as after [`modes_for_response`](Self::modes_for_response).
    pub fn factor_for_weights(&mut self, data: &ModelData, theta: &[f64], weights: &[f64]) -> Result<()> {
        self.factor_z(data, theta, weights, weights, false)
    }

    /// Z's cross-products with these weights (and Z'Wr) and the factor of A(θ) from them.
    fn factor_z(&mut self, data: &ModelData, theta: &[f64], weights: &[f64], response: &[f64], weighted: bool) -> Result<()> {
        self.check_theta(theta)?;
        self.cp.accumulate_z_only(data, weights, response, weighted);
        self.invalidate();
        self.theta.copy_from_slice(theta);
        self.update_a(theta);
        self.chol.factorize(&self.a_values)?;
        self.factor_in_place = true;
        Ok(())
    }

    /// A⁻¹ x for a q-vector x, through the factor in place (x and the result unpermuted).
    pub(crate) fn a_solve(&mut self, x: &[f64]) -> Vec<f64> {
        let q = self.random_effects.q;
        let rhs = Mat::<f64>::from_fn(q, 1, |i, _| x[i]);
        let mut px = Mat::<f64>::zeros(q, 1);
        self.chol.permute_rows(rhs.as_ref(), px.as_mut());
        self.chol.l_solve_in_place(px.as_mut());
        self.chol.lt_solve_in_place(px.as_mut());
        let mut out = Mat::<f64>::zeros(q, 1);
        self.chol.unpermute_rows(px.as_ref(), out.as_mut());
        (0..q).map(|i| out[(i, 0)]).collect()
    }
}
