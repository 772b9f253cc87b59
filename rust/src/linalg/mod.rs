//! Cholesky factorisations of A = Λ'Z'WZΛ + I and of its pieces.

mod blocked;
mod dense;
mod supernodal;

pub use blocked::{BlockedCholesky, BlockedInverse};
pub use dense::{small_cholesky_lower, DenseCholesky};
pub use supernodal::{SelectedInverse, SparseCholesky};
