//! Known weights per stratum: row i in stratum s(i) has precision weight v_{s(i)} (times its
//! prior weight), i.e. Var(ε_i) = σ²/v_{s(i)}. This is nlme's `varIdent` with its ratios
//! held fixed, or survey strata with known relative variances.

use super::ResidualCovariance;
use crate::error::{invalid, Result};
use std::borrow::Cow;

#[derive(Clone, Debug)]
pub struct StratumWeights {
    /// Stratum of each row, 0..weights.len().
    pub strata: Vec<i64>,
    /// Weight of each stratum: finite and positive.
    pub weights: Vec<f64>,
}

impl StratumWeights {
    pub fn new(strata: Vec<i64>, weights: Vec<f64>) -> Result<Self> {
        if weights.is_empty() {
            return invalid("stratum weights: no strata given");
        }
        if let Some(s) = weights.iter().position(|w| !(w.is_finite() && *w > 0.0)) {
            return invalid(format!("stratum weights must be finite and positive; stratum {s} has {}", weights[s]));
        }
        if let Some(i) = strata.iter().position(|&s| s < 0 || s as usize >= weights.len()) {
            return invalid(format!(
                "stratum weights: stratum code {} at row {i} is outside 0..{}",
                strata[i],
                weights.len()
            ));
        }
        Ok(StratumWeights { strata, weights })
    }
}

impl ResidualCovariance for StratumWeights {
    fn name(&self) -> &'static str {
        "stratum_weights"
    }

    fn precision_weights<'a>(&self, n: usize, prior: Option<&'a [f64]>) -> Result<Option<Cow<'a, [f64]>>> {
        if self.strata.len() != n {
            return invalid(format!("stratum weights: {} stratum codes for {n} observations", self.strata.len()));
        }
        let w = self
            .strata
            .iter()
            .enumerate()
            .map(|(i, &s)| self.weights[s as usize] * prior.map_or(1.0, |p| p[i]))
            .collect();
        Ok(Some(Cow::Owned(w)))
    }
}
