//! A residual structure: a variance function × a serial correlation, Var(ε) = σ²·S R S with
//! S = diag(s_i) and R block diagonal over the correlation groups. Its inverse factor is
//! lower bidiagonal (see `serial.rs`): the whitened row i is A_i·x_i − B_i·x_j, j the
//! previous row of i's group, A_i = a(d_i)/s_i and B_i = b(d_i)/s_j, and
//! log|S R S| = −2 Σ log A_i.
//!
//! Rows whose (A, B) are the same function of the parameters form a class: the gap (first
//! rows one class of their own) and, with a variance function that is constant per stratum,
//! the strata of i and j. [`ResidualStructure::classes`] numbers them when that is possible.
//!
//! Compound symmetry ([`CompoundSymmetry`]) takes the place of the serial correlation: its
//! R_g⁻¹ is not bidiagonal but a multiple of the identity less one of 11' per group.

use super::series::{SeriesLayout, NO_PREVIOUS};
use super::serial::{lag_coefficients, SerialCorrelation};
use super::{CompoundSymmetry, VarianceFunction};
use crate::error::{invalid, Result};
use std::collections::HashMap;

#[derive(Debug)]
pub struct ResidualStructure {
    pub variance: Option<Box<dyn VarianceFunction>>,
    pub correlation: Option<Box<dyn SerialCorrelation>>,
    /// nlme's corCompSymm (then `correlation` is None and `layout` independent rows).
    pub exchangeable: Option<CompoundSymmetry>,
    pub layout: SeriesLayout,
    /// The correlation's unconstrained parameter in place.
    correlation_param: f64,
    /// Per gap class at the parameter in place: (a, b, log(1 − ρ²)).
    gap_coefficients: Vec<(f64, f64, f64)>,
}

/// The rows' classes: per row its class, per class whether it has a predecessor and a
/// representative row (whose coefficients are the class's), and the rows per class.
#[derive(Clone, Debug)]
pub struct RowClasses {
    pub class_of: Vec<u32>,
    pub lagged: Vec<bool>,
    pub representative: Vec<usize>,
    pub count: Vec<usize>,
}

impl ResidualStructure {
    pub fn new(variance: Option<Box<dyn VarianceFunction>>, correlation: Option<Box<dyn SerialCorrelation>>, layout: SeriesLayout) -> Result<Self> {
        if variance.is_none() && correlation.is_none() {
            return invalid("a residual structure needs a variance function, a correlation structure or both");
        }
        let start = correlation.as_ref().map_or(0.0, |c| c.start());
        let mut out = ResidualStructure { variance, correlation, exchangeable: None, layout, correlation_param: f64::NAN, gap_coefficients: Vec::new() };
        out.set_correlation(start);
        Ok(out)
    }

    /// A variance function (or none) with compound symmetry over n rows.
    pub fn compound_symmetry(variance: Option<Box<dyn VarianceFunction>>, cs: CompoundSymmetry, n: usize) -> Self {
        let correlation_param = cs.start();
        ResidualStructure { variance, correlation: None, exchangeable: Some(cs), layout: SeriesLayout::independent(n), correlation_param, gap_coefficients: Vec::new() }
    }

    /// The correlation's unconstrained parameter in place.
    pub fn correlation_param(&self) -> f64 {
        self.correlation_param
    }

    fn has_correlation(&self) -> bool {
        self.correlation.is_some() || self.exchangeable.is_some()
    }

    pub fn n_variance_params(&self) -> usize {
        self.variance.as_ref().map_or(0, |v| v.n_params())
    }

    /// Variance-function parameters, then the correlation's.
    pub fn n_params(&self) -> usize {
        self.n_variance_params() + usize::from(self.has_correlation())
    }

    pub fn parameter_names(&self) -> Vec<String> {
        let mut names = self.variance.as_ref().map_or_else(Vec::new, |v| v.parameter_names());
        if let Some(c) = &self.correlation {
            names.push(format!("{}_unconstrained", c.parameter_name()));
        }
        if self.exchangeable.is_some() {
            names.push("Rho_unconstrained".into());
        }
        names
    }

    pub fn start(&self) -> Vec<f64> {
        let mut s = self.variance.as_ref().map_or_else(Vec::new, |v| v.start());
        s.extend(self.correlation.as_ref().map(|c| c.start()));
        s.extend(self.exchangeable.as_ref().map(|c| c.start()));
        s
    }

    /// (lower, upper): the variance functions' parameters unbounded, the correlation's inside
    /// its structure's bounds.
    pub fn bounds(&self) -> (Vec<f64>, Vec<f64>) {
        let k = self.n_variance_params();
        let (mut lo, mut hi) = (vec![f64::NEG_INFINITY; k], vec![f64::INFINITY; k]);
        if let Some((l, h)) = self.correlation.as_ref().map(|c| c.bounds()).or(self.exchangeable.as_ref().map(|c| c.bounds())) {
            lo.push(l);
            hi.push(h);
        }
        (lo, hi)
    }

    fn set_correlation(&mut self, u: f64) {
        self.correlation_param = u;
        self.gap_coefficients.clear();
        if let Some(c) = &self.correlation {
            let (decay, negative) = c.log_decay(u);
            self.gap_coefficients.extend(self.layout.gaps.iter().map(|&d| lag_coefficients(decay, negative, d)));
        }
    }

    /// Takes these parameters from now on.
    pub fn set_params(&mut self, params: &[f64]) -> Result<()> {
        if params.len() != self.n_params() {
            return invalid(format!("the residual structure has {} parameters; {} given", self.n_params(), params.len()));
        }
        let k = self.n_variance_params();
        if let Some(v) = &mut self.variance {
            v.set_params(&params[..k])?;
        }
        if self.has_correlation() {
            let u = params[k];
            let (lo, hi) = (self.bounds().0[k], self.bounds().1[k]);
            if !(u >= lo && u <= hi) {
                return invalid(format!("the correlation parameter {u} is outside its bounds [{lo}, {hi}]"));
            }
            if u != self.correlation_param {
                self.set_correlation(u);
            }
        }
        Ok(())
    }

    /// log s_i at the parameters in place (0 without a variance function).
    pub fn log_sd(&self, i: usize) -> f64 {
        self.variance.as_ref().map_or(0.0, |v| v.log_sd(i))
    }

    /// (A_i, B_i, the row's term of log|S R S| = log(1 − ρ²) + 2 log s_i).
    #[inline]
    pub fn row_coefficients(&self, i: usize) -> (f64, f64, f64) {
        let ls = self.log_sd(i);
        let j = self.layout.previous[i];
        if j == NO_PREVIOUS {
            return ((-ls).exp(), 0.0, 2.0 * ls);
        }
        let (a, b, log_term) = self.gap_coefficients[self.layout.gap_class[i] as usize];
        let lsj = self.log_sd(j as usize);
        (a * (-ls).exp(), b * (-lsj).exp(), log_term + 2.0 * ls)
    }

    /// The rows' classes, or None when the variance function changes continuously by row
    /// (or under compound symmetry, whose classes are group sizes: see `crate::lme`).
    pub fn classes(&self) -> Option<RowClasses> {
        if self.exchangeable.is_some() {
            return None;
        }
        let strata: Option<&[u32]> = match &self.variance {
            None => None,
            Some(v) => Some(v.strata()?.0),
        };
        let n = self.layout.n();
        let stratum = |i: usize| strata.map_or(0, |s| s[i]);
        let mut index: HashMap<(u32, u32, u32), u32> = HashMap::new();
        let mut recent = [((u32::MAX - 1, 0, 0), 0u32); 2];
        let mut out = RowClasses { class_of: vec![0; n], lagged: Vec::new(), representative: Vec::new(), count: Vec::new() };
        for i in 0..n {
            let j = self.layout.previous[i];
            let key = if j == NO_PREVIOUS { (u32::MAX, stratum(i), 0) } else { (self.layout.gap_class[i], stratum(i), stratum(j as usize)) };
            // Rows of a group alternate between few classes: look at the last two first.
            let c = match recent.iter().find(|(k, _)| *k == key) {
                Some(&(_, c)) => c,
                None => *index.entry(key).or_insert_with(|| {
                    out.lagged.push(j != NO_PREVIOUS);
                    out.representative.push(i);
                    out.count.push(0);
                    (out.count.len() - 1) as u32
                }),
            };
            recent[(i & 1) as usize] = (key, c);
            out.count[c as usize] += 1;
            out.class_of[i] = c;
        }
        Some(out)
    }

    /// The whitened values A_i·e_i − B_i·e_j of a vector over the rows (nlme's normalized
    /// residuals, of the response residuals divided by σ).
    pub fn whiten(&self, values: &[f64]) -> Result<Vec<f64>> {
        if values.len() != self.layout.n() {
            return invalid(format!("{} values for {} rows", values.len(), self.layout.n()));
        }
        if let Some(cs) = &self.exchangeable {
            let mut out: Vec<f64> = values.iter().enumerate().map(|(i, v)| v * (-self.log_sd(i)).exp()).collect();
            cs.whiten(self.correlation_param, &mut out);
            return Ok(out);
        }
        Ok((0..values.len())
            .map(|i| {
                let (a, b, _) = self.row_coefficients(i);
                let j = self.layout.previous[i];
                if j == NO_PREVIOUS {
                    a * values[i]
                } else {
                    a * values[i] - b * values[j as usize]
                }
            })
            .collect())
    }

    /// The natural value of the correlation parameter in place (nlme's `Phi`, `range`).
    pub fn correlation_natural(&self) -> Option<f64> {
        self.correlation.as_ref().map(|c| c.natural(self.correlation_param)).or(self.exchangeable.as_ref().map(|c| c.natural(self.correlation_param)))
    }
}
