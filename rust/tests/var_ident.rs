//! nlme's varIdent against dense computations on small random designs: the profiled
//! objective in (θ, log δ) equals the dense Gaussian (restricted) likelihood with
//! V = σ²(ZΛΛ'Z' + W⁻¹), W⁻¹ = diag(δ²_{s(i)} / p_i), for ML and REML; and a fit with the
//! ratios estimated reaches an objective no fixed-ratio fit at its ratios improves on.

mod common;

use common::{dense_objectives, Rng};
use faer::Mat;
use merx_core::fit::FitOptions;
use merx_core::lme::ResidualStructureModel;
use merx_core::residual::{ResidualStructure, SeriesLayout, VarIdent};
use merx_core::{ModelData, TermData};
use proptest::prelude::*;

struct Design {
    x: Mat<f64>,
    z: Mat<f64>,
    y: Vec<f64>,
    codes: Vec<i64>,
    strata: Vec<i64>,
    prior: Vec<f64>,
    levels: usize,
    n_strata: usize,
}

fn design(seed: u64, levels: usize, per: usize, n_strata: usize) -> Design {
    let mut rng = Rng(seed | 1);
    let n = levels * per;
    let codes: Vec<i64> = (0..n).map(|i| (i % levels) as i64).collect();
    let strata: Vec<i64> = (0..n).map(|i| ((i / levels + i) % n_strata) as i64).collect();
    let z = Mat::<f64>::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { (i / levels) as f64 + 0.3 * rng.normal() });
    let x = Mat::<f64>::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { z[(i, 1)] });
    let b: Vec<f64> = (0..levels).map(|_| rng.normal()).collect();
    let y: Vec<f64> = (0..n).map(|i| 1.0 + 0.5 * x[(i, 1)] + b[codes[i] as usize] + (1.0 + strata[i] as f64) * 0.4 * rng.normal()).collect();
    let prior: Vec<f64> = (0..n).map(|i| 0.5 + (i % 4) as f64 * 0.5).collect();
    Design { x, z, y, codes, strata, prior, levels, n_strata }
}

fn data<'a>(d: &'a Design, weighted: bool) -> ModelData<'a> {
    ModelData {
        x: d.x.as_ref(),
        y: &d.y,
        terms: vec![TermData::new(&d.codes, d.levels, d.z.as_ref())],
        weights: weighted.then_some(&d.prior[..]),
        offset: None,
    }
}

/// varIdent alone as a residual structure (its strata are the row classes).
fn model_of(d: &Design, data: &ModelData, reml: bool) -> ResidualStructureModel {
    let vi = VarIdent::new(&d.strata, d.n_strata, data.weights).unwrap();
    let structure = ResidualStructure::new(Some(Box::new(vi)), None, SeriesLayout::independent(d.y.len())).unwrap();
    let model = ResidualStructureModel::new(data, structure, reml).unwrap();
    assert_eq!(model.n_classes(), Some(d.n_strata));
    model
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn objective_matches_the_dense_likelihood(levels in 3usize..8, per in 3usize..7, n_strata in 2usize..4,
                                               t11 in 0.05f64..2.0, t21 in -1.0f64..1.0, t22 in 0.0f64..1.0,
                                               log_ratio in proptest::collection::vec(-1.5f64..1.5, 3),
                                               weighted in any::<bool>(), seed in any::<u64>()) {
        let d = design(seed, levels, per, n_strata);
        let data = data(&d, weighted);
        let lr = &log_ratio[..n_strata - 1];
        let ratio: Vec<f64> = std::iter::once(1.0).chain(lr.iter().map(|l| l.exp())).collect();
        let w: Vec<f64> = (0..d.y.len())
            .map(|i| (if weighted { d.prior[i] } else { 1.0 }) / ratio[d.strata[i] as usize].powi(2))
            .collect();
        let tmpl = Mat::from_fn(2, 2, |i, j| [[t11, 0.0], [t21, t22]][i][j]);
        let (ml, reml) = dense_objectives(&d.x, &d.y, &w, &d.z, &d.codes, &tmpl);
        let params: Vec<f64> = [t11, t21, t22].iter().chain(lr).copied().collect();
        for use_reml in [false, true] {
            let mut model = model_of(&d, &data, use_reml);
            let e = model.evaluate(&params).unwrap();
            prop_assert!((e.deviance_ml - ml).abs() <= 1e-9 * ml.abs().max(1.0), "ML {} vs dense {}", e.deviance_ml, ml);
            prop_assert!((e.reml_criterion - reml).abs() <= 1e-9 * reml.abs().max(1.0), "REML {} vs dense {}", e.reml_criterion, reml);
        }
    }
}

/// The fit's optimum is stationary: no coordinate step in θ or log δ lowers the objective,
/// and the ratios recover the simulated ordering of the strata's noise.
#[test]
fn fit_reaches_a_stationary_point() {
    let d = design(11, 30, 6, 3);
    let data = data(&d, false);
    let mut model = model_of(&d, &data, true);
    let fit = model.fit(&FitOptions::default()).unwrap();
    assert!(fit.converged, "{}", fit.message);
    assert_eq!(fit.residual_parameters.len(), 2);
    let best: Vec<f64> = fit.theta.iter().chain(&fit.residual_parameters).copied().collect();
    let f0 = model.evaluate(&best).unwrap().objective;
    assert!((f0 - fit.evaluation.objective).abs() < 1e-10 * f0.abs());
    for j in 0..best.len() {
        for step in [-1e-3, 1e-3] {
            let mut p = best.clone();
            p[j] += step;
            if j < 3 && (j == 0 || j == 2) && p[j] < 0.0 {
                continue;
            }
            let f = model.evaluate(&p).unwrap().objective;
            assert!(f >= f0 - 1e-8, "parameter {j} step {step}: {f} < {f0}");
        }
    }
    // Noise SDs 0.4, 0.8, 1.2 by stratum: the log-ratios are positive and increasing.
    let lr = &fit.residual_parameters;
    assert!(lr[0] > 0.0 && lr[1] > lr[0], "{lr:?}");
}
