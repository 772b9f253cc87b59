//! The Cholesky factor of A = Λ'Z'WZΛ + I in the mixed-model ordering.
//!
//! The first random-effects term (lme4 orders terms by decreasing number of levels) comes
//! first, as in MixedModels.jl. Its levels never share a row, so its part of A is block
//! diagonal: one k × k block per level. Those blocks are the leading supernodes of L and are
//! eliminated with small dense kernels; what they leave behind is the Schur complement
//!   S = A₂₂ - L₂₁L₂₁',  L₁₁ = chol(A₁₁) blockwise,  L₂₁ = A₂₁L₁₁⁻ᵀ,
//! whose pattern (A₂₂ plus one clique per leading level) is fixed. S is factored by the
//! general supernodal [`SparseCholesky`] with its own AMD ordering, analysed once. For the
//! common crossed designs S is small and dense (one big supernode, dense kernels), and the
//! many leading levels cost O(Σ|R(b)|²) scattered updates instead of one tiny supernode
//! each.
//!
//! The whole factor is L with P A P' = L L', P = diag(I, P_S). Solves work in that permuted
//! space; the selected inverse (`blocked/inverse.rs`) gives the diagonal blocks of A⁻¹ for
//! conditional variances.
//!
//! The Schur factor is held as a `Box<dyn SchurFactor>`: every operation on it goes through
//! [`CholeskyFactor`], except forming S in its storage, which is what differs between the
//! sparse and the dense one (`SchurFactor::factorize_schur`).

use super::dense::{small_cholesky_lower, DenseCholesky};
use super::supernodal::SparseCholesky;
use super::{CholeskyFactor, SelectedInverse};
use crate::error::{MerxError, Result};
use faer::reborrow::ReborrowMut;
use faer::{Mat, MatMut};
use std::sync::Arc;

mod dense_inverse;
mod inverse;
mod schur_pattern;

pub use inverse::BlockedInverse;

pub struct BlockedCholesky {
    n: usize,
    q1: usize,
    k1: usize,
    n_blocks: usize,
    col_ptr: Vec<usize>,
    row_idx: Vec<usize>,
    /// Rest rows (local indices, sorted) of each leading block: R(b). Shared with the
    /// selected inverses, which look entries up by them.
    r_ptr: Arc<[usize]>,
    r_idx: Arc<[usize]>,
    /// For each rest column c: the leading blocks b with c ∈ R(b) and c's position in R(b).
    t_ptr: Vec<usize>,
    t_blk: Vec<usize>,
    t_pos: Vec<usize>,
    l11: Vec<f64>,
    /// L₂₁ per block: |R(b)| × k1, column-major, starting at r_ptr[b] * k1.
    l21: Vec<f64>,
    schur: Option<Box<dyn SchurFactor>>,
    s_values: Vec<f64>,
    work: Vec<f64>,
    tmp: Mat<f64>,
    perm_fwd: Vec<usize>,
    perm_inv: Vec<usize>,
    factored: bool,
}

impl std::fmt::Debug for BlockedCholesky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockedCholesky")
            .field("n", &self.n)
            .field("leading_blocks", &self.n_blocks)
            .field("k1", &self.k1)
            .field("nnz_a", &self.row_idx.len())
            .field("nnz_l", &self.nnz_l())
            .field("schur", &self.schur)
            .finish()
    }
}

/// The factor of the Schur complement: supernodal in general, dense when it is nearly full.
trait SchurFactor: CholeskyFactor {
    /// Forms S = A₂₂ - L₂₁L₂₁' in this factor's storage and factorises it.
    fn factorize_schur(&mut self, src: SchurSource<'_>) -> Result<()>;

    /// Length of the values of S that `factorize_schur` gathers in `SchurSource::s_values`
    /// (0 when S is written straight into the factor).
    fn s_values_len(&self) -> usize;

    /// Whether S is stored dense.
    fn is_dense(&self) -> bool;

    /// Sets the threads of forming and factoring S (tests compare thread counts); a no-op
    /// for the sequential sparse factor.
    fn set_threads(&mut self, _threads: usize) {}
}

/// What forming S reads: A's values and pattern, the leading layout and L₂₁ of the current
/// factorisation, and the scratch of the sparse assembly.
struct SchurSource<'a> {
    values: &'a [f64],
    col_ptr: &'a [usize],
    row_idx: &'a [usize],
    q1: usize,
    k1: usize,
    r_ptr: &'a [usize],
    r_idx: &'a [usize],
    t_ptr: &'a [usize],
    t_blk: &'a [usize],
    t_pos: &'a [usize],
    l21: &'a [f64],
    work: &'a mut [f64],
    s_values: &'a mut [f64],
}

impl SchurFactor for DenseCholesky {
    fn factorize_schur(&mut self, src: SchurSource<'_>) -> Result<()> {
        // Write S straight into the dense lower triangle, then factor it.
        let phase = crate::timing::Phase::start("form-dense-schur");
        let SchurSource { values, col_ptr, row_idx, q1, k1, r_ptr, r_idx, l21, .. } = src;
        let m = self.n();
        let threads = self.threads();
        let mut s = self.lower_mut();
        for c in 0..m {
            let col = &mut s.rb_mut().col_mut(c).try_as_col_major_mut().expect("contiguous columns").as_slice_mut()[c..];
            col.fill(0.0);
            let cg = c + q1;
            for e in col_ptr[cg]..col_ptr[cg + 1] {
                col[row_idx[e] - cg] += values[e];
            }
        }
        // The cliques' updates, S[:, c] -= f L₂₁[b] for the columns c of each clique, split by
        // columns between threads: every column receives its updates in the same order (block
        // by block) whatever the number of threads, so S is the same to the bit.
        let cuts = super::parallel_llt::balanced_cuts(m, threads);
        std::thread::scope(|scope| {
            let mut rest = s;
            let mut offset = 0;
            for w in cuts.windows(2) {
                let (c0, c1) = (w[0], w[1]);
                let (mut mine, tail) = rest.split_at_col_mut(c1 - offset);
                rest = tail;
                offset = c1;
                let mut work = move || {
                    for b in 0..r_ptr.len() - 1 {
                        let nr = r_ptr[b + 1] - r_ptr[b];
                        let rr = &r_idx[r_ptr[b]..r_ptr[b + 1]];
                        // R(b) is sorted: the positions whose column is in [c0, c1).
                        let (start, end) = (rr.partition_point(|&r| r < c0), rr.partition_point(|&r| r < c1));
                        if start == end {
                            continue;
                        }
                        let lb = &l21[r_ptr[b] * k1..r_ptr[b + 1] * k1];
                        for a in 0..k1 {
                            let la = &lb[a * nr..(a + 1) * nr];
                            for pos in start..end {
                                let f = la[pos];
                                if f == 0.0 {
                                    continue;
                                }
                                let col = mine
                                    .rb_mut()
                                    .col_mut(rr[pos] - c0)
                                    .try_as_col_major_mut()
                                    .expect("contiguous columns")
                                    .as_slice_mut();
                                for i in pos..nr {
                                    col[rr[i]] -= f * la[i];
                                }
                            }
                        }
                    }
                };
                if c1 == m {
                    work();
                } else {
                    scope.spawn(work);
                }
            }
        });
        phase.finish();
        let _phase = crate::timing::Phase::start("factor-dense-schur");
        self.factorize_in_place()
    }

    fn s_values_len(&self) -> usize {
        0
    }

    fn is_dense(&self) -> bool {
        true
    }

    fn set_threads(&mut self, threads: usize) {
        self.set_threads(threads);
    }
}

impl SchurFactor for SparseCholesky {
    fn factorize_schur(&mut self, src: SchurSource<'_>) -> Result<()> {
        let SchurSource { values, col_ptr, row_idx, q1, k1, r_ptr, r_idx, t_ptr, t_blk, t_pos, l21, work, s_values } = src;
        let (s_ptr, s_idx) = (self.col_ptr(), self.row_idx());
        let m = self.n();
        for c in 0..m {
            let rows = &s_idx[s_ptr[c]..s_ptr[c + 1]];
            for &r in rows {
                work[r] = 0.0;
            }
            let cg = c + q1;
            for e in col_ptr[cg]..col_ptr[cg + 1] {
                work[row_idx[e] - q1] += values[e];
            }
            for e in t_ptr[c]..t_ptr[c + 1] {
                let b = t_blk[e];
                let pos = t_pos[e];
                let nr = r_ptr[b + 1] - r_ptr[b];
                let rr = &r_idx[r_ptr[b]..r_ptr[b + 1]];
                let lb = &l21[r_ptr[b] * k1..r_ptr[b + 1] * k1];
                for a in 0..k1 {
                    let f = lb[a * nr + pos];
                    let col = &lb[a * nr..(a + 1) * nr];
                    for i in pos..nr {
                        work[rr[i]] -= f * col[i];
                    }
                }
            }
            for (e, &r) in rows.iter().enumerate() {
                s_values[s_ptr[c] + e] = work[r];
            }
        }
        self.factorize(s_values)
    }

    fn s_values_len(&self) -> usize {
        self.nnz_a()
    }

    fn is_dense(&self) -> bool {
        false
    }
}

impl BlockedCholesky {
    /// Symbolic analysis of A's lower pattern (`col_ptr`, `row_idx`, unpermuted, sorted)
    /// where the first `q1` columns are `q1 / k1` diagonal blocks of size k1 that share
    /// their rows below q1 (the first random-effects term).
    pub fn analyse(n: usize, col_ptr: Vec<usize>, row_idx: Vec<usize>, q1: usize, k1: usize, max_rhs: usize) -> Result<Self> {
        if k1 == 0 || q1 % k1 != 0 || q1 > n {
            return Err(MerxError::Numerical("invalid leading block layout".into()));
        }
        // A malformed memory limit is an error on every model, not only on those large enough
        // to be checked against it.
        super::memory::configured_limit()?;
        let n_blocks = q1 / k1;
        let m = n - q1;
        let mut r_ptr = Vec::with_capacity(n_blocks + 1);
        let mut r_idx = Vec::new();
        r_ptr.push(0);
        for b in 0..n_blocks {
            let j = b * k1;
            let rows = &row_idx[col_ptr[j]..col_ptr[j + 1]];
            for &r in rows {
                if r >= q1 {
                    r_idx.push(r - q1);
                } else if r < j || r >= j + k1 {
                    return Err(MerxError::Numerical("leading term is not block diagonal".into()));
                }
            }
            r_ptr.push(r_idx.len());
        }
        // Transpose: rest column → (block, position).
        let mut t_ptr = vec![0usize; m + 1];
        for &c in &r_idx {
            t_ptr[c + 1] += 1;
        }
        for c in 0..m {
            t_ptr[c + 1] += t_ptr[c];
        }
        let mut t_blk = vec![0usize; r_idx.len()];
        let mut t_pos = vec![0usize; r_idx.len()];
        let mut next = t_ptr.clone();
        for b in 0..n_blocks {
            for (i, &c) in r_idx[r_ptr[b]..r_ptr[b + 1]].iter().enumerate() {
                t_blk[next[c]] = b;
                t_pos[next[c]] = i;
                next[c] += 1;
            }
        }
        // S = A₂₂ plus the cliques R(b): its storage (`blocked/schur_pattern.rs`).
        let schur = if m > 0 {
            let cliques = schur_pattern::Cliques { col_ptr: &col_ptr, row_idx: &row_idx, q1, r_ptr: &r_ptr, r_idx: &r_idx, t_ptr: &t_ptr, t_blk: &t_blk, t_pos: &t_pos };
            Some(schur_pattern::analyse_schur(m, &cliques, max_rhs)?)
        } else {
            None
        };
        let mut perm_fwd: Vec<usize> = (0..q1).collect();
        if let Some(s) = &schur {
            perm_fwd.extend(s.perm_fwd().iter().map(|&i| i + q1));
        }
        let mut perm_inv = vec![0usize; n];
        for (i, &f) in perm_fwd.iter().enumerate() {
            perm_inv[f] = i;
        }
        let s_nnz = schur.as_ref().map_or(0, |s| s.s_values_len());
        Ok(BlockedCholesky {
            n,
            q1,
            k1,
            n_blocks,
            l11: vec![0.0; n_blocks * k1 * k1],
            l21: vec![0.0; r_idx.len() * k1],
            col_ptr,
            row_idx,
            r_ptr: r_ptr.into(),
            r_idx: r_idx.into(),
            t_ptr,
            t_blk,
            t_pos,
            schur,
            s_values: vec![0.0; s_nnz],
            work: vec![0.0; m],
            tmp: Mat::zeros(m, max_rhs.max(1)),
            perm_fwd,
            perm_inv,
            factored: false,
        })
    }

    pub fn col_ptr(&self) -> &[usize] {
        &self.col_ptr
    }

    pub fn row_idx(&self) -> &[usize] {
        &self.row_idx
    }

    pub fn nnz_a(&self) -> usize {
        self.row_idx.len()
    }

    /// Columns of the Schur complement (random effects after the first term).
    pub fn schur_dim(&self) -> usize {
        self.n - self.q1
    }

    /// Threads of the dense Schur complement's formation and factorisation.
    pub fn set_schur_threads(&mut self, threads: usize) {
        if let Some(s) = self.schur.as_mut() {
            s.set_threads(threads.max(1));
        }
    }

    /// Whether the Schur complement is stored dense (it is nearly full).
    pub fn schur_is_dense(&self) -> bool {
        self.schur.as_ref().is_some_and(|s| s.is_dense())
    }

    pub fn perm_inv(&self) -> &[usize] {
        &self.perm_inv
    }

    /// Numeric factorisation for new values of A (same pattern as analysed).
    pub fn factorize(&mut self, values: &[f64]) -> Result<()> {
        self.factored = false;
        if values.len() != self.row_idx.len() {
            return Err(MerxError::Numerical("matrix values do not match the analysed pattern".into()));
        }
        let k1 = self.k1;
        for b in 0..self.n_blocks {
            let l = &mut self.l11[b * k1 * k1..(b + 1) * k1 * k1];
            for a in 0..k1 {
                let j = b * k1 + a;
                for r in a..k1 {
                    l[a * k1 + r] = values[self.col_ptr[j] + r - a];
                }
            }
            small_cholesky_lower(MatMut::from_column_major_slice_mut(l, k1, k1), k1, 0.0)
                .map_err(|_| MerxError::Numerical("Λ'Z'WZΛ + I is not numerically positive definite".into()))?;
            let nr = self.r_ptr[b + 1] - self.r_ptr[b];
            let l21 = &mut self.l21[self.r_ptr[b] * k1..self.r_ptr[b + 1] * k1];
            for a in 0..k1 {
                let j = b * k1 + a;
                let src = &values[self.col_ptr[j] + (k1 - a)..self.col_ptr[j + 1]];
                for i in 0..nr {
                    let mut v = src[i];
                    for c in 0..a {
                        v -= l21[c * nr + i] * l[c * k1 + a];
                    }
                    l21[a * nr + i] = v / l[a * k1 + a];
                }
            }
        }
        if let Some(schur) = self.schur.as_mut() {
            schur.factorize_schur(SchurSource {
                values,
                col_ptr: &self.col_ptr,
                row_idx: &self.row_idx,
                q1: self.q1,
                k1,
                r_ptr: &self.r_ptr,
                r_idx: &self.r_idx,
                t_ptr: &self.t_ptr,
                t_blk: &self.t_blk,
                t_pos: &self.t_pos,
                l21: &self.l21,
                work: &mut self.work,
                s_values: &mut self.s_values,
            })?;
        }
        self.factored = true;
        Ok(())
    }

    fn leading_forward(&self, mut x: MatMut<'_, f64>) {
        let k1 = self.k1;
        for col in 0..x.ncols() {
            for b in 0..self.n_blocks {
                let l = &self.l11[b * k1 * k1..(b + 1) * k1 * k1];
                for a in 0..k1 {
                    let mut v = x[(b * k1 + a, col)];
                    for c in 0..a {
                        v -= l[c * k1 + a] * x[(b * k1 + c, col)];
                    }
                    x[(b * k1 + a, col)] = v / l[a * k1 + a];
                }
            }
        }
    }

    fn leading_backward(&self, mut x: MatMut<'_, f64>) {
        let k1 = self.k1;
        for col in 0..x.ncols() {
            for b in 0..self.n_blocks {
                let l = &self.l11[b * k1 * k1..(b + 1) * k1 * k1];
                for a in (0..k1).rev() {
                    let mut v = x[(b * k1 + a, col)];
                    for c in a + 1..k1 {
                        v -= l[a * k1 + c] * x[(b * k1 + c, col)];
                    }
                    x[(b * k1 + a, col)] = v / l[a * k1 + a];
                }
            }
        }
    }
}

impl CholeskyFactor for BlockedCholesky {
    fn n(&self) -> usize {
        self.n
    }

    /// Stored entries of L: the leading blocks, L₂₁ and the Schur factor's supernodes.
    fn nnz_l(&self) -> usize {
        self.n_blocks * self.k1 * (self.k1 + 1) / 2 + self.l21.len() + self.schur.as_ref().map_or(0, |s| s.nnz_l())
    }

    /// Leading blocks count as one supernode each.
    fn n_supernodes(&self) -> usize {
        self.n_blocks + self.schur.as_ref().map_or(0, |s| s.n_supernodes())
    }

    /// `perm_fwd[i]` is the original index at position i of P A P'.
    fn perm_fwd(&self) -> &[usize] {
        &self.perm_fwd
    }

    /// log |L|² = log det A.
    fn log_det(&self) -> f64 {
        let k1 = self.k1;
        let mut acc = 0.0;
        for b in 0..self.n_blocks {
            for a in 0..k1 {
                acc += 2.0 * self.l11[b * k1 * k1 + a * k1 + a].ln();
            }
        }
        acc + self.schur.as_ref().map_or(0.0, |s| s.log_det())
    }

    /// rhs ← L⁻¹ rhs (permuted space).
    fn l_solve_in_place(&mut self, mut rhs: MatMut<'_, f64>) {
        self.leading_forward(rhs.rb_mut());
        let Some(schur) = self.schur.as_mut() else { return };
        let (q1, k1, m, r) = (self.q1, self.k1, self.n - self.q1, rhs.ncols());
        let mut tmp = self.tmp.as_mut().subcols_mut(0, r);
        tmp.fill(0.0);
        for col in 0..r {
            for b in 0..self.n_blocks {
                let nr = self.r_ptr[b + 1] - self.r_ptr[b];
                let rr = &self.r_idx[self.r_ptr[b]..self.r_ptr[b + 1]];
                let lb = &self.l21[self.r_ptr[b] * k1..self.r_ptr[b + 1] * k1];
                for a in 0..k1 {
                    let xa = rhs[(b * k1 + a, col)];
                    if xa != 0.0 {
                        for i in 0..nr {
                            tmp[(rr[i], col)] += lb[a * nr + i] * xa;
                        }
                    }
                }
            }
            for (i, &f) in schur.perm_fwd().iter().enumerate() {
                rhs[(q1 + i, col)] -= tmp[(f, col)];
            }
        }
        schur.l_solve_in_place(rhs.subrows_mut(q1, m));
    }

    /// rhs ← L'⁻¹ rhs (permuted space).
    fn lt_solve_in_place(&mut self, mut rhs: MatMut<'_, f64>) {
        if let Some(schur) = self.schur.as_mut() {
            let (q1, k1, m, r) = (self.q1, self.k1, self.n - self.q1, rhs.ncols());
            schur.lt_solve_in_place(rhs.rb_mut().subrows_mut(q1, m));
            let mut tmp = self.tmp.as_mut().subcols_mut(0, r);
            for col in 0..r {
                for (i, &f) in schur.perm_fwd().iter().enumerate() {
                    tmp[(f, col)] = rhs[(q1 + i, col)];
                }
                for b in 0..self.n_blocks {
                    let nr = self.r_ptr[b + 1] - self.r_ptr[b];
                    let rr = &self.r_idx[self.r_ptr[b]..self.r_ptr[b + 1]];
                    let lb = &self.l21[self.r_ptr[b] * k1..self.r_ptr[b + 1] * k1];
                    for a in 0..k1 {
                        let mut acc = 0.0;
                        for i in 0..nr {
                            acc += lb[a * nr + i] * tmp[(rr[i], col)];
                        }
                        rhs[(b * k1 + a, col)] -= acc;
                    }
                }
            }
        }
        self.leading_backward(rhs);
    }

    /// A⁻¹ on the block pattern of A (see [`BlockedInverse`]).
    fn selected_inverse(&self) -> Result<Box<dyn SelectedInverse>> {
        Ok(Box::new(self.blocked_inverse()?))
    }

    /// Testing/debug helper: the current factor as a dense n × n lower-triangular matrix in
    /// the permuted space (P A P' = L L', P given by `perm_fwd`).
    fn dense_factor(&self) -> Mat<f64> {
        let mut l = Mat::<f64>::zeros(self.n, self.n);
        if !self.factored {
            return l;
        }
        let k1 = self.k1;
        for b in 0..self.n_blocks {
            for a in 0..k1 {
                for r in a..k1 {
                    l[(b * k1 + r, b * k1 + a)] = self.l11[b * k1 * k1 + a * k1 + r];
                }
            }
            let nr = self.r_ptr[b + 1] - self.r_ptr[b];
            for (i, &r) in self.r_idx[self.r_ptr[b]..self.r_ptr[b + 1]].iter().enumerate() {
                for a in 0..k1 {
                    l[(self.perm_inv[self.q1 + r], b * k1 + a)] = self.l21[self.r_ptr[b] * k1 + a * nr + i];
                }
            }
        }
        if let Some(s) = &self.schur {
            let ls = s.dense_factor();
            for c in 0..ls.ncols() {
                for r in c..ls.nrows() {
                    l[(self.q1 + r, self.q1 + c)] = ls[(r, c)];
                }
            }
        }
        l
    }
}
