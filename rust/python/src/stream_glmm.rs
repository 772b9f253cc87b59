//! `glmer` on data read in batches: the pass accumulator the batches (or Dask partitions)
//! fill, and the model whose fit calls back into Python for each pass.
//!
//! ```python
//! acc = merx._core.GlmmPassAccumulator("binomial", "logit", p, [(n_levels, k), ...], centre)
//! acc.add_batch(X, y, prior, offset, [(codes, Z), ...], point)   # GIL released
//! acc.merge(other)                                                # rows of another batch
//! model = merx._core.StreamedGlmm("binomial", "logit", p, kept, intercept,
//!                                 [(n_levels, k, covariance), ...], term_names)
//! fit, n_passes = model.fit(run_pass, theta_start=None, fast=False, max_fun=None)
//! ```
//! `run_pass(point)` reads every row once and returns the merged accumulator; `point` is
//! `(beta, [b per term], from_mu_start)` with numpy arrays (picklable, for Dask workers).
//! An exception in `run_pass` stops the fit and propagates as it is.

use crate::arrays::{check_matrix, check_vector, mat_view, slice};
use crate::fit::PyFit;
use crate::stream::{accumulator_of_state, accumulator_state, term_arrays, weights_arg, AccumulatorState};
use crate::{guard, to_py_err};
use merx_core::covariance::structure_by_name;
use merx_core::error::MerxError;
use merx_core::family::{family_by_name, Family};
use merx_core::optimize::FitControl;
use merx_core::stream_glmm::{GlmmBatch, GlmmPassAccumulator, PassPoint, PassSource, StreamedGlmm, StreamedGlmmOptions};
use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::Arc;

fn family_of(name: &str, link: &str) -> PyResult<Arc<dyn Family>> {
    family_by_name(name, Some(link)).map(Arc::from).map_err(to_py_err)
}

#[pyclass(module = "merx._core", name = "GlmmPassAccumulator")]
pub struct PyGlmmPassAccumulator {
    inner: GlmmPassAccumulator,
}

/// A pass accumulator from the state `__reduce__` gives (for pickling).
#[pyfunction]
pub fn glmm_pass_from_state(state: (String, String, AccumulatorState, f64, f64, usize)) -> PyResult<PyGlmmPassAccumulator> {
    let (name, link, cross, deviance, saturated, bad_rows) = state;
    let family = family_of(&name, &link)?;
    let cross = accumulator_of_state(cross)?;
    let mut inner = GlmmPassAccumulator::new(family, cross.p, &[(1, 1)], vec![0.0; cross.p]).map_err(to_py_err)?;
    inner.cross = cross;
    inner.deviance = deviance;
    inner.saturated = saturated;
    inner.bad_rows = bad_rows;
    Ok(PyGlmmPassAccumulator { inner })
}

#[pymethods]
impl PyGlmmPassAccumulator {
    #[new]
    fn new(family: &str, link: &str, p: usize, terms: Vec<(usize, usize)>, x_centre: Vec<f64>) -> PyResult<Self> {
        let family = family_of(family, link)?;
        Ok(PyGlmmPassAccumulator { inner: GlmmPassAccumulator::new(family, p, &terms, x_centre).map_err(to_py_err)? })
    }

    /// Adds a batch at `point` = (beta float64 (p,), [b float64 (L·k,) per term],
    /// from_mu_start): X float64 (n, p), y (a proportion for a binomial family), prior
    /// weights (the trials) and offset float64 (n,) or None, per term (codes int64, Z).
    #[pyo3(signature = (x, y, prior, offset, terms, point))]
    #[allow(clippy::too_many_arguments)]
    fn add_batch(
        &mut self,
        py: Python<'_>,
        x: Bound<'_, PyAny>,
        y: Bound<'_, PyAny>,
        prior: Option<Bound<'_, PyAny>>,
        offset: Option<Bound<'_, PyAny>>,
        terms: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)>,
        point: (PyReadonlyArray1<'_, f64>, Vec<PyReadonlyArray1<'_, f64>>, bool),
    ) -> PyResult<()> {
        guard("GLMM pass", || {
            check_matrix(&x, "X")?;
            check_vector::<f64>(&y, "y", "float64")?;
            let xa: PyReadonlyArray2<f64> = x.extract()?;
            let ya: PyReadonlyArray1<f64> = y.extract()?;
            let pa = weights_arg(&prior)?;
            let oa = match &offset {
                None => None,
                Some(a) => {
                    check_vector::<f64>(a, "offset", "float64")?;
                    Some(a.extract::<PyReadonlyArray1<f64>>()?)
                }
            };
            let (codes, zs) = term_arrays(&terms)?;
            let batch = GlmmBatch {
                x: mat_view(&xa),
                y: slice(&ya, "y")?,
                prior: pa.as_ref().map(|a| slice(a, "prior weights")).transpose()?,
                offset: oa.as_ref().map(|a| slice(a, "offset")).transpose()?,
                codes: codes.iter().map(|c| slice(c, "codes")).collect::<PyResult<_>>()?,
                z: zs.iter().map(mat_view).collect(),
            };
            let point = PassPoint {
                beta: slice(&point.0, "beta")?.to_vec(),
                b: point.1.iter().map(|b| slice(b, "b").map(<[f64]>::to_vec)).collect::<PyResult<_>>()?,
                from_mu_start: point.2,
            };
            let inner = &mut self.inner;
            py.detach(|| inner.add_batch(&batch, &point)).map_err(to_py_err)
        })
    }

    /// Adds another accumulator of the same pass (rows disjoint from this one's).
    fn merge(&mut self, other: PyRef<'_, PyGlmmPassAccumulator>) -> PyResult<()> {
        guard("merge", || self.inner.merge(&other.inner).map_err(to_py_err))
    }

    #[getter]
    fn n_obs(&self) -> usize {
        self.inner.cross.n_obs
    }

    #[getter]
    fn n_rows(&self) -> usize {
        self.inner.cross.n_rows
    }

    /// Σ of the deviance residuals at the pass's point.
    #[getter]
    fn deviance(&self) -> f64 {
        self.inner.deviance
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let a = &self.inner;
        let f = py.import("merx._core")?.getattr("glmm_pass_from_state")?;
        let state = (
            a.family.name(),
            a.family.link().name(),
            accumulator_state(py, &a.cross)?,
            a.deviance,
            a.saturated,
            a.bad_rows,
        );
        Ok((f, PyTuple::new(py, [state.into_pyobject(py)?.into_any()])?))
    }
}

/// The Python pass function as the core's pass source: an exception stops the fit (the
/// optimiser is cancelled) and is kept to be raised as it is.
struct PythonPasses<'py> {
    py: Python<'py>,
    run_pass: Bound<'py, PyAny>,
    error: Option<PyErr>,
    control: FitControl,
}

impl PassSource for PythonPasses<'_> {
    fn pass(&mut self, point: &PassPoint) -> merx_core::Result<GlmmPassAccumulator> {
        if self.error.is_some() {
            return Err(MerxError::Interrupted);
        }
        let result = (|| -> PyResult<GlmmPassAccumulator> {
            let py = self.py;
            let b: Vec<Bound<'_, PyArray1<f64>>> = point.b.iter().map(|v| PyArray1::from_slice(py, v)).collect();
            let arg = (PyArray1::from_slice(py, &point.beta), b, point.from_mu_start);
            let out = self.run_pass.call1((arg,))?;
            let acc = out.cast::<PyGlmmPassAccumulator>().map_err(|_| PyValueError::new_err("the pass function must return a GlmmPassAccumulator"))?;
            let inner = acc.borrow().inner.clone();
            Ok(inner)
        })();
        result.map_err(|e| {
            self.error = Some(e);
            self.control.cancel();
            MerxError::Interrupted
        })
    }
}

#[pyclass(module = "merx._core", name = "StreamedGlmm")]
pub struct PyStreamedGlmm {
    model: StreamedGlmm,
    term_names: Option<Vec<(String, Vec<String>)>>,
}

#[pymethods]
impl PyStreamedGlmm {
    #[new]
    #[pyo3(signature = (family, link, p_full, kept, intercept, terms, term_names=None))]
    fn new(
        family: &str,
        link: &str,
        p_full: usize,
        kept: Vec<usize>,
        intercept: Option<usize>,
        terms: Vec<(usize, usize, String)>,
        term_names: Option<Vec<(String, Vec<String>)>>,
    ) -> PyResult<Self> {
        guard("model construction", || {
            let family = family_of(family, link)?;
            let terms = terms
                .into_iter()
                .enumerate()
                .map(|(t, (l, k, c))| {
                    let s = structure_by_name(&c).map_err(|e| PyValueError::new_err(format!("random-effects term {t}: {e}")))?;
                    Ok((l, k, s))
                })
                .collect::<PyResult<Vec<_>>>()?;
            let model = StreamedGlmm::new(family, p_full, kept, intercept, &terms).map_err(to_py_err)?;
            Ok(PyStreamedGlmm { model, term_names })
        })
    }

    #[getter]
    fn theta_names(&self) -> PyResult<Vec<String>> {
        Ok(self.model.parameters(self.term_names.as_deref()).map_err(to_py_err)?.names)
    }

    /// Fits, calling `run_pass(point)` for each PIRLS step; returns (fit, passes, rows used).
    #[pyo3(signature = (run_pass, theta_start=None, fast=false, max_fun=None, rho_end=None))]
    fn fit(
        &mut self,
        py: Python<'_>,
        run_pass: Bound<'_, PyAny>,
        theta_start: Option<Vec<f64>>,
        fast: bool,
        max_fun: Option<usize>,
        rho_end: Option<f64>,
    ) -> PyResult<(PyFit, usize, usize)> {
        let control = FitControl::new();
        let mut options = StreamedGlmmOptions { theta_start, fast, max_fun, control: Some(control.clone()), ..Default::default() };
        if let Some(r) = rho_end {
            options.rho_end = r;
        }
        let mut source = PythonPasses { py, run_pass, error: None, control };
        let model = &mut self.model;
        let names = self.term_names.clone();
        let fit = guard("streamed GLMM fit", || Ok(model.fit(&mut source, &options, names.as_deref())));
        if let Some(e) = source.error.take() {
            return Err(e);
        }
        let fit = fit?.map_err(to_py_err)?;
        let lmm = self.model.solver().ok_or_else(|| PyValueError::new_err("no pass was made"))?;
        Ok((PyFit::from_core(py, fit, lmm)?, self.model.n_passes, self.model.n_obs))
    }
}
