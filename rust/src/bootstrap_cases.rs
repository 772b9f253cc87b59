//! Case resampling as lmeresampler 0.2.x does it (github.com/aloy/lmeresampler,
//! `R/resamplers.R`: `.resamp.cases`): clusters drawn with replacement at chosen levels of
//! a nested hierarchy, from the outermost grouping factor down to the observations.
//!
//! The grouping factors of the random-effects terms (terms with the same codes share one)
//! are ordered by their number of levels, fewest first (lmeresampler's `rev(names(flist))`),
//! and must be nested: every level of an inner factor lies within one level of the next
//! outer one. The replicate's rows are built level by level:
//! * outermost factor, if resampled: as many clusters as it has, drawn with replacement,
//!   each contributing its rows;
//! * an inner factor, if resampled: within each cluster of the next outer factor present
//!   in the rows so far (in the order of its codes), as many of its distinct clusters there
//!   as there are, drawn with replacement, each contributing all its rows so far;
//! * the observations, if resampled: within each cluster of the innermost factor, as many
//!   rows as it has so far, drawn with replacement from them.
//!
//! Drawn clusters keep their levels, as in lmeresampler (which refits `lmer` to the
//! resampled data frame): a cluster drawn twice enters the replicate as one group with its
//! rows twice, and levels not drawn are dropped. One deliberate difference: lmeresampler
//! resamples the observations of a model with three or more levels within the clusters of
//! the outermost factor (its `as.name` of the vector of outer factors keeps the first), so
//! rows move between inner clusters; merx draws them within the innermost clusters, which
//! is the same for two-level models.

use crate::data::{ModelData, TermData};
use crate::error::{invalid, Result};
use crate::rng::Rng;
use faer::MatRef;
use std::collections::BTreeMap;

/// The nested grouping factors of a model.
#[derive(Clone, Debug)]
pub struct CaseHierarchy {
    /// The distinct factors, outermost first: (codes, number of levels).
    factors: Vec<(Vec<i64>, usize)>,
    /// Term → its factor.
    term_factor: Vec<usize>,
    /// The rows of each level of the outermost factor.
    top_rows: Vec<Vec<usize>>,
    /// The levels of the outermost factor that have rows (sorted).
    top: Vec<usize>,
    resample: Vec<bool>,
}

/// One replicate's rows and the level of each row in every factor.
#[derive(Clone, Debug)]
pub struct CaseSample {
    pub rows: Vec<usize>,
    /// Per factor (outermost first): the codes of the rows (the drawn levels renumbered
    /// 0, 1, ... in the order of the original codes) and the number of levels.
    pub codes: Vec<(Vec<i64>, usize)>,
    /// Term → factor (as the hierarchy's).
    pub term_factor: Vec<usize>,
    /// What was drawn, per level (outermost factor first, the observations last): the
    /// original codes of the drawn clusters, and for the observations the position of
    /// each drawn row among its cluster's rows so far, in the order drawn.
    pub draws: Vec<Vec<usize>>,
}

/// The rows grouped by their code in `codes`, groups in code order, rows in their order.
fn grouped(rows: &[usize], codes: &[i64]) -> BTreeMap<i64, Vec<usize>> {
    let mut groups: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for &i in rows {
        groups.entry(codes[i]).or_default().push(i);
    }
    groups
}

impl CaseHierarchy {
    pub fn new(data: &ModelData, resample: &[bool]) -> Result<Self> {
        let mut factors: Vec<(Vec<i64>, usize)> = Vec::new();
        let mut term_factor = Vec::new();
        for term in &data.terms {
            match factors.iter().position(|(c, _)| c.as_slice() == term.codes) {
                Some(f) => term_factor.push(f),
                None => {
                    term_factor.push(factors.len());
                    factors.push((term.codes.to_vec(), term.n_levels));
                }
            }
        }
        // Outermost first: fewest used levels.
        let used = |codes: &[i64]| {
            let mut c = codes.to_vec();
            c.sort_unstable();
            c.dedup();
            c.len()
        };
        let mut order: Vec<usize> = (0..factors.len()).collect();
        order.sort_by_key(|&f| used(&factors[f].0));
        let rank: Vec<usize> = {
            let mut r = vec![0; order.len()];
            for (pos, &f) in order.iter().enumerate() {
                r[f] = pos;
            }
            r
        };
        let factors: Vec<(Vec<i64>, usize)> = order.iter().map(|&f| factors[f].clone()).collect();
        let term_factor: Vec<usize> = term_factor.iter().map(|&f| rank[f]).collect();
        if resample.len() != factors.len() + 1 {
            return invalid(format!(
                "resample needs one entry per level, outermost grouping factor first and the observations last: \
                 {} for this model, not {}",
                factors.len() + 1,
                resample.len()
            ));
        }
        let n = data.n();
        for f in 0..factors.len().saturating_sub(1) {
            let outer = &factors[f].0;
            let inner = &factors[f + 1].0;
            let mut parent: Vec<Option<i64>> = vec![None; factors[f + 1].1];
            for i in 0..n {
                let c = inner[i] as usize;
                match parent[c] {
                    None => parent[c] = Some(outer[i]),
                    Some(p) if p != outer[i] => {
                        return invalid(
                            "case resampling needs nested grouping factors: a level of an inner factor \
                             lies in two levels of the next outer one (crossed random effects)",
                        )
                    }
                    _ => {}
                }
            }
        }
        let mut top_rows = vec![Vec::new(); factors[0].1];
        for i in 0..n {
            top_rows[factors[0].0[i] as usize].push(i);
        }
        let top: Vec<usize> = (0..top_rows.len()).filter(|&c| !top_rows[c].is_empty()).collect();
        Ok(CaseHierarchy { factors, term_factor, top_rows, top, resample: resample.to_vec() })
    }

    /// Draws one replicate.
    pub fn draw(&self, rng: &mut Rng) -> CaseSample {
        let nf = self.factors.len();
        let mut draws = vec![Vec::new(); nf + 1];
        let mut rows: Vec<usize> = if self.resample[0] {
            let mut out = Vec::new();
            for _ in 0..self.top.len() {
                let c = self.top[rng.below(self.top.len())];
                draws[0].push(c);
                out.extend_from_slice(&self.top_rows[c]);
            }
            out
        } else {
            (0..self.factors[0].0.len()).collect()
        };
        for f in 1..nf {
            if !self.resample[f] {
                continue;
            }
            let inner = &self.factors[f].0;
            let mut out = Vec::with_capacity(rows.len());
            for group in grouped(&rows, &self.factors[f - 1].0).values() {
                let present: Vec<i64> = grouped(group, inner).into_keys().collect();
                for _ in 0..present.len() {
                    let c = present[rng.below(present.len())];
                    draws[f].push(c as usize);
                    out.extend(group.iter().copied().filter(|&i| inner[i] == c));
                }
            }
            rows = out;
        }
        if self.resample[nf] {
            let mut out = Vec::with_capacity(rows.len());
            for group in grouped(&rows, &self.factors[nf - 1].0).values() {
                for _ in 0..group.len() {
                    let p = rng.below(group.len());
                    draws[nf].push(p);
                    out.push(group[p]);
                }
            }
            rows = out;
        }
        let codes = self
            .factors
            .iter()
            .map(|(codes, _)| {
                let present: Vec<i64> = grouped(&rows, codes).into_keys().collect();
                let new: Vec<i64> = rows.iter().map(|&i| present.binary_search(&codes[i]).unwrap() as i64).collect();
                (new, present.len())
            })
            .collect();
        CaseSample { rows, codes, term_factor: self.term_factor.clone(), draws }
    }
}

/// A replicate's rows copied out of the data.
pub struct OwnedRows {
    x: Vec<f64>,
    y: Vec<f64>,
    z: Vec<Vec<f64>>,
    codes: Vec<(Vec<i64>, usize)>,
    term_factor: Vec<usize>,
    weights: Option<Vec<f64>>,
    offset: Option<Vec<f64>>,
}

impl CaseSample {
    pub fn rows_of(&self, data: &ModelData) -> OwnedRows {
        let rows = &self.rows;
        let m = rows.len();
        let x = (0..data.p()).flat_map(|j| rows.iter().map(move |&i| data.x[(i, j)])).collect();
        let z = data
            .terms
            .iter()
            .map(|t| (0..t.k()).flat_map(|a| rows.iter().map(move |&i| t.z[(i, a)])).collect())
            .collect();
        let pick = |v: &[f64]| rows.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        debug_assert!(self.codes.iter().all(|(c, _)| c.len() == m));
        OwnedRows {
            x,
            y: pick(data.y),
            z,
            codes: self.codes.clone(),
            term_factor: self.term_factor.clone(),
            weights: data.weights.map(pick),
            offset: data.offset.map(pick),
        }
    }
}

impl OwnedRows {
    /// The replicate's data, with the original's covariance structures.
    pub fn view<'a>(&'a self, original: &ModelData) -> ModelData<'a> {
        let m = self.y.len();
        let terms = original
            .terms
            .iter()
            .enumerate()
            .map(|(t, term)| {
                let (codes, levels) = &self.codes[self.term_factor[t]];
                TermData::new(codes, *levels, MatRef::from_column_major_slice(&self.z[t], m, term.k()))
                    .with_covariance(term.covariance.clone())
            })
            .collect();
        ModelData {
            x: MatRef::from_column_major_slice(&self.x, m, original.p()),
            y: &self.y,
            terms,
            weights: self.weights.as_deref(),
            offset: self.offset.as_deref(),
        }
    }
}
