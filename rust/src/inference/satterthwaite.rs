//! Satterthwaite's denominator degrees of freedom, as lmerTest defines them, with exact
//! derivatives.
//!
//! lmerTest works in the variance parameters γ = (θ, σ): the deviance with β profiled but σ
//! free,
//!   d(θ, σ) = log|H| + P(θ)/σ² + ν log(2πσ²) [+ log|C| for REML],  ν = n (ML), n - p (REML),
//! the covariance of γ̂ as 2 H_d⁻¹ (H_d the Hessian of d at the estimates; eigenvalues below
//! 1e-8 dropped, as lmerTest does) and the gradient of vcov(β̂) = σ²C⁻¹ in γ. It obtains both
//! by numerical differentiation (Richardson extrapolation); here they are exact. With
//! H_i = ZD_iZ', D_i = ∂(ΛΛ')/∂θ_i (block diagonal, T_iT' + TT_i' per level), w_i = D_i z:
//!   ∂_ij log|H| = tr(K D_ij) - tr(K D_i K D_j)
//!   ∂_ij P      = 2 w_i'K w_j - z'D_ij z - 2 (J'w_i)'C⁻¹(J'w_j)     (β re-profiled)
//!   ∂_i C       = -J'D_iJ,  ∂_ij C = J'D_iKD_jJ + J'D_jKD_iJ - J'D_ijJ
//!   ∂_ij log|C| = tr(C⁻¹∂_ijC) - tr(C⁻¹∂_iC C⁻¹∂_jC)
//!   ∂_iσ d = 2 z'D_iz/σ³,  ∂_σσ d = 6P/σ⁴ - 2ν/σ²,
//!   ∂vcov/∂θ_i = σ²C⁻¹(J'D_iJ)C⁻¹,  ∂vcov/∂σ = 2σC⁻¹
//! with K, J, C, z from [`MarginalProducts`].

use super::marginal::{matmul, Direction, MarginalProducts};
use super::{symmetric_pseudo_inverse, VarianceParameterInference};
use crate::error::{MerxError, Result};
use crate::pls::LinearMixedModel;
use faer::Mat;

/// lmerTest's threshold for the eigenvalues of the deviance Hessian.
const EIGEN_TOL: f64 = 1e-8;

/// θ-directions D_i and, per pair in the same term, D_ij (None across terms).
fn theta_directions(
    model: &LinearMixedModel,
    theta: &[f64],
) -> Result<(Vec<Direction>, Vec<Vec<Option<Vec<f64>>>>)> {
    let m = theta.len();
    let mut first = Vec::with_capacity(m);
    let mut second: Vec<Vec<Option<Vec<f64>>>> = vec![vec![None; m]; m];
    for (t, term) in model.random_effects.terms.iter().enumerate() {
        let k = term.k;
        let kk = k * k;
        let params = term.params(theta);
        let np = term.n_theta;
        let mut tmpl = vec![0.0; kk];
        term.structure.fill_template(k, params, &mut tmpl);
        let mut jac = vec![0.0; np * kk];
        term.structure.template_jacobian(k, params, &mut jac);
        let mut hess = vec![0.0; np * np * kk];
        if !term.structure.template_hessian(k, params, &mut hess) {
            return Err(MerxError::InvalidInput(format!(
                "Satterthwaite's degrees of freedom need second derivatives of the {} covariance \
                 structure (random-effects term {t}), which it does not provide: use ddf=\"lme4\"",
                term.structure.name()
            )));
        }
        // A B' + B A' for k × k column-major A, B.
        let sym = |a: &[f64], b: &[f64]| -> Vec<f64> {
            let mut out = vec![0.0; kk];
            for c in 0..k {
                for r in 0..k {
                    out[c * k + r] = (0..k)
                        .map(|s| a[s * k + r] * b[s * k + c] + b[s * k + r] * a[s * k + c])
                        .sum();
                }
            }
            out
        };
        for i in 0..np {
            let ti = &jac[i * kk..(i + 1) * kk];
            first.push(Direction {
                term: t,
                block: sym(ti, &tmpl),
            });
            for j in 0..np {
                let tj = &jac[j * kk..(j + 1) * kk];
                let tij = &hess[(i * np + j) * kk..(i * np + j + 1) * kk];
                let a = sym(tij, &tmpl);
                let b = sym(ti, tj);
                let block: Vec<f64> = (0..kk).map(|e| a[e] + b[e]).collect();
                second[term.theta_offset + i][term.theta_offset + j] = Some(block);
            }
        }
    }
    Ok((first, second))
}

fn trace_prod(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let n = a.nrows();
    (0..n)
        .map(|i| (0..n).map(|j| a[(i, j)] * b[(j, i)]).sum::<f64>())
        .sum()
}

/// Satterthwaite's ingredients at θ (the model's estimate; σ is the model's σ̂).
pub fn satterthwaite(
    model: &mut LinearMixedModel,
    theta: &[f64],
) -> Result<VarianceParameterInference> {
    let mp = MarginalProducts::new(model, theta)?;
    let (dirs, second) = theta_directions(model, theta)?;
    let m = dirs.len();
    let p = mp.p;
    let nu = if model.reml { mp.n_obs - p } else { mp.n_obs } as f64;
    let sigma = (mp.pwrss / nu).sqrt();
    let s2 = sigma * sigma;
    let kdkd = mp.trace_kdkd(&dirs);
    let w: Vec<Vec<f64>> = dirs.iter().map(|d| mp.apply(d, &mp.z)).collect();
    let kw: Vec<Vec<f64>> = w
        .iter()
        .map(|v| {
            (0..mp.q)
                .map(|i| (0..mp.q).map(|j| mp.k[(i, j)] * v[j]).sum())
                .collect()
        })
        .collect();
    let jtw: Vec<Mat<f64>> = w
        .iter()
        .map(|v| {
            matmul(
                mp.j.transpose(),
                Mat::from_fn(mp.q, 1, |i, _| v[i]).as_ref(),
            )
        })
        .collect();
    let dj: Vec<Mat<f64>> = dirs.iter().map(|d| mp.apply_cols(d, &mp.j)).collect();
    let kdj: Vec<Mat<f64>> = dj
        .iter()
        .map(|x| matmul(mp.k.as_ref(), x.as_ref()))
        .collect();
    let c_i: Vec<Mat<f64>> = dj
        .iter()
        .map(|x| -matmul(mp.j.transpose(), x.as_ref()))
        .collect();
    // C⁻¹C_i and C⁻¹J'w_i, once per parameter (the pairs below reuse them).
    let cinv_ci: Vec<Mat<f64>> = c_i.iter().map(|x| matmul(mp.c_inv.as_ref(), x.as_ref())).collect();
    let cinv_jtw: Vec<Mat<f64>> = jtw.iter().map(|x| matmul(mp.c_inv.as_ref(), x.as_ref())).collect();
    let mut hess = Mat::<f64>::zeros(m + 1, m + 1);
    for i in 0..m {
        for j in i..m {
            let dij = second[i][j].as_ref().map(|block| Direction {
                term: dirs[i].term,
                block: block.clone(),
            });
            let mut h = -kdkd[(i, j)];
            let cross = matmul(dj[i].transpose(), kdj[j].as_ref());
            let mut c_ij = &cross + cross.transpose();
            let mut p_ij = 2.0 * (0..mp.q).map(|a| w[i][a] * kw[j][a]).sum::<f64>();
            p_ij -= 2.0 * (0..p).map(|a| jtw[i][(a, 0)] * cinv_jtw[j][(a, 0)]).sum::<f64>();
            if let Some(d) = &dij {
                h += mp.trace_with(&mp.k, d);
                let dz = mp.apply(d, &mp.z);
                p_ij -= mp.z.iter().zip(&dz).map(|(a, b)| a * b).sum::<f64>();
                c_ij -= matmul(mp.j.transpose(), mp.apply_cols(d, &mp.j).as_ref());
            }
            h += p_ij / s2;
            if model.reml {
                h += trace_prod(&mp.c_inv, &c_ij) - trace_prod(&cinv_ci[i], &cinv_ci[j]);
            }
            hess[(i, j)] = h;
            hess[(j, i)] = h;
        }
        let dz: f64 = mp.z.iter().zip(&w[i]).map(|(a, b)| a * b).sum();
        hess[(i, m)] = 2.0 * dz / (s2 * sigma);
        hess[(m, i)] = hess[(i, m)];
    }
    hess[(m, m)] = 6.0 * mp.pwrss / (s2 * s2) - 2.0 * nu / s2;
    let inverse = symmetric_pseudo_inverse(&hess, |v, _| v > EIGEN_TOL)?;
    let weight = Mat::<f64>::from_fn(m + 1, m + 1, |a, b| 2.0 * inverse[(a, b)]);
    let mut jacobians = Vec::with_capacity(m + 1);
    for cinv_c in &cinv_ci {
        let x = matmul(cinv_c.as_ref(), mp.c_inv.as_ref());
        jacobians.push(Mat::<f64>::from_fn(p, p, |a, b| -s2 * x[(a, b)]));
    }
    jacobians.push(Mat::<f64>::from_fn(p, p, |a, b| {
        2.0 * sigma * mp.c_inv[(a, b)]
    }));
    let vcov = Mat::<f64>::from_fn(p, p, |a, b| s2 * mp.c_inv[(a, b)]);
    Ok(VarianceParameterInference::in_original_coordinates(
        model, vcov, None, jacobians, weight, hess, sigma,
    ))
}
