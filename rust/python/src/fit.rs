//! `MixedModelFit`: the one typed object a fit crosses into Python as, for every model kind.

use merx_core::{LinearMixedModel, MixedModelFit};
use numpy::{PyArray1, PyArray2, PyArray3, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// The estimates at θ̂ (or at a given θ), read-only.
///
/// Arrays: ``theta`` (nθ,), ``beta`` (p,), ``u`` (q,), ``b`` (list per term of (levels, k)
/// conditional modes), ``condvar`` (list per term of (levels, k, k) conditional covariances
/// of b given y, empty when not computed), ``vcov_beta`` (p, p), ``fitted`` (n,)
/// (response scale: Xβ + Zb + offset, or μ for a GLMM), ``eta`` (n,) the linear predictor.
/// Numbers: ``sigma``, ``objective`` (the REML criterion when ``reml``,
/// else the ML deviance), ``deviance_ml``, ``reml_criterion``, ``ldL2``, ``ldRX2``,
/// ``pwrss``, ``wrss``, ``ussq``. Optimizer report: ``optimizer``, ``n_eval``,
/// ``converged``, ``message``.
#[pyclass(module = "merx._core", name = "MixedModelFit", frozen)]
pub struct PyFit {
    #[pyo3(get)]
    theta: Py<PyArray1<f64>>,
    #[pyo3(get)]
    beta: Py<PyArray1<f64>>,
    #[pyo3(get)]
    u: Py<PyArray1<f64>>,
    #[pyo3(get)]
    b: Vec<Py<PyArray2<f64>>>,
    #[pyo3(get)]
    condvar: Vec<Py<PyArray3<f64>>>,
    #[pyo3(get)]
    vcov_beta: Py<PyArray2<f64>>,
    #[pyo3(get)]
    fitted: Py<PyArray1<f64>>,
    /// The linear predictor η (the same array as ``fitted`` for a linear mixed model).
    #[pyo3(get)]
    eta: Py<PyArray1<f64>>,
    #[pyo3(get)]
    family: String,
    #[pyo3(get)]
    link: String,
    /// The family's shape (the negative binomial θ); NaN for families without one.
    #[pyo3(get)]
    shape: f64,
    /// Σ of the squared deviance residuals (lme4's ``deviance()`` of a GLMM).
    #[pyo3(get)]
    deviance_residuals: f64,
    #[pyo3(get)]
    reml: bool,
    #[pyo3(get)]
    sigma: f64,
    #[pyo3(get)]
    objective: f64,
    #[pyo3(get)]
    deviance_ml: f64,
    #[pyo3(get)]
    reml_criterion: f64,
    #[pyo3(get, name = "ldL2")]
    ld_l2: f64,
    #[pyo3(get, name = "ldRX2")]
    ld_rx2: f64,
    #[pyo3(get)]
    pwrss: f64,
    #[pyo3(get)]
    wrss: f64,
    #[pyo3(get)]
    ussq: f64,
    #[pyo3(get)]
    optimizer: String,
    #[pyo3(get)]
    n_eval: usize,
    #[pyo3(get)]
    converged: bool,
    #[pyo3(get)]
    message: String,
    /// The residual covariance's own parameters (nlme's varIdent: log δ of the strata after
    /// the reference); empty for lme4's models.
    #[pyo3(get)]
    residual_parameters: Py<PyArray1<f64>>,
}

impl PyFit {
    /// Shapes the core's flat vectors into numpy arrays (per term: levels × k, levels × k × k).
    pub fn from_core(py: Python<'_>, fit: MixedModelFit, model: &LinearMixedModel) -> PyResult<Self> {
        let p = model.p();
        let mut b = Vec::new();
        let mut condvar = Vec::new();
        let fitted = PyArray1::from_vec(py, fit.fitted).unbind();
        let is_glmm = fit.linear_predictor.is_some();
        let eta = match fit.linear_predictor {
            Some(eta) => PyArray1::from_vec(py, eta).unbind(),
            None => fitted.clone_ref(py),
        };
        for (t, term) in model.random_effects.terms.iter().enumerate() {
            let (l, k) = (term.n_levels, term.k);
            b.push(PyArray1::from_slice(py, &fit.b[t]).reshape([l, k])?.unbind());
            if let Some(c) = fit.condvar.get(t) {
                condvar.push(PyArray1::from_slice(py, c).reshape([l, k, k])?.unbind());
            }
        }
        Ok(PyFit {
            theta: PyArray1::from_vec(py, fit.theta).unbind(),
            beta: PyArray1::from_vec(py, fit.beta).unbind(),
            u: PyArray1::from_vec(py, fit.u).unbind(),
            b,
            condvar,
            vcov_beta: PyArray1::from_vec(py, fit.vcov_beta).reshape([p, p])?.unbind(),
            fitted,
            eta,
            family: fit.family,
            link: fit.link,
            shape: fit.shape.unwrap_or(f64::NAN),
            deviance_residuals: fit.deviance_residuals,
            reml: model.reml && !is_glmm,
            sigma: fit.sigma,
            objective: fit.evaluation.objective,
            deviance_ml: fit.evaluation.deviance_ml,
            reml_criterion: fit.evaluation.reml_criterion,
            ld_l2: fit.evaluation.ld_l2,
            ld_rx2: fit.evaluation.ld_rx2,
            pwrss: fit.evaluation.pwrss,
            wrss: fit.wrss,
            ussq: fit.ussq,
            optimizer: fit.optimizer,
            n_eval: fit.n_eval,
            converged: fit.converged,
            message: fit.message,
            residual_parameters: PyArray1::from_vec(py, fit.residual_parameters).unbind(),
        })
    }
}

#[pymethods]
impl PyFit {
    /// Rebuilds a fit from its fields in `__reduce__` order (for pickling results).
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (theta, beta, u, b, condvar, vcov_beta, fitted, reml, sigma, objective, deviance_ml, reml_criterion, ld_l2, ld_rx2, pwrss, wrss, ussq, optimizer, n_eval, converged, message, eta=None, family="gaussian".to_string(), link="identity".to_string(), deviance_residuals=f64::NAN, shape=f64::NAN, residual_parameters=None))]
    fn new(
        theta: Py<PyArray1<f64>>,
        beta: Py<PyArray1<f64>>,
        u: Py<PyArray1<f64>>,
        b: Vec<Py<PyArray2<f64>>>,
        condvar: Vec<Py<PyArray3<f64>>>,
        vcov_beta: Py<PyArray2<f64>>,
        fitted: Py<PyArray1<f64>>,
        reml: bool,
        sigma: f64,
        objective: f64,
        deviance_ml: f64,
        reml_criterion: f64,
        ld_l2: f64,
        ld_rx2: f64,
        pwrss: f64,
        wrss: f64,
        ussq: f64,
        optimizer: String,
        n_eval: usize,
        converged: bool,
        message: String,
        eta: Option<Py<PyArray1<f64>>>,
        family: String,
        link: String,
        deviance_residuals: f64,
        shape: f64,
        residual_parameters: Option<Py<PyArray1<f64>>>,
        py: Python<'_>,
    ) -> Self {
        let eta = eta.unwrap_or_else(|| fitted.clone_ref(py));
        let residual_parameters = residual_parameters.unwrap_or_else(|| PyArray1::<f64>::zeros(py, 0, false).unbind());
        PyFit {
            theta, beta, u, b, condvar, vcov_beta, fitted, eta, family, link, shape, deviance_residuals, reml, sigma, objective,
            deviance_ml, reml_criterion, ld_l2, ld_rx2, pwrss, wrss, ussq, optimizer, n_eval, converged, message,
            residual_parameters,
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let f = slf.get();
        let args = (
            f.theta.clone_ref(py),
            f.beta.clone_ref(py),
            f.u.clone_ref(py),
            f.b.iter().map(|a| a.clone_ref(py)).collect::<Vec<_>>(),
            f.condvar.iter().map(|a| a.clone_ref(py)).collect::<Vec<_>>(),
            f.vcov_beta.clone_ref(py),
            f.fitted.clone_ref(py),
            f.reml,
            f.sigma,
            f.objective,
            f.deviance_ml,
            f.reml_criterion,
        );
        let rest = (f.ld_l2, f.ld_rx2, f.pwrss, f.wrss, f.ussq, f.optimizer.clone(), f.n_eval, f.converged, f.message.clone());
        let glmm = (f.eta.clone_ref(py), f.family.clone(), f.link.clone(), f.deviance_residuals, f.shape, f.residual_parameters.clone_ref(py));
        let items: Vec<Bound<'py, PyAny>> = args
            .into_pyobject(py)?
            .iter()
            .chain(rest.into_pyobject(py)?.iter())
            .chain(glmm.into_pyobject(py)?.iter())
            .collect();
        let all = PyTuple::new(py, items)?;
        Ok((slf.get_type().into_any(), all))
    }

    fn __repr__(&self) -> String {
        format!(
            "MixedModelFit(objective={}, reml={}, optimizer={:?}, n_eval={}, converged={})",
            self.objective, self.reml, self.optimizer, self.n_eval, self.converged
        )
    }
}
