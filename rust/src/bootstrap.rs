//! Bootstrap refits of a linear mixed model or GLMM on Rust threads.
//!
//! Replicate i draws from stream i of the seed ([`Rng::for_stream`]) and is written to slot
//! i, so the replicates are the same whatever the number of threads: the threads only take
//! the next index from a shared counter. Each thread holds one model (one symbolic analysis
//! per thread): the kinds that keep the design (parametric, semiparametric, residual, wild,
//! REB) replace only the response's cross-products per replicate
//! ([`LinearMixedModel::replace_response`], O(n)); case resampling changes the design and
//! builds each replicate's model afresh; a GLMM replicate builds its model afresh too (the
//! family and PIRLS state hold the response), starting θ at the original estimate.
//!
//! The response generators are in `bootstrap_resample.rs`, case resampling in
//! `bootstrap_cases.rs`.

use crate::bootstrap_cases::CaseHierarchy;
use crate::bootstrap_resample::ResponseGenerator;
use crate::data::ModelData;
use crate::error::{invalid, MerxError, Result};
use crate::family::Family;
use crate::fit::{fit_lmm, FitOptions, MixedModelFit};
use crate::glmm_fit::{fit_glmm, GlmmFitOptions};
use crate::pirls::GeneralizedLinearMixedModel;
use crate::pls::LinearMixedModel;
use crate::residual::ResidualCovariance;
use crate::rng::Rng;
use crate::simulate::SimulationDesign;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub use crate::bootstrap_resample::{Draws, Hccme, ResamplingKind, WildWeights};

/// The estimates a bootstrap replicate reports (or why its refit failed).
#[derive(Clone, Debug)]
pub struct Replicate {
    pub theta: Vec<f64>,
    pub beta: Vec<f64>,
    pub sigma: f64,
    pub objective: f64,
    pub converged: bool,
}

pub type ReplicateOutcome = std::result::Result<Replicate, String>;

impl Replicate {
    fn from_fit(fit: &MixedModelFit) -> Self {
        Replicate {
            theta: fit.theta.clone(),
            beta: fit.beta.clone(),
            sigma: fit.sigma,
            objective: fit.evaluation.objective,
            converged: fit.converged,
        }
    }
}

/// Runs replicates `first..first + count` on `n_jobs` threads: `make_worker` once per
/// thread, `run(worker, i)` per replicate i; outcomes in replicate order.
pub fn run_replicates<W, M, R>(first: usize, count: usize, n_jobs: usize, make_worker: M, run: R) -> Result<Vec<ReplicateOutcome>>
where
    M: Fn() -> Result<W> + Sync,
    R: Fn(&mut W, usize) -> ReplicateOutcome + Sync,
{
    if n_jobs == 0 {
        return invalid("n_jobs must be at least 1");
    }
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<ReplicateOutcome>>> = Mutex::new(vec![None; count]);
    let failure: Mutex<Option<crate::error::MerxError>> = Mutex::new(None);
    let work = || {
        let mut worker = match make_worker() {
            Ok(w) => w,
            Err(e) => {
                *failure.lock().unwrap() = Some(e);
                return;
            }
        };
        loop {
            let j = next.fetch_add(1, Ordering::Relaxed);
            if j >= count {
                return;
            }
            let outcome = run(&mut worker, first + j);
            slots.lock().unwrap()[j] = Some(outcome);
        }
    };
    let threads = n_jobs.min(count.max(1));
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    if let Some(e) = failure.into_inner().unwrap() {
        return Err(e);
    }
    Ok(slots.into_inner().unwrap().into_iter().map(|o| o.unwrap_or_else(|| Err("not run".into()))).collect())
}

/// The original fit the replicates are drawn from.
#[derive(Clone, Debug)]
pub struct OriginalFit {
    pub theta: Vec<f64>,
    pub beta: Vec<f64>,
    /// Conditional modes per term, level-major (L × k).
    pub b: Vec<Vec<f64>>,
    pub sigma: f64,
}

/// A linear mixed model's bootstrap: the data, the original fit and how replicates are made.
pub struct LmmBootstrap<'a> {
    data: ModelData<'a>,
    residual: Arc<dyn ResidualCovariance>,
    reml: bool,
    original: OriginalFit,
    source: ReplicateSource,
}

enum ReplicateSource {
    Response(ResponseGenerator),
    Cases(CaseHierarchy),
}

impl<'a> LmmBootstrap<'a> {
    /// `model` is the fitted model (for its residual covariance and weights).
    pub fn new(data: ModelData<'a>, model: &LinearMixedModel, original: OriginalFit, kind: ResamplingKind) -> Result<Self> {
        data.validate()?;
        if original.beta.len() != data.p() || original.theta.len() != model.n_theta() || original.b.len() != data.terms.len() {
            return invalid("the original fit does not belong to these data (beta, theta or modes have the wrong size)");
        }
        let source = match kind {
            ResamplingKind::Case { resample } => ReplicateSource::Cases(CaseHierarchy::new(&data, &resample)?),
            other => {
                let weights = model.residual_weights(&data).map(|w| w.to_vec());
                ReplicateSource::Response(ResponseGenerator::new(&data, model, weights, &original, other)?)
            }
        };
        Ok(LmmBootstrap { data, residual: model.residual.clone(), reml: model.reml, original, source })
    }

    fn options(&self) -> FitOptions {
        FitOptions { theta_start: Some(self.original.theta.clone()), skip_condvar: true, ..Default::default() }
    }

    /// The response of replicate `index` and the choices it was built from (kinds that
    /// keep the design).
    pub fn response(&self, index: usize, seed: u64) -> Result<(Vec<f64>, Draws)> {
        match &self.source {
            ReplicateSource::Response(g) => {
                let mut y = vec![0.0; self.data.n()];
                let draws = g.generate(&mut Rng::for_stream(seed, index as u64), &mut y).map_err(MerxError::InvalidInput)?;
                Ok((y, draws))
            }
            ReplicateSource::Cases(_) => invalid("case resampling changes the rows: ask for the case sample instead"),
        }
    }

    /// The rows and new grouping codes of replicate `index` (case resampling).
    pub fn case_sample(&self, index: usize, seed: u64) -> Result<crate::bootstrap_cases::CaseSample> {
        match &self.source {
            ReplicateSource::Cases(h) => Ok(h.draw(&mut Rng::for_stream(seed, index as u64))),
            ReplicateSource::Response(_) => invalid("only case resampling draws rows"),
        }
    }

    /// Refits replicates `first..first + count` on `n_jobs` threads.
    pub fn run(&self, first: usize, count: usize, seed: u64, n_jobs: usize) -> Result<Vec<ReplicateOutcome>> {
        let options = self.options();
        match &self.source {
            ReplicateSource::Response(generator) => {
                let make = || -> Result<(LinearMixedModel, Vec<f64>)> {
                    let model = LinearMixedModel::with_residual(&self.data, self.residual.clone(), self.reml)?;
                    Ok((model, vec![0.0; self.data.n()]))
                };
                run_replicates(first, count, n_jobs, make, |(model, y), i| {
                    generator.generate(&mut Rng::for_stream(seed, i as u64), y)?;
                    let data = ModelData { y: &y[..], ..self.data.clone() };
                    model.replace_response(&data).map_err(|e| e.to_string())?;
                    fit_lmm(model, &options).map(|f| Replicate::from_fit(&f)).map_err(|e| e.to_string())
                })
            }
            ReplicateSource::Cases(hierarchy) => run_replicates(first, count, n_jobs, || Ok(()), |_, i| {
                let sample = hierarchy.draw(&mut Rng::for_stream(seed, i as u64));
                let owned = sample.rows_of(&self.data);
                let data = owned.view(&self.data);
                let mut model =
                    LinearMixedModel::with_residual(&data, self.residual.clone(), self.reml).map_err(|e| e.to_string())?;
                fit_lmm(&mut model, &options).map(|f| Replicate::from_fit(&f)).map_err(|e| e.to_string())
            }),
        }
    }
}

/// A GLMM's parametric bootstrap: responses simulated from the fit, each refitted from the
/// original θ.
pub struct GlmmBootstrap<'a, F: Fn() -> Result<Box<dyn Family>> + Sync> {
    pub data: ModelData<'a>,
    pub design: SimulationDesign<'a>,
    /// Builds the fit's family (with its trials or shape) for each replicate's model.
    pub family: F,
    pub options: GlmmFitOptions,
    /// glmmTMB's Laplace (observed information) as the fitted model used.
    pub observed_information: bool,
}

impl<'a, F: Fn() -> Result<Box<dyn Family>> + Sync> GlmmBootstrap<'a, F> {
    pub fn response(&self, index: usize, seed: u64) -> Vec<f64> {
        let mut y = vec![0.0; self.data.n()];
        self.design.draw(&mut Rng::for_stream(seed, index as u64), &mut y);
        y
    }

    pub fn run(&self, first: usize, count: usize, seed: u64, n_jobs: usize) -> Result<Vec<ReplicateOutcome>> {
        self.design.validate()?;
        run_replicates(first, count, n_jobs, || Ok(vec![0.0; self.data.n()]), |y, i| {
            self.design.draw(&mut Rng::for_stream(seed, i as u64), y);
            let data = ModelData { y: &y[..], ..self.data.clone() };
            let family = (self.family)().map_err(|e| e.to_string())?;
            let mut model = GeneralizedLinearMixedModel::new(&data, family).map_err(|e| e.to_string())?;
            model.observed_information = self.observed_information;
            fit_glmm(&mut model, &data, &self.options).map(|f| Replicate::from_fit(&f)).map_err(|e| e.to_string())
        })
    }
}
