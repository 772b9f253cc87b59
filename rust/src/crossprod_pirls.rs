//! The cross-product passes of PIRLS steps (`crossprod.rs` has the structure): Z's part
//! alone for a step with β held, and a pass specialised to models whose random-effects
//! terms are all scalar ((1 | g), (0 + x | g): one column each), the common GLMM, with the
//! column and level lookups hoisted out of the row loop.

use crate::crossprod::{add_to_lower, ColumnReader, CrossProducts};
use crate::data::ModelData;

impl CrossProducts {
    /// Z'WZ and Z'Wr (into the response column of `ztxy`) only, for a PIRLS step with β
    /// held: X's cross-products are left as they were (stale until the next
    /// [`accumulate`](Self::accumulate)). With `weighted`, `response` holds W r already (a
    /// Newton step's right-hand side, whose weights may be 0 or negative). Per term, then
    /// per pair of terms, in passes over the rows.
    pub fn accumulate_z_only(&mut self, data: &ModelData, weights: &[f64], response: &[f64], weighted: bool) {
        let (n, p, q) = (self.n, self.p, self.q());
        self.ztz.fill(0.0);
        let ztr = &mut self.ztxy[p * q..(p + 1) * q];
        ztr.fill(0.0);
        for (t, term) in data.terms.iter().enumerate() {
            let k = self.term_k[t];
            let (base, uoff) = (self.term_block_base[t], self.term_u_offset[t]);
            if k == 1 && term.z.col(0).try_as_col_major().is_some() {
                let z = term.z.col(0).try_as_col_major().unwrap().as_slice();
                for i in 0..n {
                    let w = weights[i];
                    let l = term.codes[i] as usize;
                    let wz = w * z[i];
                    self.ztz[self.block_val[self.block_col_ptr[base + l]]] += wz * z[i];
                    ztr[uoff + l] += if weighted { z[i] * response[i] } else { wz * response[i] };
                }
                continue;
            }
            for i in 0..n {
                let w = weights[i];
                let l = term.codes[i] as usize;
                let diag = self.block_val[self.block_col_ptr[base + l]];
                for a in 0..k {
                    let wa = w * term.z[(i, a)];
                    for b in 0..k {
                        self.ztz[diag + a * k + b] += wa * term.z[(i, b)];
                    }
                    ztr[uoff + l * k + a] += if weighted { term.z[(i, a)] * response[i] } else { wa * response[i] };
                }
            }
        }
        let nt = self.n_terms();
        let mut pair = 0;
        for t in 0..nt {
            let kt = self.term_k[t];
            for s in t + 1..nt {
                let ks = self.term_k[s];
                let slots = &self.pair_slots[pair];
                let (zt, zs) = (data.terms[t].z, data.terms[s].z);
                let scalar = (kt == 1 && ks == 1)
                    .then(|| Some((zt.col(0).try_as_col_major()?.as_slice(), zs.col(0).try_as_col_major()?.as_slice())))
                    .flatten();
                if let Some((z1, z2)) = scalar {
                    // Scalar terms: one product per row, no per-entry indexing.
                    for i in 0..n {
                        self.ztz[self.block_val[slots[i] as usize]] += weights[i] * z1[i] * z2[i];
                    }
                    pair += 1;
                    continue;
                }
                for i in 0..n {
                    let w = weights[i];
                    if w == 0.0 {
                        continue;
                    }
                    let base = self.block_val[slots[i] as usize];
                    for a in 0..kt {
                        let wa = w * zt[(i, a)];
                        for b in 0..ks {
                            self.ztz[base + a * ks + b] += wa * zs[(i, b)];
                        }
                    }
                }
                pair += 1;
            }
        }
    }

    /// [`accumulate`](Self::accumulate)'s pass when every term is scalar and its column
    /// contiguous; false (nothing done) otherwise.
    pub(crate) fn accumulate_scalar_terms(
        &mut self,
        data: &ModelData,
        weights: Option<&[f64]>,
        response: Option<&[f64]>,
        with_response: bool,
        log_weights: bool,
    ) -> bool {
        let z_cols: Option<Vec<&[f64]>> = data
            .terms
            .iter()
            .map(|t| (t.k() == 1).then(|| t.z.col(0).try_as_col_major().map(|c| c.as_slice())).flatten())
            .collect();
        let Some(z_cols) = z_cols else { return false };
        self.ztz.fill(0.0);
        self.ztxy.fill(0.0);
        self.xtxy.fill(0.0);
        self.n_obs = 0;
        let (n, p, q, nt) = (self.n, self.p, self.q(), self.n_terms());
        let pc = p + 1;
        // Per term and level: the position of the diagonal entry in Z'WZ and of the level in u.
        let diag: Vec<Vec<usize>> = (0..nt)
            .map(|t| (0..self.term_levels[t]).map(|l| self.block_val[self.block_col_ptr[self.term_block_base[t] + l]]).collect())
            .collect();
        let x_cols: Vec<ColumnReader> = (0..p).map(|j| ColumnReader::new(data.x, j)).collect();
        let zt_cols = if with_response { pc } else { p };
        // Z'W[X r] level-major while accumulating (a row's columns share a cache line), then
        // into `ztxy`'s column-major layout.
        let mut ztxy_rows = vec![0.0; q * zt_cols];
        let mut xr = vec![0.0; pc];
        let mut log_w = 0.0;
        let mut n_obs = 0;
        for i in 0..n {
            let Some(w) = Self::row_weight(weights, i, log_weights, &mut log_w) else { continue };
            n_obs += 1;
            self.centred_row(data, &x_cols, response, i, &mut xr);
            add_to_lower(&mut self.xtxy, w, &xr);
            for t in 0..nt {
                let l = data.terms[t].codes[i] as usize;
                let z = z_cols[t][i];
                let wz = w * z;
                self.ztz[diag[t][l]] += wz * z;
                let e = (self.term_u_offset[t] + l) * zt_cols;
                for (acc, x) in ztxy_rows[e..e + zt_cols].iter_mut().zip(&xr) {
                    *acc += wz * x;
                }
            }
            let mut pair = 0;
            for t in 0..nt {
                let wz = w * z_cols[t][i];
                for s in t + 1..nt {
                    self.ztz[self.block_val[self.pair_slots[pair][i] as usize]] += wz * z_cols[s][i];
                    pair += 1;
                }
            }
        }
        for e in 0..q {
            for c in 0..zt_cols {
                self.ztxy[c * q + e] = ztxy_rows[e * zt_cols + c];
            }
        }
        self.sum_log_w = if log_weights { log_w } else { f64::NAN };
        self.n_obs = n_obs;
        for c in 0..pc {
            for r in c + 1..pc {
                self.xtxy[r * pc + c] = self.xtxy[c * pc + r];
            }
        }
        true
    }
}
