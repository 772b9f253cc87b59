//! Penalized least squares and the profiled objective (Bates et al. 2015, §3).
//!
//! For a given θ, with A = Λ'Z'WZΛ + I = P'LL'P:
//!   L c_u = P Λ'Z'W r,  L R_ZX = P Λ'Z'W X,
//!   R_X'R_X = X'WX - R_ZX'R_ZX,  R_X'c_β = X'W r - R_ZX'c_u,
//!   r² (penalized weighted RSS) = r'W r - ‖c_u‖² - ‖c_β‖²,
//! where r = y - offset - Xγ, the response net of its weighted least-squares fit on X (see
//! `crossprod.rs`: it leaves the likelihood unchanged and spares r'Wr - ‖c‖² from
//! cancellation; β̂ is reported with γ added back). The three dense pieces come out of one
//! small Cholesky factor of
//! S = [X r]'W[X r] - [R_ZX c_u]'[R_ZX c_u]: its leading p × p block is R_X', its last row
//! holds c_β' and its last diagonal entry is √r².
//!
//! ML deviance:  log|L|² - Σlog w + n (1 + log(2π r²/n))
//! REML:         log|L|² - Σlog w + log|R_X|² + (n-p)(1 + log(2π r²/(n-p)))

use crate::crossprod::CrossProducts;
use crate::error::{MerxError, Result};
use crate::lambda::Lambda;
use crate::linalg::{small_cholesky_lower, BlockedCholesky, CholeskyFactor};
use crate::problem::DataView;
use faer::{Accum, Mat, Par};

const LOG_2PI: f64 = 1.8378770664093453;

/// Components of the profiled objective at one θ.
#[derive(Clone, Debug, PartialEq)]
pub struct PlsEvaluation {
    /// REML criterion or ML deviance, whichever the model was built for.
    pub objective: f64,
    /// ML deviance at this θ (with β and σ profiled by ML).
    pub deviance_ml: f64,
    /// REML criterion at this θ.
    pub reml_criterion: f64,
    pub ld_l2: f64,
    pub ld_rx2: f64,
    pub pwrss: f64,
}

/// A linear mixed model ready for repeated evaluation of its profiled objective.
pub struct LmmModel {
    pub lambda: Lambda,
    pub cp: CrossProducts,
    pub reml: bool,
    pub(crate) chol: BlockedCholesky,
    /// Per stored block of Z'WZ: offset of its rows inside each element column (off-diagonal
    /// blocks only; diagonal blocks sit at the top of their columns).
    pub(crate) block_row_off: Vec<usize>,
    pub(crate) a_values: Vec<f64>,
    pub(crate) templates: Vec<f64>,
    pub(crate) template_off: Vec<usize>,
    /// Λ'Z'W[X r] (unpermuted), then P·that solved by L: [R_ZX c_u] in permuted order.
    pub(crate) scaled: Mat<f64>,
    pub(crate) solved: Mat<f64>,
    /// Lower Cholesky factor of S ((p+1) × (p+1)).
    pub(crate) s_factor: Mat<f64>,
    pub(crate) block_tmp: Vec<f64>,
    pub(crate) theta: Vec<f64>,
    /// The evaluation at `theta`, while the factorisation in place belongs to it.
    last_evaluation: Option<PlsEvaluation>,
}

impl std::fmt::Debug for LmmModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LmmModel")
            .field("q", &self.lambda.q)
            .field("n_theta", &self.lambda.n_theta)
            .field("reml", &self.reml)
            .field("cholesky", &self.chol)
            .finish()
    }
}

impl LmmModel {
    /// Assembles the cross-products and performs the symbolic analysis.
    pub fn new(data: &DataView, reml: bool) -> Result<Self> {
        let spec: Vec<(usize, usize, bool)> =
            data.terms.iter().map(|t| (t.n_levels, t.k(), t.correlated)).collect();
        let lambda = Lambda::new(&spec);
        let cp = CrossProducts::assemble(data, &lambda)?;
        let p = cp.p;
        if reml && cp.n_obs <= p {
            return Err(MerxError::InvalidInput(format!(
                "REML needs more observations with positive weight ({}) than fixed-effect columns ({p})",
                cp.n_obs
            )));
        }
        let q = lambda.q;
        // Element-level lower pattern of A from the block pattern.
        let n_blocks = cp.block_term.len();
        let mut col_ptr = Vec::with_capacity(q + 1);
        let mut row_idx = Vec::new();
        let mut block_row_off = vec![0usize; cp.block_row.len()];
        col_ptr.push(0usize);
        for g in 0..n_blocks {
            let t = cp.block_term[g] as usize;
            let k = cp.term_k[t];
            let level = g - cp.term_block_base[t];
            let jbase = cp.term_u_offset[t] + level * k;
            let blocks = cp.block_col_ptr[g]..cp.block_col_ptr[g + 1];
            let mut off = 0;
            for s in blocks.clone().skip(1) {
                block_row_off[s] = off;
                off += cp.term_k[cp.block_term[cp.block_row[s] as usize] as usize];
            }
            for a in 0..k {
                for b in a..k {
                    row_idx.push(jbase + b);
                }
                for s in blocks.clone().skip(1) {
                    let br = cp.block_row[s] as usize;
                    let tr = cp.block_term[br] as usize;
                    let kr = cp.term_k[tr];
                    let rbase = cp.term_u_offset[tr] + (br - cp.term_block_base[tr]) * kr;
                    row_idx.extend(rbase..rbase + kr);
                }
                col_ptr.push(row_idx.len());
            }
        }
        let nnz = row_idx.len();
        let (q1, k1) = lambda.terms.first().map_or((0, 1), |t| (t.n_levels * t.k, t.k));
        let chol = BlockedCholesky::analyse(q, col_ptr, row_idx, q1, k1, p + 1)?;
        let template_off = lambda.template_offsets();
        let max_k = lambda.max_k();
        Ok(LmmModel {
            templates: vec![0.0; *template_off.last().unwrap_or(&0)],
            template_off,
            block_row_off,
            a_values: vec![0.0; nnz],
            scaled: Mat::zeros(q, p + 1),
            solved: Mat::zeros(q, p + 1),
            s_factor: Mat::zeros(p + 1, p + 1),
            block_tmp: vec![0.0; max_k * max_k],
            theta: lambda.start(),
            last_evaluation: None,
            lambda,
            cp,
            reml,
            chol,
        })
    }

    /// Re-accumulates the cross-products with new observation weights and working response
    /// (the PIRLS step of a GLMM), in one O(n) pass into the existing block pattern: the
    /// symbolic analysis and all workspace are kept. `response = None` means y - offset.
    pub fn reweight(&mut self, data: &DataView, weights: Option<&[f64]>, response: Option<&[f64]>) -> Result<()> {
        let n = self.cp.n;
        if data.n() != n || data.p() != self.cp.p || data.terms.len() != self.lambda.terms.len() {
            return Err(MerxError::InvalidInput("reweighting needs the data the model was built from".into()));
        }
        if let Some(w) = weights {
            if w.len() != n || w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(MerxError::InvalidInput("weights must be n finite non-negative values".into()));
            }
        }
        let n_obs = weights.map_or(n, |w| w.iter().filter(|v| **v > 0.0).count());
        if n_obs == 0 || (self.reml && n_obs <= self.cp.p) {
            return Err(MerxError::InvalidInput(format!(
                "{n_obs} observations with positive weight are too few for this model"
            )));
        }
        if let Some(r) = response {
            if r.len() != n || r.iter().any(|v| !v.is_finite()) {
                return Err(MerxError::InvalidInput("the working response must be n finite values".into()));
            }
        }
        self.cp.accumulate(data, weights, response);
        self.last_evaluation = None;
        Ok(())
    }

    pub fn n_theta(&self) -> usize {
        self.lambda.n_theta
    }

    pub fn q(&self) -> usize {
        self.lambda.q
    }

    pub fn p(&self) -> usize {
        self.cp.p
    }

    /// Rows of the data.
    pub fn n(&self) -> usize {
        self.cp.n
    }

    /// Observations of the likelihood: rows with positive weight.
    pub fn n_obs(&self) -> usize {
        self.cp.n_obs
    }

    pub fn cholesky(&self) -> &BlockedCholesky {
        &self.chol
    }

    pub fn theta(&self) -> &[f64] {
        &self.theta
    }

    /// Template T_t of the last evaluated θ (column-major k × k).
    pub fn template(&self, t: usize) -> &[f64] {
        &self.templates[self.template_off[t]..self.template_off[t + 1]]
    }

    /// Writes A(θ) = Λ'Z'WZΛ + I into `a_values` and Λ'Z'W[X r] into `scaled`.
    fn update_system(&mut self, theta: &[f64]) {
        self.lambda.fill_templates(theta, &self.template_off, &mut self.templates);
        let cp = &self.cp;
        let col_ptr = self.chol.col_ptr();
        for g in 0..cp.block_term.len() {
            let t = cp.block_term[g] as usize;
            let k = cp.term_k[t];
            let tc = &self.templates[self.template_off[t]..self.template_off[t + 1]];
            let level = g - cp.term_block_base[t];
            let jbase = cp.term_u_offset[t] + level * k;
            let first = cp.block_col_ptr[g];
            for s in first..cp.block_col_ptr[g + 1] {
                let br = cp.block_row[s] as usize;
                let tr = cp.block_term[br] as usize;
                let kr = cp.term_k[tr];
                let m = &cp.ztz[cp.block_val[s]..cp.block_val[s] + kr * k];
                if k == 1 && kr == 1 {
                    let v = self.templates[self.template_off[tr]] * m[0] * tc[0];
                    let dest = if s == first { col_ptr[jbase] } else { col_ptr[jbase] + 1 + self.block_row_off[s] };
                    self.a_values[dest] = if s == first { v + 1.0 } else { v };
                    continue;
                }
                let trm = &self.templates[self.template_off[tr]..self.template_off[tr + 1]];
                // tmp = M T (kr × k), T lower triangular
                let tmp = &mut self.block_tmp[..kr * k];
                for a in 0..k {
                    for b in 0..kr {
                        let mut acc = 0.0;
                        for c in a..k {
                            acc += m[c * kr + b] * tc[a * k + c];
                        }
                        tmp[a * kr + b] = acc;
                    }
                }
                // P = Tr' tmp; write the lower part (diagonal block) or all of it.
                for a in 0..k {
                    let (b0, dest0) = if s == first {
                        (a, col_ptr[jbase + a] - a)
                    } else {
                        (0, col_ptr[jbase + a] + (k - a) + self.block_row_off[s])
                    };
                    for b in b0..kr {
                        let mut acc = 0.0;
                        for d in b..kr {
                            acc += trm[b * kr + d] * tmp[a * kr + d];
                        }
                        if s == first && a == b {
                            acc += 1.0;
                        }
                        self.a_values[dest0 + b] = acc;
                    }
                }
            }
        }
        // Λ'Z'W[X r]: per level, T' times the level's k rows.
        let q = self.lambda.q;
        let pc = cp.p + 1;
        for (t, layout) in self.lambda.terms.iter().enumerate() {
            let k = layout.k;
            let tc = &self.templates[self.template_off[t]..self.template_off[t + 1]];
            for c in 0..pc {
                let src = &cp.ztxy[c * q..(c + 1) * q];
                for l in 0..layout.n_levels {
                    let base = layout.u_offset + l * k;
                    for a in 0..k {
                        let mut acc = 0.0;
                        for b in a..k {
                            acc += tc[a * k + b] * src[base + b];
                        }
                        self.scaled[(base + a, c)] = acc;
                    }
                }
            }
        }
    }

    /// Evaluates the profiled objective at θ (and leaves the factorisation in place for
    /// [`solution`](Self::solution)).
    pub fn evaluate(&mut self, theta: &[f64]) -> Result<PlsEvaluation> {
        if theta.len() != self.lambda.n_theta {
            return Err(MerxError::InvalidInput(format!(
                "theta has length {} but the model has {} covariance parameters",
                theta.len(),
                self.lambda.n_theta
            )));
        }
        if theta.iter().any(|v| !v.is_finite()) {
            return Err(MerxError::InvalidInput("theta has a non-finite value".into()));
        }
        self.last_evaluation = None;
        self.theta.copy_from_slice(theta);
        self.update_system(theta);
        self.chol.factorize(&self.a_values)?;
        let ld_l2 = self.chol.log_det();
        self.chol.permute_rows(self.scaled.as_ref(), self.solved.as_mut());
        self.chol.l_solve_in_place(self.solved.as_mut());
        let p = self.cp.p;
        let pc = p + 1;
        // S = [X r]'W[X r] - solved' solved
        for c in 0..pc {
            for r in 0..pc {
                self.s_factor[(r, c)] = self.cp.xtxy[c * pc + r];
            }
        }
        faer::linalg::matmul::matmul(
            self.s_factor.as_mut(),
            Accum::Add,
            self.solved.transpose(),
            self.solved.as_ref(),
            -1.0,
            Par::Seq,
        );
        // The first p pivots are R_X's; the last one (√r²) may underflow to 0 on an exact fit.
        small_cholesky_lower(self.s_factor.as_mut(), p, 0.0).map_err(|j| {
            MerxError::Numerical(format!(
                "the fixed-effects model matrix is rank deficient (pivot {j} of X'X is not positive)"
            ))
        })?;
        let pwrss = self.s_factor[(p, p)].powi(2);
        // At rounding level relative to the response's r'Wr (before the shift), the
        // response is reproduced exactly.
        if !(pwrss > (64.0 * f64::EPSILON).powi(2) * self.cp.response_ss) || !pwrss.is_finite() {
            return Err(MerxError::Numerical(
                "the response is reproduced exactly by the fixed effects (the penalized residual sum \
                 of squares is 0): there is no residual variation for a mixed model to describe"
                    .into(),
            ));
        }
        let ld_rx2: f64 = (0..p).map(|i| 2.0 * self.s_factor[(i, i)].ln()).sum();
        let n = self.cp.n_obs as f64;
        let nmp = n - p as f64;
        let deviance_ml = ld_l2 - self.cp.sum_log_w + n * (1.0 + LOG_2PI + (pwrss / n).ln());
        let reml_criterion = ld_l2 - self.cp.sum_log_w + ld_rx2 + nmp * (1.0 + LOG_2PI + (pwrss / nmp).ln());
        let evaluation = PlsEvaluation {
            objective: if self.reml { reml_criterion } else { deviance_ml },
            deviance_ml,
            reml_criterion,
            ld_l2,
            ld_rx2,
            pwrss,
        };
        self.last_evaluation = Some(evaluation.clone());
        Ok(evaluation)
    }

    /// The last successful evaluation, while its factorisation is in place.
    pub fn last_evaluation(&self) -> Option<&PlsEvaluation> {
        self.last_evaluation.as_ref()
    }

    /// Evaluates at θ unless the factorisation in place already belongs to it.
    pub fn evaluate_if_needed(&mut self, theta: &[f64]) -> Result<PlsEvaluation> {
        match &self.last_evaluation {
            Some(e) if self.theta == theta => Ok(e.clone()),
            _ => self.evaluate(theta),
        }
    }

    /// The objective for the optimiser: +∞ where the evaluation fails.
    pub fn objective(&mut self, theta: &[f64]) -> f64 {
        self.evaluate(theta).map(|e| e.objective).unwrap_or(f64::INFINITY)
    }

    /// β̂ and û (unpermuted) at the last evaluated θ.
    pub fn solution(&mut self) -> Result<(Vec<f64>, Vec<f64>)> {
        let (mut beta, u) = self.solution_for_shifted_response()?;
        for (b, g) in beta.iter_mut().zip(&self.cp.response_shift) {
            *b += g;
        }
        Ok((beta, u))
    }

    /// β̂ for the response r - Xγ of the cross-products (β̂ - γ) and û.
    pub(crate) fn solution_for_shifted_response(&mut self) -> Result<(Vec<f64>, Vec<f64>)> {
        if self.last_evaluation.is_none() {
            return Err(MerxError::Numerical("solution requested before a successful evaluation".into()));
        }
        let p = self.cp.p;
        let q = self.lambda.q;
        // R_X β = c_β, with R_X = (leading block of S's factor)' and c_β its last row.
        let mut beta: Vec<f64> = (0..p).map(|j| self.s_factor[(p, j)]).collect();
        for i in (0..p).rev() {
            let mut acc = beta[i];
            for j in i + 1..p {
                acc -= self.s_factor[(j, i)] * beta[j];
            }
            beta[i] = acc / self.s_factor[(i, i)];
        }
        // L' (P u) = c_u - R_ZX β
        let mut pu = Mat::<f64>::zeros(q, 1);
        for i in 0..q {
            let mut acc = self.solved[(i, p)];
            for j in 0..p {
                acc -= self.solved[(i, j)] * beta[j];
            }
            pu[(i, 0)] = acc;
        }
        self.chol.lt_solve_in_place(pu.as_mut());
        let mut u = Mat::<f64>::zeros(q, 1);
        self.chol.unpermute_rows(pu.as_ref(), u.as_mut());
        Ok((beta, (0..q).map(|i| u[(i, 0)]).collect()))
    }

    /// (R_X'R_X)⁻¹ (p × p, column-major): vcov(β̂) / σ².
    pub fn unscaled_vcov_beta(&self) -> Result<Vec<f64>> {
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
        if self.last_evaluation.is_none() {
            return Err(MerxError::Numerical("conditional variances requested before an evaluation".into()));
        }
        let inv = self.chol.selected_inverse()?;
        let mut out = Vec::with_capacity(self.lambda.terms.len());
        for (t, layout) in self.lambda.terms.iter().enumerate() {
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

    /// out = Λ x for a q-vector x (per level, the term's template times the level's k entries).
    pub(crate) fn lambda_mul(&self, x: &[f64], out: &mut [f64]) {
        for (t, layout) in self.lambda.terms.iter().enumerate() {
            let k = layout.k;
            let tc = self.template(t);
            for l in 0..layout.n_levels {
                let base = layout.u_offset + l * k;
                for r in 0..k {
                    out[base + r] = (0..=r).map(|c| tc[c * k + r] * x[base + c]).sum();
                }
            }
        }
    }

    /// b = Λ u, per term as level-major (L × k) rows.
    pub fn conditional_modes(&self, u: &[f64]) -> Vec<Vec<f64>> {
        let mut b = vec![0.0; u.len()];
        self.lambda_mul(u, &mut b);
        self.lambda
            .terms
            .iter()
            .map(|t| b[t.u_offset..t.u_offset + t.n_levels * t.k].to_vec())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::TermView;
    use faer::MatRef;

    /// A small crossed design with two terms (one with a random slope).
    fn design() -> (Vec<f64>, Vec<f64>, Vec<i64>, Vec<i64>, Vec<f64>, Vec<f64>) {
        let n = 40;
        let mut x = vec![0.0; 2 * n];
        let mut y = vec![0.0; n];
        let mut g1 = vec![0i64; n];
        let mut g2 = vec![0i64; n];
        let mut z1 = vec![0.0; 2 * n];
        let ones = vec![1.0; n];
        for i in 0..n {
            let xi = ((i * 7) % 11) as f64 / 5.0 - 1.0;
            x[i] = 1.0;
            x[n + i] = xi;
            g1[i] = (i % 6) as i64;
            g2[i] = ((i * 3) % 5) as i64;
            z1[i] = 1.0;
            z1[n + i] = xi;
            y[i] = 1.0 + 0.5 * xi + (g1[i] as f64 - 2.5) * 0.3 + ((g2[i] * g2[i]) as f64).sin() + ((i * 13) % 7) as f64 / 7.0;
        }
        (x, y, g1, g2, z1, ones)
    }

    #[test]
    fn reweighting_reuses_the_structure_and_matches_a_fresh_model() {
        let (x, y, g1, g2, z1, ones) = design();
        let n = y.len();
        let w: Vec<f64> = (0..n).map(|i| 0.5 + (i % 4) as f64 * 0.25).collect();
        let resp: Vec<f64> = y.iter().map(|v| v * 1.1 - 0.2).collect();
        let view = |weights: Option<&'static [f64]>| -> DataView<'_> {
            DataView {
                x: MatRef::from_column_major_slice(&x, n, 2),
                y: &y,
                terms: vec![
                    TermView { codes: &g1, n_levels: 6, z: MatRef::from_column_major_slice(&z1, n, 2), correlated: true },
                    TermView { codes: &g2, n_levels: 5, z: MatRef::from_column_major_slice(&ones, n, 1), correlated: true },
                ],
                weights,
                offset: None,
            }
        };
        let theta = [0.8, 0.1, 0.4, 0.6];
        let data = view(None);
        let mut model = LmmModel::new(&data, true).unwrap();
        model.reweight(&data, Some(&w), Some(&resp)).unwrap();
        let reweighted = model.evaluate(&theta).unwrap();
        // A fresh model on the same weights and response.
        let w_static: &'static [f64] = Box::leak(w.clone().into_boxed_slice());
        let resp_y: Vec<f64> = resp.clone();
        let mut fresh_view = view(Some(w_static));
        fresh_view.y = &resp_y;
        let mut fresh = LmmModel::new(&fresh_view, true).unwrap();
        let direct = fresh.evaluate(&theta).unwrap();
        assert!((reweighted.objective - direct.objective).abs() < 1e-9 * direct.objective.abs());
        assert!((reweighted.pwrss - direct.pwrss).abs() < 1e-9 * direct.pwrss);
        // Back to the prior weights: the original objective again.
        let mut original = LmmModel::new(&data, true).unwrap();
        let before = original.evaluate(&theta).unwrap();
        model.reweight(&data, None, None).unwrap();
        let after = model.evaluate(&theta).unwrap();
        assert!((before.objective - after.objective).abs() < 1e-9 * before.objective.abs());
    }
}
