//! Analytic gradient of the profiled objective with respect to θ.
//!
//! With the weights absorbed (X̃ = W^½X, Z̃ = W^½Z, r̃ = W^½(y - offset)), M = Z̃'Z̃,
//! A = Λ'MΛ + I and E_i = ∂Λ/∂θ_i (ones at template entry (r, c) of every level of the
//! term), the objective is f = log|A| [+ log|R_X|²] + ν log r² + const, and
//!
//!   ∂ log|A|   = 2 tr(A⁻¹ Λ'M E_i)
//!   ∂ r²       = -2 v'E_i u,              v = Z̃'(r̃ - X̃β - Z̃Λu)   (envelope theorem)
//!   ∂ log|R_X|² = -2 tr(C⁻¹ G'E_i K),      K = A⁻¹Λ'Z̃'X̃, G = Z̃'X̃ - MΛK, C = R_X'R_X
//!
//! (the REML term uses Λ'G = K). The trace needs A⁻¹ only on the block pattern of A, which
//! the selected inverse provides; everything else is cross-products and solves already at
//! hand. One gradient costs about two factorisations.
//!
//! These are derivatives in the template entries; a covariance structure whose parameters
//! are not the entries themselves contributes through its Jacobian ∂T/∂θ (chain rule).

use crate::error::{MerxError, Result};
use crate::covariance::lower_triangle;
use crate::linalg::CholeskyFactor;
use crate::pls::LinearMixedModel;
use faer::Mat;

impl LinearMixedModel {
    /// D_t[c, r] = Σ over the levels of term t of (A⁻¹Λ'M)[(l,c), (l,r)], M = Z'WZ, block pair
    /// by pair: ∂ log|A| / ∂T_t[r, c] = 2 D_t[c, r] (at fixed weights).
    pub(crate) fn trace_blocks(&self, inv: &dyn crate::linalg::SelectedInverse) -> Result<Vec<Vec<f64>>> {
        let cp = &self.cp;
        let mut d: Vec<Vec<f64>> = self.random_effects.terms.iter().map(|t| vec![0.0; t.k * t.k]).collect();
        let elem = |g: usize| -> (usize, usize, usize) {
            let t = cp.block_term[g] as usize;
            let k = cp.term_k[t];
            (t, cp.term_u_offset[t] + (g - cp.term_block_base[t]) * k, k)
        };
        let mut ainv = vec![0.0; self.random_effects.max_k().pow(2)];
        for g in 0..cp.block_term.len() {
            let (tc, cb, kc) = elem(g);
            let t_c = &self.templates[self.template_off[tc]..self.template_off[tc + 1]];
            for s in cp.block_col_ptr[g]..cp.block_col_ptr[g + 1] {
                let (tr, rb, kr) = elem(cp.block_row[s] as usize);
                let t_r = &self.templates[self.template_off[tr]..self.template_off[tr + 1]];
                let m = &cp.ztz[cp.block_val[s]..cp.block_val[s] + kr * kc];
                // A⁻¹[R, C] (kr × kc, column-major)
                for a in 0..kc {
                    for b in 0..kr {
                        ainv[a * kr + b] = self.chol.inverse_entry(inv, rb + b, cb + a)?;
                    }
                }
                // G1 = R, G2 = C: D_tc += A⁻¹[C, R] T_R' M[R, C]
                let dc = &mut d[tc];
                for cc in 0..kc {
                    for rr in 0..kc {
                        let mut acc = 0.0;
                        for x in 0..kr {
                            // (T_R' M)[x, rr] = Σ_y T_R[y, x] M[y, rr]
                            let tm: f64 = (x..kr).map(|y| t_r[x * kr + y] * m[rr * kr + y]).sum();
                            acc += ainv[cc * kr + x] * tm;
                        }
                        dc[rr * kc + cc] += acc;
                    }
                }
                if s != cp.block_col_ptr[g] {
                    // G1 = C, G2 = R: D_tr += A⁻¹[R, C] T_C' M[C, R], M[C, R] = M[R, C]'
                    let dr = &mut d[tr];
                    for cc in 0..kr {
                        for rr in 0..kr {
                            let mut acc = 0.0;
                            for x in 0..kc {
                                let tm: f64 = (x..kc).map(|y| t_c[x * kc + y] * m[y * kr + rr]).sum();
                                acc += ainv[x * kr + cc] * tm;
                            }
                            dr[rr * kr + cc] += acc;
                        }
                    }
                }
            }
        }

        Ok(d)
    }

    /// Gradient of the objective (REML criterion or ML deviance) at the last evaluated θ.
    pub fn gradient(&mut self) -> Result<Vec<f64>> {
        if self.last_evaluation().is_none() {
            return Err(MerxError::Numerical("gradient requested before a successful evaluation".into()));
        }
        let (q, p) = (self.random_effects.q, self.cp.p);
        // q-sized work arrays live in the model between gradients: fresh ones of that size
        // would be new pages from the system (zeroed by the kernel) on every call.
        let mut work = std::mem::take(&mut self.gradient_work);
        work.size(q, p, self.reml);
        // The cross-products hold the shifted response r - Xγ, so β here is β̂ - γ.
        let beta = self.internal_beta()?;
        self.modes_for_internal_beta_into(&beta, &mut work.solve, &mut work.u);
        let pwrss = self.s_factor[(p, p)].powi(2);
        let nu = self.n_obs() as f64 - if self.reml { p as f64 } else { 0.0 };

        // v = Z̃'r̃ - Z̃'X̃β - MΛu
        self.lambda_mul(&work.u, &mut work.lu);
        self.cp.ztz_mul(faer::MatRef::from_column_major_slice(&work.lu, q, 1), work.m_lu.as_mut());
        for i in 0..q {
            let mut acc = self.cp.ztxy[p * q + i] - work.m_lu[(i, 0)];
            for j in 0..p {
                acc -= self.cp.ztxy[j * q + i] * beta[j];
            }
            work.v[i] = acc;
        }

        let inv = self.chol.selected_inverse()?;
        let d = self.trace_blocks(&inv)?;
        drop(inv);

        // REML: K = A⁻¹Λ'Z̃'X̃ (from R_ZX), G = Z̃'X̃ - MΛK, H = K C⁻¹.
        if self.reml && p > 0 {
            work.solve.copy_from(self.solved.as_ref().subcols(0, p));
            self.chol.lt_solve_in_place(work.solve.as_mut());
            self.chol.unpermute_rows(work.solve.as_ref(), work.k.as_mut());
            for j in 0..p {
                let kj = work.k.col(j).try_as_col_major().expect("a Mat's columns are contiguous").as_slice();
                let lkj = work.lk.col_mut(j).try_as_col_major_mut().expect("a Mat's columns are contiguous").as_slice_mut();
                self.lambda_mul(kj, lkj);
            }
            self.cp.ztz_mul(work.lk.as_ref(), work.mlk.as_mut());
            let cinv = self.unscaled_vcov_centred()?;
            // H = K C⁻¹ (into lk, no longer needed) and G = Z̃'X̃ - MΛK (into mlk).
            for i in 0..q {
                for j in 0..p {
                    work.lk[(i, j)] = (0..p).map(|a| work.k[(i, a)] * cinv[j * p + a]).sum();
                    work.mlk[(i, j)] = self.cp.ztxy[j * q + i] - work.mlk[(i, j)];
                }
            }
        }

        let mut grad = vec![0.0; self.random_effects.n_theta];
        for (t, term) in self.random_effects.terms.iter().enumerate() {
            let k = term.k;
            let m = term.n_theta;
            let mut jac = vec![0.0; m * k * k];
            term.structure.template_jacobian(k, term.params(&self.theta), &mut jac);
            for (r, c) in lower_triangle(k) {
                if (0..m).all(|i| jac[i * k * k + c * k + r] == 0.0) {
                    continue;
                }
                let mut vu = 0.0;
                let mut reml = 0.0;
                for l in 0..term.n_levels {
                    let (er, ec) = (term.u_offset + l * k + r, term.u_offset + l * k + c);
                    vu += work.v[er] * work.u[ec];
                    if self.reml {
                        reml += (0..p).map(|j| work.mlk[(er, j)] * work.lk[(ec, j)]).sum::<f64>();
                    }
                }
                // ∂f/∂T[r, c], then the chain rule into the term's parameters.
                let entry = 2.0 * d[t][r * k + c] - 2.0 * nu / pwrss * vu - 2.0 * reml;
                for i in 0..m {
                    grad[term.theta_offset + i] += jac[i * k * k + c * k + r] * entry;
                }
            }
        }
        self.gradient_work = work;
        Ok(grad)
    }
}

/// The gradient's q-sized work arrays, kept between calls (see [`LinearMixedModel::gradient`]).
#[derive(Clone, Debug)]
pub(crate) struct GradientWork {
    u: Vec<f64>,
    lu: Vec<f64>,
    v: Vec<f64>,
    m_lu: Mat<f64>,
    /// A q-row solve in the factor's order (1 column for û, p for K).
    solve: Mat<f64>,
    k: Mat<f64>,
    lk: Mat<f64>,
    mlk: Mat<f64>,
}

impl Default for GradientWork {
    fn default() -> Self {
        let empty = || Mat::zeros(0, 0);
        GradientWork { u: Vec::new(), lu: Vec::new(), v: Vec::new(), m_lu: empty(), solve: empty(), k: empty(), lk: empty(), mlk: empty() }
    }
}

impl GradientWork {
    fn size(&mut self, q: usize, p: usize, reml: bool) {
        let pk = if reml { p } else { 0 };
        if self.u.len() != q || self.k.ncols() != pk {
            *self = GradientWork {
                u: vec![0.0; q],
                lu: vec![0.0; q],
                v: vec![0.0; q],
                m_lu: Mat::zeros(q, 1),
                solve: Mat::zeros(q, pk.max(1)),
                k: Mat::zeros(q, pk),
                lk: Mat::zeros(q, pk),
                mlk: Mat::zeros(q, pk),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::covariance::{CompoundSymmetry, Diagonal};
    use crate::data::{ModelData, TermData};
    use crate::pls::LinearMixedModel;
    use std::sync::Arc;
    use faer::MatRef;

    /// Central finite differences of the objective.
    fn fd_gradient(model: &mut LinearMixedModel, theta: &[f64]) -> Vec<f64> {
        (0..theta.len())
            .map(|i| {
                let h = 1e-5 * theta[i].abs().max(1.0);
                let mut tp = theta.to_vec();
                let mut tm = theta.to_vec();
                tp[i] += h;
                tm[i] -= h;
                (model.objective(&tp) - model.objective(&tm)) / (2.0 * h)
            })
            .collect()
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let n = 60;
        let mut x = vec![0.0; 2 * n];
        let mut y = vec![0.0; n];
        let mut g1 = vec![0i64; n];
        let mut g2 = vec![0i64; n];
        let mut z1 = vec![0.0; 2 * n];
        let mut z2 = vec![0.0; 2 * n];
        let w: Vec<f64> = (0..n).map(|i| 0.5 + (i % 3) as f64 * 0.5).collect();
        let off: Vec<f64> = (0..n).map(|i| (i % 5) as f64 * 0.1).collect();
        for i in 0..n {
            let xi = ((i * 7) % 11) as f64 / 5.0 - 1.0;
            let x2 = ((i * 5) % 7) as f64 / 3.0 - 1.0;
            x[i] = 1.0;
            x[n + i] = xi;
            g1[i] = (i % 9) as i64;
            g2[i] = ((i * 3 + i / 9) % 5) as i64;
            z1[i] = 1.0;
            z1[n + i] = xi;
            z2[i] = 1.0;
            z2[n + i] = x2;
            y[i] = 1.0 + 0.5 * xi + (g1[i] as f64 - 4.0) * 0.3 * (1.0 + xi) + ((g2[i] * g2[i]) as f64).sin() + ((i * 13) % 7) as f64 / 3.0;
        }
        // Second term: unstructured, diagonal, compound symmetry (a structure whose parameters
        // are not template entries, through the chain rule).
        for (reml, weighted, structure2) in [(true, false, 0), (false, false, 0), (true, true, 1), (false, true, 1), (true, true, 2), (false, false, 2)] {
            let term2 = TermData::new(&g2, 5, MatRef::from_column_major_slice(&z2, n, 2));
            let term2 = match structure2 {
                0 => term2,
                1 => term2.with_covariance(Arc::new(Diagonal)),
                _ => term2.with_covariance(Arc::new(CompoundSymmetry)),
            };
            let data = ModelData {
                x: MatRef::from_column_major_slice(&x, n, 2),
                y: &y,
                terms: vec![TermData::new(&g1, 9, MatRef::from_column_major_slice(&z1, n, 2)), term2],
                weights: if weighted { Some(&w) } else { None },
                offset: if weighted { Some(&off) } else { None },
            };
            let mut model = LinearMixedModel::new(&data, reml).unwrap();
            let theta: Vec<f64> = match structure2 {
                0 => vec![0.9, -0.3, 0.5, 0.7, 0.2, 0.4],
                1 => vec![0.9, -0.3, 0.5, 0.7, 0.4],
                _ => vec![0.9, -0.3, 0.5, 0.7, -0.35],
            };
            model.evaluate(&theta).unwrap();
            let grad = model.gradient().unwrap();
            let fd = fd_gradient(&mut model, &theta);
            for (i, (a, b)) in grad.iter().zip(&fd).enumerate() {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "reml={reml} weighted={weighted} structure {structure2} θ{i}: analytic {a} vs finite differences {b}");
            }
        }
    }
}
