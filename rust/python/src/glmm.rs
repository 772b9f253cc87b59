//! `GeneralizedLinearMixedModel`: a GLMM's data, family and the linear mixed model's
//! structure that PIRLS re-weights (the core's `GeneralizedLinearMixedModel`).

use crate::interrupt::run_watched;
use crate::arrays::{with_data, Arrays, TermTuple};
use crate::fit::PyFit;
use crate::{guard, to_py_err};
use merx_core::family::{binomial_with_trials, family_with_shape};
use merx_core::glmm_fit::{fit_glmm, GlmmFitOptions};
use merx_core::pirls::GeneralizedLinearMixedModel;
use pyo3::prelude::*;

/// GeneralizedLinearMixedModel(X, y, terms, family, link=None, weights=None, offset=None,
/// term_names=None)
///
/// As `LinearMixedModel`, with `family` R's name ("binomial", "poisson") and `link` R's
/// link name (None: the family's default). For a binomial family `y` is the proportion of
/// successes and `weights` the trials (times any prior weights), as R's `glm` has them;
/// "negative_binomial" takes its `shape` (θ; the start when `fit(estimate_shape=True)`).
/// A binomial family takes R's n of each row as `trials` (the successes + failures of a
/// cbind response) where prior weights multiply them in `weights`: the log-likelihood weighs
/// each row's binomial probability by its prior weight, as R's `binomial()$aic`.
#[pyclass(module = "merx._core", name = "GeneralizedLinearMixedModel")]
pub struct PyGeneralizedLinearMixedModel {
    pub(crate) model: GeneralizedLinearMixedModel,
    pub(crate) arrays: Arrays,
    theta_names: Vec<String>,
    /// How the family was made, to make it again for bootstrap replicates.
    pub(crate) family_spec: FamilySpec,
}

/// The constructor's family arguments.
#[derive(Clone, Debug)]
pub(crate) struct FamilySpec {
    pub name: String,
    pub link: Option<String>,
    pub shape: Option<f64>,
    pub trials: Option<Vec<f64>>,
}

#[pymethods]
impl PyGeneralizedLinearMixedModel {
    #[new]
    #[pyo3(signature = (x, y, terms, family, link=None, weights=None, offset=None, term_names=None, shape=None, trials=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        x: Bound<'_, PyAny>,
        y: Bound<'_, PyAny>,
        terms: Vec<TermTuple<'_>>,
        family: &str,
        link: Option<&str>,
        weights: Option<Bound<'_, PyAny>>,
        offset: Option<Bound<'_, PyAny>>,
        term_names: Option<Vec<(String, Vec<String>)>>,
        shape: Option<f64>,
        trials: Option<Vec<f64>>,
    ) -> PyResult<Self> {
        guard("model construction", || {
            let family_spec =
                FamilySpec { name: family.to_string(), link: link.map(str::to_string), shape, trials: trials.clone() };
            let family = match trials {
                Some(n) if family == "binomial" => binomial_with_trials(link, n),
                Some(_) => Err(merx_core::error::MerxError::InvalidInput(format!("trials apply to the binomial family, not {family:?}"))),
                None => family_with_shape(family, link, shape),
            }
            .map_err(to_py_err)?;
            let arrays = Arrays::checked(x, y, terms, weights, offset)?;
            let model = with_data(py, &arrays, |data| GeneralizedLinearMixedModel::new(data, family).map_err(to_py_err))?;
            let theta_names = model.lmm.parameters(term_names.as_deref()).map_err(to_py_err)?.names;
            Ok(PyGeneralizedLinearMixedModel { model, arrays, theta_names, family_spec })
        })
    }

    #[getter]
    fn n_theta(&self) -> usize {
        self.model.n_theta()
    }

    #[getter]
    fn theta_names(&self) -> Vec<String> {
        self.theta_names.clone()
    }

    /// Whether the Laplace approximation uses the observed information (glmmTMB's) instead
    /// of the expected one (lme4's); they differ for non-canonical links only.
    #[getter]
    fn get_observed_information(&self) -> bool {
        self.model.observed_information
    }

    #[setter]
    fn set_observed_information(&mut self, value: bool) {
        self.model.observed_information = value;
    }

    #[getter]
    fn family(&self) -> &'static str {
        self.model.family.name()
    }

    #[getter]
    fn link(&self) -> &'static str {
        self.model.family.link().name()
    }

    /// The Laplace deviance (-2 log-likelihood) at θ, with β from PIRLS when `beta` is None
    /// (lme4's nAGQ = 0) or held at `beta`.
    #[pyo3(signature = (theta, beta=None))]
    fn deviance(&mut self, py: Python<'_>, theta: Vec<f64>, beta: Option<Vec<f64>>) -> PyResult<f64> {
        let model = &mut self.model;
        guard("deviance", || {
            with_data(py, &self.arrays, |data| {
                py.detach(|| model.laplace(data, &theta, beta.as_deref()).map(|e| e.deviance).map_err(to_py_err))
            })
        })
    }

    /// Fits (GIL released): θ with β in PIRLS, then θ and β together by the Laplace
    /// approximation (`n_agq=1`) or adaptive Gauss-Hermite quadrature (`n_agq > 1`, one
    /// scalar term); `fast=True` stops after the first stage (lme4's nAGQ = 0).
    #[pyo3(signature = (theta_start=None, fast=false, n_agq=1, max_fun=None, condvar=true, estimate_shape=false, fixed=None, vcov=true, watch=false, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &mut self,
        py: Python<'_>,
        theta_start: Option<Vec<f64>>,
        fast: bool,
        n_agq: usize,
        max_fun: Option<usize>,
        condvar: bool,
        estimate_shape: bool,
        fixed: Option<Vec<(usize, f64)>>,
        vcov: bool,
        watch: bool,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<PyFit> {
        let mut options = GlmmFitOptions {
            theta_start,
            fast,
            n_agq,
            estimate_shape,
            skip_condvar: !condvar,
            fixed: fixed.unwrap_or_default(),
            skip_vcov: !vcov,
            ..Default::default()
        };
        options.optimizer.max_fun = max_fun;
        let model = &mut self.model;
        let fit = with_data(py, &self.arrays, |data| {
            run_watched(py, "fit", watch, progress.as_ref(), |control| {
                options.optimizer.control = control;
                fit_glmm(model, data, &options)
            })
        })?;
        PyFit::from_core(py, fit, &self.model.lmm)
    }
}
