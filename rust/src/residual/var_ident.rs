//! nlme's `varIdent`: one residual standard deviation per stratum of a factor,
//! Var(ε_i) = σ² δ²_{s(i)} with δ = 1 for the reference stratum (the first, as nlme), so the
//! precision weights are w_i = p_i / δ²_{s(i)} (p_i the prior weight, 1 without).
//!
//! The weights depend on the parameters only through one value per stratum, so every
//! weighted cross-product is a sum over strata of the stratum's own cross-products, computed
//! once and combined per evaluation ([`super::ClassCrossProducts`], with the stratum as the
//! class of a row).
//!
//! The parameters are the log-ratios log δ_s of the strata after the reference one (nlme's
//! unconstrained `coef(varStruct)`): unbounded, and the objective is smooth in them.

use super::{ResidualCovariance, VarianceFunction};
use crate::error::{invalid, Result};
use std::borrow::Cow;

/// Stratum codes of the rows and the log-ratios log δ_s (s ≥ 1) at which the weights are
/// taken; stratum 0 is the reference.
#[derive(Clone, Debug)]
pub struct VarIdent {
    strata: Vec<u32>,
    n_strata: usize,
    log_ratio: Vec<f64>,
}

impl VarIdent {
    /// Checks the codes (0..n_strata, n rows), at least two strata, and at least two rows
    /// with positive prior weight in every stratum: with one, δ_s → 0 fits that row exactly
    /// and the likelihood grows without bound.
    pub fn new(strata: &[i64], n_strata: usize, prior: Option<&[f64]>) -> Result<Self> {
        if n_strata < 2 {
            return invalid(format!(
                "varIdent needs a stratum variable with at least two levels; it has {n_strata}"
            ));
        }
        if let Some(i) = strata.iter().position(|&s| s < 0 || s as usize >= n_strata) {
            return invalid(format!("varIdent: stratum code {} at row {i} is outside 0..{n_strata}", strata[i]));
        }
        if let Some(p) = prior {
            if p.len() != strata.len() {
                return invalid(format!("varIdent: {} stratum codes for {} prior weights", strata.len(), p.len()));
            }
        }
        let mut counts = vec![0usize; n_strata];
        for (i, &s) in strata.iter().enumerate() {
            if prior.map_or(true, |p| p[i] > 0.0) {
                counts[s as usize] += 1;
            }
        }
        if let Some(s) = counts.iter().position(|&c| c < 2) {
            return invalid(format!(
                "varIdent: stratum {s} has {} observation(s); each stratum needs at least two to estimate its \
                 variance ratio",
                counts[s]
            ));
        }
        Ok(VarIdent {
            strata: strata.iter().map(|&s| s as u32).collect(),
            n_strata,
            log_ratio: vec![0.0; n_strata - 1],
        })
    }

    pub fn n_strata(&self) -> usize {
        self.n_strata
    }

    /// Number of parameters: one log-ratio per stratum after the reference.
    pub fn n_params(&self) -> usize {
        self.n_strata - 1
    }

    pub fn n_rows(&self) -> usize {
        self.strata.len()
    }

    pub fn log_ratio(&self) -> &[f64] {
        &self.log_ratio
    }

    /// Takes the weights at these log-ratios from now on.
    pub fn set_log_ratio(&mut self, log_ratio: &[f64]) -> Result<()> {
        if log_ratio.len() != self.n_params() {
            return invalid(format!(
                "varIdent has {} log-ratios; {} given",
                self.n_params(),
                log_ratio.len()
            ));
        }
        if let Some(v) = log_ratio.iter().find(|v| !v.is_finite()) {
            return invalid(format!("varIdent: a log-ratio is not finite ({v})"));
        }
        self.log_ratio.copy_from_slice(log_ratio);
        Ok(())
    }

    /// w_s = 1/δ_s² per stratum (1 for the reference).
    pub fn stratum_weights(&self) -> Vec<f64> {
        std::iter::once(1.0).chain(self.log_ratio.iter().map(|l| (-2.0 * l).exp())).collect()
    }
}

impl ResidualCovariance for VarIdent {
    fn name(&self) -> &'static str {
        "var_ident"
    }

    fn precision_weights<'a>(&self, n: usize, prior: Option<&'a [f64]>) -> Result<Option<Cow<'a, [f64]>>> {
        if self.strata.len() != n {
            return invalid(format!("varIdent: {} stratum codes for {n} observations", self.strata.len()));
        }
        let w = self.stratum_weights();
        let rows = self.strata.iter().enumerate().map(|(i, &s)| w[s as usize] * prior.map_or(1.0, |p| p[i]));
        Ok(Some(Cow::Owned(rows.collect())))
    }
}

impl VarianceFunction for VarIdent {
    fn name(&self) -> &'static str {
        "varIdent"
    }
    fn n_params(&self) -> usize {
        self.n_strata - 1
    }
    fn parameter_names(&self) -> Vec<String> {
        (1..self.n_strata).map(|s| format!("log_ratio_{s}")).collect()
    }
    fn start(&self) -> Vec<f64> {
        vec![0.0; self.n_strata - 1]
    }
    fn set_params(&mut self, params: &[f64]) -> Result<()> {
        self.set_log_ratio(params)
    }
    fn log_sd(&self, row: usize) -> f64 {
        self.stratum_log_sd(self.strata[row] as usize)
    }
    fn strata(&self) -> Option<(&[u32], usize)> {
        Some((&self.strata, self.n_strata))
    }
    fn stratum_log_sd(&self, stratum: usize) -> f64 {
        if stratum == 0 {
            0.0
        } else {
            self.log_ratio[stratum - 1]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_strata_are_named() {
        let err = VarIdent::new(&[0, 0, 0], 1, None).unwrap_err().to_string();
        assert!(err.contains("at least two levels; it has 1"), "{err}");
        let err = VarIdent::new(&[0, 0, 1, 2], 2, None).unwrap_err().to_string();
        assert!(err.contains("stratum code 2 at row 3"), "{err}");
        let err = VarIdent::new(&[0, 0, 1, 0], 2, None).unwrap_err().to_string();
        assert!(err.contains("stratum 1 has 1 observation(s)"), "{err}");
        let err = VarIdent::new(&[0, 0, 1, 1], 2, Some(&[1.0, 1.0, 1.0, 0.0])).unwrap_err().to_string();
        assert!(err.contains("stratum 1 has 1 observation(s)"), "{err}");
    }
}
