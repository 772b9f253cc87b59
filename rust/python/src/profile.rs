//! Points of the likelihood profile of the variance components (lme4's sd/cor/σ scale) for
//! `confint(method="profile")`: one optimisation in the core per point, the GIL released.

use crate::model::PyLinearMixedModel;
use crate::{guard, to_py_err};
use merx_core::profile::{profile_point, sdcor_deviance, SdCorLayout, VarianceParameterKind};
use pyo3::prelude::*;

/// lme4's (sd, cor, σ) of θ and σ for the model's terms, with each entry's kind ("sd",
/// "cor" or "sigma").
#[pyfunction]
pub fn sdcor_of_theta(model: &Bound<'_, PyLinearMixedModel>, theta: Vec<f64>, sigma: f64) -> PyResult<(Vec<f64>, Vec<String>)> {
    let m = model.borrow();
    let layout = SdCorLayout::new(&m.model).map_err(to_py_err)?;
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
