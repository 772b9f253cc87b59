//! Products with the marginal precision, at the random-effects level.
//!
//! With the weights absorbed, Var(y) = σ²H, H = I + ZΛΛ'Z' (n × n). Derivatives of the
//! likelihood and of vcov(β̂) in the variance parameters are traces and quadratic forms in
//! H⁻¹ = I - ZΛA⁻¹Λ'Z'; every one of them reduces to the q-level products kept here (never
//! an n × n matrix):
//!   K = Z'H⁻¹Z = M - N'A⁻¹N   (M = Z'Z, N = Λ'M),      J = Z'H⁻¹X = Z'X - N'g,
//!   C = X'H⁻¹X = R_X'R_X,      z = Z'H⁻¹(y - Xβ̂) = Z'(y - Xβ̂ - Zb̂),
//! and, for the residual variance as a parameter (Kenward-Roger), with F = Λ'Z'X, g = A⁻¹F:
//!   X'H⁻²X = C - g'g,  X'H⁻³X = C - g'g - g'A⁻¹g,  Z'H⁻²X = J - N'A⁻¹g,
//!   Z'H⁻²Z = K - (A⁻¹N)'(A⁻¹N)  (diagonal level blocks only),  tr H⁻² = n - q + ‖A⁻¹‖²_F.
//! (Each uses Λ'MΛ = A - I.) A⁻¹ is formed densely from the blocked factor, so memory is
//! O(q²); `MarginalProducts::new` refuses designs where that exceeds a budget.
//!
//! X enters with the cross-products' centred columns; callers map p × p results back with
//! `CrossProducts::to_original_covariance`.

use crate::error::{MerxError, Result};
use crate::pls::LinearMixedModel;
use faer::{Accum, Mat, Par};

/// The largest dense q × q working set (two matrices) the inference methods allocate.
pub const DENSE_BUDGET_BYTES: f64 = 8.0e9;

/// Z'Z (both triangles) and N = Λ'Z'Z at the element level, compressed by column.
pub(crate) struct SparseBlocks {
    pub col_ptr: Vec<usize>,
    pub row: Vec<usize>,
    pub m: Vec<f64>,
    pub n: Vec<f64>,
}

/// One symmetric block-diagonal direction ∂(ΛΛ')/∂γ: the same k × k block on every level of
/// one term.
#[derive(Clone, Debug)]
pub struct Direction {
    pub term: usize,
    pub block: Vec<f64>,
}

/// Where a term's levels sit in u.
#[derive(Clone, Copy, Debug)]
pub struct TermLayout {
    pub offset: usize,
    pub n_levels: usize,
    pub k: usize,
}

pub struct MarginalProducts {
    pub q: usize,
    pub p: usize,
    pub n_obs: usize,
    pub terms: Vec<TermLayout>,
    /// Z'H⁻¹Z (q × q).
    pub k: Mat<f64>,
    /// Z'H⁻¹X (q × p).
    pub j: Mat<f64>,
    /// X'H⁻¹X and its inverse (p × p).
    pub c: Mat<f64>,
    pub c_inv: Mat<f64>,
    /// Z'H⁻¹(y - Xβ̂).
    pub z: Vec<f64>,
    /// (y - Xβ̂)'H⁻¹(y - Xβ̂): the penalized weighted residual sum of squares.
    pub pwrss: f64,
    /// X'H⁻²X, X'H⁻³X (p × p), Z'H⁻²X (q × p).
    pub xh2x: Mat<f64>,
    pub xh3x: Mat<f64>,
    pub zh2x: Mat<f64>,
    /// Per term, per level, the k × k diagonal block of Z'H⁻²Z (column-major).
    pub zh2z_blocks: Vec<Vec<f64>>,
    /// tr H⁻².
    pub trace_h2: f64,
}

impl MarginalProducts {
    /// The products at θ (the model is evaluated there).
    pub fn new(model: &mut LinearMixedModel, theta: &[f64]) -> Result<Self> {
        let q = model.q();
        let p = model.p();
        let bytes = 2.0 * 8.0 * (q as f64) * (q as f64);
        if bytes > DENSE_BUDGET_BYTES {
            return Err(MerxError::InvalidInput(format!(
                "these degrees of freedom need two dense {q} × {q} matrices over the random effects \
                 ({:.1} GB; the limit is {:.0} GB): use ddf=\"lme4\" (no denominator degrees of freedom) \
                 or a model with fewer random-effect levels",
                bytes / 1e9,
                DENSE_BUDGET_BYTES / 1e9
            )));
        }
        crate::linalg::memory::ensure_fits(
            &format!(
                "these degrees of freedom (two dense {q} × {q} matrices over the random effects; use ddf=\"lme4\" for none)"
            ),
            bytes,
        )?;
        let eval = model.evaluate_if_needed(theta)?;
        let terms: Vec<TermLayout> = model
            .random_effects
            .terms
            .iter()
            .map(|t| TermLayout {
                offset: t.u_offset,
                n_levels: t.n_levels,
                k: t.k,
            })
            .collect();
        let ai = model.chol.dense_inverse()?;
        let sparse = model.sparse_blocks();
        // g = A⁻¹F, A⁻¹g, F = Λ'Z'X (unpermuted in `scaled`).
        let f = model.scaled.as_ref().subcols(0, p).to_owned();
        let g = matmul(ai.as_ref(), f.as_ref());
        let ai_g = matmul(ai.as_ref(), g.as_ref());
        let trace_h2 = model.n_obs() as f64 - q as f64 + ai.as_ref().squared_norm_l2();
        let (k, zh2z_blocks) = k_and_h2_blocks(&ai, &sparse, &terms, q);
        drop(ai);
        let ztx = Mat::<f64>::from_fn(q, p, |i, j| model.cp.ztxy[j * q + i]);
        let j = &ztx - &n_t_mul(&sparse, &g);
        let zh2x = &j - &n_t_mul(&sparse, &ai_g);
        let rx_t = model.s_factor.as_ref().submatrix(0, 0, p, p);
        let c = Mat::<f64>::from_fn(p, p, |a, b| {
            (0..=a.min(b)).map(|s| rx_t[(a, s)] * rx_t[(b, s)]).sum()
        });
        let c_inv_flat = model.unscaled_vcov_centred()?;
        let c_inv = Mat::<f64>::from_fn(p, p, |a, b| c_inv_flat[b * p + a]);
        let gtg = matmul(g.transpose(), g.as_ref());
        let xh2x = &c - &gtg;
        let xh3x = &xh2x - &matmul(g.transpose(), ai_g.as_ref());
        let z = model.residual_cross_product()?;
        Ok(MarginalProducts {
            q,
            p,
            n_obs: model.n_obs(),
            terms,
            k,
            j,
            c,
            c_inv,
            z,
            pwrss: eval.pwrss,
            xh2x,
            xh3x,
            zh2x,
            zh2z_blocks,
            trace_h2,
        })
    }

    /// D v for a q-vector (zero outside the direction's term).
    pub fn apply(&self, d: &Direction, v: &[f64]) -> Vec<f64> {
        let t = self.terms[d.term];
        let mut out = vec![0.0; self.q];
        for l in 0..t.n_levels {
            let base = t.offset + l * t.k;
            for a in 0..t.k {
                out[base + a] = (0..t.k).map(|b| d.block[b * t.k + a] * v[base + b]).sum();
            }
        }
        out
    }

    /// D X for a q × c matrix.
    pub fn apply_cols(&self, d: &Direction, x: &Mat<f64>) -> Mat<f64> {
        let mut out = Mat::<f64>::zeros(self.q, x.ncols());
        for c in 0..x.ncols() {
            let col: Vec<f64> = (0..self.q).map(|i| x[(i, c)]).collect();
            for (i, v) in self.apply(d, &col).into_iter().enumerate() {
                out[(i, c)] = v;
            }
        }
        out
    }

    /// Σ over the term's levels of tr(B_ll d) for the diagonal level blocks B_ll of a q × q
    /// matrix: tr(B D).
    pub fn trace_with(&self, b: &Mat<f64>, d: &Direction) -> f64 {
        let t = self.terms[d.term];
        let mut acc = 0.0;
        for l in 0..t.n_levels {
            let base = t.offset + l * t.k;
            for a in 0..t.k {
                for c in 0..t.k {
                    acc += b[(base + a, base + c)] * d.block[a * t.k + c];
                }
            }
        }
        acc
    }

    /// tr(Z'H⁻²Z D).
    pub fn trace_h2_with(&self, d: &Direction) -> f64 {
        let t = self.terms[d.term];
        let blocks = &self.zh2z_blocks[d.term];
        let kk = t.k * t.k;
        (0..t.n_levels)
            .map(|l| {
                (0..kk)
                    .map(|e| blocks[l * kk + e] * d.block[e])
                    .sum::<f64>()
            })
            .sum()
    }

    /// tr(K D_i K D_j) for every pair of directions, one pass over each pair of terms.
    pub fn trace_kdkd(&self, dirs: &[Direction]) -> Mat<f64> {
        let nd = dirs.len();
        let mut out = Mat::<f64>::zeros(nd, nd);
        let n_terms = self.terms.len();
        for ti in 0..n_terms {
            for tj in ti..n_terms {
                let di: Vec<usize> = (0..nd).filter(|&i| dirs[i].term == ti).collect();
                let dj: Vec<usize> = (0..nd).filter(|&j| dirs[j].term == tj).collect();
                if di.is_empty() || dj.is_empty() {
                    continue;
                }
                let sums = self.term_pair_traces(ti, tj, dirs, &di, &dj);
                for (a, &i) in di.iter().enumerate() {
                    for (b, &j) in dj.iter().enumerate() {
                        out[(i, j)] = sums[a * dj.len() + b];
                        out[(j, i)] = sums[a * dj.len() + b];
                    }
                }
            }
        }
        out
    }

    /// Σ_{l ∈ ti, l' ∈ tj} tr(X d_j X' d_i), X = K[l, l'] (k_i × k_j).
    fn term_pair_traces(
        &self,
        ti: usize,
        tj: usize,
        dirs: &[Direction],
        di: &[usize],
        dj: &[usize],
    ) -> Vec<f64> {
        let (a_t, b_t) = (self.terms[ti], self.terms[tj]);
        let (ki, kj) = (a_t.k, b_t.k);
        let mut sums = vec![0.0; di.len() * dj.len()];
        if ki == 1 && kj == 1 {
            let mut ssq = 0.0;
            for l in 0..a_t.n_levels {
                for m in 0..b_t.n_levels {
                    let x = self.k[(a_t.offset + l, b_t.offset + m)];
                    ssq += x * x;
                }
            }
            for (a, &i) in di.iter().enumerate() {
                for (b, &j) in dj.iter().enumerate() {
                    sums[a * dj.len() + b] = ssq * dirs[i].block[0] * dirs[j].block[0];
                }
            }
            return sums;
        }
        let mut x = vec![0.0; ki * kj];
        let mut xd = vec![0.0; ki * kj];
        let mut xtd = vec![0.0; kj * ki];
        for l in 0..a_t.n_levels {
            for m in 0..b_t.n_levels {
                for c in 0..kj {
                    for r in 0..ki {
                        x[c * ki + r] = self.k[(a_t.offset + l * ki + r, b_t.offset + m * kj + c)];
                    }
                }
                for (a, &i) in di.iter().enumerate() {
                    let d_i = &dirs[i].block;
                    // X' d_i (kj × ki)
                    for c in 0..ki {
                        for r in 0..kj {
                            xtd[c * kj + r] =
                                (0..ki).map(|s| x[r * ki + s] * d_i[c * ki + s]).sum();
                        }
                    }
                    for (b, &j) in dj.iter().enumerate() {
                        let d_j = &dirs[j].block;
                        // X d_j (ki × kj)
                        for c in 0..kj {
                            for r in 0..ki {
                                xd[c * ki + r] =
                                    (0..kj).map(|s| x[s * ki + r] * d_j[c * kj + s]).sum();
                            }
                        }
                        // tr((X d_j)(X' d_i)) = Σ_{r,c} (X d_j)[r, c] (X' d_i)[c, r]
                        let mut tr = 0.0;
                        for c in 0..kj {
                            for r in 0..ki {
                                tr += xd[c * ki + r] * xtd[r * kj + c];
                            }
                        }
                        sums[a * dj.len() + b] += tr;
                    }
                }
            }
        }
        sums
    }
}

pub(crate) fn matmul(a: faer::MatRef<'_, f64>, b: faer::MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(a.nrows(), b.ncols());
    faer::linalg::matmul::matmul(out.as_mut(), Accum::Replace, a, b, 1.0, Par::Seq);
    out
}

/// N'x for a q × c matrix x.
fn n_t_mul(s: &SparseBlocks, x: &Mat<f64>) -> Mat<f64> {
    let q = s.col_ptr.len() - 1;
    Mat::<f64>::from_fn(q, x.ncols(), |a, c| {
        (s.col_ptr[a]..s.col_ptr[a + 1])
            .map(|e| s.n[e] * x[(s.row[e], c)])
            .sum()
    })
}

/// K = M - N'A⁻¹N and the diagonal level blocks of (A⁻¹N)'(A⁻¹N), one level group of
/// columns at a time (A⁻¹N is never stored whole), the groups split between threads.
fn k_and_h2_blocks(
    ai: &Mat<f64>,
    s: &SparseBlocks,
    terms: &[TermLayout],
    q: usize,
) -> (Mat<f64>, Vec<Vec<f64>>) {
    // Level groups of columns (offset, k) in u order.
    let groups: Vec<(usize, usize, usize, usize)> = terms
        .iter()
        .enumerate()
        .flat_map(|(t, lay)| (0..lay.n_levels).map(move |l| (lay.offset + l * lay.k, lay.k, t, l)))
        .collect();
    let n_threads = std::thread::available_parallelism()
        .map_or(1, |v| v.get())
        .clamp(1, 8);
    let mut kvals = vec![0.0; q * q];
    let mut blocks: Vec<Vec<f64>> = terms
        .iter()
        .map(|t| vec![0.0; t.n_levels * t.k * t.k])
        .collect();
    // Split the columns at group boundaries into n_threads chunks of about equal size.
    let mut cuts = vec![0usize];
    for (gi, g) in groups.iter().enumerate() {
        if g.0 * n_threads >= q * cuts.len() && gi > *cuts.last().unwrap() {
            cuts.push(gi);
        }
    }
    cuts.push(groups.len());
    let results: Vec<Vec<(usize, usize, Vec<f64>)>> = std::thread::scope(|scope| {
        let mut rest: &mut [f64] = &mut kvals;
        let mut handles = Vec::new();
        for w in cuts.windows(2) {
            let (g0, g1) = (w[0], w[1]);
            let col0 = groups.get(g0).map_or(q, |g| g.0);
            let col1 = groups.get(g1).map_or(q, |g| g.0);
            let (mine, tail) = rest.split_at_mut((col1 - col0) * q);
            rest = tail;
            let groups = &groups[g0..g1];
            handles.push(scope.spawn(move || {
                let mut y = vec![0.0; q * 8];
                let mut out_blocks = Vec::with_capacity(groups.len());
                for &(c0, k, t, l) in groups {
                    if y.len() < q * k {
                        y.resize(q * k, 0.0);
                    }
                    // y_c = A⁻¹ N[:, c]
                    for a in 0..k {
                        let yc = &mut y[a * q..(a + 1) * q];
                        yc.fill(0.0);
                        let c = c0 + a;
                        for e in s.col_ptr[c]..s.col_ptr[c + 1] {
                            let (r, v) = (s.row[e], s.n[e]);
                            let air = ai.col(r);
                            for i in 0..q {
                                yc[i] += v * air[i];
                            }
                        }
                        // K[:, c] = M[:, c] - N' y_c
                        let kc = &mut mine[(c - col0) * q..(c - col0 + 1) * q];
                        for (ai_row, out) in kc.iter_mut().enumerate() {
                            let mut acc = 0.0;
                            for e in s.col_ptr[ai_row]..s.col_ptr[ai_row + 1] {
                                acc += s.n[e] * yc[s.row[e]];
                            }
                            *out = -acc;
                        }
                        for e in s.col_ptr[c]..s.col_ptr[c + 1] {
                            kc[s.row[e]] += s.m[e];
                        }
                    }
                    let mut blk = vec![0.0; k * k];
                    for a in 0..k {
                        for b in 0..k {
                            let dot: f64 = (0..q).map(|i| y[a * q + i] * y[b * q + i]).sum();
                            blk[b * k + a] = mine[(c0 + b - col0) * q + c0 + a] - dot;
                        }
                    }
                    out_blocks.push((t, l, blk));
                }
                out_blocks
            }));
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("marginal products worker"))
            .collect()
    });
    for (t, l, blk) in results.into_iter().flatten() {
        let kk = blk.len();
        blocks[t][l * kk..(l + 1) * kk].copy_from_slice(&blk);
    }
    (Mat::<f64>::from_fn(q, q, |i, j| kvals[j * q + i]), blocks)
}

impl LinearMixedModel {
    /// Z'Z (both triangles) and Λ'Z'Z at the element level, for the last θ's templates.
    pub(crate) fn sparse_blocks(&self) -> SparseBlocks {
        let cp = &self.cp;
        let q = self.q();
        let elem = |g: usize| -> (usize, usize, usize) {
            let t = cp.block_term[g] as usize;
            let k = cp.term_k[t];
            (t, cp.term_u_offset[t] + (g - cp.term_block_base[t]) * k, k)
        };
        // Entries per element column, both triangles.
        let mut cols: Vec<Vec<(usize, f64)>> = vec![Vec::new(); q];
        for g in 0..cp.block_term.len() {
            let (_, cb, kc) = elem(g);
            for s in cp.block_col_ptr[g]..cp.block_col_ptr[g + 1] {
                let (_, rb, kr) = elem(cp.block_row[s] as usize);
                let m = &cp.ztz[cp.block_val[s]..cp.block_val[s] + kr * kc];
                let diagonal = s == cp.block_col_ptr[g];
                for a in 0..kc {
                    for b in 0..kr {
                        cols[cb + a].push((rb + b, m[a * kr + b]));
                        if !diagonal {
                            cols[rb + b].push((cb + a, m[a * kr + b]));
                        }
                    }
                }
            }
        }
        let mut col_ptr = Vec::with_capacity(q + 1);
        let (mut row, mut mv) = (Vec::new(), Vec::new());
        col_ptr.push(0);
        for c in cols.iter_mut() {
            c.sort_unstable_by_key(|e| e.0);
            row.extend(c.iter().map(|e| e.0));
            mv.extend(c.iter().map(|e| e.1));
            col_ptr.push(row.len());
        }
        // N = Λ'M: within each column, rows of one level block mix through T' (upper).
        let mut term_of = vec![0usize; q];
        for (t, lay) in self.random_effects.terms.iter().enumerate() {
            term_of[lay.u_offset..lay.u_offset + lay.n_levels * lay.k].fill(t);
        }
        let mut nv = vec![0.0; mv.len()];
        for c in 0..q {
            let (lo, hi) = (col_ptr[c], col_ptr[c + 1]);
            let mut e = lo;
            while e < hi {
                let t = term_of[row[e]];
                let lay = &self.random_effects.terms[t];
                let k = lay.k;
                let tc = self.template(t);
                // rows e..e+k are one level block (full blocks are stored).
                for a in 0..k {
                    nv[e + a] = (a..k).map(|b| tc[a * k + b] * mv[e + b]).sum();
                }
                e += k;
            }
        }
        SparseBlocks {
            col_ptr,
            row,
            m: mv,
            n: nv,
        }
    }

    /// Z'W(r - Xδ - Zb̂) at the last evaluation: Z'H⁻¹(y - Xβ̂).
    pub(crate) fn residual_cross_product(&mut self) -> Result<Vec<f64>> {
        let (delta, u) = self.solution_for_shifted_response()?;
        let q = self.q();
        let p = self.p();
        let mut b = vec![0.0; q];
        self.lambda_mul(&u, &mut b);
        let bm = Mat::<f64>::from_fn(q, 1, |i, _| b[i]);
        let mut mb = Mat::<f64>::zeros(q, 1);
        self.cp.ztz_mul(bm.as_ref(), mb.as_mut());
        Ok((0..q)
            .map(|i| {
                let xd: f64 = (0..p).map(|j| self.cp.ztxy[j * q + i] * delta[j]).sum();
                self.cp.ztxy[p * q + i] - xd - mb[(i, 0)]
            })
            .collect())
    }
}
