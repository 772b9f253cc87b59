//! O(n) assembly of the weighted cross-products of [Z X y].
//!
//! Z is never formed. Its columns are grouped per term and level, so Z'WZ is block sparse:
//! a k_t × k_t diagonal block per level, and k_s × k_t blocks between a level of term t and
//! each level of a later term s that shares an observation with it (levels of one term
//! never share a row). The block pattern is found once by bucketing the rows by level; each
//! row also remembers which off-diagonal block it feeds (`pair_slots`), so that a GLMM's
//! PIRLS step can re-accumulate new weights in one O(n) pass with no new symbolic work.
//!
//! When X has an intercept (a constant column), the other columns enter centred at their
//! weighted means: X_c = X M with M = I - e₀m'/c unit triangular, so the likelihood and
//! log|R_X| are unchanged, and X'WX - R_ZX'R_ZX no longer loses the digits of columns with
//! large means (x near 10⁶ would lose about twelve). Coefficients and their covariance are
//! mapped back with M ([`CrossProducts::to_original_coefficients`]).

use crate::linalg::small_cholesky_lower;
use crate::error::{invalid, Result};
use crate::covariance::RandomEffects;
use crate::data::ModelData;

/// Block-sparse lower triangle of Z'WZ plus the dense cross-products with X and y.
#[derive(Clone, Debug)]
pub struct CrossProducts {
    pub n: usize,
    pub p: usize,
    /// Per term: number of levels, columns, first block id, first element (u) index.
    pub term_levels: Vec<usize>,
    pub term_k: Vec<usize>,
    pub term_block_base: Vec<usize>,
    pub term_u_offset: Vec<usize>,
    /// Block id → term.
    pub block_term: Vec<u32>,
    /// Block-column pointers into `block_row` (the diagonal block comes first in each).
    pub block_col_ptr: Vec<usize>,
    /// Block-row id of each stored block (sorted within a block column).
    pub block_row: Vec<u32>,
    /// Offset of each stored block's values (column-major k_row × k_col).
    pub block_val: Vec<usize>,
    /// Z'WZ block values.
    pub ztz: Vec<f64>,
    /// For each pair of terms (t, s), t < s, in order (0,1),(0,2),..,(1,2),..: the stored
    /// block each row contributes to.
    pub(crate) pair_slots: Vec<Vec<u32>>,
    /// Z'W[X r] (q × (p+1), column-major; the last column is the response).
    pub ztxy: Vec<f64>,
    /// [X r]'W[X r] ((p+1) × (p+1), column-major, full).
    pub xtxy: Vec<f64>,
    /// Σ log w_i over rows with positive weight (lme4's ldW); NaN after a pass without
    /// `log_weights` (a GLMM's PIRLS step).
    pub sum_log_w: f64,
    /// Number of rows with positive weight: the observations of the likelihood. A row with
    /// weight 0 contributes nothing, so the fit equals the fit with that row dropped.
    pub n_obs: usize,
    /// γ: the weighted least-squares coefficients of the response on X, already subtracted
    /// from the response in every cross-product above (see [`CrossProducts::accumulate`]).
    pub response_shift: Vec<f64>,
    /// r'Wr of the response before that subtraction.
    pub response_ss: f64,
    /// The intercept column and its constant value, when X has one.
    pub intercept: Option<(usize, f64)>,
    /// What is subtracted from each column of X (weighted means; 0 for the intercept and
    /// for every column when there is no intercept). Fixed at assembly.
    pub x_centre: Vec<f64>,
}

impl CrossProducts {
    /// Finds the block pattern and accumulates the cross-products with these weights (the
    /// residual covariance's precision weights) and the response y - offset.
    pub fn assemble(data: &ModelData, weights: Option<&[f64]>, random_effects: &RandomEffects) -> Result<Self> {
        data.validate()?;
        let n = data.n();
        let p = data.p();
        let nt = data.terms.len();
        let term_levels: Vec<usize> = data.terms.iter().map(|t| t.n_levels).collect();
        let term_k: Vec<usize> = data.terms.iter().map(|t| t.k()).collect();
        let mut term_block_base = Vec::with_capacity(nt + 1);
        let mut acc = 0usize;
        for &l in &term_levels {
            term_block_base.push(acc);
            acc += l;
        }
        term_block_base.push(acc);
        let n_blocks = acc;
        if n_blocks > u32::MAX as usize - 1 {
            return invalid("too many random-effect levels in total");
        }
        let term_u_offset: Vec<usize> = random_effects.terms.iter().map(|t| t.u_offset).collect();
        let mut block_term = Vec::with_capacity(n_blocks);
        for (t, &l) in term_levels.iter().enumerate() {
            block_term.extend(std::iter::repeat(t as u32).take(l));
        }

        let pattern_phase = crate::timing::Phase::start("assembly-pattern");
        // Rows bucketed by level, per term with a later term to pair with (counting sort).
        let buckets: Vec<(Vec<usize>, Vec<u32>)> = data.terms[..nt.saturating_sub(1)]
            .iter()
            .map(|term| {
                let mut start = vec![0usize; term.n_levels + 1];
                for &c in term.codes {
                    start[c as usize + 1] += 1;
                }
                for l in 0..term.n_levels {
                    start[l + 1] += start[l];
                }
                let mut next = start.clone();
                let mut rows = vec![0u32; n];
                for (i, &c) in term.codes.iter().enumerate() {
                    rows[next[c as usize]] = i as u32;
                    next[c as usize] += 1;
                }
                (start, rows)
            })
            .collect();

        let n_pairs = nt * nt.saturating_sub(1) / 2;
        let mut pair_slots: Vec<Vec<u32>> = (0..n_pairs).map(|_| vec![0u32; n]).collect();
        let max_levels = term_levels.iter().copied().max().unwrap_or(0);
        let mut seen: Vec<Vec<u32>> = term_levels.iter().map(|&l| vec![u32::MAX; l]).collect();
        let mut slot_of_level = vec![0u32; max_levels];

        let mut block_col_ptr = Vec::with_capacity(n_blocks + 1);
        let mut block_row: Vec<u32> = Vec::with_capacity(n_blocks * nt);
        block_col_ptr.push(0);
        let pair_of = |t: usize, s: usize| -> usize {
            // index of (t, s), t < s, in the order (0,1),(0,2),...,(1,2),...
            t * nt - t * (t + 1) / 2 + (s - t - 1)
        };
        for t in 0..nt {
            for l in 0..term_levels[t] {
                let g = (term_block_base[t] + l) as u32;
                block_row.push(g);
                for s in t + 1..nt {
                    let (start, rows) = &buckets[t];
                    let bucket = &rows[start[l]..start[l + 1]];
                    let codes_s = data.terms[s].codes;
                    let seg_start = block_row.len();
                    for &i in bucket {
                        let ls = codes_s[i as usize] as usize;
                        if seen[s][ls] != g {
                            seen[s][ls] = g;
                            block_row.push((term_block_base[s] + ls) as u32);
                        }
                    }
                    block_row[seg_start..].sort_unstable();
                    for (j, &br) in block_row[seg_start..].iter().enumerate() {
                        slot_of_level[br as usize - term_block_base[s]] = (seg_start + j) as u32;
                    }
                    let slots = &mut pair_slots[pair_of(t, s)];
                    for &i in bucket {
                        slots[i as usize] = slot_of_level[codes_s[i as usize] as usize];
                    }
                }
                block_col_ptr.push(block_row.len());
            }
        }
        if block_row.len() > u32::MAX as usize - 1 {
            return invalid("the random-effects cross-product has too many blocks");
        }
        let mut block_val = Vec::with_capacity(block_row.len() + 1);
        let mut v = 0usize;
        for g in 0..n_blocks {
            let kc = term_k[block_term[g] as usize];
            for &br in &block_row[block_col_ptr[g]..block_col_ptr[g + 1]] {
                block_val.push(v);
                v += kc * term_k[block_term[br as usize] as usize];
            }
        }
        block_val.push(v);
        let q = random_effects.q;
        let (intercept, x_centre) = centring(data, weights);
        let mut cp = CrossProducts {
            n,
            p,
            term_levels,
            term_k,
            term_block_base,
            term_u_offset,
            block_term,
            block_col_ptr,
            block_row,
            block_val,
            ztz: vec![0.0; v],
            pair_slots,
            ztxy: vec![0.0; q * (p + 1)],
            xtxy: vec![0.0; (p + 1) * (p + 1)],
            sum_log_w: 0.0,
            n_obs: 0,
            response_shift: vec![0.0; p],
            response_ss: 0.0,
            intercept,
            x_centre,
        };
        pattern_phase.finish();
        cp.accumulate(data, weights, None);
        Ok(cp)
    }

    pub fn n_terms(&self) -> usize {
        self.term_k.len()
    }

    pub fn q(&self) -> usize {
        self.ztxy.len() / (self.p + 1)
    }

    /// Re-accumulates every cross-product with new weights and response, reusing the block
    /// pattern. `response = None` means y - offset.
    ///
    /// The response enters as r - Xγ, γ its weighted least-squares fit on X. The profiled
    /// likelihood does not change (β absorbs γ), but the penalized residual sum of squares,
    /// obtained by subtracting squared norms from r'Wr, then no longer cancels away the
    /// digits of a response with a large mean (a response near 10⁸ would otherwise lose
    /// the objective's precision entirely). β̂ is reported with γ added back.
    ///
    /// A working response (`response = Some`, PIRLS) is taken as it is, in one pass: its
    /// scale is that of the linear predictor, the GLMM uses the solution and log|L|² but not
    /// the penalized residual sum of squares, and the second pass would double the cost of
    /// every PIRLS step.
    pub fn accumulate(&mut self, data: &ModelData, weights: Option<&[f64]>, response: Option<&[f64]>) {
        self.accumulate_with(data, weights, response, true);
    }

    /// [`accumulate`](Self::accumulate), with Σ log w of the weights only when `log_weights`
    /// (a GLMM's PIRLS step spares that logarithm per row: only the Gaussian profiled
    /// objective uses it).
    pub(crate) fn accumulate_with(&mut self, data: &ModelData, weights: Option<&[f64]>, response: Option<&[f64]>, log_weights: bool) {
        let one_pass = response.is_some();
        let phase = crate::timing::Phase::start("assembly-pass");
        self.accumulate_raw(data, weights, response, one_pass, log_weights);
        phase.finish();
        let _phase = crate::timing::Phase::start("assembly-response-pass");
        if one_pass {
            self.response_ss = self.xtxy[(self.p + 1) * (self.p + 1) - 1];
            self.response_shift.fill(0.0);
        } else {
            self.subtract_least_squares_fit(data, weights, response);
        }
    }

    /// Z'WZ, X'WX, X'Wr and (when `with_response`) Z'Wr in one pass over the rows.
    fn accumulate_raw(
        &mut self,
        data: &ModelData,
        weights: Option<&[f64]>,
        response: Option<&[f64]>,
        with_response: bool,
        log_weights: bool,
    ) {
        if self.accumulate_in_chunks(data, weights, response, with_response, log_weights, LEVEL_MAJOR_MAX, None) {
            return;
        }
        self.ztz.fill(0.0);
        self.ztxy.fill(0.0);
        self.xtxy.fill(0.0);
        self.sum_log_w = 0.0;
        self.n_obs = 0;
        let n = self.n;
        let p = self.p;
        let q = self.q();
        let nt = self.n_terms();
        let mut xr = vec![0.0; p + 1];
        let mut zrow: Vec<Vec<f64>> = self.term_k.iter().map(|&k| vec![0.0; k]).collect();
        // Z'W[X r] columns to accumulate in this pass: X's, and r's when asked.
        let zt_cols = if with_response { p + 1 } else { p };
        let x_cols: Vec<ColumnReader> = (0..p).map(|j| ColumnReader::new(data.x, j)).collect();
        // Z'W[X r] level-major while accumulating (a level's k × zt_cols values contiguous: a
        // row updates one or two cache lines instead of one per column of [X r], which is
        // what the pass costs once the levels outgrow the cache), then into `ztxy`'s
        // column-major layout, as the scalar-term pass does. Past LEVEL_MAJOR_MAX values the
        // copy is not worth its memory and the columns are updated in place.
        let level_major = q * zt_cols <= LEVEL_MAJOR_MAX;
        let mut ztxy_rows = if level_major { vec![0.0; q * zt_cols] } else { Vec::new() };
        let mut log_w = 0.0;
        for i in 0..n {
            let Some(w) = Self::row_weight(weights, i, log_weights, &mut log_w) else { continue };
            self.n_obs += 1;
            self.centred_row(data, &x_cols, response, i, &mut xr);
            add_to_lower(&mut self.xtxy, w, &xr);
            for t in 0..nt {
                let term = &data.terms[t];
                let k = self.term_k[t];
                for a in 0..k {
                    zrow[t][a] = term.z[(i, a)];
                }
                let level = term.codes[i] as usize;
                let g = self.term_block_base[t] + level;
                let diag = self.block_val[self.block_col_ptr[g]];
                let z = &zrow[t];
                for a in 0..k {
                    let wa = w * z[a];
                    for b in 0..k {
                        self.ztz[diag + a * k + b] += wa * z[b];
                    }
                }
                let ubase = self.term_u_offset[t] + level * k;
                // Without `with_response`, Z'W r is left to subtract_least_squares_fit, which
                // builds it from r - Xγ.
                if level_major {
                    let rows = &mut ztxy_rows[ubase * zt_cols..(ubase + k) * zt_cols];
                    for c in 0..zt_cols {
                        let wc = w * xr[c];
                        for a in 0..k {
                            rows[a * zt_cols + c] += wc * z[a];
                        }
                    }
                } else {
                    for c in 0..zt_cols {
                        let wc = w * xr[c];
                        let col = &mut self.ztxy[c * q + ubase..c * q + ubase + k];
                        for a in 0..k {
                            col[a] += wc * z[a];
                        }
                    }
                }
            }
            let mut pair = 0;
            for t in 0..nt {
                let kt = self.term_k[t];
                for s in t + 1..nt {
                    let ks = self.term_k[s];
                    let slot = self.pair_slots[pair][i] as usize;
                    let base = self.block_val[slot];
                    for a in 0..kt {
                        let wa = w * zrow[t][a];
                        for b in 0..ks {
                            self.ztz[base + a * ks + b] += wa * zrow[s][b];
                        }
                    }
                    pair += 1;
                }
            }
        }
        if level_major {
            for u in 0..q {
                for c in 0..zt_cols {
                    self.ztxy[c * q + u] = ztxy_rows[u * zt_cols + c];
                }
            }
        }
        self.sum_log_w = if log_weights { log_w } else { f64::NAN };
        let pc = p + 1;
        for c in 0..pc {
            for r in c + 1..pc {
                self.xtxy[r * pc + c] = self.xtxy[c * pc + r];
            }
        }
    }

    /// Row i's weight, None where it is 0 (the row contributes nothing); with `log_weights`,
    /// adds log w to `log_w` (Σ log w belongs to the Gaussian likelihood of prior weights).
    #[inline]
    pub(crate) fn row_weight(weights: Option<&[f64]>, i: usize, log_weights: bool, log_w: &mut f64) -> Option<f64> {
        let w = weights.map_or(1.0, |w| w[i]);
        if w == 0.0 {
            return None;
        }
        if w != 1.0 && log_weights {
            *log_w += w.ln();
        }
        Some(w)
    }

    /// Row i of [X r] into `xr`: X's columns centred, r the response (y - offset by default).
    #[inline]
    pub(crate) fn centred_row(&self, data: &ModelData, x_cols: &[ColumnReader], response: Option<&[f64]>, i: usize, xr: &mut [f64]) {
        let p = self.p;
        for j in 0..p {
            xr[j] = x_cols[j].get(i) - self.x_centre[j];
        }
        xr[p] = match response {
            Some(r) => r[i],
            None => data.y[i] - data.offset_at(i),
        };
    }

    /// out = Z'WZ x for a q × r block of columns (the stored lower blocks applied both ways).
    pub fn ztz_mul(&self, x: faer::MatRef<'_, f64>, mut out: faer::MatMut<'_, f64>) {
        let (q, r) = (self.q(), x.ncols());
        // Column slices of x and out (copies where a column is strided), then one pass over
        // the blocks for all columns.
        let xs: Vec<std::borrow::Cow<'_, [f64]>> = (0..r)
            .map(|j| match x.col(j).try_as_col_major() {
                Some(c) => std::borrow::Cow::Borrowed(c.as_slice()),
                None => std::borrow::Cow::Owned((0..q).map(|i| x[(i, j)]).collect()),
            })
            .collect();
        let contiguous = (0..r).all(|j| out.as_ref().col(j).try_as_col_major().is_some());
        let mut own: Vec<Vec<f64>> = Vec::new();
        let mut os: Vec<&mut [f64]> = if contiguous {
            out.as_mut().col_iter_mut().map(|c| c.try_as_col_major_mut().expect("checked above").as_slice_mut()).collect()
        } else {
            own = vec![vec![0.0; q]; r];
            own.iter_mut().map(|v| v.as_mut_slice()).collect()
        };
        for o in os.iter_mut() {
            o.fill(0.0);
        }
        let elem = |g: usize| -> (usize, usize) {
            let t = self.block_term[g] as usize;
            let k = self.term_k[t];
            (self.term_u_offset[t] + (g - self.term_block_base[t]) * k, k)
        };
        for g in 0..self.block_term.len() {
            let (cb, kc) = elem(g);
            let first = self.block_col_ptr[g];
            for s in first..self.block_col_ptr[g + 1] {
                let (rb, kr) = elem(self.block_row[s] as usize);
                let m = &self.ztz[self.block_val[s]..self.block_val[s] + kr * kc];
                for (xj, oj) in xs.iter().zip(os.iter_mut()) {
                    for a in 0..kc {
                        let xa = xj[cb + a];
                        let col = &m[a * kr..(a + 1) * kr];
                        for b in 0..kr {
                            oj[rb + b] += col[b] * xa;
                        }
                    }
                    if s != first {
                        for a in 0..kc {
                            let col = &m[a * kr..(a + 1) * kr];
                            oj[cb + a] += (0..kr).map(|b| col[b] * xj[rb + b]).sum::<f64>();
                        }
                    }
                }
            }
        }
        drop(os);
        for (j, o) in own.into_iter().enumerate() {
            for (i, v) in o.into_iter().enumerate() {
                out[(i, j)] = v;
            }
        }
    }

    /// Replaces the response only (same rows, weights and design, e.g. a bootstrap
    /// replicate): X'Wr, r'Wr and Z'Wr are recomputed from y - offset, Z'WZ and X'WX are
    /// kept. Two passes over the rows touching the response's cross-products only.
    pub fn replace_response(&mut self, data: &ModelData, weights: Option<&[f64]>) {
        let (p, pc) = (self.p, self.p + 1);
        let x_cols: Vec<ColumnReader> = (0..p).map(|j| ColumnReader::new(data.x, j)).collect();
        let mut xr = vec![0.0; pc];
        let mut xy = vec![0.0; pc];
        for i in 0..self.n {
            let w = weights.map_or(1.0, |w| w[i]);
            if w == 0.0 {
                continue;
            }
            self.centred_row(data, &x_cols, None, i, &mut xr);
            let wr = w * xr[p];
            for (acc, x) in xy.iter_mut().zip(&xr) {
                *acc += wr * x;
            }
        }
        for j in 0..pc {
            self.xtxy[p * pc + j] = xy[j];
            self.xtxy[j * pc + p] = xy[j];
        }
        self.subtract_least_squares_fit(data, weights, None);
    }

    /// Replaces the response r by r - Xγ in the cross-products (see [`accumulate`](Self::accumulate)),
    /// with one more pass over the rows for the terms that involve the response.
    pub(crate) fn subtract_least_squares_fit(&mut self, data: &ModelData, weights: Option<&[f64]>, response: Option<&[f64]>) {
        let (p, pc, q) = (self.p, self.p + 1, self.q());
        self.response_ss = self.xtxy[pc * pc - 1];
        self.response_shift.fill(0.0);
        // γ from X'WX γ = X'Wr by a small Cholesky; left at 0 when X is rank deficient
        // (the penalized least squares reports that case itself).
        let mut l = faer::Mat::<f64>::from_fn(p, p, |i, j| self.xtxy[j * pc + i]);
        if small_cholesky_lower(l.as_mut(), p, 1e-12).is_err() {
            return;
        }
        let mut g = faer::Mat::<f64>::from_fn(p, 1, |j, _| self.xtxy[p * pc + j]);
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(l.as_ref(), g.as_mut(), faer::Par::Seq);
        faer::linalg::triangular_solve::solve_upper_triangular_in_place(l.transpose(), g.as_mut(), faer::Par::Seq);
        let gamma: Vec<f64> = (0..p).map(|j| g[(j, 0)]).collect();
        // Recompute every cross-product with the response from the residuals e = r - Xγ.
        let (ze, xe, ee) = self.residual_sums(data, weights, response, &gamma, None);
        self.ztxy[p * q..(p + 1) * q].copy_from_slice(&ze);
        for j in 0..p {
            self.xtxy[p * pc + j] = xe[j];
            self.xtxy[j * pc + p] = xe[j];
        }
        self.xtxy[pc * pc - 1] = ee;
        self.response_shift = gamma;
    }
}

/// Most values of Z'W[X r] accumulated level-major in a copy (256 MB of f64).
const LEVEL_MAJOR_MAX: usize = 1 << 25;

/// Reads one column of X: from a slice when the column is contiguous (Fortran order), else
/// through the matrix view.
pub(crate) struct ColumnReader<'a> {
    slice: Option<&'a [f64]>,
    x: faer::MatRef<'a, f64>,
    j: usize,
}

impl<'a> ColumnReader<'a> {
    pub(crate) fn new(x: faer::MatRef<'a, f64>, j: usize) -> Self {
        let slice = (x.row_stride() == 1).then(|| x.col(j).try_as_col_major().map(|c| c.as_slice())).flatten();
        ColumnReader { slice, x, j }
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> f64 {
        match self.slice {
            Some(s) => s[i],
            None => self.x[(i, self.j)],
        }
    }
}

/// a += w x x' on the lower triangle of the square column-major `a` (mirrored after a pass).
#[inline]
pub(crate) fn add_to_lower(a: &mut [f64], w: f64, x: &[f64]) {
    let m = x.len();
    for c in 0..m {
        let wc = w * x[c];
        let col = &mut a[c * m..(c + 1) * m];
        for r in c..m {
            col[r] += wc * x[r];
        }
    }
}

/// The intercept column (all entries one non-zero value) and the weighted mean of every
/// other column, when there is an intercept; no centring otherwise (it would change the
/// model).
fn centring(data: &ModelData, weights: Option<&[f64]>) -> (Option<(usize, f64)>, Vec<f64>) {
    let (n, p) = (data.n(), data.p());
    let mut centre = vec![0.0; p];
    let intercept = (0..p).find_map(|j| {
        let c = data.x[(0, j)];
        (c != 0.0 && (1..n).all(|i| data.x[(i, j)] == c)).then_some((j, c))
    });
    if let Some((j0, _)) = intercept {
        let total: f64 = weights.map_or(n as f64, |w| w.iter().sum());
        for (j, m) in centre.iter_mut().enumerate() {
            if j != j0 && total > 0.0 {
                *m = (0..n).map(|i| weights.map_or(1.0, |w| w[i]) * data.x[(i, j)]).sum::<f64>() / total;
            }
        }
    }
    (intercept, centre)
}

impl CrossProducts {
    /// β = Mβ_c: coefficients of the centred columns back to the columns of X.
    pub fn to_original_coefficients(&self, beta: &mut [f64]) {
        if let Some((j0, c)) = self.intercept {
            let shift: f64 = (0..self.p).map(|j| self.x_centre[j] / c * beta[j]).sum();
            beta[j0] -= shift;
        }
    }

    /// β_c = M⁻¹β: coefficients of the columns of X to those of the centred columns.
    pub fn to_centred_coefficients(&self, beta: &mut [f64]) {
        if let Some((j0, c)) = self.intercept {
            let shift: f64 = (0..self.p).map(|j| self.x_centre[j] / c * beta[j]).sum();
            beta[j0] += shift;
        }
    }

    /// V = M V_c M' for a p × p column-major covariance of centred coefficients.
    pub fn to_original_covariance(&self, v: &mut [f64]) {
        let p = self.p;
        if let Some((j0, c)) = self.intercept {
            let a: Vec<f64> = self.x_centre.iter().map(|m| m / c).collect();
            // Rows: row j0 -= a' V (column by column), then columns: column j0 -= V a.
            for col in 0..p {
                let s: f64 = (0..p).map(|j| a[j] * v[col * p + j]).sum();
                v[col * p + j0] -= s;
            }
            for row in 0..p {
                let s: f64 = (0..p).map(|j| a[j] * v[j * p + row]).sum();
                v[j0 * p + row] -= s;
            }
        }
    }
}
