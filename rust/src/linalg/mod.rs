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
