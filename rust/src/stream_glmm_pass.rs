//! One PIRLS pass of a GLMM over data read in batches (Parquet batches, Dask partitions).
//!
//! Given the current point of PIRLS ([`PassPoint`]: β over all columns of the full design,
//! b = Λu per term, or the family's starting μ), each batch computes per row
//! η = offset + Xβ + Zb, μ = g⁻¹(η), the deviance residuals and the family's working weights
//! w = a μ'²/V(μ) and working response z = η - offset + (y - μ)/μ' (the same `Family` code
//! as the in-memory PIRLS, `crate::pirls`), and adds the rows [X z] with weights w to a
//! [`CrossProductAccumulator`]. The pass's accumulators of disjoint rows merge by addition.
//! The client then has, for that point, the penalized deviance and the weighted
//! cross-products from which the next PIRLS step is a small penalized least-squares solve
//! (`crate::stream_glmm`).

use crate::error::{invalid, Result};
use crate::family::Family;
use crate::stream_crossprod::{Batch, CrossProductAccumulator};
use faer::MatRef;
use std::sync::Arc;

/// Where a pass evaluates the model.
#[derive(Clone, Debug)]
pub struct PassPoint {
    /// β over all columns of the full design (0 for aliased columns).
    pub beta: Vec<f64>,
    /// b = Λu per term, level-major (L × k).
    pub b: Vec<Vec<f64>>,
    /// η is the link of the family's starting μ (the first step of a fit), not Xβ + Zb.
    pub from_mu_start: bool,
}

/// One batch of a GLMM: X (all columns), the response (a proportion for a binomial family),
/// the prior weights (the trials for a binomial family), the offset, per term codes and Z.
pub struct GlmmBatch<'a> {
    pub x: MatRef<'a, f64>,
    pub y: &'a [f64],
    pub prior: Option<&'a [f64]>,
    pub offset: Option<&'a [f64]>,
    pub codes: Vec<&'a [i64]>,
    pub z: Vec<MatRef<'a, f64>>,
}

/// The mergeable result of one pass: the working cross-products and the deviance pieces.
#[derive(Clone, Debug)]
pub struct GlmmPassAccumulator {
    pub family: Arc<dyn Family>,
    pub cross: CrossProductAccumulator,
    /// Σ d(yᵢ, μᵢ) at the pass's point.
    pub deviance: f64,
    /// Σ -2 log p(yᵢ | μᵢ = yᵢ), the family's constant of the log-likelihood.
    pub saturated: f64,
    /// Rows whose working weight or response is not finite (η overflowed): such a pass can
    /// still be rejected by step halving, but not be solved.
    pub bad_rows: usize,
}

impl GlmmPassAccumulator {
    /// `terms`: (levels, columns) per random-effects term; `x_centre`: the pilot centre of
    /// X's columns (see `stream_crossprod`; the exact centring is applied when finished).
    pub fn new(family: Arc<dyn Family>, p: usize, terms: &[(usize, usize)], x_centre: Vec<f64>) -> Result<Self> {
        if family.saturated_minus_twice_log_likelihood(&[], &[]).is_none() {
            return invalid(format!(
                "the {} family's log-likelihood does not split into a sum over rows plus the deviance, which a pass needs",
                family.name()
            ));
        }
        let cross = CrossProductAccumulator::new(p, terms, x_centre, vec![0.0; p])?;
        Ok(GlmmPassAccumulator { family, cross, deviance: 0.0, saturated: 0.0, bad_rows: 0 })
    }

    fn check(&self, b: &GlmmBatch, point: &PassPoint) -> Result<()> {
        let n = b.y.len();
        let (p, nt) = (self.cross.p, self.cross.term_k.len());
        if b.x.nrows() != n || b.x.ncols() != p {
            return invalid(format!("X is {} × {} for {n} rows and {p} columns", b.x.nrows(), b.x.ncols()));
        }
        if point.beta.len() != p || point.b.len() != nt {
            return invalid(format!("the pass point has {} coefficients and {} terms for {p} and {nt}", point.beta.len(), point.b.len()));
        }
        for (name, v) in [("prior weights", b.prior), ("offset", b.offset)] {
            if let Some(v) = v {
                if v.len() != n {
                    return invalid(format!("{} {name} for {n} rows", v.len()));
                }
                if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                    return invalid(format!("the {name} has a non-finite value at row {i} of the batch"));
                }
            }
        }
        if b.codes.len() != nt || b.z.len() != nt {
            return invalid(format!("the batch has {} terms, the model {nt}", b.codes.len()));
        }
        for t in 0..nt {
            let (levels, k) = (self.cross.term_levels[t], self.cross.term_k[t]);
            if point.b[t].len() != levels * k {
                return invalid(format!("random-effects term {t}: b has {} values for {levels} levels × {k}", point.b[t].len()));
            }
            if b.codes[t].len() != n || b.z[t].nrows() != n || b.z[t].ncols() != k {
                return invalid(format!("random-effects term {t}: codes or Z do not match the batch's {n} rows"));
            }
            if let Some(i) = b.codes[t].iter().position(|&c| c < 0 || c as usize >= levels) {
                return invalid(format!("random-effects term {t}: level code {} at row {i} of the batch is outside 0..{levels}", b.codes[t][i]));
            }
        }
        Ok(())
    }

    /// Adds one batch at `point`.
    pub fn add_batch(&mut self, b: &GlmmBatch, point: &PassPoint) -> Result<()> {
        self.check(b, point)?;
        let n = b.y.len();
        let family = self.family.clone();
        let prior: Vec<f64> = b.prior.map_or_else(|| vec![1.0; n], <[f64]>::to_vec);
        family.check_response(b.y, &prior)?;
        let offset: Vec<f64> = b.offset.map_or_else(|| vec![0.0; n], <[f64]>::to_vec);
        let link = family.link();
        let eta: Vec<f64> = if point.from_mu_start {
            let eta: Vec<f64> = (0..n).map(|i| link.link(family.mu_start(b.y[i], prior[i]))).collect();
            if let Some(i) = eta.iter().position(|v| !v.is_finite()) {
                return invalid(format!("the starting value of the linear predictor is not finite at row {i} of the batch"));
            }
            self.saturated += family.saturated_minus_twice_log_likelihood(b.y, &prior).unwrap_or(f64::NAN);
            eta
        } else {
            let mut eta = offset.clone();
            for (j, &bj) in point.beta.iter().enumerate() {
                if bj != 0.0 {
                    for (i, e) in eta.iter_mut().enumerate() {
                        *e += b.x[(i, j)] * bj;
                    }
                }
            }
            for (t, bt) in point.b.iter().enumerate() {
                let (z, codes, k) = (b.z[t], b.codes[t], self.cross.term_k[t]);
                for (i, e) in eta.iter_mut().enumerate() {
                    let l = codes[i] as usize;
                    *e += (0..k).map(|a| z[(i, a)] * bt[l * k + a]).sum::<f64>();
                }
            }
            eta
        };
        let mut mu = vec![0.0; n];
        let deviance = family.mu_and_deviance(&eta, b.y, &prior, &mut mu);
        let (mut w, mut r) = (vec![0.0; n], vec![0.0; n]);
        family.working(&eta, &mu, b.y, &prior, &offset, &mut w, &mut r);
        self.deviance += deviance;
        let bad = (0..n).filter(|&i| !(w[i].is_finite() && w[i] >= 0.0 && r[i].is_finite())).count();
        if bad > 0 {
            self.bad_rows += bad;
            return Ok(());
        }
        self.cross.add_batch(&Batch { x: b.x, r: &r, weights: Some(&w), codes: b.codes.clone(), z: b.z.clone() })
    }

    /// Adds another pass accumulator of other rows at the same point.
    pub fn merge(&mut self, other: &GlmmPassAccumulator) -> Result<()> {
        if other.family.name() != self.family.name() || other.family.link() != self.family.link() {
            return invalid("the pass accumulators to merge have different families");
        }
        self.cross.merge(&other.cross)?;
        self.deviance += other.deviance;
        self.saturated += other.saturated;
        self.bad_rows += other.bad_rows;
        Ok(())
    }
}
