//! `CrossProductAccumulator`: the core's batch-by-batch cross-products (Parquet batches,
//! Dask partitions), picklable as numpy arrays, mergeable, finished into a
//! `LinearMixedModel` that holds no rows.
//!
//! ```python
//! centre, shift = merx._core.pilot_centring(X, r, weights, intercept)   # first batch
//! acc = merx._core.CrossProductAccumulator(p, [(n_levels, k), ...], centre, shift)
//! acc.add_batch(X, r, weights, [(codes, Z), ...])   # r = y - offset; GIL released
//! acc.merge(other)                                   # rows of another accumulator
//! m = acc.finish(kept, intercept, reml, covariances, term_names)   # a LinearMixedModel
//! ```

use crate::arrays::{check_matrix, check_vector, mat_view, slice, Arrays, TermArrays};
use crate::model::PyLinearMixedModel;
use crate::{guard, to_py_err};
use merx_core::covariance::structure_by_name;
use merx_core::stream_crossprod::{pilot, Batch, CrossProductAccumulator, PairBlocks};
use merx_core::LinearMixedModel;
use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

#[pyclass(module = "merx._core", name = "CrossProductAccumulator")]
pub struct PyCrossProductAccumulator {
    inner: CrossProductAccumulator,
}

/// A batch's random-effects terms, each (level codes, Z) checked and borrowed.
#[allow(clippy::type_complexity)]
pub(crate) fn term_arrays<'py>(
    terms: &[(Bound<'py, PyAny>, Bound<'py, PyAny>)],
) -> PyResult<(Vec<PyReadonlyArray1<'py, i64>>, Vec<PyReadonlyArray2<'py, f64>>)> {
    let mut codes = Vec::with_capacity(terms.len());
    let mut zs = Vec::with_capacity(terms.len());
    for (t, (c, z)) in terms.iter().enumerate() {
        check_vector::<i64>(c, &format!("codes of random-effects term {t}"), "int64")?;
        check_matrix(z, &format!("Z of random-effects term {t}"))?;
        codes.push(c.extract::<PyReadonlyArray1<i64>>()?);
        zs.push(z.extract::<PyReadonlyArray2<f64>>()?);
    }
    Ok((codes, zs))
}

pub(crate) fn weights_arg<'py>(w: &'py Option<Bound<'py, PyAny>>) -> PyResult<Option<PyReadonlyArray1<'py, f64>>> {
    match w {
        None => Ok(None),
        Some(a) => {
            check_vector::<f64>(a, "weights", "float64")?;
            Ok(Some(a.extract()?))
        }
    }
}

/// The pilot centre and fit of a first batch (see `merx_core::stream_crossprod::pilot`).
#[pyfunction]
#[pyo3(signature = (x, r, weights=None, intercept=None))]
pub fn pilot_centring(x: Bound<'_, PyAny>, r: Bound<'_, PyAny>, weights: Option<Bound<'_, PyAny>>, intercept: Option<usize>) -> PyResult<(Vec<f64>, Vec<f64>)> {
    guard("pilot centring", || {
        check_matrix(&x, "X")?;
        check_vector::<f64>(&r, "r", "float64")?;
        let xa: PyReadonlyArray2<f64> = x.extract()?;
        let ra: PyReadonlyArray1<f64> = r.extract()?;
        let wa = weights_arg(&weights)?;
        let xv = mat_view(&xa);
        let rv = slice(&ra, "r")?;
        if xv.nrows() != rv.len() || intercept.is_some_and(|j| j >= xv.ncols()) {
            return Err(PyValueError::new_err("X, r and the intercept column do not match"));
        }
        let w = wa.as_ref().map(|a| slice(a, "weights")).transpose()?;
        Ok(pilot(xv, rv, w, intercept))
    })
}

/// The picklable state of an accumulator (numpy arrays), as `accumulator_from_state` takes it.
pub(crate) type AccumulatorState =
    (usize, Vec<(usize, usize)>, Vec<f64>, Vec<f64>, Vec<Vec<f64>>, Vec<(Vec<u64>, Vec<f64>)>, Vec<f64>, Vec<f64>, f64, usize, usize);

/// An accumulator from its state (the inverse of [`accumulator_state`]).
pub(crate) fn accumulator_of_state(state: AccumulatorState) -> PyResult<CrossProductAccumulator> {
    let (p, terms, centre, shift, diag, pairs, ztxy, xtxy, sum_log_w, n_obs, n_rows) = state;
    let mut inner = CrossProductAccumulator::new(p, &terms, centre, shift).map_err(to_py_err)?;
    let sizes_ok = diag.len() == inner.diag.len()
        && diag.iter().zip(&inner.diag).all(|(a, b)| a.len() == b.len())
        && pairs.len() == inner.pairs.len()
        && ztxy.len() == inner.ztxy.len()
        && xtxy.len() == inner.xtxy.len();
    if !sizes_ok {
        return Err(PyValueError::new_err("the accumulator state does not match its design"));
    }
    inner.diag = diag;
    inner.pairs = pairs.into_iter().map(|(k, v)| PairBlocks::from_parts(k, v)).collect();
    inner.ztxy = ztxy;
    inner.xtxy = xtxy;
    inner.sum_log_w = sum_log_w;
    inner.n_obs = n_obs;
    inner.n_rows = n_rows;
    Ok(inner)
}

/// The state of an accumulator as a Python tuple of numbers and numpy arrays.
pub(crate) fn accumulator_state<'py>(py: Python<'py>, a: &CrossProductAccumulator) -> PyResult<Bound<'py, PyAny>> {
    let terms: Vec<(usize, usize)> = a.term_levels.iter().copied().zip(a.term_k.iter().copied()).collect();
    let diag: Vec<Bound<'py, PyArray1<f64>>> = a.diag.iter().map(|d| PyArray1::from_slice(py, d)).collect();
    let pairs: Vec<(Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<f64>>)> =
        a.pairs.iter().map(|p| (PyArray1::from_slice(py, &p.keys), PyArray1::from_slice(py, &p.values))).collect();
    let state = (
        a.p,
        terms,
        a.x_centre.clone(),
        a.response_pilot.clone(),
        diag,
        pairs,
        PyArray1::from_slice(py, &a.ztxy),
        PyArray1::from_slice(py, &a.xtxy),
        a.sum_log_w,
        a.n_obs,
        a.n_rows,
    );
    Ok(state.into_pyobject(py)?.into_any())
}

/// An accumulator from the state `__reduce__` gives (for pickling).
#[pyfunction]
pub fn accumulator_from_state(state: AccumulatorState) -> PyResult<PyCrossProductAccumulator> {
    Ok(PyCrossProductAccumulator { inner: accumulator_of_state(state)? })
}

#[pymethods]
impl PyCrossProductAccumulator {
    #[new]
    fn new(p: usize, terms: Vec<(usize, usize)>, x_centre: Vec<f64>, response_pilot: Vec<f64>) -> PyResult<Self> {
        let inner = CrossProductAccumulator::new(p, &terms, x_centre, response_pilot).map_err(to_py_err)?;
        Ok(PyCrossProductAccumulator { inner })
    }

    /// Adds a batch: X float64 (n, p), r = y - offset float64 (n,), weights float64 (n,) or
    /// None, per term (codes int64 (n,), Z float64 (n, k)).
    #[pyo3(signature = (x, r, weights, terms))]
    fn add_batch(&mut self, py: Python<'_>, x: Bound<'_, PyAny>, r: Bound<'_, PyAny>, weights: Option<Bound<'_, PyAny>>, terms: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)>) -> PyResult<()> {
        guard("batch accumulation", || {
            check_matrix(&x, "X")?;
            check_vector::<f64>(&r, "r", "float64")?;
            let xa: PyReadonlyArray2<f64> = x.extract()?;
            let ra: PyReadonlyArray1<f64> = r.extract()?;
            let wa = weights_arg(&weights)?;
            let (codes, zs) = term_arrays(&terms)?;
            let batch = Batch {
                x: mat_view(&xa),
                r: slice(&ra, "r")?,
                weights: wa.as_ref().map(|a| slice(a, "weights")).transpose()?,
                codes: codes.iter().map(|c| slice(c, "codes")).collect::<PyResult<_>>()?,
                z: zs.iter().map(mat_view).collect(),
            };
            let inner = &mut self.inner;
            py.detach(|| inner.add_batch(&batch)).map_err(to_py_err)
        })
    }

    /// Adds another accumulator's cross-products (rows disjoint from this one's).
    fn merge(&mut self, other: PyRef<'_, PyCrossProductAccumulator>) -> PyResult<()> {
        guard("merge", || self.inner.merge(&other.inner).map_err(to_py_err))
    }

    #[getter]
    fn n_obs(&self) -> usize {
        self.inner.n_obs
    }

    #[getter]
    fn n_rows(&self) -> usize {
        self.inner.n_rows
    }

    /// Stored off-diagonal blocks per pair of terms (the distinct level pairs sharing a row).
    #[getter]
    fn n_pair_blocks(&self) -> Vec<usize> {
        self.inner.pairs.iter().map(|p| p.keys.len()).collect()
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let f = py.import("merx._core")?.getattr("accumulator_from_state")?;
        let state = accumulator_state(py, &self.inner)?;
        Ok((f, PyTuple::new(py, [state])?))
    }

    /// The model of the accumulated rows: the columns `kept` of X (aliased ones dropped),
    /// `intercept` the index in `kept` of the column of ones (None without), one covariance
    /// structure name per term, `term_names` (group, [columns]) per term for θ's names.
    #[pyo3(signature = (kept, intercept, reml, covariances, term_names=None))]
    fn finish(&self, py: Python<'_>, kept: Vec<usize>, intercept: Option<usize>, reml: bool, covariances: Vec<String>, term_names: Option<Vec<(String, Vec<String>)>>) -> PyResult<PyLinearMixedModel> {
        guard("finishing the cross-products", || {
            let structures = covariances
                .iter()
                .enumerate()
                .map(|(t, c)| structure_by_name(c).map_err(|e| PyValueError::new_err(format!("random-effects term {t}: {e}"))))
                .collect::<PyResult<Vec<_>>>()?;
            let inner = &self.inner;
            let model = py.detach(|| {
                let (cp, re) = inner.finish(&kept, intercept, &structures)?;
                if reml && cp.n_obs <= cp.p {
                    return Err(merx_core::MerxError::InvalidInput(format!(
                        "REML needs more observations with positive weight ({}) than fixed-effect columns ({})",
                        cp.n_obs, cp.p
                    )));
                }
                LinearMixedModel::from_cross_products(cp, re, reml)
            });
            let model = model.map_err(to_py_err)?;
            let theta_names = model.parameters(term_names.as_deref()).map_err(to_py_err)?.names;
            let terms = inner
                .term_levels
                .iter()
                .zip(&inner.term_k)
                .zip(&structures)
                .map(|((&l, &k), s)| TermArrays {
                    codes: PyArray1::<i64>::zeros(py, 0, false).into_any().unbind(),
                    n_levels: l,
                    z: PyArray2::<f64>::zeros(py, [0, k], true).into_any().unbind(),
                    covariance: s.clone(),
                })
                .collect();
            let arrays = Arrays {
                x: PyArray2::<f64>::zeros(py, [0, kept.len()], true).into_any().unbind(),
                y: PyArray1::<f64>::zeros(py, 0, false).into_any().unbind(),
                terms,
                weights: None,
                offset: None,
            };
            Ok(PyLinearMixedModel::streamed(model, arrays, theta_names))
        })
    }
}
