//! Points of the likelihood profile of the variance components (lme4's sd/cor/σ scale) for
//! `confint(method="profile")`: one optimisation in the core per point, the GIL released.

use crate::model::PyLinearMixedModel;
use crate::{guard, to_py_err};
use merx_core::profile::{profile_point, sdcor_deviance, SdCorLayout, VarianceParameterKind};
use pyo3::prelude::*;

fn layout_of(terms: &[(usize, String)]) -> PyResult<SdCorLayout> {
    let spec: Vec<(usize, &str)> = terms.iter().map(|(k, s)| (*k, s.as_str())).collect();
    SdCorLayout::from_structures(&spec).map_err(to_py_err)
}

/// lme4's (sd, cor, σ) of θ and σ for terms given as (k, covariance structure), with each
/// entry's kind ("sd", "cor" or "sigma").
#[pyfunction]
pub fn sdcor_of_theta(terms: Vec<(usize, String)>, theta: Vec<f64>, sigma: f64) -> PyResult<(Vec<f64>, Vec<String>)> {
    let layout = layout_of(&terms)?;
    let kinds = layout
        .kinds
        .iter()
        .map(|k| match k {
            VarianceParameterKind::Sd => "sd",
            VarianceParameterKind::Cor => "cor",
            VarianceParameterKind::Sigma => "sigma",
        })
        .map(String::from)
        .collect();
    Ok((layout.from_theta(&theta, sigma), kinds))
}

/// θ of (sd, cor, σ) = p for those terms; None when a term's correlations are not positive
/// semi-definite.
#[pyfunction]
pub fn theta_of_sdcor(terms: Vec<(usize, String)>, p: Vec<f64>) -> PyResult<Option<Vec<f64>>> {
    Ok(layout_of(&terms)?.to_theta(&p))
}

/// The ML deviance at (sd, cor, σ) = p (the model must be built with reml=False).
#[pyfunction]
pub fn sdcor_deviance_at(py: Python<'_>, model: &Bound<'_, PyLinearMixedModel>, p: Vec<f64>) -> PyResult<f64> {
    let mut m = model.borrow_mut();
    let core = &mut m.model;
    guard("profile deviance", || {
        let layout = SdCorLayout::new(core).map_err(to_py_err)?;
        Ok(py.detach(|| sdcor_deviance(core, &layout, &p)))
    })
}

/// One profile point: (deviance, parameters) minimising the ML deviance over the other
/// (sd, cor, σ) with entry `held` at `value`, from `start`; `scale` is σ̂.
#[pyfunction]
pub fn variance_profile_point(
    py: Python<'_>,
    model: &Bound<'_, PyLinearMixedModel>,
    start: Vec<f64>,
    held: usize,
    value: f64,
    scale: f64,
) -> PyResult<(f64, Vec<f64>)> {
    let mut m = model.borrow_mut();
    let core = &mut m.model;
    guard("profile point", || {
        let layout = SdCorLayout::new(core).map_err(to_py_err)?;
        py.detach(|| profile_point(core, &layout, &start, held, value, scale)).map_err(to_py_err)
    })
}
