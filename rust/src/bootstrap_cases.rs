//! Case resampling (lmeresampler's `case` bootstrap): clusters drawn with replacement at
//! chosen levels of a nested hierarchy, from the outermost grouping factor down to the
//! observations.
//!
//! The grouping factors of the random-effects terms (terms with the same codes share one)
//! are ordered by their number of levels, fewest first, and must be nested: every level of
//! an inner factor lies within one level of the next outer one. At a level marked for
//! resampling, as many clusters as the enclosing cluster has are drawn with replacement from
//! those it has; otherwise all are taken in order. Every drawn cluster is a new level (a
//! cluster drawn twice enters the replicate as two groups), so the replicate keeps the
//! hierarchy and its group sizes.

use crate::data::{ModelData, TermData};
use crate::error::{invalid, Result};
use crate::rng::Rng;
use faer::MatRef;

/// The nested grouping factors of a model and, per cluster, what lies within it.
#[derive(Clone, Debug)]
pub struct CaseHierarchy {
    /// The distinct factors, outermost first: (codes, number of levels).
    factors: Vec<(Vec<i64>, usize)>,
    /// Term → its factor.
    term_factor: Vec<usize>,
    /// children[f][c]: the clusters of factor f + 1 inside cluster c of factor f (sorted).
    children: Vec<Vec<Vec<usize>>>,
    /// rows[c]: the rows of cluster c of the innermost factor.
    rows: Vec<Vec<usize>>,
    top: Vec<usize>,
    resample: Vec<bool>,
}

/// One replicate's rows and the new level of each row in every factor.
#[derive(Clone, Debug)]
pub struct CaseSample {
    pub rows: Vec<usize>,
    /// Per factor (outermost first): the new codes of the rows and the number of levels.
    pub codes: Vec<(Vec<i64>, usize)>,
    /// Term → factor (as the hierarchy's).
    pub term_factor: Vec<usize>,
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
        let mut children = Vec::new();
        for f in 0..factors.len().saturating_sub(1) {
            let (outer, outer_levels) = (&factors[f].0, factors[f].1);
            let inner = &factors[f + 1].0;
            let mut parent: Vec<Option<i64>> = vec![None; factors[f + 1].1];
            let mut kids = vec![Vec::new(); outer_levels];
            for i in 0..n {
                let c = inner[i] as usize;
                match parent[c] {
                    None => {
                        parent[c] = Some(outer[i]);
                        kids[outer[i] as usize].push(c);
                    }
                    Some(p) if p != outer[i] => {
                        return invalid(
                            "case resampling needs nested grouping factors: a level of an inner factor \
                             lies in two levels of the next outer one (crossed random effects)",
                        )
                    }
                    _ => {}
                }
            }
            for k in &mut kids {
                k.sort_unstable();
            }
            children.push(kids);
        }
        let last = factors.last().map_or(0, |f| f.1);
        let mut rows = vec![Vec::new(); last];
        if let Some((codes, _)) = factors.last() {
            for i in 0..n {
                rows[codes[i] as usize].push(i);
            }
        }
        let mut top: Vec<usize> = factors[0].0.iter().map(|&c| c as usize).collect();
        top.sort_unstable();
        top.dedup();
        Ok(CaseHierarchy { factors, term_factor, children, rows, top, resample: resample.to_vec() })
    }

    /// Draws one replicate.
    pub fn draw(&self, rng: &mut Rng) -> CaseSample {
        let nf = self.factors.len();
        let mut sample = CaseSample { rows: Vec::new(), codes: vec![(Vec::new(), 0); nf], term_factor: self.term_factor.clone() };
        let mut path = vec![0i64; nf];
        let picks = self.pick(&self.top, 0, rng);
        for c in picks {
            self.descend(0, c, rng, &mut path, &mut sample);
        }
        sample
    }

    fn pick(&self, candidates: &[usize], level: usize, rng: &mut Rng) -> Vec<usize> {
        if self.resample[level] && !candidates.is_empty() {
            (0..candidates.len()).map(|_| candidates[rng.below(candidates.len())]).collect()
        } else {
            candidates.to_vec()
        }
    }

    fn descend(&self, f: usize, cluster: usize, rng: &mut Rng, path: &mut Vec<i64>, sample: &mut CaseSample) {
        path[f] = sample.codes[f].1 as i64;
        sample.codes[f].1 += 1;
        if f + 1 < self.factors.len() {
            for c in self.pick(&self.children[f][cluster], f + 1, rng) {
                self.descend(f + 1, c, rng, path, sample);
            }
            return;
        }
        for i in self.pick(&self.rows[cluster], f + 1, rng) {
            sample.rows.push(i);
            for (g, p) in path.iter().enumerate() {
                sample.codes[g].0.push(*p);
            }
        }
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
