//! `GlmFamily`: the core's family and link functions, elementwise over numpy arrays, for the
//! results of a GLMM (predictions on the response scale, residuals of every type).

use crate::to_py_err;
use merx_core::family::{family_with_shape, Family};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

#[pyclass(module = "merx._core", name = "GlmFamily", frozen)]
pub struct PyGlmFamily {
    family: Box<dyn Family>,
}

fn same_length(a: &[f64], b: &[f64], what: &str) -> PyResult<()> {
    if a.len() != b.len() {
        return Err(PyValueError::new_err(format!("{what}: arrays of lengths {} and {}", a.len(), b.len())));
    }
    Ok(())
}

#[pymethods]
impl PyGlmFamily {
    #[new]
    #[pyo3(signature = (family, link=None, shape=None))]
    fn new(family: &str, link: Option<&str>, shape: Option<f64>) -> PyResult<Self> {
        Ok(PyGlmFamily { family: family_with_shape(family, link, shape).map_err(to_py_err)? })
    }

    #[getter]
    fn family(&self) -> &'static str {
        self.family.name()
    }

    #[getter]
    fn link(&self) -> &'static str {
        self.family.link().name()
    }

    /// μ = g⁻¹(η).
    fn link_inverse<'py>(&self, py: Python<'py>, eta: PyReadonlyArray1<'py, f64>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let link = self.family.link();
        Ok(PyArray1::from_vec(py, eta.as_slice()?.iter().map(|&e| link.inverse(e)).collect()))
    }

    /// dμ/dη at η.
    fn mu_eta<'py>(&self, py: Python<'py>, eta: PyReadonlyArray1<'py, f64>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let link = self.family.link();
        Ok(PyArray1::from_vec(py, eta.as_slice()?.iter().map(|&e| link.mu_eta(e)).collect()))
    }

    /// V(μ).
    fn variance<'py>(&self, py: Python<'py>, mu: PyReadonlyArray1<'py, f64>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        Ok(PyArray1::from_vec(py, mu.as_slice()?.iter().map(|&m| self.family.variance(m)).collect()))
    }

    /// Squared deviance residuals d(yᵢ, μᵢ) with weights wᵢ.
    fn deviance_residuals<'py>(
        &self,
        py: Python<'py>,
        y: PyReadonlyArray1<'py, f64>,
        mu: PyReadonlyArray1<'py, f64>,
        w: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let (y, mu, w) = (y.as_slice()?, mu.as_slice()?, w.as_slice()?);
        same_length(y, mu, "deviance residuals")?;
        same_length(y, w, "deviance residuals")?;
        Ok(PyArray1::from_vec(py, (0..y.len()).map(|i| self.family.deviance_residual(y[i], mu[i], w[i])).collect()))
    }
}
