//! Cross-products accumulated batch by batch, for data that is never in memory at once
//! (Parquet batches, Dask partitions).
//!
//! [`CrossProductAccumulator`] holds what [`CrossProducts::assemble`] computes from all rows,
//! [Z X r]'W[Z X r], in a form that grows with the levels and not with the rows: per term a
//! dense k × k block per level, per pair of terms (t < s) a block per pair of levels that
//! shares a row (found by hashing as batches arrive, so the block pattern of crossed factors
//! is discovered across batches in O(nnz)), and the dense Z'W[X r] and [X r]'W[X r].
//! Accumulators of disjoint row sets merge by addition (a Dask tree reduction);
//! [`CrossProductAccumulator::finish`] sorts the pattern into the block layout of
//! `CrossProducts`.
//!
//! Precision without a third pass: the in-memory assembly centres X at its weighted means
//! and subtracts the response's least-squares fit on X in a second pass over the rows. Here
//! every batch is accumulated with a pilot centre c₀ and a pilot fit γ₀ fixed in advance
//! (from the first batch, [`pilot`]): rows enter as [X - c₀, r - (X - c₀)γ₀]. The exact
//! centre and fit are then applied algebraically in `finish`, as a linear map T of the
//! columns ([X_c r] = [X̃ r̃] T, so [X r]'W[X r] → T'BT and Z'W[X r] → Z'W[X r] T); with a
//! pilot close to the exact values T is near the identity and the digits of a response
//! near 10⁸ are not lost.

use crate::covariance::{CovarianceStructure, RandomEffects};
use crate::crossprod::{add_to_lower, CrossProducts};
pub use crate::stream_algebra::pilot;
use crate::stream_algebra::{identity, mirror_lower, quadratic_form, solve_normal_equations, transform_columns, transform_square};
use crate::error::{invalid, Result};
use faer::MatRef;
use std::collections::HashMap;
use std::sync::Arc;

/// The blocks of Z_t'WZ_s (t < s) met so far: one per pair of levels sharing a row.
#[derive(Clone, Debug, Default)]
pub struct PairBlocks {
    /// level_t · L_s + level_s per stored block, in order of discovery.
    pub keys: Vec<u64>,
    /// k_s × k_t values per block (column-major, as `CrossProducts` stores them).
    pub values: Vec<f64>,
    index: HashMap<u64, u32>,
}

impl PairBlocks {
    /// Rebuilds the lookup from keys and values (a deserialised state).
    pub fn from_parts(keys: Vec<u64>, values: Vec<f64>) -> Self {
        let index = keys.iter().enumerate().map(|(i, &k)| (k, i as u32)).collect();
        PairBlocks { keys, values, index }
    }

    fn slot(&mut self, key: u64, size: usize) -> usize {
        let n = self.keys.len();
        let i = *self.index.entry(key).or_insert_with(|| n as u32) as usize;
        if i == n {
            self.keys.push(key);
            self.values.resize(self.values.len() + size, 0.0);
        }
        i * size
    }
}

/// One batch of rows: X (n × p, all columns of the full design), r = y - offset, optional
/// prior weights, per term the level codes and the raw Z (n × k).
pub struct Batch<'a> {
    pub x: MatRef<'a, f64>,
    pub r: &'a [f64],
    pub weights: Option<&'a [f64]>,
    pub codes: Vec<&'a [i64]>,
    pub z: Vec<MatRef<'a, f64>>,
}

/// The mergeable state of the weighted cross-products of a set of rows.
#[derive(Clone, Debug)]
pub struct CrossProductAccumulator {
    pub p: usize,
    pub term_levels: Vec<usize>,
    pub term_k: Vec<usize>,
    /// Pilot centre c₀ subtracted from X's columns, and pilot fit γ₀ of r on X - c₀.
    pub x_centre: Vec<f64>,
    pub response_pilot: Vec<f64>,
    /// Per term, L × k × k diagonal blocks (column-major per level).
    pub diag: Vec<Vec<f64>>,
    /// Per pair (t, s), t < s, in the order (0,1),(0,2),..,(1,2),..
    pub pairs: Vec<PairBlocks>,
    /// Z'W[X̃ r̃] (q × (p+1), row-major: the p + 1 values of a random effect side by side)
    /// and [X̃ r̃]'W[X̃ r̃] (lower triangle).
    pub ztxy: Vec<f64>,
    pub xtxy: Vec<f64>,
    pub sum_log_w: f64,
    /// Rows with positive weight, and all rows added.
    pub n_obs: usize,
    pub n_rows: usize,
}

impl CrossProductAccumulator {
    pub fn new(p: usize, terms: &[(usize, usize)], x_centre: Vec<f64>, response_pilot: Vec<f64>) -> Result<Self> {
        if terms.is_empty() {
            return invalid("a linear mixed model needs at least one random-effects term");
        }
        if x_centre.len() != p || response_pilot.len() != p {
            return invalid(format!("the pilot centre and fit need {p} values each"));
        }
        if terms.iter().any(|&(l, k)| l == 0 || k == 0) {
            return invalid("every random-effects term needs at least one level and one column");
        }
        let q: usize = terms.iter().map(|&(l, k)| l * k).sum();
        let nt = terms.len();
        Ok(CrossProductAccumulator {
            p,
            term_levels: terms.iter().map(|t| t.0).collect(),
            term_k: terms.iter().map(|t| t.1).collect(),
            x_centre,
            response_pilot,
            diag: terms.iter().map(|&(l, k)| vec![0.0; l * k * k]).collect(),
            pairs: (0..nt * nt.saturating_sub(1) / 2).map(|_| PairBlocks::default()).collect(),
            ztxy: vec![0.0; q * (p + 1)],
            xtxy: vec![0.0; (p + 1) * (p + 1)],
            sum_log_w: 0.0,
            n_obs: 0,
            n_rows: 0,
        })
    }

    pub fn q(&self) -> usize {
        self.ztxy.len() / (self.p + 1)
    }

    fn u_offsets(&self) -> Vec<usize> {
        let mut acc = 0;
        self.term_levels
            .iter()
            .zip(&self.term_k)
            .map(|(l, k)| {
                let o = acc;
                acc += l * k;
                o
            })
            .collect()
    }

    /// Checks a batch's shapes and values; messages name the array and the row in the batch.
    fn check(&self, b: &Batch) -> Result<()> {
        let n = b.r.len();
        if b.x.nrows() != n || b.x.ncols() != self.p {
            return invalid(format!("X is {} × {} for {n} rows and {} columns", b.x.nrows(), b.x.ncols(), self.p));
        }
        if let Some(i) = b.r.iter().position(|v| !v.is_finite()) {
            return invalid(format!("the response (net of the offset) has a non-finite value at row {i} of the batch"));
        }
        for j in 0..self.p {
            if let Some(i) = (0..n).find(|&i| !b.x[(i, j)].is_finite()) {
                return invalid(format!("column {j} of X has a non-finite value at row {i} of the batch"));
            }
        }
        if let Some(w) = b.weights {
            if w.len() != n {
                return invalid(format!("{} weights for {n} rows", w.len()));
            }
            if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
                return invalid(format!("weights must be finite and non-negative; row {i} of the batch has {}", w[i]));
            }
        }
        if b.codes.len() != self.term_k.len() || b.z.len() != self.term_k.len() {
            return invalid(format!("the batch has {} terms, the accumulator {}", b.codes.len(), self.term_k.len()));
        }
        for (t, (codes, z)) in b.codes.iter().zip(&b.z).enumerate() {
            if codes.len() != n || z.nrows() != n || z.ncols() != self.term_k[t] {
                return invalid(format!("random-effects term {t}: codes or Z do not match the batch's {n} rows"));
            }
            if let Some(i) = codes.iter().position(|&c| c < 0 || c as usize >= self.term_levels[t]) {
                return invalid(format!(
                    "random-effects term {t}: level code {} at row {i} of the batch is outside 0..{}",
                    codes[i], self.term_levels[t]
                ));
            }
            for a in 0..z.ncols() {
                if let Some(i) = (0..n).find(|&i| !z[(i, a)].is_finite()) {
                    return invalid(format!("random-effects term {t}: column {a} has a non-finite value at row {i} of the batch"));
                }
            }
        }
        Ok(())
    }

    /// Adds one batch's rows to every cross-product.
    pub fn add_batch(&mut self, b: &Batch) -> Result<()> {
        self.check(b)?;
        let (p, nt) = (self.p, self.term_k.len());
        let u_off = self.u_offsets();
        let mut xr = vec![0.0; p + 1];
        let mut last_key: Vec<(u64, usize)> = vec![(u64::MAX, 0); self.pairs.len()];
        let n = b.r.len();
        for i in 0..n {
            // Levels are many and rows arrive in any order: fetch a later row's blocks now,
            // so that their cache misses overlap with this row's work.
            if i + PREFETCH_DISTANCE < n {
                let ahead = i + PREFETCH_DISTANCE;
                for t in 0..nt {
                    let (k, level) = (self.term_k[t], b.codes[t][ahead] as usize);
                    prefetch(&self.diag[t], level * k * k);
                    prefetch(&self.ztxy, (u_off[t] + level * k) * (p + 1));
                }
            }
            let w = b.weights.map_or(1.0, |w| w[i]);
            self.n_rows += 1;
            if w == 0.0 {
                continue;
            }
            self.n_obs += 1;
            if w != 1.0 {
                self.sum_log_w += w.ln();
            }
            let mut fit = 0.0;
            for j in 0..p {
                xr[j] = b.x[(i, j)] - self.x_centre[j];
                fit += xr[j] * self.response_pilot[j];
            }
            xr[p] = b.r[i] - fit;
            add_to_lower(&mut self.xtxy, w, &xr);
            for t in 0..nt {
                let k = self.term_k[t];
                let level = b.codes[t][i] as usize;
                let z = b.z[t];
                let d = &mut self.diag[t][level * k * k..(level + 1) * k * k];
                for a in 0..k {
                    let wa = w * z[(i, a)];
                    for c in 0..k {
                        d[a * k + c] += wa * z[(i, c)];
                    }
                }
                // Row-major per random effect (its p + 1 values side by side): one cache
                // line per level instead of one per column of [X r] when levels are many.
                let ubase = u_off[t] + level * k;
                for a in 0..k {
                    let wz = w * z[(i, a)];
                    let row = &mut self.ztxy[(ubase + a) * (p + 1)..(ubase + a + 1) * (p + 1)];
                    for (acc, x) in row.iter_mut().zip(&xr) {
                        *acc += wz * x;
                    }
                }
            }
            let mut pair = 0;
            for t in 0..nt {
                let kt = self.term_k[t];
                for s in t + 1..nt {
                    let ks = self.term_k[s];
                    let key = b.codes[t][i] as u64 * self.term_levels[s] as u64 + b.codes[s][i] as u64;
                    // Sorted or clustered rows repeat a pair: skip the hash then.
                    let base = if last_key[pair].0 == key {
                        last_key[pair].1
                    } else {
                        let base = self.pairs[pair].slot(key, kt * ks);
                        last_key[pair] = (key, base);
                        base
                    };
                    let vals = &mut self.pairs[pair].values[base..base + kt * ks];
                    for a in 0..kt {
                        let wa = w * b.z[t][(i, a)];
                        for c in 0..ks {
                            vals[a * ks + c] += wa * b.z[s][(i, c)];
                        }
                    }
                    pair += 1;
                }
            }
        }
        Ok(())
    }

    /// Adds the cross-products of another accumulator of other rows (same design and pilot).
    pub fn merge(&mut self, other: &CrossProductAccumulator) -> Result<()> {
        if other.p != self.p || other.term_levels != self.term_levels || other.term_k != self.term_k {
            return invalid("the accumulators to merge have different designs");
        }
        if other.x_centre != self.x_centre || other.response_pilot != self.response_pilot {
            return invalid("the accumulators to merge were built with different pilot centres");
        }
        let add = |a: &mut [f64], b: &[f64]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        for (d, o) in self.diag.iter_mut().zip(&other.diag) {
            add(d, o);
        }
        add(&mut self.ztxy, &other.ztxy);
        add(&mut self.xtxy, &other.xtxy);
        let mut pair = 0;
        for t in 0..self.term_k.len() {
            for s in t + 1..self.term_k.len() {
                let size = self.term_k[t] * self.term_k[s];
                let (mine, theirs) = (&mut self.pairs[pair], &other.pairs[pair]);
                for (j, &key) in theirs.keys.iter().enumerate() {
                    let base = mine.slot(key, size);
                    add(&mut mine.values[base..base + size], &theirs.values[j * size..(j + 1) * size]);
                }
                pair += 1;
            }
        }
        self.sum_log_w += other.sum_log_w;
        self.n_obs += other.n_obs;
        self.n_rows += other.n_rows;
        Ok(())
    }

    /// The cross-products of the columns `kept` of X (aliased columns dropped), in the block
    /// layout of [`CrossProducts`], with the exact centring (when X has the column of ones
    /// `intercept`, an index into `kept`) and the response net of its exact least-squares fit.
    pub fn finish(&self, kept: &[usize], intercept: Option<usize>, covariances: &[Arc<dyn CovarianceStructure>]) -> Result<(CrossProducts, RandomEffects)> {
        if covariances.len() != self.term_k.len() {
            return invalid("one covariance structure per random-effects term is needed");
        }
        if kept.iter().any(|&j| j >= self.p) || intercept.is_some_and(|j| j >= kept.len()) {
            return invalid("kept columns outside X");
        }
        if self.n_obs == 0 {
            return invalid("no rows with positive weight were accumulated");
        }
        let spec: Vec<_> = (0..self.term_k.len()).map(|t| (self.term_levels[t], self.term_k[t], covariances[t].clone())).collect();
        let random_effects = RandomEffects::new(&spec);
        let (p, pk) = (self.p, kept.len());
        let q = self.q();
        let mut full = self.xtxy.clone();
        mirror_lower(&mut full, p + 1);
        // 1. The kept columns; the dropped columns' share of the pilot fit back into r.
        let mut t1 = vec![0.0; (p + 1) * (pk + 1)];
        for (i, &j) in kept.iter().enumerate() {
            t1[i * (p + 1) + j] = 1.0;
        }
        t1[pk * (p + 1) + p] = 1.0;
        for j in (0..p).filter(|j| !kept.contains(j)) {
            t1[pk * (p + 1) + j] = self.response_pilot[j];
        }
        let mut ztxy = vec![0.0; q * (p + 1)];
        for u in 0..q {
            for c in 0..=p {
                ztxy[c * q + u] = self.ztxy[u * (p + 1) + c];
            }
        }
        let (mut b, mut z) = (transform_square(&full, p + 1, &t1, pk + 1), transform_columns(&ztxy, q, p + 1, &t1, pk + 1));
        drop(ztxy);
        let pc = pk + 1;
        let mut gamma: Vec<f64> = kept.iter().map(|&j| self.response_pilot[j]).collect();
        let mut centre: Vec<f64> = kept.iter().map(|&j| self.x_centre[j]).collect();
        // 2. Centre at the exact weighted means (the intercept column is the constant c).
        if let Some(j0) = intercept {
            // The intercept column holds ones (R's `(Intercept)`), so its entry is Σw.
            let c = 1.0;
            let total_w = b[j0 * pc + j0];
            let mut t2 = identity(pc);
            let mut d = vec![0.0; pk];
            for j in (0..pk).filter(|&j| j != j0) {
                d[j] = b[j0 * pc + j] / (c * total_w);
                t2[j * pc + j0] = -d[j] / c;
                centre[j] += d[j];
            }
            gamma[j0] += d.iter().zip(&gamma).map(|(a, g)| a * g).sum::<f64>() / c;
            b = transform_square(&b, pc, &t2, pc);
            z = transform_columns(&z, q, pc, &t2, pc);
        }
        // 3. The response net of its exact least-squares fit on the centred columns.
        let delta = solve_normal_equations(&b, pc, pk);
        let mut t3 = identity(pc);
        for j in 0..pk {
            t3[pk * pc + j] = -delta[j];
            gamma[j] += delta[j];
        }
        let response_ss = {
            let mut v = vec![0.0; p + 1];
            v[p] = 1.0;
            v[..p].copy_from_slice(&self.response_pilot);
            quadratic_form(&full, p + 1, &v)
        };
        b = transform_square(&b, pc, &t3, pc);
        z = transform_columns(&z, q, pc, &t3, pc);
        let cp = self.block_layout(kept.len(), b, z, gamma, response_ss, intercept, centre, &random_effects)?;
        Ok((cp, random_effects))
    }

    #[allow(clippy::too_many_arguments)]
    fn block_layout(
        &self,
        p: usize,
        xtxy: Vec<f64>,
        ztxy: Vec<f64>,
        response_shift: Vec<f64>,
        response_ss: f64,
        intercept: Option<usize>,
        x_centre: Vec<f64>,
        random_effects: &RandomEffects,
    ) -> Result<CrossProducts> {
        let nt = self.term_k.len();
        let mut term_block_base = Vec::with_capacity(nt + 1);
        let mut acc = 0usize;
        for &l in &self.term_levels {
            term_block_base.push(acc);
            acc += l;
        }
        term_block_base.push(acc);
        let n_blocks = acc;
        if n_blocks > u32::MAX as usize - 1 {
            return invalid("too many random-effect levels in total");
        }
        let mut block_term = Vec::with_capacity(n_blocks);
        for (t, &l) in self.term_levels.iter().enumerate() {
            block_term.extend(std::iter::repeat(t as u32).take(l));
        }
        // Per pair, its blocks sorted by (level_t, level_s): a cursor walks them per level_t.
        let sorted: Vec<Vec<u32>> = self
            .pairs
            .iter()
            .map(|pb| {
                let mut order: Vec<u32> = (0..pb.keys.len() as u32).collect();
                order.sort_unstable_by_key(|&i| pb.keys[i as usize]);
                order
            })
            .collect();
        let mut cursor = vec![0usize; self.pairs.len()];
        let n_stored = n_blocks + self.pairs.iter().map(|pb| pb.keys.len()).sum::<usize>();
        let mut block_col_ptr = Vec::with_capacity(n_blocks + 1);
        let mut block_row: Vec<u32> = Vec::with_capacity(n_stored);
        let mut block_val = Vec::with_capacity(n_stored + 1);
        let mut ztz = Vec::new();
        block_col_ptr.push(0);
        let pair_of = |t: usize, s: usize| t * nt - t * (t + 1) / 2 + (s - t - 1);
        for t in 0..nt {
            let kt = self.term_k[t];
            for l in 0..self.term_levels[t] {
                block_row.push((term_block_base[t] + l) as u32);
                block_val.push(ztz.len());
                ztz.extend_from_slice(&self.diag[t][l * kt * kt..(l + 1) * kt * kt]);
                for s in t + 1..nt {
                    let (pi, ls, ks) = (pair_of(t, s), self.term_levels[s] as u64, self.term_k[s]);
                    let pb = &self.pairs[pi];
                    while cursor[pi] < sorted[pi].len() {
                        let i = sorted[pi][cursor[pi]] as usize;
                        let key = pb.keys[i];
                        if key / ls != l as u64 {
                            break;
                        }
                        block_row.push((term_block_base[s] as u64 + key % ls) as u32);
                        block_val.push(ztz.len());
                        ztz.extend_from_slice(&pb.values[i * kt * ks..(i + 1) * kt * ks]);
                        cursor[pi] += 1;
                    }
                }
                block_col_ptr.push(block_row.len());
            }
        }
        block_val.push(ztz.len());
        Ok(CrossProducts {
            n: self.n_rows,
            p,
            term_levels: self.term_levels.clone(),
            term_k: self.term_k.clone(),
            term_block_base,
            term_u_offset: random_effects.terms.iter().map(|t| t.u_offset).collect(),
            block_term,
            block_col_ptr,
            block_row,
            block_val,
            ztz,
            pair_slots: (0..self.pairs.len()).map(|_| Vec::new()).collect(),
            ztxy,
            xtxy,
            sum_log_w: self.sum_log_w,
            n_obs: self.n_obs,
            response_shift,
            response_ss,
            intercept: intercept.map(|j| (j, 1.0)),
            x_centre,
        })
    }
}

/// Rows ahead whose blocks are prefetched (a few hundred nanoseconds of work ahead).
const PREFETCH_DISTANCE: usize = 16;

/// Asks for the cache line holding `v[i]` (no effect where the target has no prefetch).
#[inline(always)]
fn prefetch(v: &[f64], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if i < v.len() {
        // SAFETY: the address is inside `v`; a prefetch reads nothing architecturally.
        unsafe { std::arch::x86_64::_mm_prefetch(v.as_ptr().add(i) as *const i8, std::arch::x86_64::_MM_HINT_T0) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (v, i);
}

#[cfg(test)]
#[path = "stream_crossprod_tests.rs"]
mod tests;
