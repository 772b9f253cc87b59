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
//! The profiled ML deviance and REML criterion are the Gaussian family's
//! ([`crate::family::gaussian::profiled_objective`]); the weights W are the residual
//! covariance's precision weights ([`crate::residual`]); Λ(θ) comes from the terms'
//! covariance structures ([`crate::covariance`]). This module only combines them.
//!
//! Files: `mod.rs` (the model and the objective), `system.rs` (A(θ) and Λ'Z'W[X r] from the
//! cross-products), `estimates.rs` (β̂, û, b, vcov and conditional variances at θ).

mod estimates;
mod modes;
mod moment_start;
mod system;

use crate::covariance::RandomEffects;
use crate::crossprod::CrossProducts;
use crate::data::ModelData;
use crate::error::{MerxError, Result};
use crate::linalg::{small_cholesky_lower, BlockedCholesky, CholeskyFactor};
use crate::family::gaussian::{profiled_objective, ProfiledPieces};
use crate::params::ParameterVector;
use crate::residual::{Independent, ResidualCovariance};
use faer::{Accum, Mat, Par};
use std::borrow::Cow;
use std::sync::Arc;

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
pub struct LinearMixedModel {
    pub random_effects: RandomEffects,
    pub residual: Arc<dyn ResidualCovariance>,
    pub cp: CrossProducts,
    pub reml: bool,
    /// Refuse a response the fixed effects reproduce exactly (the Gaussian profiled likelihood
    /// has no σ there). A GLMM's PIRLS turns it off: its working response may be fitted
    /// exactly (a saturated design) and only the solution and log-determinants are used.
    pub refuse_exact_fit: bool,
    /// The residual covariance's precision weights when they are not the prior weights.
    own_weights: Option<Vec<f64>>,
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
    /// Whether the factor of A in place belongs to `theta` and the current Z'WZ (also after
    /// `modes_for_response`, which leaves no full evaluation).
    pub(crate) factor_in_place: bool,
    /// The gradient's work arrays, kept between calls.
    pub(crate) gradient_work: crate::gradient::GradientWork,
}

impl std::fmt::Debug for LinearMixedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinearMixedModel")
            .field("q", &self.random_effects.q)
            .field("n_theta", &self.random_effects.n_theta)
            .field("reml", &self.reml)
            .field("residual", &self.residual.name())
            .field("cholesky", &self.chol)
            .finish()
    }
}

impl LinearMixedModel {
    /// Assembles the cross-products and performs the symbolic analysis (independent
    /// residuals with the data's prior weights).
    pub fn new(data: &ModelData, reml: bool) -> Result<Self> {
        Self::with_residual(data, Arc::new(Independent), reml)
    }

    /// As [`new`](Self::new), with another residual covariance.
    pub fn with_residual(data: &ModelData, residual: Arc<dyn ResidualCovariance>, reml: bool) -> Result<Self> {
        let spec: Vec<_> = data.terms.iter().map(|t| (t.n_levels, t.k(), t.covariance.clone())).collect();
        let random_effects = RandomEffects::new(&spec);
        data.validate()?;
        let weights = residual.precision_weights(data.n(), data.weights)?;
        if let Some(w) = &weights {
            if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(MerxError::InvalidInput(format!(
                    "the residual weights must be finite and non-negative; row {i} has {}",
                    w[i]
                )));
            }
        }
        let phase = crate::timing::Phase::start("assembly");
        let cp = CrossProducts::assemble(data, weights.as_deref(), &random_effects)?;
        phase.finish();
        let own_weights = match weights {
            Some(Cow::Owned(w)) => Some(w),
            _ => None,
        };
        Self::from_parts(cp, random_effects, residual, own_weights, reml)
    }

    /// A model from cross-products accumulated elsewhere (batch by batch, see
    /// [`crate::stream_crossprod`]): independent residuals with the prior weights they were
    /// accumulated with; no row data is held.
    pub fn from_cross_products(cp: CrossProducts, random_effects: RandomEffects, reml: bool) -> Result<Self> {
        Self::from_parts(cp, random_effects, Arc::new(Independent), None, reml)
    }

    /// Takes cross-products of the same design and block pattern (another PIRLS pass over
    /// data read in batches, `crate::stream_glmm`), keeping the symbolic analysis; gives
    /// them back when the pattern differs (then a new model is needed).
    pub fn replace_cross_products(&mut self, cp: CrossProducts) -> std::result::Result<(), CrossProducts> {
        let same = cp.p == self.cp.p
            && cp.term_levels == self.cp.term_levels
            && cp.term_k == self.cp.term_k
            && cp.block_col_ptr == self.cp.block_col_ptr
            && cp.block_row == self.cp.block_row
            && cp.block_val == self.cp.block_val;
        if !same {
            return Err(cp);
        }
        self.cp = cp;
        self.invalidate();
        Ok(())
    }

    /// The symbolic analysis and workspace of a model with these cross-products.
    fn from_parts(
        cp: CrossProducts,
        random_effects: RandomEffects,
        residual: Arc<dyn ResidualCovariance>,
        own_weights: Option<Vec<f64>>,
        reml: bool,
    ) -> Result<Self> {
        let p = cp.p;
        if reml && cp.n_obs <= p {
            return Err(MerxError::InvalidInput(format!(
                "REML needs more observations with positive weight ({}) than fixed-effect columns ({p})",
                cp.n_obs
            )));
        }
        let q = random_effects.q;
        let _phase = crate::timing::Phase::start("symbolic-analysis");
        let (col_ptr, row_idx, block_row_off) = system::element_pattern(&cp, q);
        let nnz = row_idx.len();
        let (q1, k1) = random_effects.terms.first().map_or((0, 1), |t| (t.n_levels * t.k, t.k));
        let chol = BlockedCholesky::analyse(q, col_ptr, row_idx, q1, k1, p + 1).map_err(|e| match e {
            // Name where the block comes from: what the terms after the first leave behind.
            MerxError::InvalidInput(m) if m.contains(" of memory but ") => MerxError::InvalidInput(format!(
                "random-effects terms 2 to {} (those after the first, {} random effects) couple through the first \
                 term's levels: {m}",
                random_effects.terms.len(),
                q - q1
            )),
            other => other,
        })?;
        let template_off = random_effects.template_offsets();
        let max_k = random_effects.max_k();
        Ok(LinearMixedModel {
            templates: vec![0.0; *template_off.last().unwrap_or(&0)],
            template_off,
            block_row_off,
            a_values: vec![0.0; nnz],
            scaled: Mat::zeros(q, p + 1),
            solved: Mat::zeros(q, p + 1),
            s_factor: Mat::zeros(p + 1, p + 1),
            block_tmp: vec![0.0; max_k * max_k],
            theta: random_effects.start(),
            last_evaluation: None,
            factor_in_place: false,
            gradient_work: Default::default(),
            random_effects,
            residual,
            own_weights,
            cp,
            reml,
            refuse_exact_fit: true,
            chol,
        })
    }

    /// The precision weights of the residual covariance for these data (the model's own
    /// when its residual covariance made them, else the data's prior weights).
    pub fn residual_weights<'d>(&'d self, data: &'d ModelData) -> Option<&'d [f64]> {
        self.own_weights.as_deref().or(data.weights)
    }

    /// Takes these as the residual covariance's precision weights (a variance function's
    /// at its estimate; the cross-products are the caller's to match).
    pub(crate) fn set_residual_weights(&mut self, weights: Option<Vec<f64>>) {
        self.own_weights = weights;
    }

    /// Re-accumulates the cross-products with new observation weights and working response
    /// (the PIRLS step of a GLMM), in one O(n) pass into the existing block pattern: the
    /// symbolic analysis and all workspace are kept. `response = None` means y - offset.
    pub fn reweight(&mut self, data: &ModelData, weights: Option<&[f64]>, response: Option<&[f64]>) -> Result<()> {
        self.reweight_with(data, weights, response, true)
    }

    /// [`reweight`](Self::reweight) for a GLMM's PIRLS step: the working weights' Σ log w,
    /// which only the Gaussian profiled objective uses, is not computed.
    pub fn reweight_working(&mut self, data: &ModelData, weights: &[f64], response: &[f64]) -> Result<()> {
        self.reweight_with(data, Some(weights), Some(response), false)
    }

    fn reweight_with(&mut self, data: &ModelData, weights: Option<&[f64]>, response: Option<&[f64]>, log_weights: bool) -> Result<()> {
        let n = self.cp.n;
        if data.n() != n || data.p() != self.cp.p || data.terms.len() != self.random_effects.terms.len() {
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
        self.cp.accumulate_with(data, weights, response, log_weights);
        self.invalidate();
        Ok(())
    }

    /// Re-reads the response y - offset of `data` (a new response on the same design, e.g.
    /// a bootstrap replicate) with the model's residual weights.
    pub fn refresh_response(&mut self, data: &ModelData) -> Result<()> {
        let weights = self.own_weights.take();
        let result = self.reweight(data, weights.as_deref().or(data.weights), None);
        self.own_weights = weights;
        result
    }

    /// A new response y - offset on the same rows, weights and design (a bootstrap
    /// replicate): only the response's cross-products are recomputed, O(n); the symbolic
    /// analysis, Z'WZ and X'WX are kept.
    pub fn replace_response(&mut self, data: &ModelData) -> Result<()> {
        if data.n() != self.cp.n || data.p() != self.cp.p {
            return Err(MerxError::InvalidInput("a new response needs the rows the model was built from".into()));
        }
        if let Some(i) = data.y.iter().position(|v| !v.is_finite()) {
            return Err(MerxError::InvalidInput(format!("the response has a non-finite value at row {i}")));
        }
        let weights = self.own_weights.take();
        self.cp.replace_response(data, weights.as_deref().or(data.weights));
        self.own_weights = weights;
        self.invalidate();
        Ok(())
    }

    pub fn n_theta(&self) -> usize {
        self.random_effects.n_theta
    }

    pub fn q(&self) -> usize {
        self.random_effects.q
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

    /// θ with names (per term: grouping factor and column names, else defaults), bounds and
    /// no entry fixed, at lme4's start.
    pub fn parameters(&self, names: Option<&[(String, Vec<String>)]>) -> Result<ParameterVector> {
        let re = &self.random_effects;
        ParameterVector::new(re.param_names(names), re.start(), re.lower_bounds(), re.upper_bounds())
    }

    /// Template T_t of the last evaluated θ (column-major k × k).
    pub fn template(&self, t: usize) -> &[f64] {
        &self.templates[self.template_off[t]..self.template_off[t + 1]]
    }

    /// Evaluates the profiled objective at θ (and leaves the factorisation in place for
    /// [`solution`](Self::solution)).
    pub fn evaluate(&mut self, theta: &[f64]) -> Result<PlsEvaluation> {
        self.check_theta(theta)?;
        self.invalidate();
        self.theta.copy_from_slice(theta);
        self.update_system(theta);
        self.factorize_and_solve()
    }

    /// Forgets the evaluation in place (its factorisation or cross-products change).
    pub(crate) fn invalidate(&mut self) {
        self.last_evaluation = None;
        self.factor_in_place = false;
    }

    /// θ's length, finiteness and the covariance structures' domains.
    fn check_theta(&self, theta: &[f64]) -> Result<()> {
        if theta.len() != self.random_effects.n_theta {
            return Err(MerxError::InvalidInput(format!(
                "theta has length {} but the model has {} covariance parameters",
                theta.len(),
                self.random_effects.n_theta
            )));
        }
        if theta.iter().any(|v| !v.is_finite()) {
            return Err(MerxError::InvalidInput("theta has a non-finite value".into()));
        }
        if let Some(message) = self.random_effects.domain_error(theta) {
            return Err(MerxError::InvalidInput(message));
        }
        Ok(())
    }

    fn factorize_and_solve(&mut self) -> Result<PlsEvaluation> {
        self.chol.factorize(&self.a_values)?;
        self.factor_in_place = true;
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
        if self.refuse_exact_fit && (!(pwrss > (64.0 * f64::EPSILON).powi(2) * self.cp.response_ss) || !pwrss.is_finite()) {
            return Err(MerxError::Numerical(
                "the response is reproduced exactly by the fixed effects (the penalized residual sum \
                 of squares is 0): there is no residual variation for a mixed model to describe"
                    .into(),
            ));
        }
        let ld_rx2: f64 = (0..p).map(|i| 2.0 * self.s_factor[(i, i)].ln()).sum();
        let (deviance_ml, reml_criterion) = profiled_objective(&ProfiledPieces {
            ld_l2,
            ld_rx2,
            sum_log_w: self.cp.sum_log_w,
            pwrss,
            n: self.cp.n_obs,
            p,
        });
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::TermData;
    use crate::fit::{fit_lmm, FitOptions};
    use crate::residual::StratumWeights;
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
        let view = |weights: Option<&'static [f64]>| -> ModelData<'_> {
            ModelData {
                x: MatRef::from_column_major_slice(&x, n, 2),
                y: &y,
                terms: vec![
                    TermData::new(&g1, 6, MatRef::from_column_major_slice(&z1, n, 2)),
                    TermData::new(&g2, 5, MatRef::from_column_major_slice(&ones, n, 1)),
                ],
                weights,
                offset: None,
            }
        };
        let theta = [0.8, 0.1, 0.4, 0.6];
        let data = view(None);
        let mut model = LinearMixedModel::new(&data, true).unwrap();
        model.reweight(&data, Some(&w), Some(&resp)).unwrap();
        let reweighted = model.evaluate(&theta).unwrap();
        // A fresh model on the same weights and response.
        let w_static: &'static [f64] = Box::leak(w.clone().into_boxed_slice());
        let resp_y: Vec<f64> = resp.clone();
        let mut fresh_view = view(Some(w_static));
        fresh_view.y = &resp_y;
        let mut fresh = LinearMixedModel::new(&fresh_view, true).unwrap();
        let direct = fresh.evaluate(&theta).unwrap();
        assert!((reweighted.objective - direct.objective).abs() < 1e-9 * direct.objective.abs());
        assert!((reweighted.pwrss - direct.pwrss).abs() < 1e-9 * direct.pwrss);
        // Back to the prior weights: the original objective again.
        let mut original = LinearMixedModel::new(&data, true).unwrap();
        let before = original.evaluate(&theta).unwrap();
        model.reweight(&data, None, None).unwrap();
        let after = model.evaluate(&theta).unwrap();
        assert!((before.objective - after.objective).abs() < 1e-9 * before.objective.abs());
    }

    /// Weights given per stratum (a residual covariance type) fit exactly as the same
    /// weights given per row, and a new response keeps them.
    #[test]
    fn stratum_weights_equal_the_row_weights_they_expand_to() {
        let (x, y, g1, g2, z1, ones) = design();
        let n = y.len();
        let strata: Vec<i64> = (0..n).map(|i| (i % 3) as i64).collect();
        let per_stratum = vec![0.5, 2.0, 1.25];
        let prior: Vec<f64> = (0..n).map(|i| 1.0 + (i % 2) as f64).collect();
        let rows: Vec<f64> = (0..n).map(|i| per_stratum[strata[i] as usize] * prior[i]).collect();
        fn view<'a>(x: &'a [f64], y: &'a [f64], g: [&'a [i64]; 2], z: [&'a [f64]; 2], weights: &'a [f64]) -> ModelData<'a> {
            let n = y.len();
            ModelData {
                x: MatRef::from_column_major_slice(x, n, 2),
                y,
                terms: vec![
                    TermData::new(g[0], 6, MatRef::from_column_major_slice(z[0], n, 2)),
                    TermData::new(g[1], 5, MatRef::from_column_major_slice(z[1], n, 1)),
                ],
                weights: Some(weights),
                offset: None,
            }
        }
        let view = |w| view(&x, &y, [&g1, &g2], [&z1, &ones], w);
        let residual = Arc::new(StratumWeights::new(strata.clone(), per_stratum.clone()).unwrap());
        let mut by_stratum = LinearMixedModel::with_residual(&view(&prior), residual, true).unwrap();
        let mut by_row = LinearMixedModel::new(&view(&rows), true).unwrap();
        let a = fit_lmm(&mut by_stratum, &FitOptions::default()).unwrap();
        let b = fit_lmm(&mut by_row, &FitOptions::default()).unwrap();
        assert!((a.evaluation.objective - b.evaluation.objective).abs() < 1e-10 * b.evaluation.objective.abs());
        for (u, v) in a.theta.iter().zip(&b.theta).chain(a.beta.iter().zip(&b.beta)) {
            assert!((u - v).abs() < 1e-6, "{u} vs {v}");
        }
        by_stratum.refresh_response(&view(&prior)).unwrap();
        let again = by_stratum.evaluate(&b.theta).unwrap();
        assert!((again.objective - b.evaluation.objective).abs() < 1e-9 * b.evaluation.objective.abs());
        // Bad strata are named.
        let err = StratumWeights::new(vec![0, 3], vec![1.0, 2.0]).unwrap_err();
        assert!(err.to_string().contains("stratum code 3 at row 1"), "{err}");
        let err = StratumWeights::new(vec![0, 1], vec![1.0, -2.0]).unwrap_err();
        assert!(err.to_string().contains("stratum 1 has -2"), "{err}");
    }

    /// An intercept column lets the other columns enter centred: x near 10⁶ gives the slope
    /// and its standard error of the centred fit to 1e-9.
    #[test]
    fn columns_with_large_means_are_centred() {
        let (_, y, g1, _, _, ones) = design();
        let n = y.len();
        let z: Vec<f64> = (0..n).map(|i| ((i * 7) % 11) as f64 / 5.0 - 1.0).collect();
        let fit_with = |shift: f64| {
            let x: Vec<f64> = ones.iter().cloned().chain(z.iter().map(|v| v + shift)).collect();
            let data = ModelData {
                x: MatRef::from_column_major_slice(&x, n, 2),
                y: &y,
                terms: vec![TermData::new(&g1, 6, MatRef::from_column_major_slice(&ones, n, 1))],
                weights: None,
                offset: None,
            };
            let mut m = LinearMixedModel::new(&data, true).unwrap();
            fit_lmm(&mut m, &FitOptions::default()).unwrap()
        };
        let (a, b) = (fit_with(0.0), fit_with(1e6));
        let rel = |u: f64, v: f64| (u - v).abs() / v.abs();
        assert!(rel(b.beta[1], a.beta[1]) < 1e-9, "slope {} vs {}", b.beta[1], a.beta[1]);
        assert!(rel(b.vcov_beta[3].sqrt(), a.vcov_beta[3].sqrt()) < 1e-9);
        // The intercept maps back: β₀(shifted) = β₀ - 10⁶ β₁.
        assert!(rel(b.beta[0], a.beta[0] - 1e6 * a.beta[1]) < 1e-9);
        assert!((a.evaluation.objective - b.evaluation.objective).abs() < 1e-9 * a.evaluation.objective.abs());
    }

    /// A crossed design whose Schur complement (400 items) is stored dense: forming and
    /// factoring it on 1, 2 and 3 threads gives the same objective (the formation is the same
    /// to the bit; the factor's tiling follows the threads' column ranges, a few ulps).
    #[test]
    fn dense_schur_on_several_threads_gives_the_same_objective() {
        let (users, items, n) = (600usize, 400usize, 6000usize);
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        let g1: Vec<i64> = (0..n).map(|i| (i % users) as i64).collect();
        let g2: Vec<i64> = (0..n).map(|i| if i < items { i as i64 } else { (next() % items) as i64 }).collect();
        let x: Vec<f64> = (0..n).map(|_| 1.0).collect();
        let y: Vec<f64> = (0..n).map(|i| (g1[i] % 7) as f64 * 0.3 + (g2[i] % 5) as f64 * 0.2 + (next() % 100) as f64 / 50.0).collect();
        let ones = vec![1.0; n];
        let data = ModelData {
            x: MatRef::from_column_major_slice(&x, n, 1),
            y: &y,
            terms: vec![
                TermData::new(&g1, users, MatRef::from_column_major_slice(&ones, n, 1)),
                TermData::new(&g2, items, MatRef::from_column_major_slice(&ones, n, 1)),
            ],
            weights: None,
            offset: None,
        };
        let mut model = LinearMixedModel::new(&data, true).unwrap();
        assert!(model.cholesky().schur_is_dense());
        let theta = [0.7, 0.4];
        model.chol.set_schur_threads(1);
        let one = model.evaluate(&theta).unwrap().objective;
        for threads in [2, 3] {
            model.chol.set_schur_threads(threads);
            let many = model.evaluate(&theta).unwrap().objective;
            assert!((many - one).abs() <= 1e-12 * one.abs(), "{threads} threads: {many} vs {one}");
        }
    }
}
