//! Dense Cholesky factor of a small, nearly dense matrix.
//!
//! The Schur complement of a crossed design (the items after the users are eliminated) is
//! typically a few thousand columns and almost full. The supernodal factorisation then
//! spends its time on permuting, scattering and amalgamation bookkeeping around what is
//! one dense block; this factor stores it as a dense lower triangle and runs faer's dense
//! kernels directly (one supernode, no ordering needed).

use super::{CholeskyFactor, SelectedInverse};
use crate::error::{MerxError, Result};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch, LltParams, LltRegularization};
use faer::{Mat, MatMut, Par, Spec};

pub struct DenseCholesky {
    n: usize,
    l: Mat<f64>,
    mem: MemBuffer,
    /// Threads of the blocked factorisation (1: faer's sequential one).
    threads: usize,
    /// The blocked factorisation's workspace (diagonal blocks), allocated once.
    blocked_mem: Option<MemBuffer>,
    /// The identity permutation (no ordering), for [`CholeskyFactor::perm_fwd`].
    identity: Vec<usize>,
    factored: bool,
}

impl std::fmt::Debug for DenseCholesky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenseCholesky").field("n", &self.n).finish()
    }
}

/// Columns from which the factorisation runs on several threads, and at most how many.
const PARALLEL_MIN: usize = 384;
const MAX_THREADS: usize = 8;

fn params() -> Spec<LltParams, f64> {
    Default::default()
}

impl DenseCholesky {
    pub fn new(n: usize) -> Result<Self> {
        let mem = MemBuffer::try_new(cholesky_in_place_scratch::<f64>(n, Par::Seq, params()))
            .map_err(|_| MerxError::Numerical("out of memory for the dense Cholesky workspace".into()))?;
        // From PARALLEL_MIN columns the trailing updates are worth splitting between the cores.
        let threads = if n >= PARALLEL_MIN { std::thread::available_parallelism().map_or(1, |v| v.get()).min(MAX_THREADS) } else { 1 };
        Ok(DenseCholesky { n, l: Mat::zeros(n, n), mem, threads, blocked_mem: None, identity: (0..n).collect(), factored: false })
    }

    /// Threads of the factorisation (and of forming a Schur complement in its storage).
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    pub(crate) fn set_threads(&mut self, threads: usize) {
        self.threads = threads;
    }

    /// The storage of the matrix's lower triangle, to be filled before
    /// [`factorize_in_place`](Self::factorize_in_place) (the upper triangle is ignored).
    pub fn lower_mut(&mut self) -> MatMut<'_, f64> {
        self.factored = false;
        self.l.as_mut()
    }

    /// Factorises the lower triangle written through [`lower_mut`](Self::lower_mut).
    pub fn factorize_in_place(&mut self) -> Result<()> {
        self.factored = false;
        if self.threads > 1 {
            if self.blocked_mem.is_none() {
                self.blocked_mem = Some(
                    super::parallel_llt::scratch()
                        .ok_or_else(|| MerxError::Numerical("out of memory for the dense Cholesky workspace".into()))?,
                );
            }
            let mem = self.blocked_mem.as_mut().expect("allocated above");
            super::parallel_llt::cholesky_lower(self.l.as_mut(), self.threads, mem)
                .map_err(|_| MerxError::Numerical("Λ'Z'WZΛ + I is not numerically positive definite".into()))?;
            self.factored = true;
            return Ok(());
        }
        cholesky_in_place(
            self.l.as_mut(),
            LltRegularization::default(),
            Par::Seq,
            MemStack::new(&mut self.mem),
            params(),
        )
        .map_err(|_| MerxError::Numerical("Λ'Z'WZΛ + I is not numerically positive definite".into()))?;
        self.factored = true;
        Ok(())
    }

    /// The inverse (L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹; only its lower triangle is computed and valid.
    pub fn inverse_lower(&self) -> Result<Mat<f64>> {
        if !self.factored {
            return Err(MerxError::Numerical("inverse requested before a factorisation".into()));
        }
        let n = self.n;
        let mut out = Mat::<f64>::zeros(n, n);
        let mut mem = MemBuffer::try_new(faer::linalg::cholesky::llt::inverse::inverse_scratch::<f64>(n, Par::Seq))
            .map_err(|_| MerxError::Numerical("out of memory for the dense inverse".into()))?;
        faer::linalg::cholesky::llt::inverse::inverse(out.as_mut(), self.l.as_ref(), Par::Seq, MemStack::new(&mut mem));
        Ok(out)
    }
}

impl CholeskyFactor for DenseCholesky {
    fn n(&self) -> usize {
        self.n
    }

    fn nnz_l(&self) -> usize {
        self.n * (self.n + 1) / 2
    }

    fn n_supernodes(&self) -> usize {
        self.n.min(1)
    }

    fn perm_fwd(&self) -> &[usize] {
        &self.identity
    }

    fn log_det(&self) -> f64 {
        2.0 * (0..self.n).map(|i| self.l[(i, i)].ln()).sum::<f64>()
    }

    fn l_solve_in_place(&mut self, rhs: MatMut<'_, f64>) {
        let l = self.l.as_ref();
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(l, rhs, Par::Seq);
    }

    fn lt_solve_in_place(&mut self, rhs: MatMut<'_, f64>) {
        let l = self.l.as_ref();
        faer::linalg::triangular_solve::solve_upper_triangular_in_place(l.transpose(), rhs, Par::Seq);
    }

    fn selected_inverse(&self) -> Result<Box<dyn SelectedInverse>> {
        Ok(Box::new(DenseInverse(self.inverse_lower()?)))
    }

    /// Testing/debug helper: the factor as a dense lower-triangular matrix.
    fn dense_factor(&self) -> Mat<f64> {
        if !self.factored {
            return Mat::zeros(self.n, self.n);
        }
        Mat::from_fn(self.n, self.n, |i, j| if i >= j { self.l[(i, j)] } else { 0.0 })
    }
}

/// A⁻¹ of a dense factor: its lower triangle (the upper one is not computed).
pub struct DenseInverse(Mat<f64>);

impl SelectedInverse for DenseInverse {
    #[inline]
    fn entry(&self, i: usize, j: usize) -> Result<f64> {
        Ok(self.0[(i.max(j), i.min(j))])
    }
}

/// In-place lower Cholesky of a small dense matrix (p × p or k × k): only the lower
/// triangle is read, the upper one is zeroed. For j < `n_strict` pivot j must be finite and
/// exceed `rel_tol` times the matrix's own diagonal entry, else `Err(j)`; a later pivot that
/// is not positive is set to 0 together with its column (the response row of PLS, where an
/// exact fit is reported by the caller).
pub fn small_cholesky_lower(mut a: MatMut<'_, f64>, n_strict: usize, rel_tol: f64) -> std::result::Result<(), usize> {
    let n = a.nrows();
    for j in 0..n {
        let diag = a[(j, j)];
        let mut d = diag;
        for k in 0..j {
            d -= a[(j, k)] * a[(j, k)];
        }
        if !(d > rel_tol * diag.abs()) || !d.is_finite() {
            if j < n_strict {
                return Err(j);
            }
            d = 0.0;
        }
        let djj = d.sqrt();
        a[(j, j)] = djj;
        for i in j + 1..n {
            let mut v = a[(i, j)];
            for k in 0..j {
                v -= a[(i, k)] * a[(j, k)];
            }
            a[(i, j)] = if djj > 0.0 { v / djj } else { 0.0 };
        }
        for i in 0..j {
            a[(i, j)] = 0.0;
        }
    }
    Ok(())
}
