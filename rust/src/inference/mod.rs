//! Inference on the fixed effects of a linear mixed model beyond lme4: the variance
//! parameters' effect on vcov(β̂), for denominator degrees of freedom.
//!
//! - `marginal.rs`: the q-level products with the marginal precision (Z'V⁻¹Z, Z'V⁻¹X, ...)
//!   every derivative below reduces to, from a dense A⁻¹ of the blocked factor.
//! - `satterthwaite.rs`: lmerTest's ingredients (the Hessian of the deviance in (θ, σ) and the
//!   gradient of vcov(β̂)), exact instead of numerically differentiated.
//! - `kenward_roger.rs`: pbkrtest's adjusted covariance and its ingredients, in pbkrtest's
//!   linear parametrization.
//!
//! Both return a [`VarianceParameterInference`]; the degrees of freedom of a contrast are a
//! few p × p products of it (done by the caller per contrast).

pub mod kenward_roger;
pub mod marginal;
pub mod satterthwaite;

pub use kenward_roger::kenward_roger;
pub use satterthwaite::satterthwaite;

use crate::error::{MerxError, Result};
use crate::pls::LinearMixedModel;
use faer::Mat;

/// What a contrast's degrees of freedom need, in X's original coordinates.
#[derive(Clone, Debug)]
pub struct VarianceParameterInference {
    /// vcov(β̂) (p × p).
    pub vcov: Mat<f64>,
    /// Kenward-Roger's adjusted covariance Φ_A (None for Satterthwaite).
    pub vcov_adjusted: Option<Mat<f64>>,
    /// ∂vcov(β̂)/∂γ_i for each variance parameter γ_i (p × p each).
    pub jacobians: Vec<Mat<f64>>,
    /// The covariance of γ̂ the method uses: 2H⁻¹ (Satterthwaite), W = 2I⁻¹ (Kenward-Roger).
    pub weight: Mat<f64>,
    /// H (the deviance's Hessian in (θ, σ)) or I (Kenward-Roger's information).
    pub curvature: Mat<f64>,
    /// σ̂ used.
    pub sigma: f64,
}

impl VarianceParameterInference {
    /// Maps p × p matrices of the centred columns back to X's columns (V → MVM').
    pub(crate) fn in_original_coordinates(
        model: &LinearMixedModel,
        vcov: Mat<f64>,
        adjusted: Option<Mat<f64>>,
        jacobians: Vec<Mat<f64>>,
        weight: Mat<f64>,
        curvature: Mat<f64>,
        sigma: f64,
    ) -> Self {
        let map = |x: Mat<f64>| -> Mat<f64> {
            let p = x.nrows();
            let mut v: Vec<f64> = (0..p * p).map(|e| x[(e % p, e / p)]).collect();
            model.cp.to_original_covariance(&mut v);
            Mat::from_fn(p, p, |a, b| v[b * p + a])
        };
        VarianceParameterInference {
            vcov: map(vcov),
            vcov_adjusted: adjusted.map(map),
            jacobians: jacobians.into_iter().map(map).collect(),
            weight,
            curvature,
            sigma,
        }
    }
}

/// Σ over eigenpairs with `keep(λ, max|λ|)` of vv'/λ for a symmetric matrix.
pub(crate) fn symmetric_pseudo_inverse(
    h: &Mat<f64>,
    keep: impl Fn(f64, f64) -> bool,
) -> Result<Mat<f64>> {
    let n = h.nrows();
    let evd = h.self_adjoint_eigen(faer::Side::Lower).map_err(|_| {
        MerxError::Numerical(
            "an eigendecomposition of the variance parameters' curvature did not converge".into(),
        )
    })?;
    let (u, s) = (evd.U(), evd.S());
    let largest = (0..n).map(|i| s[i].abs()).fold(0.0, f64::max);
    let mut out = Mat::<f64>::zeros(n, n);
    for e in 0..n {
        let v = s[e];
        if v != 0.0 && keep(v, largest) {
            for a in 0..n {
                for b in 0..n {
                    out[(a, b)] += u[(a, e)] * u[(b, e)] / v;
                }
            }
        }
    }
    Ok(out)
}
