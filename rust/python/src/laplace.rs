//! `LaplaceModel`: glmmTMB's models on the core's general Laplace engine (`merx_core::
//! laplace`), and `LaplaceFit`, the one typed object its fit crosses into Python as.

use crate::interrupt::run_watched;
use crate::arrays::{check_matrix, with_data, Arrays, TermTuple};
use crate::{guard, to_py_err};
use faer::Mat;
use merx_core::family::link::Link;
use merx_core::laplace::{density_by_name, LaplaceFit, LaplaceFitOptions, LaplaceModel};
use numpy::{PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// LaplaceModel(X, y, terms, family, link=None, x_zi=None, x_disp=None, trials=None,
/// weights=None, offset=None, term_names=None)
///
/// `family` glmmTMB's name ("poisson", "binomial", "nbinom2", "nbinom1", "Gamma", "beta",
/// "gaussian"); `x_zi` the zero-inflation model matrix (logit link; None: no zero
/// inflation), `x_disp` the dispersion model matrix (log link; None: an intercept for the
/// families with a dispersion); `trials` a binomial row's trials (y the proportion);
/// `weights` multiply each row's log-likelihood. Parameters in the order θ, β, β_zi, β_d.
#[pyclass(module = "merx._core", name = "LaplaceModel")]
pub struct PyLaplaceModel {
    model: LaplaceModel,
    arrays: Arrays,
    theta_names: Vec<String>,
}

fn owned_matrix(py: Python<'_>, a: Option<Bound<'_, PyAny>>, name: &str, n: usize, default_cols: usize) -> PyResult<Mat<f64>> {
    match a {
        None => Ok(Mat::from_fn(n, default_cols, |_, _| 1.0)),
        Some(a) => {
            check_matrix(&a, name)?;
            let v: PyReadonlyArray2<f64> = a.extract()?;
            let v = v.as_array();
            let _ = py;
            Ok(Mat::from_fn(v.nrows(), v.ncols(), |i, j| v[[i, j]]))
        }
    }
}

#[pymethods]
impl PyLaplaceModel {
    #[new]
    #[pyo3(signature = (x, y, terms, family, link=None, x_zi=None, x_disp=None, trials=None, weights=None, offset=None, term_names=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        x: Bound<'_, PyAny>,
        y: Bound<'_, PyAny>,
        terms: Vec<TermTuple<'_>>,
        family: &str,
        link: Option<&str>,
        x_zi: Option<Bound<'_, PyAny>>,
        x_disp: Option<Bound<'_, PyAny>>,
        trials: Option<Vec<f64>>,
        weights: Option<Vec<f64>>,
        offset: Option<Bound<'_, PyAny>>,
        term_names: Option<Vec<(String, Vec<String>)>>,
    ) -> PyResult<Self> {
        guard("model construction", || {
            let density = density_by_name(family).map_err(to_py_err)?;
            let link = link.map(Link::from_name).transpose().map_err(to_py_err)?;
            let arrays = Arrays::checked(x, y, terms, None, offset)?;
            let n: usize = arrays.y.bind(py).len()?;
            let x_zi = owned_matrix(py, x_zi, "x_zi", n, 0)?;
            let x_disp = owned_matrix(py, x_disp, "x_disp", n, usize::from(density.has_dispersion()))?;
            let model = with_data(py, &arrays, |data| {
                LaplaceModel::new(data, density, link, trials, weights, x_zi, x_disp).map_err(to_py_err)
            })?;
            let theta_names = model.lmm.parameters(term_names.as_deref()).map_err(to_py_err)?.names;
            Ok(PyLaplaceModel { model, arrays, theta_names })
        })
    }

    #[getter]
    fn n_params(&self) -> usize {
        self.model.n_params()
    }

    #[getter]
    fn theta_names(&self) -> Vec<String> {
        self.theta_names.clone()
    }

    #[getter]
    fn family(&self) -> &'static str {
        self.model.density.name()
    }

    #[getter]
    fn link(&self) -> &'static str {
        self.model.link.name()
    }

    /// The Laplace objective (-log L) at the parameters, with the modes û, log|H(û)| and
    /// log p(y | û): (objective, u, log_det, loglik_conditional). The modes start from zero
    /// unless `warm`.
    #[pyo3(signature = (params, warm=false))]
    fn evaluate<'py>(&mut self, py: Python<'py>, params: Vec<f64>, warm: bool) -> PyResult<(f64, Bound<'py, PyArray1<f64>>, f64, f64)> {
        let model = &mut self.model;
        let sol = guard("evaluate", || {
            with_data(py, &self.arrays, |data| {
                if params.len() != model.n_params() {
                    return Err(pyo3::exceptions::PyValueError::new_err(format!(
                        "params has {} values but the model has {}",
                        params.len(),
                        model.n_params()
                    )));
                }
                if !warm {
                    let q = model.lmm.q();
                    model.set_mode_start(&vec![0.0; q]);
                }
                let (theta, beta, zi, disp) = model.split(&params);
                let pred = model.predictors(data, beta, zi, disp);
                model.laplace_at(data, theta, &pred).map_err(to_py_err)
            })
        })?;
        Ok((sol.objective, PyArray1::from_vec(py, sol.u), sol.log_det, sol.loglik_conditional))
    }

    /// Fits by the Laplace approximation (GIL released); `optimize=False`: the fit's
    /// quantities and covariance at `start` (an optimum found elsewhere).
    #[pyo3(signature = (start=None, max_fun=None, vcov=true, step=None, optimize=true, watch=false, progress=None))]
    fn fit(
        &mut self,
        py: Python<'_>,
        start: Option<Vec<f64>>,
        max_fun: Option<usize>,
        vcov: bool,
        step: Option<f64>,
        optimize: bool,
        watch: bool,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<PyLaplaceFit> {
        if !optimize && start.is_none() {
            return Err(pyo3::exceptions::PyValueError::new_err("fit(optimize=False) needs the parameters as start"));
        }
        let mut options = LaplaceFitOptions { start, max_fun, vcov, optimize, ..Default::default() };
        if let Some(s) = step {
            options.step = s;
        }
        let model = &mut self.model;
        let fit = with_data(py, &self.arrays, |data| {
            run_watched(py, "fit", watch, progress.as_ref(), |control| {
                options.control = control;
                model.fit(data, &options)
            })
        })?;
        PyLaplaceFit::from_core(py, fit, &self.model)
    }
}

/// A Laplace fit, read-only: ``params`` (θ, β, β_zi, β_d) and its parts ``theta``,
/// ``beta``, ``beta_zi``, ``beta_disp``; ``cov`` the covariance of ``params`` (None when not
/// computed or not positive definite: ``cov_message``; NaN rows for parameters on a bound);
/// ``objective`` (-log L); ``u``, ``b`` (per term (levels, k)), ``condvar`` (per term (levels, k, k)); per row ``eta`` (with the
/// random effects), ``eta_fixed`` (without), ``mu``, ``pz`` (zero-inflation probability;
/// zeros without it), ``phi`` (dispersion; NaN without it), ``variance`` (the family's
/// conditional variance); ``family``, ``link``, ``n_eval``, ``converged``, ``message``.
#[pyclass(module = "merx._core", name = "LaplaceFit", frozen)]
pub struct PyLaplaceFit {
    #[pyo3(get)]
    params: Py<PyArray1<f64>>,
    #[pyo3(get)]
    theta: Py<PyArray1<f64>>,
    #[pyo3(get)]
    beta: Py<PyArray1<f64>>,
    #[pyo3(get)]
    beta_zi: Py<PyArray1<f64>>,
    #[pyo3(get)]
    beta_disp: Py<PyArray1<f64>>,
    #[pyo3(get)]
    cov: Option<Py<PyArray2<f64>>>,
    #[pyo3(get)]
    cov_message: String,
    #[pyo3(get)]
    objective: f64,
    #[pyo3(get)]
    u: Py<PyArray1<f64>>,
    #[pyo3(get)]
    b: Vec<Py<PyArray2<f64>>>,
    /// Per term (levels, k, k): Λ H(û)⁻¹ Λ', the conditional covariance of b (empty when not computed).
    #[pyo3(get)]
    condvar: Vec<Py<PyArray3<f64>>>,
    #[pyo3(get)]
    eta: Py<PyArray1<f64>>,
    #[pyo3(get)]
    eta_fixed: Py<PyArray1<f64>>,
    #[pyo3(get)]
    mu: Py<PyArray1<f64>>,
    #[pyo3(get)]
    pz: Py<PyArray1<f64>>,
    #[pyo3(get)]
    phi: Py<PyArray1<f64>>,
    #[pyo3(get)]
    variance: Py<PyArray1<f64>>,
    #[pyo3(get)]
    family: String,
    #[pyo3(get)]
    link: String,
    #[pyo3(get)]
    n_eval: usize,
    #[pyo3(get)]
    converged: bool,
    #[pyo3(get)]
    message: String,
}

#[pymethods]
impl PyLaplaceFit {
    /// Rebuilds a fit from its fields in `__reduce__` order (for pickling results).
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        params: Py<PyArray1<f64>>,
        theta: Py<PyArray1<f64>>,
        beta: Py<PyArray1<f64>>,
        beta_zi: Py<PyArray1<f64>>,
        beta_disp: Py<PyArray1<f64>>,
        cov: Option<Py<PyArray2<f64>>>,
        cov_message: String,
        objective: f64,
        u: Py<PyArray1<f64>>,
        b: Vec<Py<PyArray2<f64>>>,
        condvar: Vec<Py<PyArray3<f64>>>,
        eta: Py<PyArray1<f64>>,
        eta_fixed: Py<PyArray1<f64>>,
        mu: Py<PyArray1<f64>>,
        pz: Py<PyArray1<f64>>,
        phi: Py<PyArray1<f64>>,
        variance: Py<PyArray1<f64>>,
        family: String,
        link: String,
        n_eval: usize,
        converged: bool,
        message: String,
    ) -> Self {
        PyLaplaceFit {
            params, theta, beta, beta_zi, beta_disp, cov, cov_message, objective, u, b, condvar, eta, eta_fixed, mu, pz,
            phi, variance, family, link, n_eval, converged, message,
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let f = slf.get();
        let first = (
            f.params.clone_ref(py),
            f.theta.clone_ref(py),
            f.beta.clone_ref(py),
            f.beta_zi.clone_ref(py),
            f.beta_disp.clone_ref(py),
            f.cov.as_ref().map(|c| c.clone_ref(py)),
            f.cov_message.clone(),
            f.objective,
            f.u.clone_ref(py),
            f.b.iter().map(|a| a.clone_ref(py)).collect::<Vec<_>>(),
            f.condvar.iter().map(|a| a.clone_ref(py)).collect::<Vec<_>>(),
        );
        let second = (
            f.eta.clone_ref(py),
            f.eta_fixed.clone_ref(py),
            f.mu.clone_ref(py),
            f.pz.clone_ref(py),
            f.phi.clone_ref(py),
            f.variance.clone_ref(py),
            f.family.clone(),
            f.link.clone(),
            f.n_eval,
            f.converged,
            f.message.clone(),
        );
        let items: Vec<Bound<'py, PyAny>> = first.into_pyobject(py)?.iter().chain(second.into_pyobject(py)?.iter()).collect();
        Ok((slf.get_type().into_any(), PyTuple::new(py, items)?))
    }

    fn __repr__(&self) -> String {
        format!("LaplaceFit(objective={}, family={:?}, n_eval={}, converged={})", self.objective, self.family, self.n_eval, self.converged)
    }
}

impl PyLaplaceFit {
    fn from_core(py: Python<'_>, fit: LaplaceFit, model: &LaplaceModel) -> PyResult<Self> {
        let n = fit.mu.len();
        let np = fit.params.len();
        let (a, rest) = fit.params.split_at(fit.n_theta);
        let (bb, rest) = rest.split_at(fit.p);
        let (zi, disp) = rest.split_at(fit.p_zi);
        let mut b = Vec::new();
        let mut condvar = Vec::new();
        for (t, term) in model.lmm.random_effects.terms.iter().enumerate() {
            b.push(PyArray1::from_slice(py, &fit.b[t]).reshape([term.n_levels, term.k])?.unbind());
            if let Some(c) = fit.condvar.get(t) {
                condvar.push(PyArray1::from_slice(py, c).reshape([term.n_levels, term.k, term.k])?.unbind());
            }
        }
        let cov = match fit.cov {
            Some(c) => Some(PyArray1::from_vec(py, c).reshape([np, np])?.unbind()),
            None => None,
        };
        let or_fill = |v: Vec<f64>, fill: f64| if v.is_empty() { vec![fill; n] } else { v };
        Ok(PyLaplaceFit {
            theta: PyArray1::from_slice(py, a).unbind(),
            beta: PyArray1::from_slice(py, bb).unbind(),
            beta_zi: PyArray1::from_slice(py, zi).unbind(),
            beta_disp: PyArray1::from_slice(py, disp).unbind(),
            params: PyArray1::from_vec(py, fit.params.clone()).unbind(),
            cov,
            cov_message: fit.cov_message,
            objective: fit.objective,
            u: PyArray1::from_vec(py, fit.u).unbind(),
            b,
            condvar,
            eta: PyArray1::from_vec(py, fit.eta).unbind(),
            eta_fixed: PyArray1::from_vec(py, fit.eta_fixed).unbind(),
            mu: PyArray1::from_vec(py, fit.mu).unbind(),
            pz: PyArray1::from_vec(py, or_fill(fit.pz, 0.0)).unbind(),
            phi: PyArray1::from_vec(py, or_fill(fit.phi, f64::NAN)).unbind(),
            variance: PyArray1::from_vec(py, fit.variance).unbind(),
            family: model.density.name().to_string(),
            link: model.link.name().to_string(),
            n_eval: fit.n_eval,
            converged: fit.converged,
            message: fit.message,
        })
    }
}
