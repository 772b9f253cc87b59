//! The assembly's row passes (`crossprod.rs` has the structure): Z'WZ, Z'W[X r] and
//! [X r]'W[X r] summed over the rows, where X's and the terms' columns are contiguous (every
//! model the Python layer builds; `crossprod.rs` keeps a generic pass for other layouts), and
//! the response pass after the least-squares shift, for any layout.
//!
//! Two things make it fast on large data, where the levels' accumulators no longer fit in
//! the cache and each row lands on a random level:
//! - **prefetching**: the accumulators of the row [`PREFETCH_AHEAD`] rows ahead are requested
//!   while this row is summed, so the pass waits on memory bandwidth, not on one cache miss
//!   after another;
//! - **two chunks of rows on two threads** (from [`PARALLEL_MIN_ROWS`] rows), each into its
//!   own accumulators, added at the end. The split is fixed (two halves), never the machine's
//!   core count, so a model's cross-products are the same on every machine.

use crate::crossprod::{add_to_lower, ColumnReader, CrossProducts};
use crate::data::ModelData;

/// The columns of `m` as slices, when each is contiguous.
fn contiguous_columns<'a>(m: faer::MatRef<'a, f64>) -> Option<Vec<&'a [f64]>> {
    (0..m.ncols()).map(|j| m.col(j).try_as_col_major().map(|c| c.as_slice())).collect()
}

/// Rows from which the pass runs as two chunks on two threads.
const PARALLEL_MIN_ROWS: usize = 1 << 18;

/// Largest extra accumulator copy the second chunk may allocate (bytes).
const PARALLEL_MAX_COPY_BYTES: usize = 256 << 20;

/// One chunk, or two where the rows are many and the second chunk's accumulators (`values`
/// f64) are affordable: at most [`PARALLEL_MAX_COPY_BYTES`], and within the memory available
/// (or the limit set by `MERX_MEMORY_LIMIT`); else the pass runs on one thread, never refused.
fn default_chunks(n: usize, values: usize) -> usize {
    let bytes = 8 * values;
    if n >= PARALLEL_MIN_ROWS
        && bytes <= PARALLEL_MAX_COPY_BYTES
        && crate::linalg::memory::ensure_fits("the second half's sums", bytes as f64).is_ok()
    {
        2
    } else {
        1
    }
}

/// Runs `sum` over rows 0..n split into `chunks` (1 or 2) halves, the second on its own
/// thread, each into its own sums from `zero`; the sums in row order.
fn over_chunks<S: Send>(n: usize, chunks: usize, zero: impl Fn() -> S, sum: impl Fn(std::ops::Range<usize>, &mut S) + Sync) -> Vec<S> {
    let mut first = zero();
    if chunks <= 1 {
        sum(0..n, &mut first);
        return vec![first];
    }
    let mid = n / 2;
    let mut second = zero();
    std::thread::scope(|scope| {
        let (sum, second) = (&sum, &mut second);
        scope.spawn(move || sum(mid..n, second));
        sum(0..mid, &mut first);
    });
    vec![first, second]
}

/// How many rows ahead the level accumulators are prefetched.
const PREFETCH_AHEAD: usize = 16;

/// The sums of one chunk of rows.
struct RowSums {
    ztz: Vec<f64>,
    /// Z'W[X r] level-major: a level's k × cols values contiguous.
    zt_rows: Vec<f64>,
    /// Lower triangle of [X r]'W[X r] (column-major, (p+1)²).
    xtxy: Vec<f64>,
    log_w: f64,
    n_obs: usize,
}

impl RowSums {
    fn zeros(ztz: usize, zt_rows: usize, xtxy: usize) -> Self {
        RowSums { ztz: vec![0.0; ztz], zt_rows: vec![0.0; zt_rows], xtxy: vec![0.0; xtxy], log_w: 0.0, n_obs: 0 }
    }

    fn add(&mut self, other: &RowSums) {
        for (a, b) in self.ztz.iter_mut().zip(&other.ztz) {
            *a += b;
        }
        for (a, b) in self.zt_rows.iter_mut().zip(&other.zt_rows) {
            *a += b;
        }
        for (a, b) in self.xtxy.iter_mut().zip(&other.xtxy) {
            *a += b;
        }
        self.log_w += other.log_w;
        self.n_obs += other.n_obs;
    }
}

/// What the pass reads, with every per-row lookup that does not depend on the row hoisted.
struct PassInputs<'a> {
    x_cols: Vec<&'a [f64]>,
    x_centre: &'a [f64],
    y: &'a [f64],
    offset: Option<&'a [f64]>,
    response: Option<&'a [f64]>,
    weights: Option<&'a [f64]>,
    log_weights: bool,
    /// Per term: codes, columns, k, the position of each level's diagonal block in Z'WZ and
    /// its first row in the level-major Z'W[X r].
    codes: Vec<&'a [i64]>,
    z_cols: Vec<Vec<&'a [f64]>>,
    k: Vec<usize>,
    diag: Vec<Vec<usize>>,
    u_offset: Vec<usize>,
    /// Per pair of terms (t < s, crossprod.rs's order): each row's stored block.
    pair_slots: &'a [Vec<u32>],
    block_val: &'a [usize],
    /// Columns of Z'W[X r] summed: X's, and r's when asked.
    zt_cols: usize,
}

#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p as *const i8, core::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl PassInputs<'_> {
    /// Requests the accumulators row `i` will update.
    #[inline(always)]
    fn prefetch_row(&self, sums: &RowSums, i: usize) {
        for t in 0..self.codes.len() {
            let l = self.codes[t][i] as usize;
            prefetch(sums.ztz.as_ptr().wrapping_add(self.diag[t][l]));
            let e = (self.u_offset[t] + l * self.k[t]) * self.zt_cols;
            prefetch(sums.zt_rows.as_ptr().wrapping_add(e));
            prefetch(sums.zt_rows.as_ptr().wrapping_add(e + self.k[t] * self.zt_cols - 1));
        }
        for slots in self.pair_slots {
            prefetch(sums.ztz.as_ptr().wrapping_add(self.block_val[slots[i] as usize]));
        }
    }

    fn sum_rows(&self, rows: std::ops::Range<usize>, sums: &mut RowSums) {
        let p = self.x_cols.len();
        let nt = self.codes.len();
        let mut xr = vec![0.0; p + 1];
        let max_k = self.k.iter().copied().max().unwrap_or(0);
        let mut z = vec![0.0; nt * max_k];
        let end = rows.end;
        for i in rows {
            if i + PREFETCH_AHEAD < end {
                self.prefetch_row(sums, i + PREFETCH_AHEAD);
            }
            let Some(w) = CrossProducts::row_weight(self.weights, i, self.log_weights, &mut sums.log_w) else { continue };
            sums.n_obs += 1;
            for j in 0..p {
                xr[j] = self.x_cols[j][i] - self.x_centre[j];
            }
            xr[p] = match self.response {
                Some(r) => r[i],
                None => self.y[i] - self.offset.map_or(0.0, |o| o[i]),
            };
            add_to_lower(&mut sums.xtxy, w, &xr);
            for t in 0..nt {
                let k = self.k[t];
                let zt = &mut z[t * max_k..t * max_k + k];
                for a in 0..k {
                    zt[a] = self.z_cols[t][a][i];
                }
                let l = self.codes[t][i] as usize;
                let block = &mut sums.ztz[self.diag[t][l]..self.diag[t][l] + k * k];
                for a in 0..k {
                    let wa = w * zt[a];
                    for b in 0..k {
                        block[a * k + b] += wa * zt[b];
                    }
                }
                let e = (self.u_offset[t] + l * k) * self.zt_cols;
                let rows = &mut sums.zt_rows[e..e + k * self.zt_cols];
                for c in 0..self.zt_cols {
                    let wc = w * xr[c];
                    for a in 0..k {
                        rows[a * self.zt_cols + c] += wc * zt[a];
                    }
                }
            }
            let mut pair = 0;
            for t in 0..nt {
                for s in t + 1..nt {
                    let (kt, ks) = (self.k[t], self.k[s]);
                    let base = self.block_val[self.pair_slots[pair][i] as usize];
                    for a in 0..kt {
                        let wa = w * z[t * max_k + a];
                        for b in 0..ks {
                            sums.ztz[base + a * ks + b] += wa * z[s * max_k + b];
                        }
                    }
                    pair += 1;
                }
            }
        }
    }
}

impl CrossProducts {
    /// The row pass when X's and every term's columns are contiguous and Z'W[X r] fits the
    /// level-major copy (`level_major_max` values); false (nothing done) otherwise. `chunks`
    /// forces the number of chunks (tests: two chunks equal one on small data); None
    /// chooses by size.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn accumulate_in_chunks(
        &mut self,
        data: &ModelData,
        weights: Option<&[f64]>,
        response: Option<&[f64]>,
        with_response: bool,
        log_weights: bool,
        level_major_max: usize,
        chunks: Option<usize>,
    ) -> bool {
        let Some(x_cols) = contiguous_columns(data.x) else { return false };
        let Some(z_cols) = data.terms.iter().map(|t| contiguous_columns(t.z)).collect::<Option<Vec<_>>>() else { return false };
        let (n, p, q, nt) = (self.n, self.p, self.q(), self.n_terms());
        let pc = p + 1;
        let zt_cols = if with_response { pc } else { p };
        if q * zt_cols > level_major_max {
            return false;
        }
        let inputs = PassInputs {
            x_cols,
            x_centre: &self.x_centre,
            y: data.y,
            offset: data.offset,
            response,
            weights,
            log_weights,
            codes: data.terms.iter().map(|t| t.codes).collect(),
            z_cols,
            k: self.term_k.clone(),
            diag: (0..nt)
                .map(|t| (0..self.term_levels[t]).map(|l| self.block_val[self.block_col_ptr[self.term_block_base[t] + l]]).collect())
                .collect(),
            u_offset: self.term_u_offset.clone(),
            pair_slots: &self.pair_slots,
            block_val: &self.block_val,
            zt_cols,
        };
        let chunks = chunks.unwrap_or_else(|| default_chunks(n, self.ztz.len() + q * zt_cols));
        let mut parts = over_chunks(n, chunks, || RowSums::zeros(self.ztz.len(), q * zt_cols, pc * pc), |rows, sums| {
            inputs.sum_rows(rows, sums)
        });
        let mut sums = parts.remove(0);
        for part in &parts {
            sums.add(part);
        }
        let RowSums { ztz, zt_rows, xtxy, log_w, n_obs } = sums;
        self.ztz = ztz;
        self.ztxy.fill(0.0);
        for e in 0..q {
            for c in 0..zt_cols {
                self.ztxy[c * q + e] = zt_rows[e * zt_cols + c];
            }
        }
        self.xtxy = xtxy;
        for c in 0..pc {
            for r in c + 1..pc {
                self.xtxy[r * pc + c] = self.xtxy[c * pc + r];
            }
        }
        self.sum_log_w = if log_weights { log_w } else { f64::NAN };
        self.n_obs = n_obs;
        true
    }
}

/// The sums of the response pass over one chunk: Z'We (level-major is Z's own layout
/// here: one value per random effect), X'We and e'We.
struct ResidualSums {
    ze: Vec<f64>,
    xe: Vec<f64>,
    ee: f64,
}

impl CrossProducts {
    /// The response pass of [`subtract_least_squares_fit`](Self::subtract_least_squares_fit)
    /// (e = r - Xγ): (Z'We, X'We, e'We), for columns of any layout.
    pub(crate) fn residual_sums(
        &self,
        data: &ModelData,
        weights: Option<&[f64]>,
        response: Option<&[f64]>,
        gamma: &[f64],
        chunks: Option<usize>,
    ) -> (Vec<f64>, Vec<f64>, f64) {
        let x_cols: Vec<ColumnReader> = (0..data.p()).map(|j| ColumnReader::new(data.x, j)).collect();
        let z_cols: Vec<Vec<ColumnReader>> = data.terms.iter().map(|t| (0..t.k()).map(|a| ColumnReader::new(t.z, a)).collect()).collect();
        let (n, p, q) = (self.n, self.p, self.q());
        let centre = &self.x_centre;
        let sum = |rows: std::ops::Range<usize>, s: &mut ResidualSums| {
            let end = rows.end;
            for i in rows {
                if i + PREFETCH_AHEAD < end {
                    for (t, term) in data.terms.iter().enumerate() {
                        let l = term.codes[i + PREFETCH_AHEAD] as usize;
                        prefetch(s.ze.as_ptr().wrapping_add(self.term_u_offset[t] + l * self.term_k[t]));
                    }
                }
                let w = weights.map_or(1.0, |w| w[i]);
                if w == 0.0 {
                    continue;
                }
                let r = match response {
                    Some(r) => r[i],
                    None => data.y[i] - data.offset_at(i),
                };
                let e = r - (0..p).map(|j| (x_cols[j].get(i) - centre[j]) * gamma[j]).sum::<f64>();
                let we = w * e;
                s.ee += we * e;
                for j in 0..p {
                    s.xe[j] += we * (x_cols[j].get(i) - centre[j]);
                }
                for (t, term) in data.terms.iter().enumerate() {
                    let k = self.term_k[t];
                    let base = self.term_u_offset[t] + term.codes[i] as usize * k;
                    for a in 0..k {
                        s.ze[base + a] += we * z_cols[t][a].get(i);
                    }
                }
            }
        };
        let parts = over_chunks(n, chunks.unwrap_or_else(|| default_chunks(n, q)), || ResidualSums { ze: vec![0.0; q], xe: vec![0.0; p], ee: 0.0 }, sum);
        let mut total = ResidualSums { ze: vec![0.0; q], xe: vec![0.0; p], ee: 0.0 };
        for part in &parts {
            for (a, b) in total.ze.iter_mut().zip(&part.ze) {
                *a += b;
            }
            for (a, b) in total.xe.iter_mut().zip(&part.xe) {
                *a += b;
            }
            total.ee += part.ee;
        }
        (total.ze, total.xe, total.ee)
    }
}

#[cfg(test)]
mod tests {
    use crate::covariance::{RandomEffects, Unstructured};
    use crate::crossprod::CrossProducts;
    use crate::data::{ModelData, TermData};
    use faer::MatRef;
    use std::sync::Arc;

    /// Three crossed terms (k = 2, 1, 1), prior weights with zeros, an offset: the two-chunk
    /// pass equals the one-chunk pass, and both equal the generic pass (X row-major, so its
    /// columns are not contiguous) to rounding.
    #[test]
    fn chunked_prefetching_pass_equals_the_generic_pass() {
        let n = 997;
        let mut rng = crate::rng::Rng::for_stream(11, 0);
        let levels = [23usize, 7, 41];
        let codes: Vec<Vec<i64>> = levels.iter().map(|&l| (0..n).map(|_| (rng.uniform() * l as f64) as i64 % l as i64).collect()).collect();
        let x_cm: Vec<f64> = (0..3 * n).map(|i| if i < n { 1.0 } else { 100.0 + rng.normal() }).collect();
        let x_rm: Vec<f64> = (0..3 * n).map(|i| x_cm[(i % 3) * n + i / 3]).collect();
        let z1: Vec<f64> = (0..2 * n).map(|i| if i < n { 1.0 } else { x_cm[n + i - n] }).collect();
        let z2 = vec![1.0; n];
        let z3: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let y: Vec<f64> = (0..n).map(|_| 5.0 + rng.normal()).collect();
        let w: Vec<f64> = (0..n).map(|i| if i % 13 == 0 { 0.0 } else { 0.5 + rng.uniform() }).collect();
        let off: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        let re = RandomEffects::new(&[(23, 2, Arc::new(Unstructured)), (7, 1, Arc::new(Unstructured)), (41, 1, Arc::new(Unstructured))]);
        let data = |x: MatRef<'static, f64>| ModelData {
            x,
            y: Box::leak(y.clone().into_boxed_slice()),
            terms: vec![
                TermData::new(Box::leak(codes[0].clone().into_boxed_slice()), 23, MatRef::from_column_major_slice(Box::leak(z1.clone().into_boxed_slice()), n, 2)),
                TermData::new(Box::leak(codes[1].clone().into_boxed_slice()), 7, MatRef::from_column_major_slice(Box::leak(z2.clone().into_boxed_slice()), n, 1)),
                TermData::new(Box::leak(codes[2].clone().into_boxed_slice()), 41, MatRef::from_column_major_slice(Box::leak(z3.clone().into_boxed_slice()), n, 1)),
            ],
            weights: Some(Box::leak(w.clone().into_boxed_slice())),
            offset: Some(Box::leak(off.clone().into_boxed_slice())),
        };
        let contiguous = data(MatRef::from_column_major_slice(Box::leak(x_cm.into_boxed_slice()), n, 3));
        let strided = data(MatRef::from_row_major_slice(Box::leak(x_rm.into_boxed_slice()), n, 3));
        let generic = CrossProducts::assemble(&strided, strided.weights, &re).unwrap();
        let one = CrossProducts::assemble(&contiguous, contiguous.weights, &re).unwrap();
        let mut two = one.clone();
        assert!(two.accumulate_in_chunks(&contiguous, contiguous.weights, None, false, true, usize::MAX, Some(2)));
        two.subtract_least_squares_fit(&contiguous, contiguous.weights, None);
        let close = |a: &[f64], b: &[f64], what: &str| {
            let scale = a.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for (i, (u, v)) in a.iter().zip(b).enumerate() {
                assert!((u - v).abs() <= 1e-12 * scale, "{what}[{i}]: {u} vs {v}");
            }
        };
        let (ze, xe, ee) = two.residual_sums(&contiguous, contiguous.weights, None, &two.response_shift, Some(2));
        let (p, q) = (two.p, two.q());
        close(&generic.ztxy[p * q..], &ze, "Z'We (two chunks)");
        // X'We is 0 up to rounding: compared on the scale of its Cauchy–Schwarz bound.
        for j in 0..p {
            let bound = (generic.xtxy[j * (p + 1) + j] * ee).sqrt();
            assert!((generic.xtxy[p * (p + 1) + j] - xe[j]).abs() <= 1e-12 * bound, "X'We[{j}] (two chunks)");
        }
        close(&[generic.xtxy[(p + 1) * (p + 1) - 1]], &[ee], "e'We (two chunks)");
        for (other, name) in [(&one, "one chunk"), (&two, "two chunks")] {
            close(&generic.ztz, &other.ztz, &format!("Z'WZ ({name})"));
            close(&generic.ztxy, &other.ztxy, &format!("Z'W[X r] ({name})"));
            for c in 0..p + 1 {
                for r in 0..p + 1 {
                    let bound = (generic.xtxy[c * (p + 1) + c] * generic.xtxy[r * (p + 1) + r]).sqrt();
                    let (u, v) = (generic.xtxy[c * (p + 1) + r], other.xtxy[c * (p + 1) + r]);
                    assert!((u - v).abs() <= 1e-12 * bound, "[X r]'W[X r][{r},{c}] ({name}): {u} vs {v}");
                }
            }
            close(&generic.response_shift, &other.response_shift, &format!("γ ({name})"));
            assert_eq!(generic.n_obs, other.n_obs);
            assert!((generic.sum_log_w - other.sum_log_w).abs() <= 1e-12 * generic.sum_log_w.abs().max(1.0));
        }
    }
}
