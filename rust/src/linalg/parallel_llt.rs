//! A right-looking blocked dense Cholesky factorisation whose trailing updates run on
//! several threads.
//!
//! The dense Schur complement of a crossed design (1,000-2,000 columns) is factored once per
//! objective evaluation, and its factorisation is about half of a crossed fit's time.
//! faer's parallel kernels are not used (its parallel matmul has open correctness issues);
//! instead each step factors the diagonal block and solves the panel with faer's sequential
//! kernels, and the update of the trailing lower triangle, A₂₂ -= L₂₁L₂₁', is split by columns
//! into ranges of equal work, one per thread, each a sequential faer matmul on its own
//! columns. Each entry is the same sum whatever the number of threads, but the matmul's
//! tiling follows the column ranges, so results may differ in the last bits between thread
//! counts (a few ulps; the tests bound it against the single-threaded run and faer's own
//! sequential factor); for a given thread count they are deterministic.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch, LltParams, LltRegularization};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, MatMut, MatRef, Par, Spec};

/// Columns per block step.
pub const BLOCK: usize = 128;
/// Columns per matmul call of the trailing update.
const UPDATE_CHUNK: usize = 64;

/// Column boundaries splitting the trailing lower triangle of `m` columns into `parts`
/// ranges of about equal work (column j of the triangle has m - j entries).
pub(crate) fn balanced_cuts(m: usize, parts: usize) -> Vec<usize> {
    let total = (m * (m + 1) / 2) as f64;
    let mut cuts = vec![0];
    let mut acc = 0.0;
    let mut next = 1;
    for j in 0..m {
        acc += (m - j) as f64;
        if next < parts && acc >= total * next as f64 / parts as f64 {
            cuts.push(j + 1);
            next += 1;
        }
    }
    cuts.push(m);
    cuts.dedup();
    cuts
}

/// A -= B C' on the lower part of `a` column by column range (rows from each range's first
/// column down), the ranges on separate threads.
fn trailing_update(a: MatMut<'_, f64>, b: MatRef<'_, f64>, threads: usize) {
    let m = a.ncols();
    let cuts = balanced_cuts(m, threads.max(1));
    std::thread::scope(|scope| {
        let mut rest = a;
        let mut offset = 0;
        for w in cuts.windows(2) {
            let (c0, c1) = (w[0], w[1]);
            let (mine, tail) = rest.split_at_col_mut(c1 - offset);
            rest = tail;
            offset = c1;
            let work = move || {
                // Column chunks of the range, each from its own diagonal down, so that only
                // the chunks' small diagonal triangles are computed beyond the lower part.
                let mut mine = mine;
                let mut j0 = c0;
                while j0 < c1 {
                    let j1 = (j0 + UPDATE_CHUNK).min(c1);
                    let dst = mine.rb_mut().submatrix_mut(j0, j0 - c0, m - j0, j1 - j0);
                    let lhs = b.subrows(j0, m - j0);
                    let rhs = b.subrows(j0, j1 - j0);
                    faer::linalg::matmul::matmul(dst, Accum::Add, lhs, rhs.transpose(), -1.0, Par::Seq);
                    j0 = j1;
                }
            };
            if c1 == m {
                work();
            } else {
                scope.spawn(work);
            }
        }
    });
}

fn llt_params() -> Spec<LltParams, f64> {
    Default::default()
}

/// Workspace of the diagonal blocks' factorisations.
pub fn scratch() -> Option<MemBuffer> {
    MemBuffer::try_new(cholesky_in_place_scratch::<f64>(BLOCK, Par::Seq, llt_params())).ok()
}

/// Factors the lower triangle of `a` in place (A = LL'); Err(j) when the pivot of column j is
/// not positive. Entries above the diagonal are left as they are.
pub fn cholesky_lower(mut a: MatMut<'_, f64>, threads: usize, mem: &mut MemBuffer) -> std::result::Result<(), usize> {
    let n = a.nrows();
    let mut k = 0;
    while k < n {
        let b = BLOCK.min(n - k);
        let (left, right) = a.rb_mut().split_at_col_mut(k + b);
        let panel = left.subcols_mut(k, b);
        let (top, mut below) = panel.split_at_row_mut(k + b);
        let mut diag = top.subrows_mut(k, b);
        cholesky_in_place(diag.rb_mut(), LltRegularization::default(), Par::Seq, MemStack::new(mem), llt_params())
            .map_err(|_| k)?;
        let m = n - k - b;
        if m == 0 {
            break;
        }
        // L₂₁ = A₂₁ L₁₁⁻ᵀ, i.e. L₁₁ L₂₁' = A₂₁'.
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(diag.rb(), below.rb_mut().transpose_mut(), Par::Seq);
        let trailing = right.subrows_mut(k + b, m);
        trailing_update(trailing, below.rb(), threads);
        k += b;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    fn spd(n: usize, seed: u64) -> Mat<f64> {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64) / ((1u64 << 53) as f64) - 0.5
        };
        let g = Mat::<f64>::from_fn(n, n + 5, |_, _| next());
        let mut a = Mat::<f64>::zeros(n, n);
        faer::linalg::matmul::matmul(a.as_mut(), Accum::Replace, g.as_ref(), g.transpose(), 1.0, Par::Seq);
        for i in 0..n {
            a[(i, i)] += 0.5;
        }
        a
    }

    #[test]
    fn cuts_balance_the_triangle() {
        assert_eq!(balanced_cuts(10, 1), vec![0, 10]);
        let c = balanced_cuts(1000, 2);
        assert_eq!(c.len(), 3);
        assert!((c[1] as f64 - 293.0).abs() < 2.0, "{c:?}");
    }

    /// The blocked factor on 1, 2 and 3 threads equals faer's sequential one and the
    /// single-threaded run to rounding, and a repeated run is bitwise the same.
    #[test]
    fn threaded_blocked_factor_equals_the_sequential_one() {
        for &n in &[1usize, 7, 128, 129, 300, 517] {
            let a = spd(n, n as u64);
            let mut reference = a.clone();
            let mut mem = MemBuffer::try_new(cholesky_in_place_scratch::<f64>(n, Par::Seq, llt_params())).unwrap();
            cholesky_in_place(reference.as_mut(), LltRegularization::default(), Par::Seq, MemStack::new(&mut mem), llt_params())
                .unwrap();
            let mut single = a.clone();
            let mut scratch_mem = scratch().unwrap();
            cholesky_lower(single.as_mut(), 1, &mut scratch_mem).unwrap();
            let scale = (0..n).map(|i| reference[(i, i)].abs()).fold(0.0, f64::max);
            for threads in [1usize, 2, 3] {
                let mut x = a.clone();
                cholesky_lower(x.as_mut(), threads, &mut scratch_mem).unwrap();
                let mut again = a.clone();
                cholesky_lower(again.as_mut(), threads, &mut scratch_mem).unwrap();
                for j in 0..n {
                    for i in j..n {
                        assert_eq!(x[(i, j)].to_bits(), again[(i, j)].to_bits(), "n={n} threads={threads} ({i},{j})");
                        assert!((x[(i, j)] - single[(i, j)]).abs() <= 1e-14 * scale, "n={n} threads={threads} ({i},{j})");
                        assert!((x[(i, j)] - reference[(i, j)]).abs() <= 1e-12 * scale, "n={n} ({i},{j})");
                    }
                }
            }
        }
        // A matrix that is not positive definite reports its failing column.
        let mut bad = spd(200, 3);
        bad[(150, 150)] = -1.0;
        assert!(cholesky_lower(bad.as_mut(), 2, &mut scratch().unwrap()).is_err());
    }
}

