//! `prediction_intervals`: merTools-style simulated prediction intervals (the core's
//! `prediction_interval` module) over numpy arrays, with the GIL released; and
//! `beta_draw_covariance`, the covariance the fixed effects are drawn from.

use crate::arrays::{mat_view, slice};
use crate::{guard, to_py_err};
use merx_core::prediction_interval::{
    beta_draw_covariance, prediction_intervals, Center, IntervalOptions, IntervalProblem, IntervalTerm, ResidualScale,
};
use numpy::{PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The simulated intervals: ``fit``, ``lwr``, ``upr`` (n_outputs, n_rows), one row per
/// requested output (a sum of components, with or without residual noise); ``sims``
/// (n_outputs, n_rows, n_sim) the simulated values when asked (``keep_sims``), else None.
#[pyclass(module = "merx._core", name = "PredictionIntervals", frozen)]
pub struct PyPredictionIntervals {
    #[pyo3(get)]
    fit: Py<PyArray2<f64>>,
    #[pyo3(get)]
    lwr: Py<PyArray2<f64>>,
    #[pyo3(get)]
    upr: Py<PyArray2<f64>>,
    #[pyo3(get)]
    sims: Option<Py<PyArray3<f64>>>,
}

/// One random-effects term: (codes int64 (n,), Z (n, k), modes (L, k), condvar (L, k, k),
/// number of new levels, Σ (k, k), component).
type TermArgs<'py> = (
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray2<'py, f64>,
    PyReadonlyArray2<'py, f64>,
    PyReadonlyArray3<'py, f64>,
    usize,
    PyReadonlyArray2<'py, f64>,
    usize,
);

fn matrix_slice<'a>(a: &'a PyReadonlyArray2<'_, f64>, what: &str) -> PyResult<&'a [f64]> {
    a.as_slice().map_err(|_| PyValueError::new_err(format!("{what} must be a C-contiguous float64 array")))
}

/// Simulated prediction intervals; see the core's `prediction_interval` module.
#[pyfunction(name = "prediction_intervals")]
#[pyo3(signature = (x, beta, beta_covariance, terms, n_random_components, outputs, n_sim, level, median, seed,
                    residual_df=None, pwrss=None, sigma=None, offset=None, n_threads=None, keep_sims=false))]
#[allow(clippy::too_many_arguments)]
pub fn py_prediction_intervals<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    beta: PyReadonlyArray1<'py, f64>,
    beta_covariance: PyReadonlyArray2<'py, f64>,
    terms: Vec<TermArgs<'py>>,
    n_random_components: usize,
    outputs: Vec<(Vec<usize>, bool)>,
    n_sim: usize,
    level: f64,
    median: bool,
    seed: u64,
    residual_df: Option<f64>,
    pwrss: Option<f64>,
    sigma: Option<f64>,
    offset: Option<PyReadonlyArray1<'py, f64>>,
    n_threads: Option<usize>,
    keep_sims: bool,
) -> PyResult<PyPredictionIntervals> {
    let residual = match (residual_df, pwrss, sigma) {
        (Some(df), Some(pwrss), None) => ResidualScale::ScaledInverseChiSquare { df, pwrss },
        (None, None, Some(s)) => ResidualScale::Fixed(s),
        _ => return Err(PyValueError::new_err("give either residual_df and pwrss, or sigma")),
    };
    let mut core_terms = Vec::with_capacity(terms.len());
    for (t, (codes, z, modes, condvar, n_new, cov, component)) in terms.iter().enumerate() {
        core_terms.push(IntervalTerm {
            codes: slice(codes, &format!("codes of term {t}"))?,
            z: mat_view(z),
            modes: matrix_slice(modes, &format!("modes of term {t}"))?,
            condvar: condvar
                .as_slice()
                .map_err(|_| PyValueError::new_err(format!("condvar of term {t} must be a C-contiguous float64 array")))?,
            n_levels: modes.as_array().nrows(),
            n_new_levels: *n_new,
            covariance: matrix_slice(cov, &format!("covariance of term {t}"))?,
            component: *component,
        });
    }
    let problem = IntervalProblem {
        x: mat_view(&x),
        offset: offset.as_ref().map(|o| slice(o, "offset")).transpose()?,
        beta: slice(&beta, "beta")?,
        beta_covariance: matrix_slice(&beta_covariance, "beta_covariance")?,
        terms: core_terms,
        n_random_components,
    };
    let threads = n_threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let options = IntervalOptions {
        n_sim,
        level,
        center: if median { Center::Median } else { Center::Mean },
        residual,
        seed,
        outputs,
        n_threads: threads,
        keep_sims,
    };
    let out = guard("prediction_intervals", || py.detach(|| prediction_intervals(&problem, &options).map_err(to_py_err)))?;
    let (n_outputs, n_rows) = (out.n_outputs, out.n_rows);
    let shape = |v: Vec<f64>| -> PyResult<Py<PyArray2<f64>>> {
        Ok(PyArray1::from_vec(py, v).reshape([n_outputs, n_rows])?.unbind())
    };
    let sims = if keep_sims {
        Some(PyArray1::from_vec(py, out.sims).reshape([n_outputs, n_rows, n_sim])?.unbind())
    } else {
        None
    };
    Ok(PyPredictionIntervals { fit: shape(out.fit)?, lwr: shape(out.lwr)?, upr: shape(out.upr)?, sims })
}

/// The covariance the fixed effects are drawn from (merTools' `fix.intercept.variance` and
/// `ignore.fixed.terms`); `intercept_groups`: per grouping factor (conditional variances of
/// its intercept, its intercept variance); `known`: per coefficient whether it is held fixed.
#[pyfunction(name = "beta_draw_covariance")]
#[pyo3(signature = (vcov, known, intercept_groups=None))]
pub fn py_beta_draw_covariance<'py>(
    py: Python<'py>,
    vcov: PyReadonlyArray2<'py, f64>,
    known: Vec<bool>,
    intercept_groups: Option<Vec<(Vec<f64>, f64)>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let p = vcov.as_array().nrows();
    let v = matrix_slice(&vcov, "vcov")?;
    let out = guard("beta_draw_covariance", || beta_draw_covariance(v, p, intercept_groups.as_deref(), &known).map_err(to_py_err))?;
    Ok(PyArray1::from_vec(py, out).reshape([p, p])?)
}
