//! Borrowing the caller's numpy arrays as the core's row views, without copies.

use merx_core::covariance::{structure_by_name, CovarianceStructure};
use merx_core::{ModelData, TermData};
use numpy::{PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::Arc;

pub fn mat_view<'a>(a: &'a PyReadonlyArray2<'_, f64>) -> faer::MatRef<'a, f64> {
    let v = a.as_array();
    let (r, c) = v.dim();
    let s = v.strides();
    // SAFETY: the view's pointer, shape and element strides describe memory kept alive and
    // borrowed read-only by `a` for 'a.
    unsafe { faer::MatRef::from_raw_parts(v.as_ptr(), r, c, s[0], s[1]) }
}

pub fn slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a contiguous 1-d array")))
}

/// Checks that `a` is a 2-d float64 array.
pub fn check_matrix(a: &Bound<'_, PyAny>, name: &str) -> PyResult<()> {
    a.extract::<PyReadonlyArray2<f64>>()
        .map(|_| ())
        .map_err(|_| PyValueError::new_err(format!("{name} must be a 2-d float64 numpy array")))
}

/// Checks that `a` is a contiguous 1-d array of T (`kind` names the dtype in the message).
pub fn check_vector<T: numpy::Element>(a: &Bound<'_, PyAny>, name: &str, kind: &str) -> PyResult<()> {
    let arr = a
        .extract::<PyReadonlyArray1<T>>()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a 1-d {kind} numpy array")))?;
    slice(&arr, name).map(|_| ())
}

/// One random-effects term as handed in: codes, number of levels, Z, covariance structure.
pub struct TermArrays {
    pub codes: Py<PyAny>,
    pub n_levels: usize,
    pub z: Py<PyAny>,
    pub covariance: Arc<dyn CovarianceStructure>,
}

/// The caller's arrays, kept alive by the model.
pub struct Arrays {
    pub x: Py<PyAny>,
    pub y: Py<PyAny>,
    pub terms: Vec<TermArrays>,
    pub weights: Option<Py<PyAny>>,
    pub offset: Option<Py<PyAny>>,
}

/// One random-effects term as the binding receives it: (codes, n_levels, Z, covariance name).
pub type TermTuple<'py> = (Bound<'py, PyAny>, i64, Bound<'py, PyAny>, Bound<'py, PyAny>);

impl Arrays {
    /// Checks the dtypes, dimensions and contiguity of the caller's arrays (the core checks
    /// the values) and keeps them.
    pub fn checked(
        x: Bound<'_, PyAny>,
        y: Bound<'_, PyAny>,
        terms: Vec<TermTuple<'_>>,
        weights: Option<Bound<'_, PyAny>>,
        offset: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Arrays> {
        check_matrix(&x, "X")?;
        check_vector::<f64>(&y, "y", "float64")?;
        if let Some(w) = &weights {
            check_vector::<f64>(w, "weights", "float64")?;
        }
        if let Some(o) = &offset {
            check_vector::<f64>(o, "offset", "float64")?;
        }
        let mut term_arrays = Vec::with_capacity(terms.len());
        for (t, (codes, n_levels, z, covariance)) in terms.into_iter().enumerate() {
            if n_levels <= 0 {
                return Err(PyValueError::new_err(format!(
                    "random-effects term {t} must have a positive number of levels, not {n_levels}"
                )));
            }
            check_vector::<i64>(&codes, &format!("codes of random-effects term {t}"), "int64")?;
            check_matrix(&z, &format!("Z of random-effects term {t}"))?;
            let name: String = covariance.extract().map_err(|_| {
                PyValueError::new_err(format!(
                    "random-effects term {t}: the covariance structure must be given by name (a str), not {}",
                    covariance.get_type().name().map(|n| n.to_string()).unwrap_or_default()
                ))
            })?;
            let covariance =
                structure_by_name(&name).map_err(|e| PyValueError::new_err(format!("random-effects term {t}: {e}")))?;
            term_arrays.push(TermArrays { codes: codes.unbind(), n_levels: n_levels as usize, z: z.unbind(), covariance });
        }
        Ok(Arrays {
            x: x.unbind(),
            y: y.unbind(),
            terms: term_arrays,
            weights: weights.map(|w| w.unbind()),
            offset: offset.map(|o| o.unbind()),
        })
    }
}

/// Borrows the arrays and hands a ModelData to `f`.
pub fn with_data<R>(py: Python<'_>, arrays: &Arrays, f: impl FnOnce(&ModelData) -> PyResult<R>) -> PyResult<R> {
    let x: PyReadonlyArray2<f64> = arrays.x.bind(py).extract()?;
    let y: PyReadonlyArray1<f64> = arrays.y.bind(py).extract()?;
    let w: Option<PyReadonlyArray1<f64>> = arrays.weights.as_ref().map(|a| a.bind(py).extract()).transpose()?;
    let o: Option<PyReadonlyArray1<f64>> = arrays.offset.as_ref().map(|a| a.bind(py).extract()).transpose()?;
    let mut codes = Vec::with_capacity(arrays.terms.len());
    let mut zs = Vec::with_capacity(arrays.terms.len());
    for term in &arrays.terms {
        let c: PyReadonlyArray1<i64> = term.codes.bind(py).extract()?;
        let z: PyReadonlyArray2<f64> = term.z.bind(py).extract()?;
        codes.push(c);
        zs.push(z);
    }
    let mut terms = Vec::with_capacity(arrays.terms.len());
    for (t, term) in arrays.terms.iter().enumerate() {
        let codes = slice(&codes[t], &format!("codes of random-effects term {t}"))?;
        terms.push(TermData::new(codes, term.n_levels, mat_view(&zs[t])).with_covariance(term.covariance.clone()));
    }
    let data = ModelData {
        x: mat_view(&x),
        y: slice(&y, "y")?,
        terms,
        weights: w.as_ref().map(|a| slice(a, "weights")).transpose()?,
        offset: o.as_ref().map(|a| slice(a, "offset")).transpose()?,
    };
    f(&data)
}
