//! nlme's `lme` and `gls` with a residual structure (variance function × serial
//! correlation): the linear mixed model whose residual covariance has parameters of its
//! own, optimised jointly with θ.
//!
//! The parameter vector is (θ, the structure's parameters on nlme's unconstrained scale:
//! varIdent's log-ratios, varPower's power, varExp's expon, then the correlation's, e.g.
//! corAR1's log((1 + φ)/(1 − φ))). An evaluation writes the cross-products of the whitened
//! rows into the model's cross-products and evaluates the profiled objective of
//! [`crate::pls`] at θ; the whitening's log-determinant enters as Σ log w does for prior
//! weights, which makes the objective the Gaussian (restricted) likelihood with
//! V = σ²(ZΛΛ'Z' + S R S) (nlme's logLik).
//!
//! How the cross-products are obtained per evaluation ([`CrossProductPath`]):
//! - classes: when the rows fall into few classes of equal coefficients (a correlation with
//!   few distinct gaps, varIdent), the per-class cross-products are computed in one pass at
//!   construction and combined per evaluation, O(classes × stored entries);
//! - rows: otherwise (varPower/varExp, many distinct gaps) one pass over the rows per
//!   evaluation. The class path is taken when its combination costs fewer multiply-adds
//!   than [`ROW_PASS_COST`] per row of a pass (and its storage stays under
//!   [`MAX_CLASS_STORAGE`]).
//!
//! The optimiser is BOBYQA over both parts together (the objective's gradient in the
//! structure's parameters is not implemented).

use crate::data::ModelData;
use crate::error::{invalid, Result};
use crate::fit::{estimates_at, FitOptions, MixedModelFit};
use crate::optimize::{minimize, Objective};
use crate::params::ParameterVector;
use crate::pls::{LinearMixedModel, PlsEvaluation};
use crate::residual::{serial_basis_coefficients, serial_basis_starts, ClassCrossProducts, CrossProductValues, ResidualStructure, RowAccumulator, RowClasses, NO_PREVIOUS};

/// The class path is taken while its multiply-adds per evaluation (bases × stored values)
/// stay under this many per row and row width (p + 2 + Σk) of a row pass. Measured on 200,000
/// rows (20,000 groups, a random intercept, corCAR1 with 1 to 64 distinct gaps): a row pass
/// took 70 ns per row, a combination 1.4 ns per stored value and basis, equal at about 120
/// bases (40 gaps); 10 puts the switch at 125.
pub const ROW_PASS_COST: usize = 10;
/// The most values the per-class cross-products may hold (8 bytes each): 2^27, 1 GiB.
pub const MAX_CLASS_STORAGE: usize = 1 << 27;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PathChoice {
    ByCost,
    Classes,
    Rows,
}

/// How the whitened cross-products are formed per evaluation.
#[derive(Debug)]
pub enum CrossProductPath {
    /// Serial correlation and/or varIdent: per class (gap, strata) of rows S00, S11, D.
    Classes { classes: RowClasses, products: ClassCrossProducts, starts: Vec<usize>, class_coefficients: Vec<(f64, f64)>, basis_coefficients: Vec<f64>, sum_log_prior: f64 },
    /// Serial correlation and/or a variance function: one pass over the rows.
    Rows { rows: RowAccumulator, scratch: CrossProductValues },
    /// Compound symmetry alone: Σ u u' and, per group size m, Σ s_g s_g' of the groups' sums.
    GroupSizes { products: ClassCrossProducts, sizes: Vec<(usize, usize)>, coefficients: Vec<f64> },
    /// Compound symmetry with a variance function: one pass over the rows and the groups.
    GroupRows { rows: RowAccumulator, scratch: CrossProductValues },
}

/// A linear mixed model with an nlme residual structure.
pub struct ResidualStructureModel {
    pub lmm: LinearMixedModel,
    pub structure: ResidualStructure,
    path: CrossProductPath,
    /// The structure's parameters whose cross-products are in `lmm` now.
    combined_at: Option<Vec<f64>>,
}

impl std::fmt::Debug for ResidualStructureModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidualStructureModel").field("lmm", &self.lmm).field("structure", &self.structure).field("class_path", &self.uses_classes()).finish()
    }
}

impl ResidualStructureModel {
    /// The symbolic analysis on the model's block pattern (unit weights), then the per-class
    /// cross-products or the rows' copy for the row path. Prior weights are taken with a
    /// variance function alone (they scale its rows), not with a correlation.
    pub fn new(data: &ModelData, structure: ResidualStructure, reml: bool) -> Result<Self> {
        Self::build(data, structure, reml, PathChoice::ByCost)
    }

    /// As [`new`](Self::new) on the row path (one pass over the rows per evaluation), or on
    /// the class path whatever the cost when the structure has classes: for tests and
    /// measurements of the two against each other.
    pub fn with_path(data: &ModelData, structure: ResidualStructure, reml: bool, classes: bool) -> Result<Self> {
        Self::build(data, structure, reml, if classes { PathChoice::Classes } else { PathChoice::Rows })
    }

    fn build(data: &ModelData, structure: ResidualStructure, reml: bool, choice: PathChoice) -> Result<Self> {
        if structure.layout.n() != data.n() {
            return invalid(format!("the residual structure has {} rows for {} observations", structure.layout.n(), data.n()));
        }
        if (structure.correlation.is_some() || structure.exchangeable.is_some()) && data.weights.is_some() {
            return invalid("prior weights are not supported together with a correlation structure");
        }
        if let Some(w) = data.weights {
            if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
                return invalid(format!("the prior weights must be finite and non-negative; row {i} has {}", w[i]));
            }
        }
        let unweighted = ModelData { weights: None, ..data.clone() };
        let lmm = LinearMixedModel::new(&unweighted, reml)?;
        let mut rows = RowAccumulator::new(data, &lmm.cp);
        let row_pass = ROW_PASS_COST * data.n() * (lmm.cp.p + 2 + lmm.cp.term_k.iter().sum::<usize>());
        let by_cost = |n_bases: usize| {
            let cost = ClassCrossProducts::combination_cost(n_bases, &lmm.cp);
            match choice {
                PathChoice::ByCost => cost <= MAX_CLASS_STORAGE && cost <= row_pass,
                PathChoice::Classes => true,
                PathChoice::Rows => false,
            }
        };
        let path = if let Some(cs) = &structure.exchangeable {
            cs.check_nested(data)?;
            let mut sizes: Vec<usize> = cs.groups.iter().map(Vec::len).collect();
            sizes.sort_unstable();
            sizes.dedup();
            if structure.variance.is_none() && by_cost(1 + sizes.len()) {
                let mut bases: Vec<CrossProductValues> = (0..=sizes.len()).map(|_| CrossProductValues::zeros_like(&lmm.cp)).collect();
                for i in 0..data.n() {
                    rows.add(&lmm.cp, &mut bases[0], i, NO_PREVIOUS, 1.0, 0.0);
                }
                let mut counts = vec![0usize; sizes.len()];
                for g in &cs.groups {
                    let k = sizes.binary_search(&g.len()).unwrap_or(0);
                    counts[k] += 1;
                    rows.add_sum(&lmm.cp, &mut bases[1 + k], g, &|_| 1.0, 1.0);
                }
                for b in bases.iter_mut() {
                    rows.finish(&lmm.cp, b);
                }
                let products = ClassCrossProducts::from_bases(&bases);
                CrossProductPath::GroupSizes { coefficients: vec![0.0; products.n_bases()], products, sizes: sizes.into_iter().zip(counts).collect() }
            } else {
                CrossProductPath::GroupRows { scratch: CrossProductValues::zeros_like(&lmm.cp), rows }
            }
        } else {
            let classes = structure.classes().filter(|c| by_cost(serial_basis_starts(&c.lagged).1));
            match classes {
                Some(classes) => {
                    let prior = data.weights;
                    let scale = |i: usize| prior.map_or(1.0, |p| p[i].sqrt());
                    let products = ClassCrossProducts::assemble_serial(&mut rows, &lmm.cp, &structure.layout.previous, &classes.class_of, &classes.lagged, &scale);
                    let sum_log_prior = prior.map_or(0.0, |p| p.iter().filter(|w| **w > 0.0).map(|w| w.ln()).sum());
                    let (starts, n_bases) = serial_basis_starts(&classes.lagged);
                    let class_coefficients = vec![(0.0, 0.0); classes.count.len()];
                    CrossProductPath::Classes { classes, products, starts, class_coefficients, basis_coefficients: vec![0.0; n_bases], sum_log_prior }
                }
                None => CrossProductPath::Rows { scratch: CrossProductValues::zeros_like(&lmm.cp), rows },
            }
        };
        let mut lmm = lmm;
        // Rows with zero prior weight are not observations.
        lmm.cp.n_obs = data.weights.map_or(data.n(), |w| w.iter().filter(|v| **v > 0.0).count());
        if reml && lmm.cp.n_obs <= lmm.cp.p {
            return invalid(format!("REML needs more observations with positive weight ({}) than fixed-effect columns ({})", lmm.cp.n_obs, lmm.cp.p));
        }
        Ok(ResidualStructureModel { lmm, structure, path, combined_at: None })
    }

    /// Whether the cross-products are combined from per-class ones (else a row pass per
    /// evaluation).
    pub fn uses_classes(&self) -> bool {
        matches!(self.path, CrossProductPath::Classes { .. } | CrossProductPath::GroupSizes { .. })
    }

    /// The number of row classes (compound symmetry: group sizes) of the class path (None on
    /// the row path).
    pub fn n_classes(&self) -> Option<usize> {
        match &self.path {
            CrossProductPath::Classes { classes, .. } => Some(classes.count.len()),
            CrossProductPath::GroupSizes { sizes, .. } => Some(sizes.len()),
            CrossProductPath::Rows { .. } | CrossProductPath::GroupRows { .. } => None,
        }
    }

    pub fn n_theta(&self) -> usize {
        self.lmm.n_theta()
    }

    pub fn n_structure_params(&self) -> usize {
        self.structure.n_params()
    }

    /// θ then the structure's parameters, with names, bounds and the start (lme4's θ start,
    /// nlme's starts of the structure).
    pub fn parameters(&self, names: Option<&[(String, Vec<String>)]>) -> Result<ParameterVector> {
        let base = self.lmm.parameters(names)?;
        let (lo, hi) = self.structure.bounds();
        ParameterVector::new(
            [base.names, self.structure.parameter_names()].concat(),
            [base.values, self.structure.start()].concat(),
            [base.lower, lo].concat(),
            [base.upper, hi].concat(),
        )
    }

    /// Writes the whitened cross-products at these structure parameters into `lmm` (nothing
    /// to do when they are those in place).
    pub fn set_structure_params(&mut self, params: &[f64]) -> Result<()> {
        if self.combined_at.as_deref() == Some(params) {
            return Ok(());
        }
        self.structure.set_params(params)?;
        let s = &self.structure;
        let cp = &mut self.lmm.cp;
        let log_det = match &mut self.path {
            CrossProductPath::Classes { classes, products, starts, class_coefficients, basis_coefficients, sum_log_prior } => {
                let mut log_det = -*sum_log_prior;
                for (c, coef) in class_coefficients.iter_mut().enumerate() {
                    let (a, b, log_term) = s.row_coefficients(classes.representative[c]);
                    *coef = (a, b);
                    log_det += classes.count[c] as f64 * log_term;
                }
                serial_basis_coefficients(&classes.lagged, starts, class_coefficients, basis_coefficients);
                products.combine_into(basis_coefficients, cp);
                log_det
            }
            CrossProductPath::GroupSizes { products, sizes, coefficients } => {
                let Some(cs) = s.exchangeable.as_ref() else {
                    return invalid("a compound-symmetry path without compound symmetry");
                };
                let u = s.correlation_param();
                let mut log_det = 0.0;
                for (k, &(m, count)) in sizes.iter().enumerate() {
                    let (one_minus, c, log_term) = cs.terms(u, m);
                    coefficients[0] = 1.0 / one_minus;
                    coefficients[1 + k] = -c / one_minus;
                    log_det += count as f64 * log_term;
                }
                products.combine_into(coefficients, cp);
                log_det
            }
            CrossProductPath::GroupRows { rows, scratch } => {
                let Some(cs) = s.exchangeable.as_ref() else {
                    return invalid("a compound-symmetry path without compound symmetry");
                };
                let u = s.correlation_param();
                let inv_sd = |i: usize| (-s.log_sd(i)).exp();
                let (one_minus, _, _) = cs.terms(u, 1);
                scratch.clear();
                let mut log_det = 0.0;
                for i in 0..s.layout.n() {
                    rows.add(cp, scratch, i, NO_PREVIOUS, inv_sd(i) / one_minus.sqrt(), 0.0);
                    log_det += 2.0 * s.log_sd(i);
                }
                for g in &cs.groups {
                    let (_, c, log_term) = cs.terms(u, g.len());
                    rows.add_sum(cp, scratch, g, &inv_sd, -c / one_minus);
                    log_det += log_term;
                }
                rows.finish(cp, scratch);
                scratch.write_into(cp);
                log_det
            }
            CrossProductPath::Rows { rows, scratch } => {
                let mut log_det = 0.0;
                rows.accumulate(cp, scratch, &s.layout.previous, |i| {
                    let (a, b, log_term) = s.row_coefficients(i);
                    log_det += log_term;
                    (a, b)
                });
                scratch.write_into(cp);
                log_det
            }
        };
        if !log_det.is_finite() {
            return invalid(format!("the residual structure's log-determinant is not finite at {params:?}"));
        }
        cp.sum_log_w = -log_det;
        self.lmm.invalidate();
        let at = self.combined_at.get_or_insert_with(Vec::new);
        at.clear();
        at.extend_from_slice(params);
        Ok(())
    }

    /// The profiled objective at (θ, structure parameters).
    pub fn evaluate(&mut self, params: &[f64]) -> Result<PlsEvaluation> {
        let nt = self.n_theta();
        if params.len() != nt + self.n_structure_params() {
            return invalid(format!(
                "the parameter vector has length {} but the model has {} (theta) + {} (residual structure)",
                params.len(),
                nt,
                self.n_structure_params()
            ));
        }
        self.set_structure_params(&params[nt..])?;
        self.lmm.evaluate_if_needed(&params[..nt])
    }

    /// Optimises all parameters from the start (or `options.theta_start`, the whole
    /// vector; `options.fixed` holds entries) and returns the estimates at the optimum, with
    /// the structure's parameters in `residual_parameters`.
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

    /// The estimates at the parameters without optimising; the model's residual weights are
    /// the variance function's 1/s_i² afterwards (the fitted values' weighted residual sum
    /// of squares is the Pearson one).
    pub fn estimates(&mut self, params: &[f64], skip_condvar: bool) -> Result<MixedModelFit> {
        self.evaluate(params)?;
        let nt = self.n_theta();
        let weights = self.structure.variance.as_ref().map(|_| (0..self.structure.layout.n()).map(|i| (-2.0 * self.structure.log_sd(i)).exp()).collect());
        self.lmm.set_residual_weights(weights);
        let mut fit = estimates_at(&mut self.lmm, &params[..nt], skip_condvar)?;
        fit.residual_parameters = params[nt..].to_vec();
        Ok(fit)
    }

    /// nlme's normalized residuals at the structure parameters: the response residuals
    /// whitened by S R S and divided by σ.
    pub fn normalized_residuals(&mut self, structure_params: &[f64], residuals: &[f64], sigma: f64) -> Result<Vec<f64>> {
        self.structure.set_params(structure_params)?;
        self.combined_at = None;
        Ok(self.structure.whiten(residuals)?.into_iter().map(|v| v / sigma).collect())
    }
}

impl Objective for ResidualStructureModel {
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
