//! `ResidualStructureModel`: a linear mixed model with an nlme residual structure, a
//! variance function and/or a serial correlation (the core's `lme::ResidualStructureModel`,
//! holding the caller's arrays).

use crate::interrupt::run_watched;
use crate::arrays::{check_vector, slice, with_data, Arrays, TermTuple};
use crate::fit::PyFit;
use crate::{guard, to_py_err};
use merx_core::fit::FitOptions;
use merx_core::lme::ResidualStructureModel;
use merx_core::residual::{CompoundSymmetry, CorAr1, CorCar1, CorExp, ResidualStructure, SerialCorrelation, SeriesLayout, VarExp, VarIdent, VarPower, VarianceFunction};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// ("varIdent", strata int64 (n,), n_strata) | ("varPower", covariate float64 (n,)) |
/// ("varExp", covariate float64 (n,))
type VarianceSpec<'py> = (String, Bound<'py, PyAny>, Option<usize>);
/// (kind "corAR1" | "corCAR1" | "corExp" | "corCompSymm", group codes int64 (n,), n_groups,
/// time float64 (n,); corCompSymm ignores it)
type CorrelationSpec<'py> = (String, Bound<'py, PyAny>, usize, Bound<'py, PyAny>);

/// ResidualStructureModel(X, y, terms, variance=None, correlation=None, weights=None,
/// offset=None, reml=True, term_names=None, path="auto")
///
/// As `LinearMixedModel`, with nlme's residual structure: `variance` a variance function,
/// `correlation` a serial correlation over groups nested in the random-effects levels. The
/// parameter vector is θ, then the variance function's parameters (varIdent's log-ratios,
/// varPower's power, varExp's expon), then the correlation's unconstrained parameter.
/// `path`: "auto" (by cost), "classes" (per-class cross-products combined per evaluation,
/// where the structure has classes) or "rows" (a pass over the rows per evaluation), for
/// measurements of the two.
#[pyclass(module = "merx._core", name = "ResidualStructureModel")]
pub struct PyResidualStructureModel {
    model: ResidualStructureModel,
    arrays: Arrays,
    parameter_names: Vec<String>,
}

fn variance_function(spec: &VarianceSpec<'_>, prior: Option<&[f64]>) -> PyResult<Box<dyn VarianceFunction>> {
    let (kind, values, n_strata) = spec;
    match kind.as_str() {
        "varIdent" => {
            check_vector::<i64>(values, "stratum codes", "int64")?;
            let codes: PyReadonlyArray1<i64> = values.extract()?;
            let n_strata = n_strata.ok_or_else(|| PyValueError::new_err("varIdent needs the number of strata"))?;
            Ok(Box::new(VarIdent::new(slice(&codes, "stratum codes")?, n_strata, prior).map_err(to_py_err)?))
        }
        "varPower" | "varExp" => {
            check_vector::<f64>(values, "variance covariate", "float64")?;
            let x: PyReadonlyArray1<f64> = values.extract()?;
            let x = slice(&x, "variance covariate")?;
            Ok(if kind == "varPower" { Box::new(VarPower::new(x).map_err(to_py_err)?) } else { Box::new(VarExp::new(x).map_err(to_py_err)?) })
        }
        other => Err(PyValueError::new_err(format!("unknown variance function {other:?}: varIdent, varPower or varExp"))),
    }
}

#[pymethods]
impl PyResidualStructureModel {
    #[new]
    #[pyo3(signature = (x, y, terms, variance=None, correlation=None, weights=None, offset=None, reml=true, term_names=None, path="auto"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        x: Bound<'_, PyAny>,
        y: Bound<'_, PyAny>,
        terms: Vec<TermTuple<'_>>,
        variance: Option<VarianceSpec<'_>>,
        correlation: Option<CorrelationSpec<'_>>,
        weights: Option<Bound<'_, PyAny>>,
        offset: Option<Bound<'_, PyAny>>,
        reml: bool,
        term_names: Option<Vec<(String, Vec<String>)>>,
        path: &str,
    ) -> PyResult<Self> {
        let build = |data: &merx_core::ModelData, structure: ResidualStructure| match path {
            "auto" => ResidualStructureModel::new(data, structure, reml),
            "classes" | "rows" => ResidualStructureModel::with_path(data, structure, reml, path == "classes"),
            other => Err(merx_core::MerxError::InvalidInput(format!("path must be 'auto', 'classes' or 'rows', not {other:?}"))),
        };
        guard("model construction", || {
            let arrays = Arrays::checked(x, y, terms, weights, offset)?;
            let model = with_data(py, &arrays, |data| {
                let variance = variance.as_ref().map(|v| variance_function(v, data.weights)).transpose()?;
                if let Some((_, groups, n_groups, _)) = correlation.as_ref().filter(|c| c.0 == "corCompSymm") {
                    check_vector::<i64>(groups, "correlation groups", "int64")?;
                    let g: PyReadonlyArray1<i64> = groups.extract()?;
                    let cs = CompoundSymmetry::new(slice(&g, "correlation groups")?, *n_groups).map_err(to_py_err)?;
                    let structure = ResidualStructure::compound_symmetry(variance, cs, data.n());
                    return build(data, structure).map_err(to_py_err);
                }
                let (correlation, layout): (Option<Box<dyn SerialCorrelation>>, SeriesLayout) = match &correlation {
                    None => (None, SeriesLayout::independent(data.n())),
                    Some((kind, groups, n_groups, time)) => {
                        check_vector::<i64>(groups, "correlation groups", "int64")?;
                        check_vector::<f64>(time, "correlation time", "float64")?;
                        let g: PyReadonlyArray1<i64> = groups.extract()?;
                        let t: PyReadonlyArray1<f64> = time.extract()?;
                        let (g, t) = (slice(&g, "correlation groups")?, slice(&t, "correlation time")?);
                        let integer_time = kind == "corAR1";
                        let layout = SeriesLayout::new(g, *n_groups, t, integer_time, data).map_err(to_py_err)?;
                        let c: Box<dyn SerialCorrelation> = match kind.as_str() {
                            "corAR1" => Box::new(CorAr1),
                            "corCAR1" => Box::new(CorCar1),
                            "corExp" => Box::new(CorExp { start_range: 0.1 * layout.min_gap() }),
                            other => return Err(PyValueError::new_err(format!("unknown correlation structure {other:?}: corAR1, corCAR1 or corExp"))),
                        };
                        (Some(c), layout)
                    }
                };
                let structure = ResidualStructure::new(variance, correlation, layout).map_err(to_py_err)?;
                build(data, structure).map_err(to_py_err)
            })?;
            let parameter_names = model.parameters(term_names.as_deref()).map_err(to_py_err)?.names;
            Ok(PyResidualStructureModel { model, arrays, parameter_names })
        })
    }

    #[getter]
    fn n_theta(&self) -> usize {
        self.model.n_theta()
    }

    /// Number of the residual structure's parameters.
    #[getter]
    fn n_structure_params(&self) -> usize {
        self.model.n_structure_params()
    }

    #[getter]
    fn reml(&self) -> bool {
        self.model.lmm.reml
    }

    /// θ's names, then the structure's (``log_ratio_1`` .., ``power``, ``expon``, ``Phi_unconstrained``, ..).
    #[getter]
    fn parameter_names(&self) -> Vec<String> {
        self.parameter_names.clone()
    }

    /// The number of row classes whose cross-products are combined per evaluation, or None
    /// when each evaluation re-accumulates them in a pass over the rows.
    #[getter]
    fn n_classes(&self) -> Option<usize> {
        self.model.n_classes()
    }

    /// REML criterion (reml=True) or ML deviance at (θ, structure parameters): -2 × nlme's
    /// logLik at those parameters.
    fn deviance(&mut self, py: Python<'_>, params: Vec<f64>) -> PyResult<f64> {
        let model = &mut self.model;
        guard("deviance", || py.detach(|| model.evaluate(&params).map(|e| e.objective).map_err(to_py_err)))
    }

    /// Optimises all parameters by BOBYQA (GIL released); the estimates at the optimum.
    /// `fixed`: [(index, value)] held.
    #[pyo3(signature = (start=None, max_fun=None, rho_end=None, condvar=true, fixed=None, watch=false, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &mut self,
        py: Python<'_>,
        start: Option<Vec<f64>>,
        max_fun: Option<usize>,
        rho_end: Option<f64>,
        condvar: bool,
        fixed: Option<Vec<(usize, f64)>>,
        watch: bool,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<PyFit> {
        let mut options = FitOptions { theta_start: start, skip_condvar: !condvar, fixed: fixed.unwrap_or_default(), ..Default::default() };
        options.optimizer.max_fun = max_fun;
        if let Some(r) = rho_end {
            options.optimizer.rho_end = r;
        }
        let model = &mut self.model;
        let fit = run_watched(py, "fit", watch, progress.as_ref(), |control| {
            options.optimizer.control = control;
            model.fit(&options)
        })?;
        self.finish(py, fit)
    }

    /// The estimates at the parameters without optimising.
    #[pyo3(signature = (params, condvar=true))]
    fn estimates(&mut self, py: Python<'_>, params: Vec<f64>, condvar: bool) -> PyResult<PyFit> {
        let model = &mut self.model;
        let mut fit = guard("estimates", || py.detach(|| model.estimates(&params, !condvar).map_err(to_py_err)))?;
        fit.n_eval = 1;
        fit.optimizer = "none".into();
        fit.message = "evaluated at the given parameters".into();
        self.finish(py, fit)
    }

    /// nlme's normalized residuals: response residuals (n,) whitened by the structure at its
    /// parameters, divided by σ.
    fn normalized_residuals<'py>(&mut self, py: Python<'py>, structure_params: Vec<f64>, residuals: Bound<'py, PyAny>, sigma: f64) -> PyResult<Bound<'py, PyArray1<f64>>> {
        check_vector::<f64>(&residuals, "residuals", "float64")?;
        let r: PyReadonlyArray1<f64> = residuals.extract()?;
        let r = slice(&r, "residuals")?;
        let model = &mut self.model;
        let out = guard("normalized residuals", || model.normalized_residuals(&structure_params, r, sigma).map_err(to_py_err))?;
        Ok(PyArray1::from_vec(py, out))
    }

    /// The distinct gaps between consecutive times of a correlation group (empty without a
    /// serial correlation): nlme prints a corAR1 whose gaps are not all 1 as ARMA(1,0).
    #[getter]
    fn gaps(&self) -> Vec<f64> {
        self.model.structure.layout.gaps.clone()
    }

    /// The natural value of the correlation parameter (nlme's Phi or range) at an
    /// unconstrained one, or None without a correlation.
    fn correlation_natural(&self, unconstrained: f64) -> Option<f64> {
        let s = &self.model.structure;
        s.correlation.as_ref().map(|c| c.natural(unconstrained)).or(s.exchangeable.as_ref().map(|c| c.natural(unconstrained)))
    }
}

impl PyResidualStructureModel {
    fn finish(&self, py: Python<'_>, mut fit: merx_core::MixedModelFit) -> PyResult<PyFit> {
        let lmm = &self.model.lmm;
        guard("fitted values", || with_data(py, &self.arrays, |data| Ok(fit.attach_fitted(lmm, data))))?;
        PyFit::from_core(py, fit, lmm)
    }
}
