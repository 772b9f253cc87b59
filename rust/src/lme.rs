//! nlme's `lme` with a variance function: the linear mixed model whose residual covariance
//! has parameters of its own, optimised jointly with θ.
//!
//! The parameter vector is (θ, log δ): θ the random effects' relative covariance
//! parameters, log δ the variance function's log-ratios ([`VarIdent`]). An evaluation
//! writes Σ_s w_s(δ) C_s into the model's cross-products (O(strata × stored entries), no
//! pass over the rows) and evaluates the profiled objective of [`crate::pls`] at θ, whose
//! Σ log w term makes it the likelihood of the weighted residuals (nlme's logLik).
//!
//! The optimiser is BOBYQA over both parts together (the objective's gradient in θ is
//! analytic, its gradient in log δ is not implemented, so the quasi-Newton method is not
//! offered here).

use crate::data::ModelData;
use crate::error::{invalid, Result};
use crate::fit::{estimates_at, FitOptions, MixedModelFit};
use crate::optimize::{minimize, Objective};
use crate::params::ParameterVector;
use crate::pls::{LinearMixedModel, PlsEvaluation};
use crate::residual::{ResidualCovariance, StratumCrossProducts, VarIdent};

/// A linear mixed model with nlme's `varIdent` residual variances.
pub struct VarIdentModel {
    pub lmm: LinearMixedModel,
    var_ident: VarIdent,
    strata: StratumCrossProducts,
    /// The data's prior weights (the row weights are these times the strata's).
    prior: Option<Vec<f64>>,
    /// The log-ratios whose weights are combined into `lmm`'s cross-products now.
    combined_at: Option<Vec<f64>>,
}

impl std::fmt::Debug for VarIdentModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VarIdentModel").field("lmm", &self.lmm).field("n_strata", &self.var_ident.n_strata()).finish()
    }
}

impl VarIdentModel {
    /// The symbolic analysis on the model's block pattern (prior weights only), then the
    /// per-stratum cross-products on it.
    pub fn new(data: &ModelData, var_ident: VarIdent, reml: bool) -> Result<Self> {
        if var_ident.n_rows() != data.n() {
            return invalid(format!("varIdent: {} stratum codes for {} observations", var_ident.n_rows(), data.n()));
        }
        let lmm = LinearMixedModel::new(data, reml)?;
        let strata = StratumCrossProducts::assemble(data, &var_ident, &lmm.cp)?;
        Ok(VarIdentModel { lmm, var_ident, strata, prior: data.weights.map(<[f64]>::to_vec), combined_at: None })
    }

    pub fn n_theta(&self) -> usize {
        self.lmm.n_theta()
    }

    /// Number of variance-function parameters (log-ratios).
    pub fn n_variance_params(&self) -> usize {
        self.var_ident.n_params()
    }

    /// θ then the log-ratios, with names, bounds (the log-ratios unbounded) and the start
    /// (lme4's θ start, every ratio 1).
    pub fn parameters(&self, names: Option<&[(String, Vec<String>)]>) -> Result<ParameterVector> {
        let base = self.lmm.parameters(names)?;
        let k = self.n_variance_params();
        let mut names_all = base.names;
        names_all.extend((1..=k).map(|s| format!("log_ratio_{s}")));
        let extend = |mut v: Vec<f64>, x: f64| {
            v.extend(std::iter::repeat(x).take(k));
            v
        };
        ParameterVector::new(
            names_all,
            extend(base.values, 0.0),
            extend(base.lower, f64::NEG_INFINITY),
            extend(base.upper, f64::INFINITY),
        )
    }

    /// Combines the strata's cross-products with the weights of these log-ratios (nothing
    /// to do when they are those in place).
    pub fn set_log_ratio(&mut self, log_ratio: &[f64]) -> Result<()> {
        if self.combined_at.as_deref() == Some(log_ratio) {
            return Ok(());
        }
        self.var_ident.set_log_ratio(log_ratio)?;
        self.strata.combine_into(&self.var_ident.stratum_weights(), &mut self.lmm.cp);
        self.lmm.invalidate();
        // The record of what is in place, in its own storage (no allocation per evaluation).
        let at = self.combined_at.get_or_insert_with(Vec::new);
        at.clear();
        at.extend_from_slice(log_ratio);
        Ok(())
    }

    /// The profiled objective at (θ, log δ).
    pub fn evaluate(&mut self, params: &[f64]) -> Result<PlsEvaluation> {
        let nt = self.n_theta();
        if params.len() != nt + self.n_variance_params() {
            return invalid(format!(
                "the parameter vector has length {} but the model has {} (theta) + {} (variance function)",
                params.len(),
                nt,
                self.n_variance_params()
            ));
        }
        self.set_log_ratio(&params[nt..])?;
        self.lmm.evaluate_if_needed(&params[..nt])
    }

    /// Optimises (θ, log δ) from the start (or `options.theta_start`, the whole vector) and
    /// returns the estimates at the optimum, with the log-ratios in `residual_parameters`.
    pub fn fit(&mut self, options: &FitOptions) -> Result<MixedModelFit> {
        let mut params = self.parameters(None)?;
        if let Some(start) = &options.theta_start {
            params.set_values(start, "start")?;
        }
        for &(i, value) in &options.fixed {
            params.fix(i, value)?;
        }
        self.evaluate(&params.values)?;
        let report = minimize(self, &params, &options.optimizer, false)?;
        self.estimates(&report.theta, options.skip_condvar).map(|mut fit| {
            fit.n_eval = report.n_eval;
            fit.converged = report.converged;
            fit.message = report.message;
            fit.optimizer = report.optimizer;
            fit
        })
    }

    /// The estimates at (θ, log δ) without optimising; the model's residual weights are
    /// those of δ afterwards (for the fitted values' weighted residual sum of squares).
    pub fn estimates(&mut self, params: &[f64], skip_condvar: bool) -> Result<MixedModelFit> {
        self.evaluate(params)?;
        let nt = self.n_theta();
        let weights = self.var_ident.precision_weights(self.var_ident.n_rows(), self.prior.as_deref())?.map(|w| w.into_owned());
        self.lmm.set_residual_weights(weights);
        let mut fit = estimates_at(&mut self.lmm, &params[..nt], skip_condvar)?;
        fit.residual_parameters = params[nt..].to_vec();
        Ok(fit)
    }
}

impl Objective for VarIdentModel {
    fn value(&mut self, params: &[f64]) -> f64 {
        self.evaluate(params).map(|e| e.objective).unwrap_or(f64::INFINITY)
    }

    /// Only BOBYQA runs on this objective; a gradient request gets +∞ (no step taken).
    fn value_and_gradient(&mut self, _params: &[f64], _gradient: &mut [f64]) -> f64 {
        f64::INFINITY
    }

    fn reflection(&self, params: &[f64], i: usize) -> Option<Vec<f64>> {
        let nt = self.n_theta();
        if i >= nt {
            return None;
        }
        let mut reflected = self.lmm.random_effects.reflection(&params[..nt], i)?;
        reflected.extend_from_slice(&params[nt..]);
        Some(reflected)
    }
}
