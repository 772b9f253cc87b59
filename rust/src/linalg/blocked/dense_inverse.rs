//! All of A⁻¹ as one dense matrix, in A's own (unpermuted) order.
//!
//! The selected inverse gives A⁻¹ on the pattern of A, enough for gradients and conditional
//! variances. Second derivatives and information matrices of the variance parameters
//! (Satterthwaite's and Kenward-Roger's methods) need traces like tr(A⁻¹G_iA⁻¹G_j), which
//! read every entry of A⁻¹. They are built from the blocked layout, with U = L₂₁L₁₁⁻¹ (one
//! small block per leading level, rows R(b)):
//!   A⁻¹[2,2] = S⁻¹,  A⁻¹[2,1] = -S⁻¹U,  A⁻¹[1,1] = A₁₁⁻¹ + U'S⁻¹U,
//! in O(m³ + (q₁ + m)·nnz(L₂₁)) operations rather than q solves: the leading term, usually
//! the one with most levels, never meets a dense factor.

use super::BlockedCholesky;
use crate::error::{MerxError, Result};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::{Mat, Par};

impl BlockedCholesky {
    /// The dense q × q inverse of the factored A (original order).
    pub fn dense_inverse(&self) -> Result<Mat<f64>> {
        if !self.factored {
            return Err(MerxError::Numerical(
                "inverse requested before a factorisation".into(),
            ));
        }
        let (n, q1, k1) = (self.n, self.q1, self.k1);
        let m = n - q1;
        let mut out = Mat::<f64>::zeros(n, n);
        if let Some(schur) = &self.schur {
            let l = schur.dense_factor();
            let mut inv = Mat::<f64>::zeros(m, m);
            let mut mem = MemBuffer::try_new(
                faer::linalg::cholesky::llt::inverse::inverse_scratch::<f64>(m, Par::Seq),
            )
            .map_err(|_| {
                MerxError::Numerical(
                    "out of memory for the dense inverse of the Schur complement".into(),
                )
            })?;
            faer::linalg::cholesky::llt::inverse::inverse(
                inv.as_mut(),
                l.as_ref(),
                Par::Seq,
                MemStack::new(&mut mem),
            );
            let pf = schur.perm_fwd();
            for j in 0..m {
                for i in j..m {
                    let v = inv[(i, j)];
                    out[(q1 + pf[i], q1 + pf[j])] = v;
                    out[(q1 + pf[j], q1 + pf[i])] = v;
                }
            }
        }
        // U_b = L₂₁[b] L₁₁[b]⁻¹, laid out as L₂₁ (|R(b)| × k1, column-major per block).
        let mut u = vec![0.0; self.l21.len()];
        for b in 0..self.n_blocks {
            let nr = self.r_ptr[b + 1] - self.r_ptr[b];
            let l = &self.l11[b * k1 * k1..(b + 1) * k1 * k1];
            let src = &self.l21[self.r_ptr[b] * k1..self.r_ptr[b + 1] * k1];
            let dst = &mut u[self.r_ptr[b] * k1..self.r_ptr[b + 1] * k1];
            for i in 0..nr {
                // Row i: x L₁₁ = l  ⇔  L₁₁' x' = l' (back substitution).
                for a in (0..k1).rev() {
                    let mut v = src[a * nr + i];
                    for c in a + 1..k1 {
                        v -= dst[c * nr + i] * l[a * k1 + c];
                    }
                    dst[a * nr + i] = v / l[a * k1 + a];
                }
            }
        }
        // A⁻¹[2,1] = -S⁻¹U, column by column of the leading part.
        for b in 0..self.n_blocks {
            let rr = &self.r_idx[self.r_ptr[b]..self.r_ptr[b + 1]];
            let nr = rr.len();
            let ub = &u[self.r_ptr[b] * k1..self.r_ptr[b + 1] * k1];
            for a in 0..k1 {
                let j = b * k1 + a;
                for (i, &r) in rr.iter().enumerate() {
                    let w = ub[a * nr + i];
                    if w != 0.0 {
                        for row in 0..m {
                            let v = out[(q1 + row, q1 + r)];
                            out[(q1 + row, j)] -= v * w;
                        }
                    }
                }
            }
        }
        // A⁻¹[1,1] = A₁₁⁻¹ + U'(S⁻¹U); S⁻¹U = -A⁻¹[2,1] is in place. Column by column, so
        // that both the column of S⁻¹U read and the column written are contiguous.
        let mut col = vec![0.0; m];
        for j in 0..q1 {
            for (row, v) in col.iter_mut().enumerate() {
                *v = out[(q1 + row, j)];
            }
            for b in 0..self.n_blocks {
                let rr = &self.r_idx[self.r_ptr[b]..self.r_ptr[b + 1]];
                let nr = rr.len();
                let ub = &u[self.r_ptr[b] * k1..self.r_ptr[b + 1] * k1];
                for a in 0..k1 {
                    let acc: f64 = rr.iter().enumerate().map(|(s, &r)| ub[a * nr + s] * col[r]).sum();
                    out[(b * k1 + a, j)] = -acc;
                }
            }
        }
        let mut block_inv = vec![0.0; k1 * k1];
        for b in 0..self.n_blocks {
            self.leading_block_inverse(b, &mut block_inv);
            for a in 0..k1 {
                for c in 0..k1 {
                    out[(b * k1 + a, b * k1 + c)] += block_inv[c * k1 + a];
                }
            }
        }
        // The upper right mirrors the lower left.
        for j in 0..q1 {
            for row in 0..m {
                out[(j, q1 + row)] = out[(q1 + row, j)];
            }
        }
        Ok(out)
    }

    /// A₁₁[b]⁻¹ = L₁₁[b]⁻ᵀL₁₁[b]⁻¹ (k1 × k1, column-major).
    fn leading_block_inverse(&self, b: usize, out: &mut [f64]) {
        let k1 = self.k1;
        let l = &self.l11[b * k1 * k1..(b + 1) * k1 * k1];
        // Columns of L⁻¹ by forward substitution, then L⁻ᵀL⁻¹.
        let mut linv = vec![0.0; k1 * k1];
        for c in 0..k1 {
            for a in c..k1 {
                let mut v = if a == c { 1.0 } else { 0.0 };
                for s in c..a {
                    v -= l[s * k1 + a] * linv[c * k1 + s];
                }
                linv[c * k1 + a] = v / l[a * k1 + a];
            }
        }
        for c in 0..k1 {
            for a in 0..k1 {
                out[c * k1 + a] = (a.max(c)..k1)
                    .map(|s| linv[a * k1 + s] * linv[c * k1 + s])
                    .sum();
            }
        }
    }
}
