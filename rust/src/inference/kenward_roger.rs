//! Kenward and Roger's (1997) adjusted covariance of β̂, as pbkrtest computes it, without an
//! n × n matrix.
//!
//! pbkrtest parametrises the marginal covariance linearly, V = Σ_i γ_i G_i: one γ per
//! variance or covariance of each term (G = Z_t E Z_t', E = e_re_c' + e_ce_r' on every
//! level) and σ² (G = I). There the second derivatives of V vanish, and with Φ = vcov(β̂),
//!   P_i = -X'V⁻¹G_iV⁻¹X,   Q_ij = X'V⁻¹G_iV⁻¹G_jV⁻¹X,   tr_ij = tr(V⁻¹G_iV⁻¹G_j),
//!   I_ij = tr_ij - 2 tr(ΦQ_ij) + tr(ΦP_iΦP_j)   (the REML information, doubled),
//!   W = 2 I⁻¹,  U = Σ_ij W_ij (Q_ij - P_iΦP_j),  Φ_A = Φ + 2ΦUΦ.
//! With V = σ²H every piece is a q-level product of [`MarginalProducts`]: for terms,
//! X'H⁻¹G_iH⁻¹X = J'D_iJ, X'H⁻¹G_iH⁻¹G_jH⁻¹X = (D_iJ)'K(D_jJ), tr = tr(KD_iKD_j); for σ²,
//! X'H⁻²X, X'H⁻³X, Z'H⁻²X, Z'H⁻²Z and tr H⁻². What the degrees of freedom of a contrast need
//! (pbkrtest's `Lb_ddf`) is W and ΦP_iΦ = -∂Φ/∂γ_i, returned as the Jacobians.
//!
//! With prior weights the residual direction is the model's σ²W⁻¹ (whitened: I). pbkrtest
//! 0.5.2 takes σ²I whatever the weights, so its numbers for weighted fits describe another
//! covariance than the fit's; without weights the two agree (to 1e-13 on the references).

use super::marginal::{matmul, Direction, MarginalProducts};
use super::{symmetric_pseudo_inverse, VarianceParameterInference};
use crate::covariance::lower_triangle;
use crate::error::{MerxError, Result};
use crate::pls::LinearMixedModel;
use faer::Mat;

/// pbkrtest switches to a generalized inverse when the smallest |eigenvalue| of the
/// information is at most this.
const CONDITION_TOL: f64 = 1e-10;

fn trace_prod(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let n = a.nrows();
    (0..n)
        .map(|i| (0..n).map(|j| a[(i, j)] * b[(j, i)]).sum::<f64>())
        .sum()
}

/// One direction per lower-triangle entry of each term's covariance, in VarCorr's order.
fn covariance_directions(model: &LinearMixedModel) -> Vec<Direction> {
    let mut dirs = Vec::new();
    for (t, term) in model.random_effects.terms.iter().enumerate() {
        let k = term.k;
        for (r, c) in lower_triangle(k) {
            let mut block = vec![0.0; k * k];
            block[c * k + r] = 1.0;
            block[r * k + c] = 1.0;
            dirs.push(Direction { term: t, block });
        }
    }
    dirs
}

/// Kenward-Roger's ingredients at θ (a REML estimate).
pub fn kenward_roger(
    model: &mut LinearMixedModel,
    theta: &[f64],
) -> Result<VarianceParameterInference> {
    if !model.reml {
        return Err(MerxError::InvalidInput(
            "Kenward-Roger's method is defined for REML fits: refit with REML=True, or use ddf=\"Satterthwaite\"".into(),
        ));
    }
    let mp = MarginalProducts::new(model, theta)?;
    let dirs = covariance_directions(model);
    let nr = dirs.len();
    let m = nr + 1;
    let p = mp.p;
    let sigma = (mp.pwrss / (mp.n_obs - p) as f64).sqrt();
    let s2 = sigma * sigma;
    let (s4, s6) = (s2 * s2, s2 * s2 * s2);
    let phi = Mat::<f64>::from_fn(p, p, |a, b| s2 * mp.c_inv[(a, b)]);
    let dj: Vec<Mat<f64>> = dirs.iter().map(|d| mp.apply_cols(d, &mp.j)).collect();
    let kdj: Vec<Mat<f64>> = dj
        .iter()
        .map(|x| matmul(mp.k.as_ref(), x.as_ref()))
        .collect();
    // P_i, with σ² last.
    let mut pp: Vec<Mat<f64>> = dj
        .iter()
        .map(|x| -(1.0 / s4) * matmul(mp.j.transpose(), x.as_ref()))
        .collect();
    pp.push(-(1.0 / s4) * &mp.xh2x);
    let q_of = |i: usize, j: usize| -> Mat<f64> {
        let raw = match (i < nr, j < nr) {
            (true, true) => matmul(dj[i].transpose(), kdj[j].as_ref()),
            (true, false) => matmul(dj[i].transpose(), mp.zh2x.as_ref()),
            (false, true) => matmul(mp.zh2x.transpose(), dj[j].as_ref()),
            (false, false) => mp.xh3x.clone(),
        };
        (1.0 / s6) * raw
    };
    let kdkd = mp.trace_kdkd(&dirs);
    let ktrace = |i: usize, j: usize| -> f64 {
        let raw = match (i < nr, j < nr) {
            (true, true) => kdkd[(i, j)],
            (true, false) => mp.trace_h2_with(&dirs[i]),
            (false, true) => mp.trace_h2_with(&dirs[j]),
            (false, false) => mp.trace_h2,
        };
        raw / s4
    };
    let qq: Vec<Vec<Mat<f64>>> = (0..m)
        .map(|i| (0..m).map(|j| q_of(i, j)).collect())
        .collect();
    let phi_p: Vec<Mat<f64>> = pp
        .iter()
        .map(|x| matmul(phi.as_ref(), x.as_ref()))
        .collect();
    let mut info = Mat::<f64>::zeros(m, m);
    for i in 0..m {
        for j in i..m {
            let v =
                ktrace(i, j) - 2.0 * trace_prod(&phi, &qq[i][j]) + trace_prod(&phi_p[i], &phi_p[j]);
            info[(i, j)] = v;
            info[(j, i)] = v;
        }
    }
    let eigen = info
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .map_err(|_| {
            MerxError::Numerical(
                "the eigenvalues of the Kenward-Roger information did not converge".into(),
            )
        })?;
    let condition = eigen.iter().map(|v| v.abs()).fold(f64::INFINITY, f64::min);
    let inverse = if condition > CONDITION_TOL {
        symmetric_pseudo_inverse(&info, |_, _| true)?
    } else {
        // MASS::ginv: singular values above √ε times the largest.
        symmetric_pseudo_inverse(&info, |v, largest| v.abs() > f64::EPSILON.sqrt() * largest)?
    };
    let weight = Mat::<f64>::from_fn(m, m, |a, b| 2.0 * inverse[(a, b)]);
    let mut u = Mat::<f64>::zeros(p, p);
    for i in 0..m {
        for j in 0..m {
            let pj = matmul(phi_p[i].transpose(), pp[j].as_ref());
            // P_iΦP_j = (ΦP_i)'P_j since both are symmetric.
            u += weight[(i, j)] * (&qq[i][j] - &pj);
        }
    }
    let phi_u_phi = matmul(matmul(phi.as_ref(), u.as_ref()).as_ref(), phi.as_ref());
    let adjusted = &phi + 2.0 * &phi_u_phi;
    // ∂Φ/∂γ_i = -ΦP_iΦ.
    let jacobians: Vec<Mat<f64>> = phi_p
        .iter()
        .map(|x| -matmul(x.as_ref(), phi.as_ref()))
        .collect();
    Ok(VarianceParameterInference::in_original_coordinates(
        model,
        phi,
        Some(adjusted),
        jacobians,
        weight,
        info,
        sigma,
    ))
}
