//! Validated, borrowed views of the row-level data of a mixed model.
//!
//! Nothing here copies the data: the binding hands in views of the caller's arrays, the
//! cross-products are accumulated from them once, and the views are needed again only for
//! fitted values (and, for GLMMs, for each reweighting pass).

use crate::covariance::{CovarianceStructure, Unstructured};
use crate::error::{invalid, Result};
use faer::MatRef;
use std::sync::Arc;

/// One random-effects term `(lhs | group)`: the grouping factor's integer codes and the raw
/// model matrix of its left-hand side (n × k: k = 1 for `(1|g)`, 2 for `(1+x|g)`, ...).
#[derive(Clone, Debug)]
pub struct TermData<'a> {
    pub codes: &'a [i64],
    pub n_levels: usize,
    pub z: MatRef<'a, f64>,
    /// How the term's covariance depends on its parameters.
    pub covariance: Arc<dyn CovarianceStructure>,
}

impl<'a> TermData<'a> {
    /// A term with lme4's unstructured covariance.
    pub fn new(codes: &'a [i64], n_levels: usize, z: MatRef<'a, f64>) -> Self {
        TermData { codes, n_levels, z, covariance: Arc::new(Unstructured) }
    }

    pub fn with_covariance(mut self, covariance: Arc<dyn CovarianceStructure>) -> Self {
        self.covariance = covariance;
        self
    }

    pub fn k(&self) -> usize {
        self.z.ncols()
    }
}

/// The data of one model: X (n × p), y, the random-effects terms in lme4's order, and
/// optional prior weights and offset.
#[derive(Clone, Debug)]
pub struct ModelData<'a> {
    pub x: MatRef<'a, f64>,
    pub y: &'a [f64],
    pub terms: Vec<TermData<'a>>,
    pub weights: Option<&'a [f64]>,
    pub offset: Option<&'a [f64]>,
}

impl<'a> ModelData<'a> {
    pub fn n(&self) -> usize {
        self.y.len()
    }

    pub fn p(&self) -> usize {
        self.x.ncols()
    }

    pub fn offset_at(&self, i: usize) -> f64 {
        self.offset.map_or(0.0, |o| o[i])
    }

    /// Checks shapes, codes and values; the messages name the offending array and row.
    pub fn validate(&self) -> Result<()> {
        let n = self.n();
        if n == 0 {
            return invalid("the response has no observations");
        }
        if self.x.nrows() != n {
            return invalid(format!("X has {} rows but the response has {n}", self.x.nrows()));
        }
        if self.terms.is_empty() {
            return invalid("a linear mixed model needs at least one random-effects term");
        }
        if let Some(i) = self.y.iter().position(|v| !v.is_finite()) {
            return invalid(format!("the response has a non-finite value at row {i}"));
        }
        for j in 0..self.p() {
            for i in 0..n {
                if !self.x[(i, j)].is_finite() {
                    return invalid(format!("column {j} of X has a non-finite value at row {i}"));
                }
            }
        }
        if let Some(w) = self.weights {
            if w.len() != n {
                return invalid(format!("weights have length {} but there are {n} observations", w.len()));
            }
            if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
                return invalid(format!("weights must be finite and non-negative; row {i} has {}", w[i]));
            }
            if w.iter().all(|v| *v == 0.0) {
                return invalid("all weights are zero");
            }
        }
        if let Some(o) = self.offset {
            if o.len() != n {
                return invalid(format!("offset has length {} but there are {n} observations", o.len()));
            }
            if let Some(i) = o.iter().position(|v| !v.is_finite()) {
                return invalid(format!("the offset has a non-finite value at row {i}"));
            }
        }
        for (t, term) in self.terms.iter().enumerate() {
            if term.codes.len() != n {
                return invalid(format!(
                    "random-effects term {t}: {} grouping codes for {n} observations",
                    term.codes.len()
                ));
            }
            if term.z.nrows() != n {
                return invalid(format!("random-effects term {t}: Z has {} rows for {n} observations", term.z.nrows()));
            }
            if term.k() == 0 {
                return invalid(format!("random-effects term {t} has no columns"));
            }
            if term.n_levels == 0 {
                return invalid(format!("random-effects term {t} has a grouping factor with no levels"));
            }
            // Unused levels are allowed (they get zero columns), but memory grows with the
            // declared levels, so an absurd count is refused rather than allocated.
            if term.n_levels > 4 * n + 1024 {
                return invalid(format!(
                    "random-effects term {t} declares {} levels for {n} observations; \
                     a grouping factor has at most one used level per observation",
                    term.n_levels
                ));
            }
            if term.n_levels > u32::MAX as usize / term.k().max(1) {
                return invalid(format!("random-effects term {t} has too many levels"));
            }
            if let Some(i) = term
                .codes
                .iter()
                .position(|&c| c < 0 || c as usize >= term.n_levels)
            {
                return invalid(format!(
                    "random-effects term {t}: grouping code {} at row {i} is outside 0..{}",
                    term.codes[i], term.n_levels
                ));
            }
            for j in 0..term.k() {
                for i in 0..n {
                    if !term.z[(i, j)].is_finite() {
                        return invalid(format!(
                            "random-effects term {t}: column {j} has a non-finite value at row {i}"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
