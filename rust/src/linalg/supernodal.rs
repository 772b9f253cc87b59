//! Sparse supernodal Cholesky factorisation of A = Λ'Z'WZΛ + I.
//!
//! The pattern of A does not depend on θ, so the fill-reducing ordering, elimination tree,
//! supernode partition and storage for L are computed once ([`SparseCholesky::analyse`]);
//! each θ then only refactorises numerically into the same storage, with all workspace
//! allocated up front. Supernodes are factored with dense kernels. faer provides the
//! symbolic analysis and the supernodal numeric kernels; we force supernodal mode and
//! sequential execution (`Par::Seq`), since faer's parallel matmul has open correctness
//! issues.
//!
//! Solves are exposed in the permuted space (`P A P' = L L'`) because the penalized
//! least-squares algebra needs the triangular factor itself, not only A⁻¹. The selected
//! inverse (entries of A⁻¹ on the pattern of L) gives the conditional variances.
//!
//! The symbolic factor and the inverse permutation are shared (`Arc`) with the selected
//! inverses, which need them to find an entry; the pattern never changes after the analysis.

use super::{CholeskyFactor, SelectedInverse};
use crate::error::{MerxError, Result};
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::llt::factor::{LltParams, LltRegularization};
use faer::sparse::linalg::cholesky::supernodal::{SupernodalLltRef, SymbolicSupernodalCholesky};
use faer::sparse::linalg::cholesky::{
    factorize_symbolic_cholesky, CholeskySymbolicParams, SymbolicCholesky, SymbolicCholeskyRaw,
    SymmetricOrdering,
};
use faer::sparse::linalg::{SupernodalThreshold, SymbolicSupernodalParams};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Accum, Conj, Mat, MatMut, Par, Side, Spec};
use std::sync::Arc;

/// Symbolic analysis (once) plus the numeric factor of the current θ.
pub struct SparseCholesky {
    n: usize,
    col_ptr: Vec<usize>,
    row_idx: Vec<usize>,
    symbolic: Arc<SymbolicCholesky<usize>>,
    l_values: Vec<f64>,
    perm_fwd: Vec<usize>,
    perm_inv: Arc<[usize]>,
    mem: MemBuffer,
    factored: bool,
}

impl std::fmt::Debug for SparseCholesky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseCholesky")
            .field("n", &self.n)
            .field("nnz_a", &self.row_idx.len())
            .field("nnz_l", &self.l_values.len())
            .field("n_supernodes", &self.n_supernodes())
            .finish()
    }
}

/// Supernode amalgamation: merge adjacent supernodes whose union has at most this fraction
/// of explicit zeros. More aggressive than faer's default for wide supernodes, because the
/// Schur complements of crossed designs are nearly dense and run fastest as a few large
/// dense blocks.
const RELAX: &[(usize, f64)] = &[(4, 1.0), (16, 0.8), (48, 0.1), (usize::MAX, 0.5)];

fn llt_params() -> Spec<LltParams, f64> {
    Default::default()
}

impl SparseCholesky {
    /// Symbolic analysis of the lower-triangular pattern (`col_ptr`, `row_idx`, sorted rows,
    /// diagonal present) of an n × n symmetric matrix, with an AMD fill-reducing ordering.
    /// `max_rhs` is the widest right-hand side that will be solved (the workspace is sized
    /// for it).
    pub fn analyse(n: usize, col_ptr: Vec<usize>, row_idx: Vec<usize>, max_rhs: usize) -> Result<Self> {
        let pattern = SymbolicSparseColMatRef::new_checked(n, n, &col_ptr, None, &row_idx);
        let params = CholeskySymbolicParams {
            // faer picks supernodal when flops / nnz(L) > threshold; its FORCE_SUPERNODAL (0.0)
            // still yields a simplicial factor for a diagonal matrix (0 flops), so use -1.
            supernodal_flop_ratio_threshold: SupernodalThreshold(-1.0),
            supernodal_params: SymbolicSupernodalParams { relax: Some(RELAX) },
            ..Default::default()
        };
        let symbolic = factorize_symbolic_cholesky(pattern, Side::Lower, SymmetricOrdering::Amd, params)
            .map_err(|e| MerxError::Numerical(format!("symbolic Cholesky analysis failed: {e:?}")))?;
        let (perm_fwd, perm_inv): (Vec<usize>, Arc<[usize]>) = match symbolic.perm() {
            Some(p) => {
                let (f, i) = p.arrays();
                (f.to_vec(), i.into())
            }
            None => ((0..n).collect(), (0..n).collect()),
        };
        let sn = match symbolic.raw() {
            SymbolicCholeskyRaw::Supernodal(s) => s,
            SymbolicCholeskyRaw::Simplicial(_) => {
                return Err(MerxError::Numerical("expected a supernodal symbolic factor".into()))
            }
        };
        let req = StackReq::any_of(&[
            symbolic.factorize_numeric_llt_scratch::<f64>(Par::Seq, llt_params()),
            sn.solve_in_place_scratch::<f64>(max_rhs.max(1), Par::Seq),
        ]);
        let mem = MemBuffer::try_new(req)
            .map_err(|_| MerxError::Numerical("out of memory for the Cholesky workspace".into()))?;
        super::memory::ensure_fits(
            &format!("the sparse Cholesky factor ({n} columns, {} stored entries)", symbolic.len_val()),
            8.0 * symbolic.len_val() as f64,
        )?;
        let l_values = vec![0.0; symbolic.len_val()];
        let symbolic = Arc::new(symbolic);
        Ok(SparseCholesky { n, col_ptr, row_idx, symbolic, l_values, perm_fwd, perm_inv, mem, factored: false })
    }

    /// Number of stored entries of A's lower triangle (the length of the values passed to
    /// [`factorize`](Self::factorize)).
    pub fn nnz_a(&self) -> usize {
        self.row_idx.len()
    }

    pub fn col_ptr(&self) -> &[usize] {
        &self.col_ptr
    }

    pub fn row_idx(&self) -> &[usize] {
        &self.row_idx
    }

    pub fn supernodal(&self) -> &SymbolicSupernodalCholesky<usize> {
        supernodal_of(&self.symbolic)
    }

    pub fn perm_inv(&self) -> &[usize] {
        &self.perm_inv
    }

    /// Numeric refactorisation for new values of A (same pattern as analysed).
    pub fn factorize(&mut self, values: &[f64]) -> Result<()> {
        self.factored = false;
        if values.len() != self.row_idx.len() {
            return Err(MerxError::Numerical("matrix values do not match the analysed pattern".into()));
        }
        let pattern = SymbolicSparseColMatRef::new_checked(self.n, self.n, &self.col_ptr, None, &self.row_idx);
        let a = SparseColMatRef::new(pattern, values);
        let stack = MemStack::new(&mut self.mem);
        self.symbolic
            .factorize_numeric_llt(
                &mut self.l_values,
                a,
                Side::Lower,
                LltRegularization::default(),
                Par::Seq,
                stack,
                llt_params(),
            )
            .map_err(|_| MerxError::Numerical("Λ'Z'WZΛ + I is not numerically positive definite".into()))?;
        self.factored = true;
        Ok(())
    }

    fn factor(&self) -> SupernodalLltRef<'_, usize, f64> {
        SupernodalLltRef::new(self.supernodal(), &self.l_values)
    }

}

impl CholeskyFactor for SparseCholesky {
    fn n(&self) -> usize {
        self.n
    }

    /// Stored entries of L (supernodal storage, including the dense diagonal blocks).
    fn nnz_l(&self) -> usize {
        self.l_values.len()
    }

    fn n_supernodes(&self) -> usize {
        self.supernodal().n_supernodes()
    }

    fn perm_fwd(&self) -> &[usize] {
        &self.perm_fwd
    }

    /// log |L|² = 2 Σ log L_ii = log det A.
    fn log_det(&self) -> f64 {
        let f = self.factor();
        let mut acc = 0.0;
        for s in 0..self.n_supernodes() {
            let node = f.supernode(s);
            let v = node.val();
            for j in 0..v.ncols() {
                acc += v[(j, j)].ln();
            }
        }
        2.0 * acc
    }

    /// rhs ← L⁻¹ rhs (permuted space).
    fn l_solve_in_place(&mut self, rhs: MatMut<'_, f64>) {
        let f = SupernodalLltRef::new(supernodal_of(&self.symbolic), &self.l_values);
        f.l_solve_with_conj(Conj::No, rhs, Par::Seq, MemStack::new(&mut self.mem));
    }

    /// rhs ← L'⁻¹ rhs (permuted space).
    fn lt_solve_in_place(&mut self, rhs: MatMut<'_, f64>) {
        let f = SupernodalLltRef::new(supernodal_of(&self.symbolic), &self.l_values);
        f.l_transpose_solve_with_conj(Conj::No, rhs, Par::Seq, MemStack::new(&mut self.mem));
    }

    /// Entries of A⁻¹ on the pattern of L (Takahashi's equations, supernode by supernode
    /// from the last): with Y = L_IJ L_JJ⁻¹, Z_IJ = -Z_II Y and
    /// Z_JJ = (L_JJ L_JJ')⁻¹ - Y' Z_IJ.
    fn selected_inverse(&self) -> Result<Box<dyn SelectedInverse>> {
        if !self.factored {
            return Err(MerxError::Numerical("selected inverse requested before a factorisation".into()));
        }
        let sym = self.supernodal();
        let ns = sym.n_supernodes();
        let mut sn_of_col = vec![0usize; self.n];
        for s in 0..ns {
            for c in sym.supernode_begin()[s]..sym.supernode_end()[s] {
                sn_of_col[c] = s;
            }
        }
        let mut z = vec![0.0; self.l_values.len()];
        let f = self.factor();
        for s in (0..ns).rev() {
            let node = f.supernode(s);
            let lv = node.val();
            let nc = lv.ncols();
            let pattern: &[usize] = node.pattern();
            let m = pattern.len();
            let l_jj = lv.subrows(0, nc);
            let l_ij = lv.subrows(nc, m);
            // X = L_JJ'⁻¹ L_IJ' (nc × m), so Y = X'.
            let mut x = l_ij.transpose().to_owned();
            faer::linalg::triangular_solve::solve_upper_triangular_in_place(l_jj.transpose(), x.as_mut(), Par::Seq);
            // Z_II gathered from later supernodes (full symmetric m × m).
            let mut z_ii = Mat::<f64>::zeros(m, m);
            for b in 0..m {
                for a in b..m {
                    let pos = locate(sym, &sn_of_col, pattern[a], pattern[b]).ok_or_else(|| {
                        MerxError::Numerical("selected inverse: entry outside the pattern of L".into())
                    })?;
                    z_ii[(a, b)] = z[pos];
                    z_ii[(b, a)] = z[pos];
                }
            }
            // Z_IJ = -Z_II X'
            let mut z_ij = Mat::<f64>::zeros(m, nc);
            faer::linalg::matmul::matmul(z_ij.as_mut(), Accum::Replace, z_ii.as_ref(), x.transpose(), -1.0, Par::Seq);
            // Z_JJ = L_JJ'⁻¹ L_JJ⁻¹ - X Z_IJ
            let mut linv = Mat::<f64>::identity(nc, nc);
            faer::linalg::triangular_solve::solve_lower_triangular_in_place(l_jj, linv.as_mut(), Par::Seq);
            let mut z_jj = Mat::<f64>::zeros(nc, nc);
            faer::linalg::matmul::matmul(z_jj.as_mut(), Accum::Replace, linv.transpose(), linv.as_ref(), 1.0, Par::Seq);
            faer::linalg::matmul::matmul(z_jj.as_mut(), Accum::Add, x.as_ref(), z_ij.as_ref(), -1.0, Par::Seq);
            let base = sym.col_ptr_for_val()[s];
            let nrows = nc + m;
            for c in 0..nc {
                for r in 0..nc {
                    z[base + c * nrows + r] = z_jj[(r, c)];
                }
                for r in 0..m {
                    z[base + c * nrows + nc + r] = z_ij[(r, c)];
                }
            }
        }
        Ok(Box::new(SupernodalInverse {
            symbolic: Arc::clone(&self.symbolic),
            perm_inv: Arc::clone(&self.perm_inv),
            values: z,
            sn_of_col,
        }))
    }

    /// Testing/debug helper: the current factor L as a dense n × n lower-triangular matrix
    /// (permuted space: P A P' = L L', with `perm_fwd` giving P). O(n²) memory; meant for
    /// checking small problems against dense references, not for production paths. All
    /// zeros before a successful [`factorize`](SparseCholesky::factorize).
    fn dense_factor(&self) -> Mat<f64> {
        let mut l = Mat::<f64>::zeros(self.n, self.n);
        if !self.factored {
            return l;
        }
        let f = self.factor();
        for s in 0..self.n_supernodes() {
            let node = f.supernode(s);
            let v = node.val();
            let start = node.start();
            let nc = v.ncols();
            let pattern: &[usize] = node.pattern();
            for c in 0..nc {
                for r in c..nc {
                    l[(start + r, start + c)] = v[(r, c)];
                }
                for (i, &r) in pattern.iter().enumerate() {
                    l[(r, start + c)] = v[(nc + i, c)];
                }
            }
        }
        l
    }
}

/// Position of L[r, c] (permuted indices, r ≥ c, inside the pattern) in the supernodal
/// value storage.
fn locate(sym: &SymbolicSupernodalCholesky<usize>, sn_of_col: &[usize], r: usize, c: usize) -> Option<usize> {
    let s = sn_of_col[c];
    let start = sym.supernode_begin()[s];
    let end = sym.supernode_end()[s];
    let ncols = end - start;
    let pattern = &sym.row_idx()[sym.col_ptr_for_row_idx()[s]..sym.col_ptr_for_row_idx()[s + 1]];
    let nrows = ncols + pattern.len();
    let local = if r < end {
        r - start
    } else {
        ncols + pattern.binary_search(&r).ok()?
    };
    Some(sym.col_ptr_for_val()[s] + (c - start) * nrows + local)
}

/// The supernodal structure of a symbolic factor ([`SparseCholesky::analyse`] forces
/// supernodal mode, so the simplicial arm cannot occur).
fn supernodal_of(symbolic: &SymbolicCholesky<usize>) -> &SymbolicSupernodalCholesky<usize> {
    match symbolic.raw() {
        SymbolicCholeskyRaw::Supernodal(s) => s,
        SymbolicCholeskyRaw::Simplicial(_) => unreachable!("analyse forces supernodal mode"),
    }
}

/// Entries of A⁻¹ on the pattern of L, in the supernodal layout of L.
pub struct SupernodalInverse {
    symbolic: Arc<SymbolicCholesky<usize>>,
    perm_inv: Arc<[usize]>,
    values: Vec<f64>,
    sn_of_col: Vec<usize>,
}

impl SelectedInverse for SupernodalInverse {
    /// A⁻¹[i, j] for original (unpermuted) indices whose permuted positions lie in the
    /// pattern of L (true for any two columns of one random-effects level).
    fn entry(&self, i: usize, j: usize) -> Result<f64> {
        let (pi, pj) = (self.perm_inv[i], self.perm_inv[j]);
        let (r, c) = if pi >= pj { (pi, pj) } else { (pj, pi) };
        locate(supernodal_of(&self.symbolic), &self.sn_of_col, r, c)
            .map(|pos| self.values[pos])
            .ok_or_else(|| MerxError::Numerical(format!("A⁻¹[{i},{j}] is outside the pattern of L")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::linalg::solvers::DenseSolveCore;

    /// Dense lower pattern of a small SPD matrix.
    fn dense_lower(a: &Mat<f64>) -> (Vec<usize>, Vec<usize>, Vec<f64>) {
        let n = a.nrows();
        let (mut cp, mut ri, mut v) = (vec![0], vec![], vec![]);
        for j in 0..n {
            for i in j..n {
                if a[(i, j)] != 0.0 || i == j {
                    ri.push(i);
                    v.push(a[(i, j)]);
                }
            }
            cp.push(ri.len());
        }
        (cp, ri, v)
    }

    #[test]
    fn factor_solve_and_inverse_agree_with_dense() {
        let n = 7;
        let mut a = Mat::<f64>::zeros(n, n);
        for i in 0..n {
            a[(i, i)] = 4.0 + i as f64;
        }
        for (i, j, v) in [(3, 0, 1.0), (5, 0, -0.5), (5, 3, 0.7), (6, 1, 0.3), (6, 2, 0.2), (4, 2, -1.0)] {
            a[(i, j)] = v;
            a[(j, i)] = v;
        }
        let (cp, ri, v) = dense_lower(&a);
        let mut ch = SparseCholesky::analyse(n, cp, ri, 2).unwrap();
        ch.factorize(&v).unwrap();
        let dense_llt = a.llt(Side::Lower).unwrap();
        let l = dense_llt.L();
        let logdet: f64 = (0..n).map(|i| 2.0 * l[(i, i)].ln()).sum();
        assert!((ch.log_det() - logdet).abs() < 1e-12);
        // solve A x = b through the permuted triangular solves
        let b = Mat::<f64>::from_fn(n, 1, |i, _| (i as f64) - 2.0);
        let mut pb = Mat::<f64>::zeros(n, 1);
        ch.permute_rows(b.as_ref(), pb.as_mut());
        ch.l_solve_in_place(pb.as_mut());
        ch.lt_solve_in_place(pb.as_mut());
        let mut x = Mat::<f64>::zeros(n, 1);
        ch.unpermute_rows(pb.as_ref(), x.as_mut());
        let r = &a * &x - &b;
        assert!(r.norm_max() < 1e-12);
        let inv = ch.selected_inverse().unwrap();
        let ainv = dense_llt.inverse();
        for (i, j) in [(0, 0), (3, 0), (5, 3), (6, 6), (4, 2), (1, 1)] {
            let e = ch.inverse_entry(&inv, i, j).unwrap();
            assert!((e - ainv[(i, j)]).abs() < 1e-12, "({i},{j}) {e} vs {}", ainv[(i, j)]);
        }
    }
}
