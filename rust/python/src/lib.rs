//! `merx._core`: the thin PyO3 binding of merx-core.
//!
//! Types in, one typed result out: `LinearMixedModel` borrows the caller's numpy arrays
//! without copying (the cross-products are accumulated from them in the constructor; they
//! are borrowed again for fitted values and when the response is replaced), fits with the
//! GIL released, and returns a `MixedModelFit`. Core errors become `ValueError` (bad input)
//! or `ArithmeticError` (numerical failure); a panic is caught and turned into
//! `RuntimeError`, so none crosses into Python.

mod arrays;
mod bootstrap;
mod covariance;
mod family;
mod fit;
mod glmm;
mod interrupt;
mod inference;
mod laplace;
mod lme;
mod model;
mod prediction_interval;
mod profile;
mod stream;
mod stream_glmm;

use merx_core::MerxError;
use pyo3::exceptions::{PyArithmeticError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub(crate) fn to_py_err(e: MerxError) -> PyErr {
    match e {
        MerxError::InvalidInput(m) => PyValueError::new_err(m),
        MerxError::Numerical(m) => PyArithmeticError::new_err(m),
        // Only a watched fit is cancelled, by the Python error that cancelled it; that error
        // is what propagates (interrupt.rs). Reaching here is a fit cancelled another way.
        MerxError::Interrupted => pyo3::exceptions::PyKeyboardInterrupt::new_err("the fit was interrupted"),
    }
}

/// Runs `f`, turning a panic into a Python RuntimeError.
pub(crate) fn guard<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(PyRuntimeError::new_err(format!("internal error in merx core ({what}): {msg}")))
        }
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::PyLinearMixedModel>()?;
    m.add_class::<glmm::PyGeneralizedLinearMixedModel>()?;
    m.add_class::<lme::PyResidualStructureModel>()?;
    m.add_class::<fit::PyFit>()?;
    m.add_class::<laplace::PyLaplaceModel>()?;
    m.add_class::<laplace::PyLaplaceFit>()?;
    m.add_class::<family::PyGlmFamily>()?;
    m.add_class::<inference::PyVarianceParameterInference>()?;
    m.add_function(wrap_pyfunction!(inference::variance_parameter_inference, m)?)?;
    m.add_class::<prediction_interval::PyPredictionIntervals>()?;
    m.add_function(wrap_pyfunction!(prediction_interval::py_prediction_intervals, m)?)?;
    m.add_function(wrap_pyfunction!(prediction_interval::py_beta_draw_covariance, m)?)?;
    m.add_class::<bootstrap::PyResamplingPlan>()?;
    m.add_class::<bootstrap::PyBootstrapReplicates>()?;
    m.add_function(wrap_pyfunction!(bootstrap::simulate, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap::bootstrap_lmm, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap::lmm_replicate_data, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap::lmm_replicate_draws, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap::reb2_postprocess, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap::bootstrap_glmm, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap::glmm_replicate_response, m)?)?;
    m.add_function(wrap_pyfunction!(profile::sdcor_of_theta, m)?)?;
    m.add_function(wrap_pyfunction!(profile::theta_of_sdcor, m)?)?;
    m.add_function(wrap_pyfunction!(profile::sdcor_deviance_at, m)?)?;
    m.add_function(wrap_pyfunction!(profile::variance_profile_point, m)?)?;
    m.add_function(wrap_pyfunction!(covariance::covariance_layout, m)?)?;
    m.add_function(wrap_pyfunction!(covariance::covariance_template, m)?)?;
    m.add_class::<stream::PyCrossProductAccumulator>()?;
    m.add_function(wrap_pyfunction!(stream::pilot_centring, m)?)?;
    m.add_function(wrap_pyfunction!(stream::accumulator_from_state, m)?)?;
    m.add_class::<stream_glmm::PyGlmmPassAccumulator>()?;
    m.add_class::<stream_glmm::PyStreamedGlmm>()?;
    m.add_function(wrap_pyfunction!(stream_glmm::glmm_pass_from_state, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
