//! The curvature of the GLMM deviance at and near the optimum: the Hessian behind lme4's
//! `vcov` (of lme4's own evaluation of the Laplace deviance, `pirls_lme4`, or for AGQ and an
//! estimated shape of the exact deviance), the Newton step of the convergence check, and
//! the quasi-Newton method's first inverse Hessian in the second stage.

use crate::agq::GaussHermite;
use crate::data::ModelData;
use crate::error::{MerxError, Result};
use crate::glmm_fit::{deviance_at, set_log_shape};
use crate::pirls::GeneralizedLinearMixedModel;

/// deriv12's step in lme4's Hessian of the deviance.
const LME4_HESSIAN_STEP: f64 = 1e-4;
const LME4_ONE_SIDED: bool = true;

/// lme4's vcov: 2 H⁻¹ restricted to β with H the Hessian of lme4's evaluation of the
/// Laplace deviance (`pirls_lme4`), by second differences with lme4's step (1e-4); the
/// Newton step of the convergence check is that of the exact deviance's gradient.
pub(crate) fn lme4_hessian_vcov(
    model: &mut GeneralizedLinearMixedModel,
    data: &ModelData,
    theta: &[f64],
    beta: &[f64],
    eta0: &[f64],
    active: &[bool],
) -> Result<(Vec<f64>, f64)> {
    let (nt, p) = (theta.len(), beta.len());
    let x0: Vec<f64> = theta.iter().chain(beta).copied().collect();
    let h = vec![LME4_HESSIAN_STEP; x0.len()];
    let mut lme4_deviance = |x: &[f64]| model.laplace_lme4(data, &x[..nt], &x[nt..], eta0);
    let (hess, _) = second_differences(&mut lme4_deviance, &x0, &h, LME4_ONE_SIDED)?;
    let gradient = if model.has_analytic_gradient() {
        model.laplace(data, theta, Some(beta))?;
        model.laplace_gradient(data, theta)?
    } else {
        let mut exact = |x: &[f64]| deviance_at(model, data, &x[..nt], Some(&x[nt..]), None);
        central_gradient(&mut exact, &x0, &h)?
    };
    invert_beta_block(&hess, x0.len(), nt, p, &gradient, active)
}

/// Central differences of f at x0 with steps h.
fn central_gradient(f: &mut dyn FnMut(&[f64]) -> Result<f64>, x0: &[f64], h: &[f64]) -> Result<Vec<f64>> {
    let mut x = x0.to_vec();
    let mut g = vec![0.0; x0.len()];
    for i in 0..x0.len() {
        x[i] = x0[i] + h[i];
        let plus = f(&x)?;
        x[i] = x0[i] - h[i];
        let minus = f(&x)?;
        x[i] = x0[i];
        g[i] = (plus - minus) / (2.0 * h[i]);
    }
    Ok(g)
}

/// 2 H⁻¹ restricted to β, H the Hessian of the Laplace deviance in (θ, β).
pub(crate) fn hessian_vcov(
    model: &mut GeneralizedLinearMixedModel,
    data: &ModelData,
    theta: &[f64],
    beta: &[f64],
    log_shape: Option<f64>,
    rule: Option<&GaussHermite>,
    active: &[bool],
) -> Result<(Vec<f64>, f64)> {
    let (nt, p) = (theta.len(), beta.len());
    let x0: Vec<f64> = theta.iter().chain(beta).chain(log_shape.iter()).copied().collect();
    let m = x0.len();
    let h: Vec<f64> = x0.iter().map(|v| 1e-4 * v.abs().max(1.0)).collect();
    if log_shape.is_none() && rule.is_none() && model.has_analytic_gradient() {
        return hessian_vcov_from_gradient(model, data, &x0, nt, p, active);
    }
    let mut f = |x: &[f64]| -> Result<f64> {
        if log_shape.is_some() {
            set_log_shape(model, x[nt + p])?;
        }
        deviance_at(model, data, &x[..nt], Some(&x[nt..nt + p]), rule)
    };
    let (hess, gradient) = second_differences(&mut f, &x0, &h, false)?;
    invert_beta_block(&hess, m, nt, p, &gradient, active)
}

/// The Hessian of f at x0 by second differences (and the central-difference gradient):
/// along the axes and along the diagonals eᵢ + eⱼ, both ways,
///   Hᵢⱼ = [f(x+hᵢ+hⱼ) + f(x-hᵢ-hⱼ) - f(x+hᵢ) - f(x-hᵢ) - f(x+hⱼ) - f(x-hⱼ) + 2f(x)] / (2hᵢhⱼ),
/// second-order accurate like the four-corner formula at m² + m + 1 evaluations instead
/// of 2m² + 1. `one_sided`: the diagonals one way only,
///   Hᵢⱼ = [f(x+hᵢ+hⱼ) - f(x+hᵢ) - f(x+hⱼ) + f(x)] / (hᵢhⱼ),
/// first-order in h off the diagonal (a relative error of ~h|f'''|/|f''|, 1e-4 at lme4's
/// step) at m(m+1)/2 + m + 1 evaluations.
pub(crate) fn second_differences(
    f: &mut dyn FnMut(&[f64]) -> Result<f64>,
    x0: &[f64],
    h: &[f64],
    one_sided: bool,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let m = x0.len();
    let f0 = f(x0)?;
    let mut axis_plus = vec![0.0; m];
    let mut axis_minus = vec![0.0; m];
    let mut hess = vec![0.0; m * m];
    let mut x = x0.to_vec();
    for i in 0..m {
        x[i] = x0[i] + h[i];
        axis_plus[i] = f(&x)?;
        x[i] = x0[i] - h[i];
        axis_minus[i] = f(&x)?;
        x[i] = x0[i];
        hess[i * m + i] = (axis_plus[i] - 2.0 * f0 + axis_minus[i]) / (h[i] * h[i]);
    }
    for i in 0..m {
        for j in 0..i {
            let mut diagonal = |sign: f64| -> Result<f64> {
                let mut y = x0.to_vec();
                y[i] += sign * h[i];
                y[j] += sign * h[j];
                f(&y)
            };
            let v = if one_sided {
                (diagonal(1.0)? - axis_plus[i] - axis_plus[j] + f0) / (h[i] * h[j])
            } else {
                (diagonal(1.0)? + diagonal(-1.0)? - axis_plus[i] - axis_minus[i] - axis_plus[j] - axis_minus[j] + 2.0 * f0)
                    / (2.0 * h[i] * h[j])
            };
            hess[i * m + j] = v;
            hess[j * m + i] = v;
        }
    }
    let gradient: Vec<f64> = (0..m).map(|i| (axis_plus[i] - axis_minus[i]) / (2.0 * h[i])).collect();
    Ok((hess, gradient))
}

/// 2 H⁻¹ restricted to β with H from central differences of the analytic gradient
/// (2m gradient evaluations instead of m² + m + 1 deviances), symmetrised.
fn hessian_vcov_from_gradient(
    model: &mut GeneralizedLinearMixedModel,
    data: &ModelData,
    x0: &[f64],
    nt: usize,
    p: usize,
    active: &[bool],
) -> Result<(Vec<f64>, f64)> {
    let m = x0.len();
    let mut gradient_at = |x: &[f64]| -> Result<Vec<f64>> {
        model.laplace(data, &x[..nt], Some(&x[nt..]))?;
        model.laplace_gradient(data, &x[..nt])
    };
    let mut hess = vec![0.0; m * m];
    let mut x = x0.to_vec();
    for i in 0..m {
        let h = 1e-4 * x0[i].abs().max(1.0);
        x[i] = x0[i] + h;
        let gp = gradient_at(&x)?;
        x[i] = x0[i] - h;
        let gm = gradient_at(&x)?;
        x[i] = x0[i];
        for j in 0..m {
            hess[i * m + j] = (gp[j] - gm[j]) / (2.0 * h);
        }
    }
    for i in 0..m {
        for j in 0..i {
            let v = 0.5 * (hess[i * m + j] + hess[j * m + i]);
            hess[i * m + j] = v;
            hess[j * m + i] = v;
        }
    }
    let gradient = gradient_at(x0)?;
    invert_beta_block(&hess, m, nt, p, &gradient, active)
}

/// 2 H⁻¹[β, β] by a Cholesky factor of H (an error when H is not positive definite), and
/// the largest entry of the Newton step H⁻¹g (g's entries of parameters held on a bound by a
/// gradient pointing outward set to 0).
pub(crate) fn invert_beta_block(hess: &[f64], m: usize, nt: usize, p: usize, gradient: &[f64], active: &[bool]) -> Result<(Vec<f64>, f64)> {
    let inv = spd_inverse(hess, m)
        .ok_or_else(|| MerxError::Numerical("the Hessian of the deviance is not positive definite".into()))?;
    let g: Vec<f64> = (0..m).map(|i| if active.get(i).copied().unwrap_or(false) { 0.0 } else { gradient[i] }).collect();
    let step = (0..m).map(|i| (0..m).map(|j| inv[j * m + i] * g[j]).sum::<f64>().abs()).fold(0.0, f64::max);
    Ok(((0..p * p).map(|k| 2.0 * inv[(nt + k / p) * m + nt + k % p]).collect(), step))
}

#[cfg(test)]
mod tests {
    use super::invert_beta_block;

    /// The Newton step is H⁻¹g without the parameters held on a bound; vcov is 2H⁻¹ on β.
    #[test]
    fn newton_step_and_beta_block() {
        // H = diag(2, 4, 8) for (θ, β₀, β₁); g = (0.5, 0.004, -0.016).
        let hess = [2.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 8.0];
        let g = [0.5, 0.004, -0.016];
        let (vcov, step) = invert_beta_block(&hess, 3, 1, 2, &g, &[false]).unwrap();
        for (got, want) in vcov.iter().zip([0.5, 0.0, 0.0, 0.25]) {
            assert!((got - want).abs() < 1e-15, "{vcov:?}");
        }
        assert!((step - 0.25).abs() < 1e-15);
        // θ on its bound with the gradient pushing outward: only β's step counts.
        let (_, step) = invert_beta_block(&hess, 3, 1, 2, &g, &[true]).unwrap();
        assert!((step - 0.002).abs() < 1e-15);
        let not_pd = [1.0, 2.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        assert!(invert_beta_block(&not_pd, 3, 1, 2, &g, &[false]).is_err());
    }
}

/// The second stage's first inverse Hessian for the quasi-Newton method, at x0 = (θ, β):
/// the θ columns of the Hessian by forward differences of the analytic gradient, the β block
/// 2 R_X'R_X (`rx_inverse` = (R_X'R_X)⁻¹ at the first stage's weights: the information on β,
/// which the deviance counts twice), inverted, and the deviance at x0 (the state is left
/// there). None where that is not positive definite: the method then starts from a scaled
/// identity. With it the method starts near Newton's (VerbAgg: 68 → 5 second-stage
/// evaluations).
pub(crate) fn initial_inverse_hessian(
    model: &mut GeneralizedLinearMixedModel,
    data: &ModelData,
    x0: &[f64],
    nt: usize,
    rx_inverse: &[f64],
) -> Result<(Option<Vec<f64>>, f64)> {
    let (m, p) = (x0.len(), x0.len() - nt);
    let mut gradient_at = |x: &[f64]| -> Result<(f64, Vec<f64>)> {
        let value = model.laplace(data, &x[..nt], Some(&x[nt..]))?.deviance;
        Ok((value, model.laplace_gradient(data, &x[..nt])?))
    };
    let (f0, mut hess) = leading_hessian_columns(&mut gradient_at, x0, nt)?;
    let Some(rx) = spd_inverse(rx_inverse, p) else { return Ok((None, f0)) };
    for a in 0..p {
        for b in 0..p {
            hess[(nt + a) * m + nt + b] = 2.0 * rx[a * p + b];
        }
    }
    Ok((spd_inverse(&hess, m), f0))
}

/// The first `k` columns (and rows) of the Hessian at x0 by forward differences of a
/// gradient (steps 1e-4·max(|x|, 1)), the leading k × k block symmetrised, the rest 0; and
/// f(x0). x0 is evaluated last, so that the state is left there with its value, which the
/// optimiser's first evaluation then reuses.
fn leading_hessian_columns(
    gradient_at: &mut dyn FnMut(&[f64]) -> Result<(f64, Vec<f64>)>,
    x0: &[f64],
    k: usize,
) -> Result<(f64, Vec<f64>)> {
    let m = x0.len();
    let mut shifted = Vec::with_capacity(k);
    let mut x = x0.to_vec();
    for i in 0..k {
        let h = 1e-4 * x0[i].abs().max(1.0);
        x[i] = x0[i] + h;
        shifted.push((h, gradient_at(&x)?.1));
        x[i] = x0[i];
    }
    let (f0, g0) = gradient_at(x0)?;
    let mut hess = vec![0.0; m * m];
    for (i, (h, gi)) in shifted.iter().enumerate() {
        for j in 0..m {
            let v = (gi[j] - g0[j]) / h;
            if j < k {
                hess[i * m + j] += 0.5 * v;
                hess[j * m + i] += 0.5 * v;
            } else {
                hess[i * m + j] = v;
                hess[j * m + i] = v;
            }
        }
    }
    Ok((f0, hess))
}

/// The inverse of a small symmetric positive definite matrix (column- or row-major alike),
/// or None when it is not positive definite.
fn spd_inverse(a: &[f64], m: usize) -> Option<Vec<f64>> {
    let mut l = faer::Mat::<f64>::from_fn(m, m, |r, c| a[c * m + r]);
    crate::linalg::small_cholesky_lower(l.as_mut(), m, 1e-12).ok()?;
    let mut inv = faer::Mat::<f64>::identity(m, m);
    faer::linalg::triangular_solve::solve_lower_triangular_in_place(l.as_ref(), inv.as_mut(), faer::Par::Seq);
    faer::linalg::triangular_solve::solve_upper_triangular_in_place(l.transpose(), inv.as_mut(), faer::Par::Seq);
    let out: Vec<f64> = (0..m * m).map(|k| inv[(k % m, k / m)]).collect();
    out.iter().all(|v| v.is_finite()).then_some(out)
}

/// The first stage's first inverse Hessian for the quasi-Newton method, at θ₀: forward
/// differences of the first stage's analytic gradient (`glmm_gradient_first`), inverted,
/// and the deviance at θ₀ (the state is left there). None where that is not positive
/// definite. The first step is then Newton's instead of a capped gradient step.
pub(crate) fn first_stage_inverse_hessian(
    model: &mut GeneralizedLinearMixedModel,
    data: &ModelData,
    theta0: &[f64],
) -> Result<(Option<Vec<f64>>, f64)> {
    let mut gradient_at = |t: &[f64]| -> Result<(f64, Vec<f64>)> {
        let value = model.laplace(data, t, None)?.deviance;
        Ok((value, model.first_stage_gradient(data, t)?))
    };
    let (f0, hess) = leading_hessian_columns(&mut gradient_at, theta0, theta0.len())?;
    Ok((spd_inverse(&hess, theta0.len()), f0))
}
