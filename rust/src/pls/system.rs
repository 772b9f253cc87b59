//! The linear system of one θ: A(θ) = Λ'Z'WZΛ + I written into the factor's value array,
//! and Λ'Z'W[X r], both from the cross-products and the terms' templates (small dense
//! kernels per block, using that templates are lower triangular).

use super::LinearMixedModel;
use crate::crossprod::CrossProducts;
use faer::Mat;

/// The element-level lower pattern of A (CSC: column pointers, row indices) from the
/// block pattern of the cross-products, and per stored block the offset of its rows inside
/// each element column (off-diagonal blocks only; diagonal blocks sit at the top).
pub(super) fn element_pattern(cp: &CrossProducts, q: usize) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    // Element-level lower pattern of A from the block pattern.
    let n_blocks = cp.block_term.len();
    let mut col_ptr = Vec::with_capacity(q + 1);
    let mut row_idx = Vec::new();
    let mut block_row_off = vec![0usize; cp.block_row.len()];
    col_ptr.push(0usize);
    for g in 0..n_blocks {
        let t = cp.block_term[g] as usize;
        let k = cp.term_k[t];
        let level = g - cp.term_block_base[t];
        let jbase = cp.term_u_offset[t] + level * k;
        let blocks = cp.block_col_ptr[g]..cp.block_col_ptr[g + 1];
        let mut off = 0;
        for s in blocks.clone().skip(1) {
            block_row_off[s] = off;
            off += cp.term_k[cp.block_term[cp.block_row[s] as usize] as usize];
        }
        for a in 0..k {
            for b in a..k {
                row_idx.push(jbase + b);
            }
            for s in blocks.clone().skip(1) {
                let br = cp.block_row[s] as usize;
                let tr = cp.block_term[br] as usize;
                let kr = cp.term_k[tr];
                let rbase = cp.term_u_offset[tr] + (br - cp.term_block_base[tr]) * kr;
                row_idx.extend(rbase..rbase + kr);
            }
            col_ptr.push(row_idx.len());
        }
    }
    (col_ptr, row_idx, block_row_off)
}

impl LinearMixedModel {
    /// Writes A(θ) = Λ'Z'WZΛ + I into `a_values` and Λ'Z'W[X r] into `scaled`.
    pub(super) fn update_system(&mut self, theta: &[f64]) {
        self.update_a(theta);
        // Λ'Z'W[X r]: per level, T' times the level's k rows.
        let q = self.random_effects.q;
        // (straight into `scaled`'s columns: a fresh q-vector per evaluation would be new,
        // kernel-zeroed pages on large models)
        let mut scaled = std::mem::replace(&mut self.scaled, Mat::zeros(0, 0));
        for c in 0..self.cp.p + 1 {
            let column = scaled.col_mut(c).try_as_col_major_mut().expect("a Mat's columns are contiguous").as_slice_mut();
            self.lambda_t_mul(&self.cp.ztxy[c * q..(c + 1) * q], column);
        }
        self.scaled = scaled;
    }

    /// Sets the templates to θ's and writes A(θ) = Λ'Z'WZΛ + I into `a_values`.
    pub(super) fn update_a(&mut self, theta: &[f64]) {
        self.random_effects.fill_templates(theta, &self.template_off, &mut self.templates);
        if self.cp.term_k.iter().all(|&k| k == 1) {
            self.update_a_scalar();
            return;
        }
        let cp = &self.cp;
        let col_ptr = self.chol.col_ptr();
        for g in 0..cp.block_term.len() {
            let t = cp.block_term[g] as usize;
            let k = cp.term_k[t];
            let tc = &self.templates[self.template_off[t]..self.template_off[t + 1]];
            let level = g - cp.term_block_base[t];
            let jbase = cp.term_u_offset[t] + level * k;
            let first = cp.block_col_ptr[g];
            for s in first..cp.block_col_ptr[g + 1] {
                let br = cp.block_row[s] as usize;
                let tr = cp.block_term[br] as usize;
                let kr = cp.term_k[tr];
                let m = &cp.ztz[cp.block_val[s]..cp.block_val[s] + kr * k];
                if k == 1 && kr == 1 {
                    let v = self.templates[self.template_off[tr]] * m[0] * tc[0];
                    let dest = if s == first { col_ptr[jbase] } else { col_ptr[jbase] + 1 + self.block_row_off[s] };
                    self.a_values[dest] = if s == first { v + 1.0 } else { v };
                    continue;
                }
                let trm = &self.templates[self.template_off[tr]..self.template_off[tr + 1]];
                // tmp = M T (kr × k), T lower triangular
                let tmp = &mut self.block_tmp[..kr * k];
                for a in 0..k {
                    for b in 0..kr {
                        let mut acc = 0.0;
                        for c in a..k {
                            acc += m[c * kr + b] * tc[a * k + c];
                        }
                        tmp[a * kr + b] = acc;
                    }
                }
                // P = Tr' tmp; write the lower part (diagonal block) or all of it.
                for a in 0..k {
                    let (b0, dest0) = if s == first {
                        (a, col_ptr[jbase + a] - a)
                    } else {
                        (0, col_ptr[jbase + a] + (k - a) + self.block_row_off[s])
                    };
                    for b in b0..kr {
                        let mut acc = 0.0;
                        for d in b..kr {
                            acc += trm[b * kr + d] * tmp[a * kr + d];
                        }
                        if s == first && a == b {
                            acc += 1.0;
                        }
                        self.a_values[dest0 + b] = acc;
                    }
                }
            }
        }
    }

    /// `update_a` when every term is scalar: each stored block is one value, in the same
    /// order in Z'WZ and in A's pattern, and A's entry is θ_row θ_col (Z'WZ) (+ 1 on the
    /// diagonal).
    fn update_a_scalar(&mut self) {
        let cp = &self.cp;
        let scale: Vec<f64> = (0..cp.n_terms()).map(|t| self.templates[self.template_off[t]]).collect();
        for g in 0..cp.block_term.len() {
            let tg = scale[cp.block_term[g] as usize];
            let first = cp.block_col_ptr[g];
            for s in first..cp.block_col_ptr[g + 1] {
                let tr = scale[cp.block_term[cp.block_row[s] as usize] as usize];
                debug_assert_eq!(cp.block_val[s], s);
                self.a_values[s] = tr * tg * cp.ztz[s];
            }
            self.a_values[first] += 1.0;
        }
    }

    /// out = Λ' x for a q-vector x (per level, the transposed template times the level's entries).
    pub(crate) fn lambda_t_mul(&self, x: &[f64], out: &mut [f64]) {
        for (t, layout) in self.random_effects.terms.iter().enumerate() {
            let k = layout.k;
            let tc = self.template(t);
            for l in 0..layout.n_levels {
                let base = layout.u_offset + l * k;
                for a in 0..k {
                    out[base + a] = (a..k).map(|b| tc[a * k + b] * x[base + b]).sum();
                }
            }
        }
    }

    /// out = Λ x for a q-vector x (per level, the term's template times the level's k entries).
    pub(crate) fn lambda_mul(&self, x: &[f64], out: &mut [f64]) {
        for (t, layout) in self.random_effects.terms.iter().enumerate() {
            let k = layout.k;
            let tc = self.template(t);
            for l in 0..layout.n_levels {
                let base = layout.u_offset + l * k;
                for r in 0..k {
                    out[base + r] = (0..=r).map(|c| tc[c * k + r] * x[base + c]).sum();
                }
            }
        }
    }

}
