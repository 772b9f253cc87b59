//! The pattern of the Schur complement S = A₂₂ - L₂₁L₂₁' (A₂₂ plus one clique per leading
//! level) and the choice of its storage, dense or supernodal.
//!
//! When S's own pattern already fills `DENSE_SCHUR_FILL` of its lower triangle, its factor
//! does too, and S is stored dense without building the pattern or running the sparse
//! analysis: for 10,000 items of a crossed design the pattern has ~5·10⁷ entries, and
//! analysing it cost seconds and gigabytes only to be thrown away. The count stops as soon
//! as the threshold is reached. Otherwise the pattern is built and analysed, and S is still
//! stored dense when the sparse factor's fill reaches the threshold. A dense S is limited
//! by the memory available only: where it does not fit, the analysis fails with the memory
//! it needs (`memory::ensure_fits`; a sparse factor of that fill would need about as much).

use super::super::dense::DenseCholesky;
use super::super::supernodal::SparseCholesky;
use super::SchurFactor;
use super::super::CholeskyFactor;
use crate::error::Result;

/// The fill ratio (nnz of S's factor, or of S itself, over the full lower triangle) from
/// which S is stored dense.
pub(super) const DENSE_SCHUR_FILL: f64 = 0.4;

/// The leading blocks' cliques in the rest columns, as `BlockedCholesky::analyse` finds them.
pub(super) struct Cliques<'a> {
    pub col_ptr: &'a [usize],
    pub row_idx: &'a [usize],
    pub q1: usize,
    pub r_ptr: &'a [usize],
    pub r_idx: &'a [usize],
    pub t_ptr: &'a [usize],
    pub t_blk: &'a [usize],
    pub t_pos: &'a [usize],
}

impl Cliques<'_> {
    /// Calls `push(r)` for every row r of S's lower column c (repeats possible).
    fn for_rows(&self, c: usize, mut push: impl FnMut(usize)) {
        push(c);
        let cg = c + self.q1;
        for &r in &self.row_idx[self.col_ptr[cg]..self.col_ptr[cg + 1]] {
            push(r - self.q1);
        }
        for e in self.t_ptr[c]..self.t_ptr[c + 1] {
            let b = self.t_blk[e];
            for &r in &self.r_idx[self.r_ptr[b] + self.t_pos[e]..self.r_ptr[b + 1]] {
                push(r);
            }
        }
    }

    /// Whether S's lower pattern has at least `limit` entries (counting stops there).
    fn pattern_reaches(&self, m: usize, limit: f64) -> bool {
        let mut mark = vec![usize::MAX; m];
        let mut count = 0usize;
        for c in 0..m {
            self.for_rows(c, |r| {
                if mark[r] != c {
                    mark[r] = c;
                    count += 1;
                }
            });
            if count as f64 >= limit {
                return true;
            }
        }
        false
    }

    /// S's lower pattern (local indices, sorted per column).
    fn pattern(&self, m: usize) -> (Vec<usize>, Vec<usize>) {
        let mut s_ptr = Vec::with_capacity(m + 1);
        let mut s_idx: Vec<usize> = Vec::new();
        let mut mark = vec![usize::MAX; m];
        s_ptr.push(0);
        for c in 0..m {
            let start = s_idx.len();
            self.for_rows(c, |r| {
                if mark[r] != c {
                    mark[r] = c;
                    s_idx.push(r);
                }
            });
            s_idx[start..].sort_unstable();
            s_ptr.push(s_idx.len());
        }
        (s_ptr, s_idx)
    }
}

fn dense(m: usize) -> Result<Box<dyn SchurFactor>> {
    let what = format!("the dense Schur complement ({m} columns)");
    super::super::memory::ensure_fits(&what, 8.0 * (m as f64) * (m as f64))?;
    Ok(Box::new(DenseCholesky::new(m)?))
}

/// Analyses S (m columns) and picks its storage.
pub(super) fn analyse_schur(m: usize, cliques: &Cliques<'_>, max_rhs: usize) -> Result<Box<dyn SchurFactor>> {
    let full = (m * (m + 1) / 2) as f64;
    if cliques.pattern_reaches(m, DENSE_SCHUR_FILL * full) {
        return dense(m);
    }
    let (s_ptr, s_idx) = cliques.pattern(m);
    let sparse = SparseCholesky::analyse(m, s_ptr, s_idx, max_rhs)?;
    if sparse.nnz_l() as f64 >= DENSE_SCHUR_FILL * full {
        return dense(m);
    }
    Ok(Box::new(sparse))
}
