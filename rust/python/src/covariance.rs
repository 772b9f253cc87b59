//! A covariance structure's θ layout and template for the Python results (names, bounds,
//! start, T(θ)), so that Python reads a fit's θ through the core's structures, never a
//! copy of their formulas.

use crate::to_py_err;
use merx_core::covariance::structure_by_name;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// (names, start, lower, upper) of the θ entries of a term with grouping factor `group` and
/// these columns under the structure `name`.
#[pyfunction]
pub fn covariance_layout(
    name: &str,
    group: &str,
    columns: Vec<String>,
) -> PyResult<(Vec<String>, Vec<f64>, Vec<f64>, Vec<f64>)> {
    let s = structure_by_name(name).map_err(to_py_err)?;
    let k = columns.len();
    Ok((s.param_names(group, &columns), s.start(k), s.lower_bounds(k), s.upper_bounds(k)))
}

/// The k × k template T (row-major lists, zeros above the diagonal) of structure `name` at
/// the term's θ entries `params`; Var(b_level) = σ² T T'.
#[pyfunction]
pub fn covariance_template(name: &str, k: usize, params: Vec<f64>) -> PyResult<Vec<Vec<f64>>> {
    let s = structure_by_name(name).map_err(to_py_err)?;
    if params.len() != s.n_params(k) {
        return Err(PyValueError::new_err(format!(
            "a {name} term with {k} columns has {} parameters, got {}",
            s.n_params(k),
            params.len()
        )));
    }
    if let Some(m) = s.domain_error(k, &params) {
        return Err(PyValueError::new_err(format!("{name} term: {m}")));
    }
    let mut t = vec![0.0; k * k];
    s.fill_template(k, &params, &mut t);
    Ok((0..k).map(|i| (0..k).map(|j| t[j * k + i]).collect()).collect())
}
