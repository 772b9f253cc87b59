//! `LinearMixedModel`: the data, cross-products and symbolic factorisation of one model,
//! ready to fit (the core's `LinearMixedModel`, holding the caller's arrays).

use crate::interrupt::run_watched;
use crate::arrays::{check_vector, slice, with_data, Arrays, TermTuple};
use crate::fit::PyFit;
use crate::{guard, to_py_err};
use merx_core::fit::{estimates_at, fit_lmm, FitOptions};
use merx_core::optimize::OptimizerMethod;
use merx_core::residual::{Independent, ResidualCovariance, StratumWeights};
use merx_core::LinearMixedModel;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::Arc;

/// LinearMixedModel(X, y, terms, weights=None, offset=None, reml=True, stratum_weights=None,
/// term_names=None)
///
/// X float64 (n, p); y float64 (n,); terms a list of (codes int64 (n,), n_levels, Z float64
/// (n, k), covariance) with covariance "unstructured", "diagonal", "compound_symmetry",
/// "heterogeneous_compound_symmetry" or "ar1";
/// stratum_weights an optional (strata int64 (n,), weight per stratum float64) residual
/// covariance; term_names optional (group, [column names]) per term for `theta_names`.
#[pyclass(module = "merx._core", name = "LinearMixedModel")]
pub struct PyLinearMixedModel {
    pub(crate) model: LinearMixedModel,
    pub(crate) arrays: Arrays,
    theta_names: Vec<String>,
    /// Built from streamed cross-products: `arrays` are empty placeholders, no row is held.
    pub(crate) streamed: bool,
}

fn optimizer_method(name: &str) -> PyResult<OptimizerMethod> {
    match name {
        "auto" => Ok(OptimizerMethod::Auto),
        "quasi-newton" => Ok(OptimizerMethod::QuasiNewton),
        "bobyqa" => Ok(OptimizerMethod::Bobyqa),
        other => Err(PyValueError::new_err(format!(
            "unknown optimizer {other:?}: use \"auto\", \"quasi-newton\" (analytic gradient) or \"bobyqa\""
        ))),
    }
}

impl PyLinearMixedModel {
    /// A model of streamed cross-products (see `stream.rs`).
    pub(crate) fn streamed(model: LinearMixedModel, arrays: Arrays, theta_names: Vec<String>) -> Self {
        PyLinearMixedModel { model, arrays, theta_names, streamed: true }
    }

    /// Fitted values and the typed result, with the interpreter held.
    fn finish(&self, py: Python<'_>, mut fit: merx_core::MixedModelFit) -> PyResult<PyFit> {
        if self.streamed {
            // No rows: fitted values are written by a pass over the data; the weighted RSS
            // is the penalized one less ‖u‖² (exact at the PLS solution).
            fit.wrss = fit.evaluation.pwrss - fit.ussq;
            fit.deviance_residuals = fit.wrss;
            return PyFit::from_core(py, fit, &self.model);
        }
        guard("fitted values", || with_data(py, &self.arrays, |data| Ok(fit.attach_fitted(&self.model, data))))?;
        PyFit::from_core(py, fit, &self.model)
    }
}

#[pymethods]
impl PyLinearMixedModel {
    #[new]
    #[pyo3(signature = (x, y, terms, weights=None, offset=None, reml=true, stratum_weights=None, term_names=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        x: Bound<'_, PyAny>,
        y: Bound<'_, PyAny>,
        terms: Vec<TermTuple<'_>>,
        weights: Option<Bound<'_, PyAny>>,
        offset: Option<Bound<'_, PyAny>>,
        reml: bool,
        stratum_weights: Option<(Bound<'_, PyAny>, Vec<f64>)>,
        term_names: Option<Vec<(String, Vec<String>)>>,
    ) -> PyResult<Self> {
        guard("model construction", || {
            let arrays = Arrays::checked(x, y, terms, weights, offset)?;
            let residual: Arc<dyn ResidualCovariance> = match stratum_weights {
                None => Arc::new(Independent),
                Some((strata, per_stratum)) => {
                    check_vector::<i64>(&strata, "stratum codes", "int64")?;
                    let codes: PyReadonlyArray1<i64> = strata.extract()?;
                    Arc::new(StratumWeights::new(slice(&codes, "stratum codes")?.to_vec(), per_stratum).map_err(to_py_err)?)
                }
            };
            let model = with_data(py, &arrays, |data| LinearMixedModel::with_residual(data, residual, reml).map_err(to_py_err))?;
            let theta_names = model.parameters(term_names.as_deref()).map_err(to_py_err)?.names;
            Ok(PyLinearMixedModel { model, arrays, theta_names, streamed: false })
        })
    }

    #[getter]
    fn n_theta(&self) -> usize {
        self.model.n_theta()
    }

    #[getter]
    fn q(&self) -> usize {
        self.model.q()
    }

    #[getter]
    fn reml(&self) -> bool {
        self.model.reml
    }

    #[getter]
    fn theta_names(&self) -> Vec<String> {
        self.theta_names.clone()
    }

    #[getter]
    fn theta_start<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.model.random_effects.start())
    }

    #[getter]
    fn theta_lower<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.model.random_effects.lower_bounds())
    }

    #[getter]
    fn theta_upper<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.model.random_effects.upper_bounds())
    }

    /// Gradient of the REML criterion (reml=True) or ML deviance at θ.
    fn gradient(&mut self, py: Python<'_>, theta: Vec<f64>) -> PyResult<Vec<f64>> {
        let model = &mut self.model;
        guard("gradient", || {
            py.detach(|| {
                model.evaluate(&theta).map_err(to_py_err)?;
                model.gradient().map_err(to_py_err)
            })
        })
    }

    /// REML criterion (reml=True) or ML deviance at θ.
    fn deviance(&mut self, py: Python<'_>, theta: Vec<f64>) -> PyResult<f64> {
        let model = &mut self.model;
        guard("deviance", || py.detach(|| model.evaluate(&theta).map(|e| e.objective).map_err(to_py_err)))
    }

    /// Optimises θ (GIL released) and returns the estimates at the optimum. `fixed` maps
    /// θ indices to values held during the optimisation (a profile's grid point).
    /// `watch`: run so that Ctrl-C stops the fit (a worker thread, see interrupt.rs);
    /// `progress`: a callable given the number of evaluations every 0.1 s (implies `watch`).
    #[pyo3(signature = (theta_start=None, fixed=None, max_fun=None, rho_end=None, rho_begin=None, npt=None, ftol_abs=None, condvar=true, optimizer="auto", watch=false, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &mut self,
        py: Python<'_>,
        theta_start: Option<Vec<f64>>,
        fixed: Option<Vec<(usize, f64)>>,
        max_fun: Option<usize>,
        rho_end: Option<f64>,
        rho_begin: Option<f64>,
        npt: Option<usize>,
        ftol_abs: Option<f64>,
        condvar: bool,
        optimizer: &str,
        watch: bool,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<PyFit> {
        let mut options = FitOptions { theta_start, fixed: fixed.unwrap_or_default(), skip_condvar: !condvar, ..Default::default() };
        options.optimizer.method = optimizer_method(optimizer)?;
        options.optimizer.max_fun = max_fun;
        options.optimizer.rho_begin = rho_begin;
        options.optimizer.npt = npt;
        options.optimizer.ftol_abs = ftol_abs;
        if let Some(r) = rho_end {
            options.optimizer.rho_end = r;
        }
        let model = &mut self.model;
        let fit = run_watched(py, "fit", watch, progress.as_ref(), |control| {
            options.optimizer.control = control;
            fit_lmm(model, &options)
        })?;
        self.finish(py, fit)
    }

    /// The estimates at a given θ without optimising (reported as optimizer "none").
    #[pyo3(signature = (theta, condvar=true))]
    fn estimates(&mut self, py: Python<'_>, theta: Vec<f64>, condvar: bool) -> PyResult<PyFit> {
        let model = &mut self.model;
        let mut fit = guard("estimates", || py.detach(|| estimates_at(model, &theta, !condvar).map_err(to_py_err)))?;
        fit.n_eval = 1;
        fit.optimizer = "none".into();
        fit.message = "evaluated at the given theta".into();
        self.finish(py, fit)
    }

    /// Replaces the response (same rows, weights, offset and design) and recomputes the
    /// response's cross-products only (O(n)), keeping Z'WZ, X'WX and the symbolic analysis: a parametric
    /// bootstrap or a simulation study refits with `set_response(y_sim)` then `fit()`.
    fn set_response(&mut self, py: Python<'_>, y: Bound<'_, PyAny>) -> PyResult<()> {
        guard("set_response", || {
            let arr = y
                .extract::<PyReadonlyArray1<f64>>()
                .map_err(|_| PyValueError::new_err("y must be a 1-d float64 numpy array"))?;
            let ys = slice(&arr, "y")?;
            if ys.len() != self.model.n() {
                return Err(PyValueError::new_err(format!(
                    "y has length {} but the model has {} rows",
                    ys.len(),
                    self.model.n()
                )));
            }
            if let Some(i) = ys.iter().position(|v| !v.is_finite()) {
                return Err(PyValueError::new_err(format!("y has a non-finite value at row {i}")));
            }
            drop(arr);
            self.arrays.y = y.unbind();
            let model = &mut self.model;
            with_data(py, &self.arrays, |data| model.replace_response(data).map_err(to_py_err))
        })
    }
}
