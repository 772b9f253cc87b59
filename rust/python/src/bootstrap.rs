//! Simulation and bootstrap refits: `simulate`, `ResamplingPlan`, `bootstrap_lmm`,
//! `lmm_replicate_data`, `lmm_replicate_draws`, `reb2_postprocess`, `bootstrap_glmm`, `glmm_replicate_response` and the typed
//! `BootstrapReplicates` they return. The refits run on Rust threads with the GIL released.

use crate::arrays::{mat_view, slice, with_data};
use crate::glmm::PyGeneralizedLinearMixedModel;
use crate::model::PyLinearMixedModel;
use crate::{guard, to_py_err};
use merx_core::bootstrap::{GlmmBootstrap, Hccme, LmmBootstrap, OriginalFit, ReplicateOutcome, ResamplingKind, WildWeights};
use merx_core::covariance::structure_by_name;
use merx_core::family::{binomial_with_trials, family_with_shape};
use merx_core::fit::fitted_values;
use merx_core::glmm_fit::GlmmFitOptions;
use merx_core::simulate::{ConditionalDistribution, DrawnTerm, SimulationDesign};
use merx_core::ModelData;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// How bootstrap responses are made: kind "parametric", "semiparametric", "residual",
/// "wild" (wild_weights "mammen" | "rademacher" | "norm" | "webb" | "gamma", hccme "hc2" | "hc3"), "reb"
/// (reb_rescale: type 1) or "case" (resample: one bool per level, outermost first,
/// observations last).
#[pyclass(module = "merx._core", name = "ResamplingPlan", frozen)]
pub struct PyResamplingPlan {
    kind: ResamplingKind,
}

#[pymethods]
impl PyResamplingPlan {
    #[new]
    #[pyo3(signature = (kind, resample=None, reb_rescale=false, wild_weights="mammen", hccme="hc2"))]
    fn new(kind: &str, resample: Option<Vec<bool>>, reb_rescale: bool, wild_weights: &str, hccme: &str) -> PyResult<Self> {
        let kind = match kind {
            "parametric" => ResamplingKind::Parametric,
            "semiparametric" => ResamplingKind::Semiparametric,
            "residual" => ResamplingKind::Residual,
            "reb" => ResamplingKind::Reb { rescale: reb_rescale },
            "case" => ResamplingKind::Case {
                resample: resample.ok_or_else(|| PyValueError::new_err("case resampling needs resample (one bool per level)"))?,
            },
            "wild" => ResamplingKind::Wild {
                weights: match wild_weights {
                    "mammen" => WildWeights::Mammen,
                    "rademacher" => WildWeights::Rademacher,
                    "norm" => WildWeights::Normal,
                    "webb" => WildWeights::Webb,
                    "gamma" => WildWeights::Gamma,
                    other => {
                        return Err(PyValueError::new_err(format!(
                            "wild weights {other:?}: use \"mammen\", \"rademacher\", \"norm\", \"webb\" or \"gamma\""
                        )))
                    }
                },
                hccme: match hccme {
                    "hc2" => Hccme::Hc2,
                    "hc3" => Hccme::Hc3,
                    other => return Err(PyValueError::new_err(format!("hccme {other:?}: use \"hc2\" or \"hc3\""))),
                },
            },
            other => return Err(PyValueError::new_err(format!("unknown bootstrap kind {other:?}"))),
        };
        Ok(PyResamplingPlan { kind })
    }
}

/// Replicates `first..first + count`: `theta` (count, n_theta), `beta` (count, p), `sigma`,
/// `objective`, `converged` (count,), `errors` (None, or why the replicate's refit failed;
/// its row is NaN).
#[pyclass(module = "merx._core", name = "BootstrapReplicates", frozen)]
pub struct PyBootstrapReplicates {
    #[pyo3(get)]
    theta: Py<PyAny>,
    #[pyo3(get)]
    beta: Py<PyAny>,
    #[pyo3(get)]
    sigma: Py<PyAny>,
    #[pyo3(get)]
    objective: Py<PyAny>,
    #[pyo3(get)]
    converged: Vec<bool>,
    #[pyo3(get)]
    errors: Vec<Option<String>>,
}

fn replicates(py: Python<'_>, outcomes: Vec<ReplicateOutcome>, n_theta: usize, p: usize) -> PyResult<PyBootstrapReplicates> {
    let count = outcomes.len();
    let (mut theta, mut beta) = (Vec::with_capacity(count * n_theta), Vec::with_capacity(count * p));
    let (mut sigma, mut objective, mut converged, mut errors) = (vec![], vec![], vec![], vec![]);
    for o in outcomes {
        match o {
            Ok(r) => {
                theta.extend_from_slice(&r.theta);
                beta.extend_from_slice(&r.beta);
                sigma.push(r.sigma);
                objective.push(r.objective);
                converged.push(r.converged);
                errors.push(None);
            }
            Err(e) => {
                theta.extend(std::iter::repeat(f64::NAN).take(n_theta));
                beta.extend(std::iter::repeat(f64::NAN).take(p));
                sigma.push(f64::NAN);
                objective.push(f64::NAN);
                converged.push(false);
                errors.push(Some(e));
            }
        }
    }
    Ok(PyBootstrapReplicates {
        theta: PyArray1::from_vec(py, theta).reshape([count, n_theta])?.into_any().unbind(),
        beta: PyArray1::from_vec(py, beta).reshape([count, p])?.into_any().unbind(),
        sigma: PyArray1::from_vec(py, sigma).into_any().unbind(),
        objective: PyArray1::from_vec(py, objective).into_any().unbind(),
        converged,
        errors,
    })
}

/// The original fit as handed in: (theta, beta, b per term (flattened L × k), sigma).
type Original = (Vec<f64>, Vec<f64>, Vec<Vec<f64>>, f64);

fn original_fit((theta, beta, b, sigma): Original) -> OriginalFit {
    OriginalFit { theta, beta, b, sigma }
}

/// The core's bootstrap of a linear mixed model for one plan (every entry point builds it).
fn lmm_bootstrap<'d>(
    data: &ModelData<'d>,
    problem: &PyLinearMixedModel,
    original: Original,
    plan: &PyResamplingPlan,
) -> PyResult<LmmBootstrap<'d>> {
    LmmBootstrap::new(data.clone(), &problem.model, original_fit(original), plan.kind.clone()).map_err(to_py_err)
}

fn check_run(count: usize, n_jobs: usize) -> PyResult<()> {
    if n_jobs == 0 {
        return Err(PyValueError::new_err("n_jobs must be at least 1"));
    }
    if count == 0 {
        return Err(PyValueError::new_err("the number of replicates must be at least 1"));
    }
    Ok(())
}

/// Refits replicates `first..first + count` of a linear mixed model (GIL released).
#[pyfunction]
#[pyo3(signature = (problem, original, plan, first, count, seed, n_jobs=1))]
pub fn bootstrap_lmm(
    py: Python<'_>,
    problem: PyRef<'_, PyLinearMixedModel>,
    original: Original,
    plan: PyRef<'_, PyResamplingPlan>,
    first: usize,
    count: usize,
    seed: u64,
    n_jobs: usize,
) -> PyResult<PyBootstrapReplicates> {
    check_run(count, n_jobs)?;
    let (n_theta, p) = (problem.model.n_theta(), problem.model.p());
    let outcomes = guard("bootstrap", || {
        with_data(py, &problem.arrays, |data| {
            let boot = lmm_bootstrap(data, &problem, original, &plan)?;
            py.detach(|| boot.run(first, count, seed, n_jobs).map_err(to_py_err))
        })
    })?;
    replicates(py, outcomes, n_theta, p)
}

/// Replicate `index`'s data: the response (kinds that keep the design), or for case
/// resampling (rows, [(new codes, number of levels) per term]).
#[pyfunction]
pub fn lmm_replicate_data(
    py: Python<'_>,
    problem: PyRef<'_, PyLinearMixedModel>,
    original: Original,
    plan: PyRef<'_, PyResamplingPlan>,
    index: usize,
    seed: u64,
) -> PyResult<Py<PyAny>> {
    guard("bootstrap replicate", || {
        with_data(py, &problem.arrays, |data| {
            let boot = lmm_bootstrap(data, &problem, original, &plan)?;
            if let ResamplingKind::Case { .. } = plan.kind {
                let s = boot.case_sample(index, seed).map_err(to_py_err)?;
                let rows: Vec<i64> = s.rows.iter().map(|&i| i as i64).collect();
                let codes: Vec<(Py<PyAny>, usize)> = s
                    .term_factor
                    .iter()
                    .map(|&f| (PyArray1::from_slice(py, &s.codes[f].0).into_any().unbind(), s.codes[f].1))
                    .collect();
                Ok((PyArray1::from_vec(py, rows), codes).into_pyobject(py)?.into_any().unbind())
            } else {
                Ok(PyArray1::from_vec(py, boot.response(index, seed).map_err(to_py_err)?.0).into_any().unbind())
            }
        })
    })
}

/// What replicate `index` drew, as a dict: "levels" (per term, the pool row drawn for each
/// level; case: per level, outermost first, the original codes of the drawn clusters),
/// "rows" (per row, the residual drawn for it; case: the drawn observations' positions in
/// their clusters), "weights" and "clusters" (wild).
#[pyfunction]
pub fn lmm_replicate_draws(
    py: Python<'_>,
    problem: PyRef<'_, PyLinearMixedModel>,
    original: Original,
    plan: PyRef<'_, PyResamplingPlan>,
    index: usize,
    seed: u64,
) -> PyResult<Py<PyAny>> {
    guard("bootstrap replicate", || {
        with_data(py, &problem.arrays, |data| {
            let boot = lmm_bootstrap(data, &problem, original, &plan)?;
            let ints = |v: &[usize]| PyArray1::from_vec(py, v.iter().map(|&i| i as i64).collect::<Vec<i64>>()).into_any().unbind();
            let out = pyo3::types::PyDict::new(py);
            if let ResamplingKind::Case { .. } = plan.kind {
                let s = boot.case_sample(index, seed).map_err(to_py_err)?;
                let (rows, levels) = s.draws.split_last().expect("case draws have the observation level");
                out.set_item("levels", levels.iter().map(|d| ints(d)).collect::<Vec<_>>())?;
                out.set_item("rows", ints(rows))?;
            } else {
                let d = boot.response(index, seed).map_err(to_py_err)?.1;
                out.set_item("levels", d.levels.iter().map(|l| ints(l)).collect::<Vec<_>>())?;
                out.set_item("rows", ints(&d.rows))?;
                out.set_item("weights", PyArray1::from_vec(py, d.weights).into_any().unbind())?;
                out.set_item("clusters", ints(&d.clusters))?;
            }
            Ok(out.into_any().unbind())
        })
    })
}

/// REB type 2's post-processing (lmeresampler's `.postprocess.reb2`): fe (B, p) and vc
/// (B, q) replicates, fe0 and vc0 the original estimates -> (fe adjusted, vc adjusted,
/// the log-scale matrix L_b or None).
#[pyfunction]
pub fn reb2_postprocess(
    py: Python<'_>,
    fe: PyReadonlyArray2<'_, f64>,
    vc: PyReadonlyArray2<'_, f64>,
    fe0: Vec<f64>,
    vc0: Vec<f64>,
) -> PyResult<(Py<PyAny>, Py<PyAny>, Option<Py<PyAny>>)> {
    let ((b, fe_cols), (vc_rows_n, vc_cols)) = (fe.as_array().dim(), vc.as_array().dim());
    let (p, q) = (fe0.len(), vc0.len());
    if fe_cols != p || vc_cols != q || vc_rows_n != b {
        return Err(PyValueError::new_err("fe must be (B, len(fe0)) and vc (B, len(vc0))"));
    }
    let fe_rows: Vec<f64> = fe.as_array().iter().copied().collect();
    let vc_rows: Vec<f64> = vc.as_array().iter().copied().collect();
    let (fa, va, lb) = merx_core::bootstrap_rescale::reb2_postprocess(&fe_rows, &vc_rows, &fe0, &vc0);
    let shaped = |v: Vec<f64>, w: usize| -> PyResult<Py<PyAny>> { Ok(PyArray1::from_vec(py, v).reshape([b, w])?.into_any().unbind()) };
    Ok((shaped(fa, p)?, shaped(va, q)?, lb.map(|l| shaped(l, q)).transpose()?))
}

/// A drawn term as handed in: (codes int64, n_levels, Z float64 (n, k), covariance name,
/// the term's parameters).
type DrawnTuple<'py> = (PyReadonlyArray1<'py, i64>, usize, PyReadonlyArray2<'py, f64>, String, Vec<f64>);

fn drawn_terms<'a>(terms: &'a [DrawnTuple<'_>]) -> PyResult<Vec<DrawnTerm<'a>>> {
    terms
        .iter()
        .enumerate()
        .map(|(t, (codes, n_levels, z, covariance, params))| {
            let structure = structure_by_name(covariance).map_err(to_py_err)?;
            let z = mat_view(z);
            let k = z.ncols();
            if params.len() != structure.n_params(k) {
                return Err(PyValueError::new_err(format!("random-effects term {t} needs {} parameters", structure.n_params(k))));
            }
            let mut template = vec![0.0; k * k];
            structure.fill_template(k, params, &mut template);
            Ok(DrawnTerm { codes: slice(codes, "codes")?, n_levels: *n_levels, z, template })
        })
        .collect()
}

/// `nsim` responses (n, nsim): η = eta_base + re_scale Σ Z T u over the drawn terms, then y
/// from the family's conditional distribution (sigma: residual scale; shape: the negative
/// binomial's θ; weights: prior weights, the binomial trials).
#[pyfunction]
#[pyo3(signature = (eta_base, drawn, re_scale, family, link, sigma, nsim, seed, shape=None, weights=None, first=0))]
#[allow(clippy::too_many_arguments)]
pub fn simulate<'py>(
    py: Python<'py>,
    eta_base: PyReadonlyArray1<'py, f64>,
    drawn: Vec<DrawnTuple<'py>>,
    re_scale: f64,
    family: &str,
    link: &str,
    sigma: f64,
    nsim: usize,
    seed: u64,
    shape: Option<f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    first: usize,
) -> PyResult<Py<PyAny>> {
    guard("simulate", || {
        let eta = slice(&eta_base, "eta_base")?;
        let design = SimulationDesign {
            eta_base: eta,
            drawn: drawn_terms(&drawn)?,
            re_scale,
            distribution: ConditionalDistribution::new(family, link, sigma, shape).map_err(to_py_err)?,
            weights: weights.as_ref().map(|w| slice(w, "weights")).transpose()?,
        };
        let n = eta.len();
        let values = py.detach(|| design.simulate_from(first, nsim, seed)).map_err(to_py_err)?;
        // Column-major (n, nsim): build (nsim, n) row-major and transpose.
        Ok(PyArray1::from_vec(py, values).reshape([nsim, n])?.transpose()?.into_any().unbind())
    })
}

/// The GLMM's simulation design at its fit: Xβ̂ + offset, every term drawn with T(θ̂).
fn glmm_design<'a>(
    problem: &PyGeneralizedLinearMixedModel,
    data: &ModelData<'a>,
    eta: &'a [f64],
    sim_weights: Option<&'a [f64]>,
    theta: &[f64],
    sigma: f64,
    shape: Option<f64>,
) -> PyResult<SimulationDesign<'a>> {
    let re = &problem.model.lmm.random_effects;
    let off = re.template_offsets();
    let mut templates = vec![0.0; *off.last().unwrap_or(&0)];
    if theta.len() != re.n_theta {
        return Err(PyValueError::new_err(format!("theta needs {} values", re.n_theta)));
    }
    re.fill_templates(theta, &off, &mut templates);
    let drawn = data
        .terms
        .iter()
        .enumerate()
        .map(|(t, term)| DrawnTerm { codes: term.codes, n_levels: term.n_levels, z: term.z, template: templates[off[t]..off[t + 1]].to_vec() })
        .collect();
    let family = problem.model.family.name();
    let link = problem.model.family.link().name();
    Ok(SimulationDesign {
        eta_base: eta,
        drawn,
        re_scale: 1.0,
        distribution: ConditionalDistribution::new(family, link, sigma, shape).map_err(to_py_err)?,
        weights: sim_weights,
    })
}

/// Parametric bootstrap refits of a GLMM (GIL released), from the original θ.
#[pyfunction]
#[pyo3(signature = (problem, theta, beta, sigma, first, count, seed, n_jobs=1, shape=None, fast=false, n_agq=1, estimate_shape=false))]
#[allow(clippy::too_many_arguments)]
pub fn bootstrap_glmm(
    py: Python<'_>,
    problem: PyRef<'_, PyGeneralizedLinearMixedModel>,
    theta: Vec<f64>,
    beta: Vec<f64>,
    sigma: f64,
    first: usize,
    count: usize,
    seed: u64,
    n_jobs: usize,
    shape: Option<f64>,
    fast: bool,
    n_agq: usize,
    estimate_shape: bool,
) -> PyResult<PyBootstrapReplicates> {
    check_run(count, n_jobs)?;
    let (n_theta, p) = (problem.model.n_theta(), beta.len());
    let spec = problem.family_spec.clone();
    let observed_information = problem.model.observed_information;
    let outcomes = guard("bootstrap", || {
        with_data(py, &problem.arrays, |data| {
            let no_b: Vec<Vec<f64>> = data.terms.iter().map(|t| vec![0.0; t.n_levels * t.k()]).collect();
            if beta.len() != data.p() {
                return Err(PyValueError::new_err(format!("beta needs {} values", data.p())));
            }
            let eta = fitted_values(data, &beta, &no_b);
            let sim_weights: Option<Vec<f64>> = spec.trials.clone().or_else(|| data.weights.map(|w| w.to_vec()));
            let design = glmm_design(&problem, data, &eta, sim_weights.as_deref(), &theta, sigma, shape)?;
            let options = GlmmFitOptions { theta_start: Some(theta.clone()), fast, n_agq, estimate_shape, skip_condvar: true, ..Default::default() };
            let boot = GlmmBootstrap {
                data: data.clone(),
                design,
                family: || match &spec.trials {
                    Some(n) => binomial_with_trials(spec.link.as_deref(), n.clone()),
                    None => family_with_shape(&spec.name, spec.link.as_deref(), shape.or(spec.shape)),
                },
                options,
                observed_information,
            };
            py.detach(|| boot.run(first, count, seed, n_jobs).map_err(to_py_err))
        })
    })?;
    replicates(py, outcomes, n_theta, p)
}

/// The simulated response of GLMM bootstrap replicate `index` (as `bootstrap_glmm` draws it).
#[pyfunction]
#[pyo3(signature = (problem, theta, beta, sigma, index, seed, shape=None))]
#[allow(clippy::too_many_arguments)]
pub fn glmm_replicate_response(
    py: Python<'_>,
    problem: PyRef<'_, PyGeneralizedLinearMixedModel>,
    theta: Vec<f64>,
    beta: Vec<f64>,
    sigma: f64,
    index: usize,
    seed: u64,
    shape: Option<f64>,
) -> PyResult<Py<PyAny>> {
    let spec = problem.family_spec.clone();
    guard("bootstrap replicate", || {
        with_data(py, &problem.arrays, |data| {
            let no_b: Vec<Vec<f64>> = data.terms.iter().map(|t| vec![0.0; t.n_levels * t.k()]).collect();
            let eta = fitted_values(data, &beta, &no_b);
            let sim_weights: Option<Vec<f64>> = spec.trials.clone().or_else(|| data.weights.map(|w| w.to_vec()));
            let design = glmm_design(&problem, data, &eta, sim_weights.as_deref(), &theta, sigma, shape)?;
            design.validate().map_err(to_py_err)?;
            let mut y = vec![0.0; data.n()];
            design.draw(&mut merx_core::rng::Rng::for_stream(seed, index as u64), &mut y);
            Ok(PyArray1::from_vec(py, y).into_any().unbind())
        })
    })
}
