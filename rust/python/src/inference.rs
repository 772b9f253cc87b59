//! `variance_parameter_inference(model, theta, method)`: Satterthwaite's or Kenward-Roger's
//! ingredients from the core, as one typed object.

use crate::model::PyLinearMixedModel;
use crate::{guard, to_py_err};
use faer::Mat;
use merx_core::inference::{kenward_roger, satterthwaite, VarianceParameterInference};
use numpy::{PyArray1, PyArray2, PyArray3, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// What the degrees of freedom of a contrast need, in X's column order: `vcov` (p, p),
/// `vcov_adjusted` (Kenward-Roger's Φ_A, or None), `jacobians` (m, p, p): ∂vcov/∂γ_i,
/// `weight` (m, m): the covariance of the variance parameters the method uses (2H⁻¹ or
/// W = 2I⁻¹), `curvature` (m, m): H or I, and `sigma`.
#[pyclass(module = "merx._core", name = "VarianceParameterInference", frozen)]
pub struct PyVarianceParameterInference {
    #[pyo3(get)]
    method: String,
    #[pyo3(get)]
    vcov: Py<PyArray2<f64>>,
    #[pyo3(get)]
    vcov_adjusted: Option<Py<PyArray2<f64>>>,
    #[pyo3(get)]
    jacobians: Py<PyArray3<f64>>,
    #[pyo3(get)]
    weight: Py<PyArray2<f64>>,
    #[pyo3(get)]
    curvature: Py<PyArray2<f64>>,
    #[pyo3(get)]
    sigma: f64,
}

fn to_array<'py>(py: Python<'py>, m: &Mat<f64>) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (r, c) = (m.nrows(), m.ncols());
    let flat: Vec<f64> = (0..r * c).map(|e| m[(e / c, e % c)]).collect();
    PyArray1::from_vec(py, flat).reshape([r, c])
}

impl PyVarianceParameterInference {
    fn from_core(py: Python<'_>, method: &str, v: VarianceParameterInference) -> PyResult<Self> {
        let p = v.vcov.nrows();
        let m = v.jacobians.len();
        let flat: Vec<f64> = v
            .jacobians
            .iter()
            .flat_map(|j| (0..p * p).map(move |e| j[(e / p, e % p)]))
            .collect();
        Ok(PyVarianceParameterInference {
            method: method.to_string(),
            vcov: to_array(py, &v.vcov)?.unbind(),
            vcov_adjusted: v
                .vcov_adjusted
                .as_ref()
                .map(|a| to_array(py, a).map(|x| x.unbind()))
                .transpose()?,
            jacobians: PyArray1::from_vec(py, flat).reshape([m, p, p])?.unbind(),
            weight: to_array(py, &v.weight)?.unbind(),
            curvature: to_array(py, &v.curvature)?.unbind(),
            sigma: v.sigma,
        })
    }
}

/// Satterthwaite's (method="Satterthwaite") or Kenward-Roger's (method="Kenward-Roger")
/// ingredients for the model at θ (its estimate), computed with the GIL released.
#[pyfunction]
pub fn variance_parameter_inference(
    py: Python<'_>,
    model: &Bound<'_, PyLinearMixedModel>,
    theta: Vec<f64>,
    method: &str,
) -> PyResult<PyVarianceParameterInference> {
    let mut guard_model = model.borrow_mut();
    let core = &mut guard_model.model;
    let result = guard("variance parameter inference", || {
        py.detach(|| match method {
            "Satterthwaite" => satterthwaite(core, &theta).map_err(to_py_err),
            "Kenward-Roger" => kenward_roger(core, &theta).map_err(to_py_err),
            other => Err(PyValueError::new_err(format!(
                "unknown method {other:?}: use \"Satterthwaite\" or \"Kenward-Roger\""
            ))),
        })
    })?;
    PyVarianceParameterInference::from_core(py, method, result)
}
