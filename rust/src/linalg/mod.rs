//! Cholesky factorisations of A = Λ'Z'WZΛ + I and of its pieces.
//!
//! - [`SparseCholesky`] (`supernodal.rs`): the general sparse supernodal factor over faer,
//!   with an AMD ordering and symbolic analysis once, numeric refactorisation per θ and
//!   Takahashi's selected inverse.
//! - [`DenseCholesky`] (`dense.rs`): a nearly full Schur complement stored as one dense lower
//!   triangle; the same file holds [`small_cholesky_lower`] for the p × p and k × k factors.
//! - [`BlockedCholesky`] (`blocked.rs`, selected inverse in `blocked/inverse.rs`): the factor
//!   in the mixed-model ordering, the leading term's level blocks first and then the Schur
//!   complement, factored by one of the two above.
//!
//! What every factor offers is the object-safe trait [`CholeskyFactor`]: sizes, the
//! fill-reducing permutation, log det, the triangular solves in the permuted space, the
//! selected inverse (read through [`SelectedInverse`]) and, for tests, the dense factor.
//! Analysis and numeric factorisation stay with each type, because what they take differs
//! (a pattern and its values, a dense triangle to fill, the blocked layout); the blocked
//! factor holds its Schur complement as a boxed trait object.

mod blocked;
mod dense;
pub mod memory;
pub mod parallel_llt;
mod supernodal;

pub use blocked::{BlockedCholesky, BlockedInverse};
pub use dense::{small_cholesky_lower, DenseCholesky, DenseInverse};
pub use supernodal::{SparseCholesky, SupernodalInverse};

use crate::error::Result;
use faer::{Mat, MatMut, MatRef};

/// A Cholesky factor P A P' = L L' of an n × n symmetric positive definite matrix A, after
/// the type's own analysis and numeric factorisation. Solves work in the permuted space:
/// callers move right-hand sides in and out with [`permute_rows`](Self::permute_rows) and
/// [`unpermute_rows`](Self::unpermute_rows).
pub trait CholeskyFactor: std::fmt::Debug + Send + Sync {
    /// The dimension n.
    fn n(&self) -> usize;

    /// Stored entries of L (including the explicit zeros of dense blocks).
    fn nnz_l(&self) -> usize;

    /// Number of supernodes of L (a dense factor is one).
    fn n_supernodes(&self) -> usize;

    /// `perm_fwd[i]` is the original index that sits at position i of the permuted matrix.
    fn perm_fwd(&self) -> &[usize];

    /// log |L|² = 2 Σ log L_ii = log det A.
    fn log_det(&self) -> f64;

    /// rhs ← L⁻¹ rhs (permuted space).
    fn l_solve_in_place(&mut self, rhs: MatMut<'_, f64>);

    /// rhs ← L'⁻¹ rhs (permuted space).
    fn lt_solve_in_place(&mut self, rhs: MatMut<'_, f64>);

    /// Entries of A⁻¹ on the pattern of L (at least), for the current factorisation. The
    /// result owns its values (it stays readable while the factor is borrowed mutably or
    /// refactorised) and is indexed with original, unpermuted indices.
    fn selected_inverse(&self) -> Result<Box<dyn SelectedInverse>>;

    /// Testing/debug helper: the current factor L as a dense n × n lower-triangular matrix
    /// in the permuted space (P A P' = L L', P given by `perm_fwd`). O(n²) memory; all zeros
    /// before a successful factorisation.
    fn dense_factor(&self) -> Mat<f64>;

    /// dst = P src (rows).
    fn permute_rows(&self, src: MatRef<'_, f64>, dst: MatMut<'_, f64>) {
        permute_rows(self.perm_fwd(), src, dst);
    }

    /// dst = P' src (rows).
    fn unpermute_rows(&self, src: MatRef<'_, f64>, dst: MatMut<'_, f64>) {
        unpermute_rows(self.perm_fwd(), src, dst);
    }

    /// A⁻¹[i, j] from a selected inverse of this factor: the same as `inv.entry(i, j)`, kept
    /// for callers written against the factor.
    fn inverse_entry(&self, inv: &dyn SelectedInverse, i: usize, j: usize) -> Result<f64> {
        inv.entry(i, j)
    }
}

/// Entries of A⁻¹ on (at least) the pattern of a factor, from
/// [`CholeskyFactor::selected_inverse`].
pub trait SelectedInverse: Send + Sync {
    /// A⁻¹[i, j] for original (unpermuted) indices; an error when (i, j) is outside the
    /// stored pattern.
    fn entry(&self, i: usize, j: usize) -> Result<f64>;

    /// out += A⁻¹[idx, idx] b, with b and out |idx| × k column-major, for an index set that is
    /// a clique of the stored pattern (the rows R(b) of a leading level of the blocked factor,
    /// in its Schur complement). One dynamic call per block: inside, the entries are read by the
    /// implementing type's own `entry`, statically dispatched.
    fn principal_mul_add(&self, idx: &[usize], b: &[f64], k: usize, out: &mut [f64]) -> Result<()> {
        let n = idx.len();
        for i in 0..n {
            for j in 0..n {
                let v = self.entry(idx[i], idx[j])?;
                for a in 0..k {
                    out[a * n + i] += v * b[a * n + j];
                }
            }
        }
        Ok(())
    }
}

/// A boxed selected inverse reads like the one inside, so that `&Box<dyn SelectedInverse>`
/// can be passed where a `&dyn SelectedInverse` is expected.
impl<T: SelectedInverse + ?Sized> SelectedInverse for Box<T> {
    #[inline]
    fn entry(&self, i: usize, j: usize) -> Result<f64> {
        (**self).entry(i, j)
    }

    #[inline]
    fn principal_mul_add(&self, idx: &[usize], b: &[f64], k: usize, out: &mut [f64]) -> Result<()> {
        (**self).principal_mul_add(idx, b, k, out)
    }
}

/// dst = P src for the row permutation with `perm_fwd[i]` = source row of row i.
fn permute_rows(perm_fwd: &[usize], src: MatRef<'_, f64>, mut dst: MatMut<'_, f64>) {
    for j in 0..src.ncols() {
        for (i, &f) in perm_fwd.iter().enumerate() {
            dst[(i, j)] = src[(f, j)];
        }
    }
}

/// dst = P' src, the inverse of [`permute_rows`].
fn unpermute_rows(perm_fwd: &[usize], src: MatRef<'_, f64>, mut dst: MatMut<'_, f64>) {
    for j in 0..src.ncols() {
        for (i, &f) in perm_fwd.iter().enumerate() {
            dst[(f, j)] = src[(i, j)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::linalg::solvers::DenseSolveCore;
    use faer::Side;

    const N: usize = 9;
    /// The first Q1 columns of A are Q1 / K1 diagonal blocks, so the blocked factor takes it too.
    const Q1: usize = 4;
    const K1: usize = 2;

    fn spd() -> Mat<f64> {
        let mut a = Mat::<f64>::zeros(N, N);
        for i in 0..N {
            a[(i, i)] = 5.0 + i as f64;
        }
        // Leading levels {0, 1} and {2, 3} (full blocks, both columns meeting the same rest
        // rows, as in Λ'Z'WZΛ + I), then rest-rest entries.
        let off = [
            (1, 0, 0.9),
            (3, 2, -0.8),
            (5, 0, 1.1),
            (6, 0, -0.4),
            (5, 1, -0.6),
            (6, 1, 0.7),
            (7, 2, 0.5),
            (8, 2, 0.6),
            (7, 3, -0.3),
            (8, 3, -1.2),
            (6, 5, 0.4),
            (8, 4, 0.3),
            (7, 4, -0.9),
        ];
        for (i, j, v) in off {
            a[(i, j)] = v;
            a[(j, i)] = v;
        }
        a
    }

    /// Lower pattern (column pointers, sorted rows, diagonal present) and values of `a`.
    fn lower_pattern(a: &Mat<f64>) -> (Vec<usize>, Vec<usize>, Vec<f64>) {
        let (mut cp, mut ri, mut v) = (vec![0], vec![], vec![]);
        for j in 0..a.ncols() {
            for i in j..a.nrows() {
                if a[(i, j)] != 0.0 || i == j {
                    ri.push(i);
                    v.push(a[(i, j)]);
                }
            }
            cp.push(ri.len());
        }
        (cp, ri, v)
    }

    /// What one factor computed, to compare the factors with each other.
    struct Outcome {
        log_det: f64,
        x: Mat<f64>,
        inverse_entries: Vec<f64>,
        clique_product: Vec<f64>,
    }

    /// Every method of the trait, called through `&mut dyn CholeskyFactor` on a factor of `a`,
    /// checked against dense references.
    fn exercise(f: &mut dyn CholeskyFactor, a: &Mat<f64>) -> Outcome {
        let n = a.nrows();
        let reference = a.llt(Side::Lower).unwrap();
        let ainv = reference.inverse();
        let lr = reference.L();
        assert_eq!(f.n(), n);
        assert!(f.n_supernodes() >= 1);
        assert!(f.nnz_l() >= lower_pattern(a).1.len());
        // P is a permutation and L L' = P A P'.
        let perm = f.perm_fwd().to_vec();
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        let l = f.dense_factor();
        let llt = &l * l.transpose();
        for j in 0..n {
            for i in 0..n {
                assert!(i >= j || l[(i, j)] == 0.0, "L[{i},{j}] above the diagonal");
                assert!((llt[(i, j)] - a[(perm[i], perm[j])]).abs() < 1e-12, "{f:?}: (LL')[{i},{j}] = {} vs {}", llt[(i, j)], a[(perm[i], perm[j])]);
            }
        }
        let log_det = f.log_det();
        let log_det_ref: f64 = (0..n).map(|i| 2.0 * lr[(i, i)].ln()).sum();
        assert!((log_det - log_det_ref).abs() < 1e-12, "log det {log_det} vs {log_det_ref}");
        // A x = b through P' L'⁻¹ L⁻¹ P, two right-hand sides.
        let b = Mat::<f64>::from_fn(n, 2, |i, c| i as f64 - 3.0 + 0.5 * c as f64);
        let mut pb = Mat::<f64>::zeros(n, 2);
        f.permute_rows(b.as_ref(), pb.as_mut());
        f.l_solve_in_place(pb.as_mut());
        f.lt_solve_in_place(pb.as_mut());
        let mut x = Mat::<f64>::zeros(n, 2);
        f.unpermute_rows(pb.as_ref(), x.as_mut());
        assert!((&x - &ainv * &b).norm_max() < 1e-12, "A⁻¹b");
        // The selected inverse on the pattern of A, read both ways.
        let inv = f.selected_inverse().unwrap();
        let mut inverse_entries = Vec::new();
        for j in 0..n {
            for i in 0..n {
                if a[(i, j)] != 0.0 {
                    let e = inv.entry(i, j).unwrap();
                    assert!((e - ainv[(i, j)]).abs() < 1e-12, "A⁻¹[{i},{j}] {e} vs {}", ainv[(i, j)]);
                    assert_eq!(f.inverse_entry(&inv, i, j).unwrap(), e);
                    inverse_entries.push(e);
                }
            }
        }
        // A⁻¹[idx, idx] B on a clique of A: a leading level {0, 1} and the rest row 5 it meets.
        let idx = [0, 1, 5];
        let bk: Vec<f64> = (0..6).map(|t| 0.25 * t as f64 - 0.5).collect();
        let mut clique_product = vec![1.0; 6];
        inv.principal_mul_add(&idx, &bk, 2, &mut clique_product).unwrap();
        for c in 0..2 {
            for (r, &ir) in idx.iter().enumerate() {
                let want = 1.0 + (0..3).map(|s| ainv[(ir, idx[s])] * bk[c * 3 + s]).sum::<f64>();
                assert!((clique_product[c * 3 + r] - want).abs() < 1e-12, "clique product [{r},{c}]");
            }
        }
        Outcome { log_det, x, inverse_entries, clique_product }
    }

    #[test]
    fn sparse_dense_and_blocked_agree_through_the_trait() {
        let a = spd();
        let (cp, ri, v) = lower_pattern(&a);
        let mut sparse = SparseCholesky::analyse(N, cp.clone(), ri.clone(), 2).unwrap();
        let mut dense = DenseCholesky::new(N).unwrap();
        let mut blocked = BlockedCholesky::analyse(N, cp, ri, Q1, K1, 2).unwrap();
        {
            // Before a factorisation: no selected inverse, a zero dense factor.
            let unfactored: [&dyn CholeskyFactor; 3] = [&sparse, &dense, &blocked];
            for f in unfactored {
                assert!(f.selected_inverse().is_err());
                assert_eq!(f.dense_factor().norm_max(), 0.0);
            }
        }
        sparse.factorize(&v).unwrap();
        {
            let mut lower = dense.lower_mut();
            for j in 0..N {
                for i in j..N {
                    lower[(i, j)] = a[(i, j)];
                }
            }
        }
        dense.factorize_in_place().unwrap();
        blocked.factorize(&v).unwrap();
        let identity: Vec<usize> = (0..N).collect();
        assert_eq!(dense.perm_fwd(), &identity[..]);
        assert_eq!(dense.n_supernodes(), 1);
        assert_ne!(sparse.perm_fwd(), &identity[..], "AMD should reorder A, so that P matters");
        let factors: [&mut dyn CholeskyFactor; 3] = [&mut sparse, &mut dense, &mut blocked];
        let outcomes: Vec<Outcome> = factors.into_iter().map(|f| exercise(f, &a)).collect();
        let first = &outcomes[0];
        for o in &outcomes[1..] {
            assert!((o.log_det - first.log_det).abs() < 1e-12);
            assert!((&o.x - &first.x).norm_max() < 1e-12);
            assert_eq!(o.inverse_entries.len(), first.inverse_entries.len());
            for (e, f) in o.inverse_entries.iter().zip(&first.inverse_entries) {
                assert!((e - f).abs() < 1e-12);
            }
            for (e, f) in o.clique_product.iter().zip(&first.clique_product) {
                assert!((e - f).abs() < 1e-12);
            }
        }
    }
}
