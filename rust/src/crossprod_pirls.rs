//! The cross-product pass of PIRLS steps with β held (`crossprod.rs` has the structure):
//! Z's part alone.

use crate::crossprod::CrossProducts;
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
}
