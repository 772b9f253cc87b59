//! `VarIdentModel`: a linear mixed model with nlme's varIdent residual variances (the
//! core's `lme::VarIdentModel`, holding the caller's arrays).

use crate::arrays::{check_vector, slice, with_data, Arrays, TermTuple};
use crate::fit::PyFit;
use crate::{guard, to_py_err};
use merx_core::fit::FitOptions;
use merx_core::lme::VarIdentModel;
use merx_core::residual::VarIdent;
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;

/// VarIdentModel(X, y, terms, strata, n_strata, weights=None, offset=None, reml=True,
/// term_names=None)
///
/// As `LinearMixedModel`, with the rows' strata (int64 (n,), 0..n_strata, stratum 0 the
/// reference) whose residual standard deviations relative to the reference are estimated.
/// The parameter vector is θ followed by the log-ratios log δ_1 .. log δ_{S-1}.
#[pyclass(module = "merx._core", name = "VarIdentModel")]
pub struct PyVarIdentModel {
    model: VarIdentModel,
    arrays: Arrays,
    parameter_names: Vec<String>,
}

#[pymethods]
impl PyVarIdentModel {
    #[new]
    #[pyo3(signature = (x, y, terms, strata, n_strata, weights=None, offset=None, reml=true, term_names=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        x: Bound<'_, PyAny>,
        y: Bound<'_, PyAny>,
        terms: Vec<TermTuple<'_>>,
        strata: Bound<'_, PyAny>,
        n_strata: usize,
        weights: Option<Bound<'_, PyAny>>,
        offset: Option<Bound<'_, PyAny>>,
        reml: bool,
        term_names: Option<Vec<(String, Vec<String>)>>,
    ) -> PyResult<Self> {
        guard("model construction", || {
            let arrays = Arrays::checked(x, y, terms, weights, offset)?;
            check_vector::<i64>(&strata, "stratum codes", "int64")?;
            let codes: PyReadonlyArray1<i64> = strata.extract()?;
            let codes = slice(&codes, "stratum codes")?;
            let model = with_data(py, &arrays, |data| {
                let var_ident = VarIdent::new(codes, n_strata, data.weights).map_err(to_py_err)?;
                VarIdentModel::new(data, var_ident, reml).map_err(to_py_err)
            })?;
            let parameter_names = model.parameters(term_names.as_deref()).map_err(to_py_err)?.names;
            Ok(PyVarIdentModel { model, arrays, parameter_names })
        })
    }

    #[getter]
    fn n_theta(&self) -> usize {
        self.model.n_theta()
    }

    /// Number of log-ratios (strata after the reference).
    #[getter]
    fn n_variance_params(&self) -> usize {
        self.model.n_variance_params()
    }

    #[getter]
    fn reml(&self) -> bool {
        self.model.lmm.reml
    }

    /// θ's names then ``log_ratio_1`` ...
    #[getter]
    fn parameter_names(&self) -> Vec<String> {
        self.parameter_names.clone()
    }

    /// REML criterion (reml=True) or ML deviance at (θ, log δ), with Σ log w included.
    fn deviance(&mut self, py: Python<'_>, params: Vec<f64>) -> PyResult<f64> {
        let model = &mut self.model;
        guard("deviance", || py.detach(|| model.evaluate(&params).map(|e| e.objective).map_err(to_py_err)))
    }

    /// Optimises (θ, log δ) by BOBYQA (GIL released); the estimates at the optimum.
    #[pyo3(signature = (start=None, max_fun=None, rho_end=None, condvar=true))]
    fn fit(&mut self, py: Python<'_>, start: Option<Vec<f64>>, max_fun: Option<usize>, rho_end: Option<f64>, condvar: bool) -> PyResult<PyFit> {
        let mut options = FitOptions { theta_start: start, skip_condvar: !condvar, ..Default::default() };
        options.optimizer.max_fun = max_fun;
        if let Some(r) = rho_end {
            options.optimizer.rho_end = r;
        }
        let model = &mut self.model;
        let fit = guard("fit", || py.detach(|| model.fit(&options).map_err(to_py_err)))?;
        self.finish(py, fit)
    }

    /// The estimates at (θ, log δ) without optimising.
    #[pyo3(signature = (params, condvar=true))]
    fn estimates(&mut self, py: Python<'_>, params: Vec<f64>, condvar: bool) -> PyResult<PyFit> {
        let model = &mut self.model;
        let mut fit = guard("estimates", || py.detach(|| model.estimates(&params, !condvar).map_err(to_py_err)))?;
        fit.n_eval = 1;
        fit.optimizer = "none".into();
        fit.message = "evaluated at the given parameters".into();
        self.finish(py, fit)
    }
}

impl PyVarIdentModel {
    fn finish(&self, py: Python<'_>, mut fit: merx_core::MixedModelFit) -> PyResult<PyFit> {
        let lmm = &self.model.lmm;
        guard("fitted values", || with_data(py, &self.arrays, |data| Ok(fit.attach_fitted(lmm, data))))?;
        PyFit::from_core(py, fit, lmm)
    }
}
