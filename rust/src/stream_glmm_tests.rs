//! The streamed GLMM against the in-memory one on the same rows, read in batches of 40:
//! the Laplace deviance at fixed θ (β in PIRLS) and at fixed (θ, β), and the fit.

use super::*;
use crate::covariance::Unstructured;
use crate::data::{ModelData, TermData};
use crate::family::family_by_name;
use crate::glmm_fit::{fit_glmm, GlmmFitOptions};
use crate::pirls::GeneralizedLinearMixedModel;
use faer::Mat;

struct Rows {
    x: Mat<f64>,
    z: Mat<f64>,
    g1: Vec<i64>,
    g2: Vec<i64>,
    y: Vec<f64>,
    offset: Vec<f64>,
}

/// A count response on two crossed scalar terms (7 × 5 levels) with an offset.
fn rows(n: usize) -> Rows {
    let x = Mat::<f64>::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { ((i * 7) % 11) as f64 / 5.0 - 1.0 });
    let z = Mat::<f64>::from_fn(n, 1, |_, _| 1.0);
    let g1: Vec<i64> = (0..n).map(|i| (i % 7) as i64).collect();
    let g2: Vec<i64> = (0..n).map(|i| ((i * 3 + i / 11) % 5) as i64).collect();
    let offset: Vec<f64> = (0..n).map(|i| ((i % 3) as f64) * 0.2).collect();
    let y = (0..n).map(|i| (((i * i + 3 * i) % 9) as f64 / 2.0 + g1[i] as f64 * 0.4).floor()).collect();
    Rows { x, z, g1, g2, y, offset }
}

struct InMemoryBatches<'a> {
    rows: &'a Rows,
    size: usize,
    family: Arc<dyn Family>,
}

impl PassSource for InMemoryBatches<'_> {
    fn pass(&mut self, point: &PassPoint) -> Result<GlmmPassAccumulator> {
        let r = self.rows;
        let mut acc = GlmmPassAccumulator::new(self.family.clone(), 2, &[(7, 1), (5, 1)], vec![0.0, 0.5])?;
        let n = r.y.len();
        for lo in (0..n).step_by(self.size) {
            let hi = (lo + self.size).min(n);
            let mut part = GlmmPassAccumulator::new(self.family.clone(), 2, &[(7, 1), (5, 1)], vec![0.0, 0.5])?;
            let batch = GlmmBatch {
                x: r.x.as_ref().subrows(lo, hi - lo),
                y: &r.y[lo..hi],
                prior: None,
                offset: Some(&r.offset[lo..hi]),
                codes: vec![&r.g1[lo..hi], &r.g2[lo..hi]],
                z: vec![r.z.as_ref().subrows(lo, hi - lo), r.z.as_ref().subrows(lo, hi - lo)],
            };
            part.add_batch(&batch, point)?;
            acc.merge(&part)?;
        }
        Ok(acc)
    }
}

fn models(r: &Rows) -> (GeneralizedLinearMixedModel, StreamedGlmm, ModelData<'_>) {
    let data = ModelData {
        x: r.x.as_ref(),
        y: &r.y,
        terms: vec![TermData::new(&r.g1, 7, r.z.as_ref()), TermData::new(&r.g2, 5, r.z.as_ref())],
        weights: None,
        offset: Some(&r.offset),
    };
    let memory = GeneralizedLinearMixedModel::new(&data, family_by_name("poisson", None).unwrap()).unwrap();
    let un: Arc<dyn CovarianceStructure> = Arc::new(Unstructured);
    let terms = [(7, 1, un.clone()), (5, 1, un)];
    let streamed = StreamedGlmm::new(Arc::from(family_by_name("poisson", None).unwrap()), 2, vec![0, 1], Some(0), &terms).unwrap();
    (memory, streamed, data)
}

#[test]
fn laplace_deviance_equals_the_in_memory_one() {
    let r = rows(300);
    let (mut memory, mut streamed, data) = models(&r);
    let mut source = InMemoryBatches { rows: &r, size: 40, family: streamed.family.clone() };
    for theta in [[0.6, 0.4], [1.0, 1.0], [0.2, 0.9]] {
        memory.keep_state_as_start();
        let m = memory.laplace(&data, &theta, None).unwrap();
        let s = streamed.laplace(&mut source, &theta, None).unwrap();
        assert!((m.deviance - s.deviance).abs() <= 1e-10 * m.deviance, "{theta:?}: {} {}", m.deviance, s.deviance);
        assert!((m.ld_l2 - s.ld_l2).abs() <= 1e-9 * m.ld_l2.abs().max(1.0));
    }
    // With β held (the second stage), from the first stage's state.
    streamed.start = streamed.state.clone();
    memory.keep_state_as_start();
    let beta = [0.3, 0.2];
    let m = memory.laplace(&data, &[0.5, 0.5], Some(&beta)).unwrap();
    let s = streamed.laplace(&mut source, &[0.5, 0.5], Some(&beta)).unwrap();
    assert!((m.deviance - s.deviance).abs() <= 1e-10 * m.deviance, "{} {}", m.deviance, s.deviance);
}

#[test]
fn fit_reaches_the_in_memory_optimum() {
    let r = rows(300);
    let (mut memory, mut streamed, data) = models(&r);
    let mut source = InMemoryBatches { rows: &r, size: 40, family: streamed.family.clone() };
    let m = fit_glmm(&mut memory, &data, &GlmmFitOptions { n_agq: 1, ..Default::default() }).unwrap();
    let s = streamed.fit(&mut source, &StreamedGlmmOptions::default(), None).unwrap();
    assert!((m.evaluation.objective - s.evaluation.objective).abs() <= 1e-8 * m.evaluation.objective);
    for (a, b) in m.beta.iter().zip(&s.beta).chain(m.theta.iter().zip(&s.theta)) {
        assert!((a - b).abs() <= 1e-5 * a.abs().max(0.1), "{:?} {:?} / {:?} {:?}", m.beta, s.beta, m.theta, s.theta);
    }
    assert!(streamed.n_passes > 20);
}

#[test]
fn a_non_canonical_link_is_refused() {
    let un: Arc<dyn CovarianceStructure> = Arc::new(Unstructured);
    let family = Arc::from(family_by_name("binomial", Some("probit")).unwrap());
    match StreamedGlmm::new(family, 2, vec![0, 1], Some(0), &[(3, 1, un)]) {
        Err(e) => assert!(e.to_string().contains("canonical"), "{e}"),
        Ok(_) => panic!("the probit link was accepted"),
    }
}
