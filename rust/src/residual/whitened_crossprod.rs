//! Cross-products of whitened rows on the model's block pattern.
//!
//! A whitened row is v = c_i·x_i − c'_i·x_j: row i's values (Z, centred X, the shifted
//! response) less a multiple of its predecessor j's (the serial correlations' bidiagonal
//! inverse factor, see `serial.rs`; c' = 0 without one). The correlation groups are nested
//! in every random-effects level (checked by `SeriesLayout`), so i and j share their levels
//! and v's Z part lands in the blocks row i alone would feed: the symbolic pattern and the
//! analysis stay those of the unweighted model.
//!
//! Two ways to obtain Σ v v' at a parameter value:
//! - [`ClassCrossProducts`]: rows with the same coefficients form a class (same gap, same
//!   strata of i and j). Per class, three cross-products are computed once, S00 = Σ x_i x_i',
//!   S11 = Σ x_j x_j' and D = Σ (x_i − x_j)(x_i − x_j)'; then Σ v v' with coefficients (a, b) is
//!   (a² − ab)·S00 + (b² − ab)·S11 + ab·D (first rows of a group: a²·S00), an
//!   O(classes × stored entries) combination per evaluation, no pass over the rows. D (not
//!   S01 + S10) is stored because it stays well scaled as the correlation tends to 1, where
//!   a and b both grow.
//! - [`RowAccumulator::accumulate`]: one pass over the rows with per-row coefficients (a
//!   variance function of a continuous covariate, or too many classes).

use super::series::NO_PREVIOUS;
use crate::crossprod::{add_to_lower, ColumnReader, CrossProducts};
use crate::data::ModelData;

/// Values of Z'WZ (on the block pattern), Z'W[X r], [X r]'W[X r] and the unshifted
/// response's r'Wr: what a residual structure contributes to [`CrossProducts`].
#[derive(Clone, Debug, Default)]
pub struct CrossProductValues {
    pub ztz: Vec<f64>,
    pub ztxy: Vec<f64>,
    pub xtxy: Vec<f64>,
    pub response_ss: f64,
}

impl CrossProductValues {
    pub fn zeros_like(cp: &CrossProducts) -> Self {
        CrossProductValues { ztz: vec![0.0; cp.ztz.len()], ztxy: vec![0.0; cp.ztxy.len()], xtxy: vec![0.0; cp.xtxy.len()], response_ss: 0.0 }
    }

    pub fn clear(&mut self) {
        self.ztz.fill(0.0);
        self.ztxy.fill(0.0);
        self.xtxy.fill(0.0);
        self.response_ss = 0.0;
    }

    /// Mirrors [X r]'W[X r]'s lower triangle (accumulated alone) to its upper one.
    fn mirror(&mut self, pc: usize) {
        for c in 0..pc {
            for r in c + 1..pc {
                self.xtxy[r * pc + c] = self.xtxy[c * pc + r];
            }
        }
    }

    /// Writes the values into `cp` (same pattern).
    pub fn write_into(&self, cp: &mut CrossProducts) {
        cp.ztz.copy_from_slice(&self.ztz);
        cp.ztxy.copy_from_slice(&self.ztxy);
        cp.xtxy.copy_from_slice(&self.xtxy);
        cp.response_ss = self.response_ss;
    }
}

/// The rows' values a whitening combines, copied once so that evaluations need no data: per
/// row the centred X, the shifted response r_i − (x_i − centre)'γ and Z's columns of every term
/// (the centring and γ of the model's unweighted cross-products, which every structure
/// shares, so that the cross-products are linear in the rows' outer products), the unshifted
/// response, and the levels.
#[derive(Clone, Debug)]
pub struct RowAccumulator {
    width: usize,
    values: Vec<f64>,
    raw: Vec<f64>,
    codes: Vec<Vec<u32>>,
    v: Vec<f64>,
}

impl RowAccumulator {
    pub fn new(data: &ModelData, base: &CrossProducts) -> Self {
        let (n, p) = (data.n(), base.p);
        let width = p + 1 + base.term_k.iter().sum::<usize>();
        let x_cols: Vec<ColumnReader> = (0..p).map(|j| ColumnReader::new(data.x, j)).collect();
        let gamma = &base.response_shift;
        let mut values = vec![0.0; n * width];
        for (i, row) in values.chunks_exact_mut(width).enumerate() {
            base.centred_row(data, &x_cols, None, i, &mut row[..=p]);
            row[p] -= (0..p).map(|j| row[j] * gamma[j]).sum::<f64>();
            let mut at = p + 1;
            for term in &data.terms {
                for a in 0..term.k() {
                    row[at] = term.z[(i, a)];
                    at += 1;
                }
            }
        }
        RowAccumulator {
            width,
            values,
            raw: (0..n).map(|i| data.y[i] - data.offset_at(i)).collect(),
            codes: data.terms.iter().map(|t| t.codes.iter().map(|&c| c as u32).collect()).collect(),
            v: vec![0.0; width],
        }
    }

    /// target += v v' for v = ca·x_i − cb·x_j (`j` = [`NO_PREVIOUS`]: v = ca·x_i), on `cp`'s
    /// pattern. The lower triangle of [X r]'W[X r] only; [`finish`](Self::finish) mirrors it.
    pub fn add(&mut self, cp: &CrossProducts, target: &mut CrossProductValues, i: usize, j: u32, ca: f64, cb: f64) {
        let w = self.width;
        let row = &self.values[i * w..(i + 1) * w];
        let mut raw = ca * self.raw[i];
        if j != NO_PREVIOUS && cb != 0.0 {
            let jj = j as usize;
            let prev = &self.values[jj * w..(jj + 1) * w];
            for ((v, a), b) in self.v.iter_mut().zip(row).zip(prev) {
                *v = ca * a - cb * b;
            }
            raw -= cb * self.raw[jj];
        } else {
            for (v, a) in self.v.iter_mut().zip(row) {
                *v = ca * a;
            }
        }
        self.add_v(cp, target, i, raw, 1.0);
    }

    /// target += weight·v v' for the sum v = Σ_k scale(r_k)·x_{r_k} over `rows` (rows that
    /// share their levels: a correlation group's).
    pub fn add_sum(&mut self, cp: &CrossProducts, target: &mut CrossProductValues, rows: &[u32], scale: &dyn Fn(usize) -> f64, weight: f64) {
        let w = self.width;
        self.v.fill(0.0);
        let mut raw = 0.0;
        for &r in rows {
            let (r, c) = (r as usize, scale(r as usize));
            for (v, a) in self.v.iter_mut().zip(&self.values[r * w..(r + 1) * w]) {
                *v += c * a;
            }
            raw += c * self.raw[r];
        }
        if let Some(&first) = rows.first() {
            self.add_v(cp, target, first as usize, raw, weight);
        }
    }

    /// target += weight·v v' for the combined row in `self.v` (levels those of row i).
    fn add_v(&mut self, cp: &CrossProducts, target: &mut CrossProductValues, i: usize, raw: f64, weight: f64) {
        let (p, q) = (cp.p, cp.q());
        let v = &self.v;
        target.response_ss += weight * raw * raw;
        add_to_lower(&mut target.xtxy, weight, &v[..=p]);
        let nt = cp.n_terms();
        let mut z_at = p + 1;
        for t in 0..nt {
            let k = cp.term_k[t];
            let z = &v[z_at..z_at + k];
            let level = self.codes[t][i] as usize;
            let g = cp.term_block_base[t] + level;
            let diag = cp.block_val[cp.block_col_ptr[g]];
            for a in 0..k {
                let wa = weight * z[a];
                for b in 0..k {
                    target.ztz[diag + a * k + b] += wa * z[b];
                }
            }
            let ubase = cp.term_u_offset[t] + level * k;
            for c in 0..=p {
                let wc = weight * v[c];
                let col = &mut target.ztxy[c * q + ubase..c * q + ubase + k];
                for a in 0..k {
                    col[a] += wc * z[a];
                }
            }
            z_at += k;
        }
        if nt > 1 {
            let mut pair = 0;
            let mut t_at = p + 1;
            for t in 0..nt {
                let kt = cp.term_k[t];
                let mut s_at = t_at + kt;
                for s in t + 1..nt {
                    let ks = cp.term_k[s];
                    let at = cp.block_val[cp.pair_slots[pair][i] as usize];
                    for a in 0..kt {
                        let wa = weight * v[t_at + a];
                        for b in 0..ks {
                            target.ztz[at + a * ks + b] += wa * v[s_at + b];
                        }
                    }
                    pair += 1;
                    s_at += ks;
                }
                t_at += kt;
            }
        }
    }

    /// Mirrors the [X r] block after the last `add`.
    pub fn finish(&self, cp: &CrossProducts, target: &mut CrossProductValues) {
        target.mirror(cp.p + 1);
    }

    /// One pass: target = Σ_i v_i v_i' with coefficients `coefficients(i) = (a_i, b_i)` and
    /// predecessors `previous`; rows whose a_i is 0 are skipped.
    pub fn accumulate(&mut self, cp: &CrossProducts, target: &mut CrossProductValues, previous: &[u32], mut coefficients: impl FnMut(usize) -> (f64, f64)) {
        target.clear();
        for i in 0..previous.len() {
            let (a, b) = coefficients(i);
            if a != 0.0 {
                self.add(cp, target, i, previous[i], a, b);
            }
        }
        self.finish(cp, target);
    }
}

/// Cross-products of several bases on one pattern (per class of rows: S00, S11 and D of a
/// serial correlation's class, or a group size's sums under compound symmetry), stored
/// entry-major (the values of one entry side by side) so that a combination with one
/// coefficient per basis is one sequential pass.
#[derive(Clone, Debug)]
pub struct ClassCrossProducts {
    n_bases: usize,
    ztz: Vec<f64>,
    ztxy: Vec<f64>,
    xtxy: Vec<f64>,
    response_ss: Vec<f64>,
}

/// Per class: the index of its first basis (3 for a class with a predecessor, else 1).
pub fn serial_basis_starts(lagged: &[bool]) -> (Vec<usize>, usize) {
    let mut starts = Vec::with_capacity(lagged.len());
    let mut n = 0;
    for &l in lagged {
        starts.push(n);
        n += if l { 3 } else { 1 };
    }
    (starts, n)
}

/// The bases' coefficients of classes with whitening coefficients (a_c, b_c):
/// (a² − ab, b² − ab, ab) on (S00, S11, D), a² on a first-row class's S00.
pub fn serial_basis_coefficients(lagged: &[bool], starts: &[usize], class_coefficients: &[(f64, f64)], out: &mut [f64]) {
    for (c, &(a, b)) in class_coefficients.iter().enumerate() {
        let m = starts[c];
        if lagged[c] {
            out[m] = a * a - a * b;
            out[m + 1] = b * b - a * b;
            out[m + 2] = a * b;
        } else {
            out[m] = a * a;
        }
    }
}

impl ClassCrossProducts {
    /// Stored values per basis times the number of bases: the multiply-adds of one combination.
    pub fn combination_cost(n_bases: usize, cp: &CrossProducts) -> usize {
        n_bases * (cp.ztz.len() + cp.ztxy.len() + cp.xtxy.len())
    }

    /// One pass over the rows: row i (class `class_of[i]`, scaled by `scale[i]`, e.g. the
    /// square root of its prior weight) feeds its class's bases S00, and with a predecessor
    /// j also S11 and D.
    pub fn assemble_serial(acc: &mut RowAccumulator, cp: &CrossProducts, previous: &[u32], class_of: &[u32], lagged: &[bool], scale: &dyn Fn(usize) -> f64) -> Self {
        let (starts, n_bases) = serial_basis_starts(lagged);
        let mut bases: Vec<CrossProductValues> = (0..n_bases).map(|_| CrossProductValues::zeros_like(cp)).collect();
        for i in 0..previous.len() {
            let si = scale(i);
            if si == 0.0 {
                continue;
            }
            let c = class_of[i] as usize;
            let first = starts[c];
            acc.add(cp, &mut bases[first], i, NO_PREVIOUS, si, 0.0);
            if lagged[c] {
                let j = previous[i];
                let sj = scale(j as usize);
                acc.add(cp, &mut bases[first + 1], j as usize, NO_PREVIOUS, sj, 0.0);
                acc.add(cp, &mut bases[first + 2], i, j, si, sj);
            }
        }
        for b in bases.iter_mut() {
            acc.finish(cp, b);
        }
        Self::from_bases(&bases)
    }

    /// Interleaves the bases' values.
    pub fn from_bases(bases: &[CrossProductValues]) -> Self {
        let n_bases = bases.len();
        let interleave = |part: &dyn Fn(&CrossProductValues) -> &Vec<f64>| -> Vec<f64> {
            let len = part(&bases[0]).len();
            let mut out = vec![0.0; len * n_bases];
            for (m, b) in bases.iter().enumerate() {
                for (k, v) in part(b).iter().enumerate() {
                    out[k * n_bases + m] = *v;
                }
            }
            out
        };
        ClassCrossProducts {
            ztz: interleave(&|b| &b.ztz),
            ztxy: interleave(&|b| &b.ztxy),
            xtxy: interleave(&|b| &b.xtxy),
            response_ss: bases.iter().map(|b| b.response_ss).collect(),
            n_bases,
        }
    }

    pub fn n_bases(&self) -> usize {
        self.n_bases
    }

    /// Writes Σ_m coefficients[m]·basis_m into `cp`.
    pub fn combine_into(&self, coefficients: &[f64], cp: &mut CrossProducts) {
        let nb = self.n_bases;
        debug_assert_eq!(coefficients.len(), nb);
        for (dst, src) in [(&mut cp.ztz, &self.ztz), (&mut cp.ztxy, &self.ztxy), (&mut cp.xtxy, &self.xtxy)] {
            for (d, chunk) in dst.iter_mut().zip(src.chunks_exact(nb)) {
                *d = chunk.iter().zip(coefficients).map(|(v, c)| v * c).sum();
            }
        }
        cp.response_ss = self.response_ss.iter().zip(coefficients).map(|(v, c)| v * c).sum();
    }
}
