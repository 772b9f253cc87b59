//! Selected inverse of the blocked factor: A⁻¹ on the block pattern of A, from the leading
//! blocks, L₂₁ and the selected inverse of the Schur complement's factor.

use super::BlockedCholesky;
use crate::error::{MerxError, Result};
use crate::linalg::SelectedInverse;
use std::sync::Arc;

/// Selected inverse of the blocked factor: A⁻¹'s diagonal blocks of the leading term and
/// S⁻¹ on the pattern of S's factor.
pub struct BlockedInverse {
    q1: usize,
    k1: usize,
    /// R(b) of the factor (shared with it).
    r_ptr: Arc<[usize]>,
    r_idx: Arc<[usize]>,
    leading: Vec<f64>,
    /// A⁻¹[R(b), b] = -S⁻¹[R(b), R(b)] L₂₁ L₁₁⁻¹ per leading block, laid out as L₂₁.
    cross: Vec<f64>,
    schur: Option<Box<dyn SelectedInverse>>,
}

impl BlockedCholesky {
    /// A⁻¹ on the block pattern of A: the diagonal blocks of the leading term,
    /// A⁻¹_bb = L₁₁⁻ᵀ (I + L₂₁' S⁻¹[R(b), R(b)] L₂₁) L₁₁⁻¹, where R(b) is a clique of S; the
    /// blocks between a leading level and the rest, A⁻¹[R(b), b] = -S⁻¹[R(b), R(b)] L₂₁ L₁₁⁻¹;
    /// and S⁻¹ (= A⁻¹ on the rest) on the pattern of S's factor.
    pub(super) fn blocked_inverse(&self) -> Result<BlockedInverse> {
        if !self.factored {
            return Err(MerxError::Numerical("selected inverse requested before a factorisation".into()));
        }
        let schur_inv = self.schur.as_ref().map(|s| s.selected_inverse()).transpose()?;
        let k1 = self.k1;
        let mut leading = vec![0.0; self.n_blocks * k1 * k1];
        let mut cross = vec![0.0; self.l21.len()];
        let mut h = vec![0.0; k1 * k1];
        let mut linv = vec![0.0; k1 * k1];
        let mut g = Vec::new();
        for b in 0..self.n_blocks {
            let nr = self.r_ptr[b + 1] - self.r_ptr[b];
            let rr = &self.r_idx[self.r_ptr[b]..self.r_ptr[b + 1]];
            let lb = &self.l21[self.r_ptr[b] * k1..self.r_ptr[b + 1] * k1];
            h.fill(0.0);
            for a in 0..k1 {
                h[a * k1 + a] = 1.0;
            }
            if let Some(inv) = schur_inv.as_deref() {
                // G = S⁻¹[R, R] L₂₁ (nr × k1), then H += L₂₁' G.
                g.clear();
                g.resize(nr * k1, 0.0);
                inv.principal_mul_add(rr, lb, k1, &mut g)?;
                for a in 0..k1 {
                    for c in 0..k1 {
                        h[c * k1 + a] += (0..nr).map(|i| lb[a * nr + i] * g[c * nr + i]).sum::<f64>();
                    }
                }
            }
            // W = L₁₁⁻ᵀ H L₁₁⁻¹: columns of L₁₁⁻¹ then a symmetric product.
            let l = &self.l11[b * k1 * k1..(b + 1) * k1 * k1];
            linv.fill(0.0);
            for c in 0..k1 {
                linv[c * k1 + c] = 1.0;
                for a in 0..k1 {
                    let mut v = if a == c { 1.0 } else { 0.0 };
                    for d in 0..a {
                        v -= l[d * k1 + a] * linv[c * k1 + d];
                    }
                    linv[c * k1 + a] = v / l[a * k1 + a];
                }
            }
            let w = &mut leading[b * k1 * k1..(b + 1) * k1 * k1];
            for r in 0..k1 {
                for c in 0..k1 {
                    let mut acc = 0.0;
                    for d in 0..k1 {
                        for e in 0..k1 {
                            acc += linv[r * k1 + d] * h[e * k1 + d] * linv[c * k1 + e];
                        }
                    }
                    w[c * k1 + r] = acc;
                }
            }
            if self.schur.is_some() {
                let cb = &mut cross[self.r_ptr[b] * k1..self.r_ptr[b + 1] * k1];
                for a in 0..k1 {
                    for i in 0..nr {
                        cb[a * nr + i] = -(0..k1).map(|c| g[c * nr + i] * linv[a * k1 + c]).sum::<f64>();
                    }
                }
            }
        }
        Ok(BlockedInverse {
            q1: self.q1,
            k1,
            r_ptr: Arc::clone(&self.r_ptr),
            r_idx: Arc::clone(&self.r_idx),
            leading,
            cross,
            schur: schur_inv,
        })
    }
}

impl SelectedInverse for BlockedInverse {
    /// A⁻¹[i, j] for original indices (i, j) in the block pattern of A: two columns of one
    /// random-effects level, or of two levels that share an observation.
    fn entry(&self, i: usize, j: usize) -> Result<f64> {
        let k1 = self.k1;
        if i < self.q1 && j < self.q1 && i / k1 == j / k1 {
            let b = i / k1;
            return Ok(self.leading[b * k1 * k1 + (j % k1) * k1 + (i % k1)]);
        }
        if (i < self.q1) != (j < self.q1) {
            let (lead, rest) = if i < self.q1 { (i, j - self.q1) } else { (j, i - self.q1) };
            let b = lead / k1;
            let rr = &self.r_idx[self.r_ptr[b]..self.r_ptr[b + 1]];
            if let Ok(pos) = rr.binary_search(&rest) {
                return Ok(self.cross[self.r_ptr[b] * k1 + (lead % k1) * rr.len() + pos]);
            }
        }
        match self.schur.as_deref() {
            Some(si) if i >= self.q1 && j >= self.q1 => si.entry(i - self.q1, j - self.q1),
            _ => Err(MerxError::Numerical(format!("A⁻¹[{i},{j}] is outside the stored selected inverse"))),
        }
    }
}
