//! `merx._core`: the thin PyO3 binding of merx-core.
//!
//! Arrays are borrowed from numpy without copying: the cross-products are accumulated from
//! them in the constructor, and they are borrowed again for fitted values and when the
//! response is replaced (`set_response`). The
//! optimisation runs with the GIL released. Core errors become `ValueError` (bad input) or
//! `ArithmeticError` (numerical failure); a panic is caught and turned into `RuntimeError`,
//! so none crosses into Python.

use merx_core::fit::{estimates_at, fit_lmm, FitOptions, LmmFit};
use merx_core::linalg::CholeskyFactor;
use merx_core::optimize::OptimizerMethod;
use merx_core::{DataView, LmmModel, MerxError, TermView};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyArithmeticError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn to_py_err(e: MerxError) -> PyErr {
    match e {
        MerxError::InvalidInput(m) => PyValueError::new_err(m),
        MerxError::Numerical(m) => PyArithmeticError::new_err(m),
    }
}

/// Runs `f`, turning a panic into a Python RuntimeError.
fn guard<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
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

fn mat_view<'a>(a: &'a PyReadonlyArray2<'_, f64>) -> faer::MatRef<'a, f64> {
    let v = a.as_array();
    let (r, c) = v.dim();
    let s = v.strides();
    // SAFETY: the view's pointer, shape and element strides describe memory kept alive and
    // borrowed read-only by `a` for 'a.
    unsafe { faer::MatRef::from_raw_parts(v.as_ptr(), r, c, s[0], s[1]) }
}

fn slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a contiguous 1-d array")))
}

/// The caller's arrays, kept alive by the problem.
struct Arrays {
    x: Py<PyAny>,
    y: Py<PyAny>,
    terms: Vec<(Py<PyAny>, usize, Py<PyAny>, bool)>,
    weights: Option<Py<PyAny>>,
    offset: Option<Py<PyAny>>,
}

/// Borrows the arrays and hands a DataView to `f`.
fn with_data<R>(py: Python<'_>, arrays: &Arrays, f: impl FnOnce(&DataView) -> PyResult<R>) -> PyResult<R> {
    let x: PyReadonlyArray2<f64> = arrays.x.bind(py).extract()?;
    let y: PyReadonlyArray1<f64> = arrays.y.bind(py).extract()?;
    let w: Option<PyReadonlyArray1<f64>> = arrays.weights.as_ref().map(|a| a.bind(py).extract()).transpose()?;
    let o: Option<PyReadonlyArray1<f64>> = arrays.offset.as_ref().map(|a| a.bind(py).extract()).transpose()?;
    let mut codes = Vec::with_capacity(arrays.terms.len());
    let mut zs = Vec::with_capacity(arrays.terms.len());
    for (c, _, z, _) in &arrays.terms {
        let c: PyReadonlyArray1<i64> = c.bind(py).extract()?;
        let z: PyReadonlyArray2<f64> = z.bind(py).extract()?;
        codes.push(c);
        zs.push(z);
    }
    let mut terms = Vec::with_capacity(arrays.terms.len());
    for (t, (_, n_levels, _, correlated)) in arrays.terms.iter().enumerate() {
        terms.push(TermView {
            codes: slice(&codes[t], &format!("codes of random-effects term {t}"))?,
            n_levels: *n_levels,
            z: mat_view(&zs[t]),
            correlated: *correlated,
        });
    }
    let data = DataView {
        x: mat_view(&x),
        y: slice(&y, "y")?,
        terms,
        weights: w.as_ref().map(|a| slice(a, "weights")).transpose()?,
        offset: o.as_ref().map(|a| slice(a, "offset")).transpose()?,
    };
    f(&data)
}

/// A linear mixed model: data, cross-products, symbolic factorisation.
///
/// LmmProblem(X, y, terms, weights=None, offset=None, reml=True) with X float64 (n, p),
/// y float64 (n,), terms a list of (codes int64 (n,), n_levels, Z float64 (n, k), correlated).
#[pyclass(module = "merx._core")]
struct LmmProblem {
    model: LmmModel,
    arrays: Arrays,
}

fn fit_to_dict<'py>(py: Python<'py>, fit: LmmFit, model: &LmmModel) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("theta", PyArray1::from_vec(py, fit.theta))?;
    d.set_item("beta", PyArray1::from_vec(py, fit.beta))?;
    d.set_item("u", PyArray1::from_vec(py, fit.u))?;
    let p = model.p();
    d.set_item("vcov_beta", PyArray1::from_vec(py, fit.vcov_beta).reshape([p, p])?)?;
    let b = PyList::empty(py);
    let cv = PyList::empty(py);
    for (t, layout) in model.lambda.terms.iter().enumerate() {
        let (l, k) = (layout.n_levels, layout.k);
        b.append(PyArray1::from_vec(py, fit.b[t].clone()).reshape([l, k])?)?;
        if let Some(c) = fit.condvar.get(t) {
            cv.append(PyArray1::from_vec(py, c.clone()).reshape([l, k, k])?)?;
        }
    }
    d.set_item("b", b)?;
    d.set_item("condvar", cv)?;
    for (key, v) in [
        ("sigma", fit.sigma),
        ("objective", fit.evaluation.objective),
        ("deviance_ml", fit.evaluation.deviance_ml),
        ("reml_criterion", fit.evaluation.reml_criterion),
        ("ldL2", fit.evaluation.ld_l2),
        ("ldRX2", fit.evaluation.ld_rx2),
        ("pwrss", fit.evaluation.pwrss),
        ("wrss", fit.wrss),
        ("ussq", fit.ussq),
    ] {
        d.set_item(key, v)?;
    }
    d.set_item("fitted", PyArray1::from_vec(py, fit.fitted))?;
    d.set_item("n_eval", fit.n_eval)?;
    d.set_item("converged", fit.converged)?;
    d.set_item("message", fit.message)?;
    d.set_item("optimizer", fit.optimizer)?;
    Ok(d)
}

#[pymethods]
impl LmmProblem {
    #[new]
    #[pyo3(signature = (x, y, terms, weights=None, offset=None, reml=true))]
    fn new(
        py: Python<'_>,
        x: Bound<'_, PyAny>,
        y: Bound<'_, PyAny>,
        terms: Vec<(Bound<'_, PyAny>, i64, Bound<'_, PyAny>, bool)>,
        weights: Option<Bound<'_, PyAny>>,
        offset: Option<Bound<'_, PyAny>>,
        reml: bool,
    ) -> PyResult<Self> {
        guard("problem construction", || {
            let check2 = |a: &Bound<'_, PyAny>, name: &str| -> PyResult<()> {
                a.extract::<PyReadonlyArray2<f64>>().map(|_| ()).map_err(|_| {
                    PyValueError::new_err(format!("{name} must be a 2-d float64 numpy array"))
                })
            };
            let check1f = |a: &Bound<'_, PyAny>, name: &str| -> PyResult<()> {
                let arr = a.extract::<PyReadonlyArray1<f64>>().map_err(|_| {
                    PyValueError::new_err(format!("{name} must be a 1-d float64 numpy array"))
                })?;
                slice(&arr, name).map(|_| ())
            };
            check2(&x, "X")?;
            check1f(&y, "y")?;
            if let Some(w) = &weights {
                check1f(w, "weights")?;
            }
            if let Some(o) = &offset {
                check1f(o, "offset")?;
            }
            for (t, (c, n_levels, z, _)) in terms.iter().enumerate() {
                if *n_levels <= 0 {
                    return Err(PyValueError::new_err(format!(
                        "random-effects term {t} must have a positive number of levels, not {n_levels}"
                    )));
                }
                let arr = c.extract::<PyReadonlyArray1<i64>>().map_err(|_| {
                    PyValueError::new_err(format!("codes of random-effects term {t} must be a 1-d int64 numpy array"))
                })?;
                slice(&arr, &format!("codes of random-effects term {t}"))?;
                check2(z, &format!("Z of random-effects term {t}"))?;
            }
            let arrays = Arrays {
                x: x.unbind(),
                y: y.unbind(),
                terms: terms.into_iter().map(|(c, l, z, corr)| (c.unbind(), l as usize, z.unbind(), corr)).collect(),
                weights: weights.map(|w| w.unbind()),
                offset: offset.map(|o| o.unbind()),
            };
            let model = with_data(py, &arrays, |data| LmmModel::new(data, reml).map_err(to_py_err))?;
            Ok(LmmProblem { model, arrays })
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
    fn theta_start<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.model.lambda.start())
    }

    #[getter]
    fn theta_lower<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.model.lambda.lower_bounds())
    }

    /// Sizes of the symbolic factorisation: q, nnz(A lower), nnz(L), supernodes.
    fn factor_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let c = self.model.cholesky();
        d.set_item("q", c.n())?;
        d.set_item("nnz_a", c.nnz_a())?;
        d.set_item("nnz_l", c.nnz_l())?;
        d.set_item("n_supernodes", c.n_supernodes())?;
        Ok(d)
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

    /// Optimises θ (GIL released) and returns the estimates at the optimum as a dict.
    #[pyo3(signature = (theta_start=None, max_fun=None, rho_end=None, rho_begin=None, npt=None, ftol_abs=None, condvar=true, optimizer="auto"))]
    fn fit<'py>(
        &mut self,
        py: Python<'py>,
        theta_start: Option<Vec<f64>>,
        max_fun: Option<usize>,
        rho_end: Option<f64>,
        rho_begin: Option<f64>,
        npt: Option<usize>,
        ftol_abs: Option<f64>,
        condvar: bool,
        optimizer: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut options = FitOptions { theta_start, skip_condvar: !condvar, ..Default::default() };
        options.optimizer.max_fun = max_fun;
        options.optimizer.rho_begin = rho_begin;
        options.optimizer.npt = npt;
        options.optimizer.ftol_abs = ftol_abs;
        options.optimizer.method = match optimizer {
            "auto" => OptimizerMethod::Auto,
            "quasi-newton" => OptimizerMethod::QuasiNewton,
            "bobyqa" => OptimizerMethod::Bobyqa,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown optimizer {other:?}: use \"auto\", \"quasi-newton\" (analytic gradient) or \"bobyqa\""
                )))
            }
        };
        if let Some(r) = rho_end {
            options.optimizer.rho_end = r;
        }
        let model = &mut self.model;
        let mut fit = guard("fit", || py.detach(|| fit_lmm(model, &options).map_err(to_py_err)))?;
        guard("fitted values", || with_data(py, &self.arrays, |data| Ok(fit.attach_fitted(data))))?;
        fit_to_dict(py, fit, &self.model)
    }

    /// Replaces the response (same rows, weights, offset and design) and re-accumulates the
    /// cross-products in one O(n) pass, keeping the symbolic analysis: a parametric
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
            with_data(py, &self.arrays, |data| model.reweight(data, data.weights, None).map_err(to_py_err))
        })
    }

    /// Estimates at a given θ without optimising.
    #[pyo3(signature = (theta, condvar=true))]
    fn estimates<'py>(&mut self, py: Python<'py>, theta: Vec<f64>, condvar: bool) -> PyResult<Bound<'py, PyDict>> {
        let model = &mut self.model;
        let mut fit = guard("estimates", || py.detach(|| estimates_at(model, &theta, !condvar).map_err(to_py_err)))?;
        guard("fitted values", || with_data(py, &self.arrays, |data| Ok(fit.attach_fitted(data))))?;
        fit_to_dict(py, fit, &self.model)
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LmmProblem>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
