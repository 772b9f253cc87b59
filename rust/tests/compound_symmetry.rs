//! Compound symmetry against dense computations on small random designs: its template
//! reproduces τ²((1-ρ)I + ρJ), and the model's ML deviance and REML criterion equal the
//! dense Gaussian marginal likelihood y ~ N(Xβ, σ²(W⁻¹ + ZΣZ')) with Σ block diagonal.

mod common;

use faer::Mat;
use merx_core::covariance::{CompoundSymmetry, CovarianceStructure};
use merx_core::fit::{fit_lmm, FitOptions};
use merx_core::optimize::OptimizerMethod;
use merx_core::{LinearMixedModel, ModelData, TermData};
use common::{dense_objectives, Rng};
use proptest::prelude::*;
use std::sync::Arc;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn template_reproduces_the_compound_symmetry_matrix(k in 1usize..6, tau in 0.0f64..3.0, r in 0.0f64..=1.0) {
        let s = CompoundSymmetry;
        let lo = if k > 1 { -1.0 / (k as f64 - 1.0) } else { 0.0 };
        let rho = if k > 1 { lo + r * (1.0 - lo) } else { 0.0 };
        let params: Vec<f64> = if k > 1 { vec![tau, rho] } else { vec![tau] };
        let mut t = vec![0.0; k * k];
        s.fill_template(k, &params, &mut t);
        for i in 0..k {
            for j in 0..k {
                if j > i {
                    prop_assert_eq!(t[j * k + i], 0.0);
                }
                let tt: f64 = (0..k).map(|c| t[c * k + i] * t[c * k + j]).sum();
                let want = tau * tau * if i == j { 1.0 } else { rho };
                prop_assert!((tt - want).abs() < 1e-12 * (1.0 + tau * tau), "k={} τ={} ρ={} ({},{}) {} vs {}", k, tau, rho, i, j, tt, want);
            }
        }
    }

    #[test]
    fn objective_matches_the_dense_likelihood(k in 2usize..5, levels in 3usize..10, per in 2usize..6,
                                               tau in 0.05f64..2.5, r in 0.02f64..0.98, weighted in any::<bool>(),
                                               seed in any::<u64>()) {
        let mut rng = Rng(seed | 1);
        let n = levels * per;
        let codes: Vec<i64> = (0..n).map(|i| (i % levels) as i64).collect();
        let z = Mat::<f64>::from_fn(n, k, |i, j| if j == 0 { 1.0 } else { ((i * (j + 3)) % 7) as f64 / 3.0 - 1.0 + 0.1 * rng.normal() });
        let x = Mat::<f64>::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { z[(i, 1)] + 0.5 * ((i % 3) as f64) });
        let y: Vec<f64> = (0..n).map(|i| 2.0 + x[(i, 1)] + 0.7 * ((codes[i] as f64) - 1.5) + rng.normal()).collect();
        let w: Vec<f64> = (0..n).map(|i| if weighted { 0.5 + (i % 4) as f64 * 0.5 } else { 1.0 }).collect();
        let lo = -1.0 / (k as f64 - 1.0);
        let rho = lo + r * (1.0 - lo);
        let data = ModelData {
            x: x.as_ref(),
            y: &y,
            terms: vec![TermData::new(&codes, levels, z.as_ref()).with_covariance(Arc::new(CompoundSymmetry))],
            weights: if weighted { Some(&w) } else { None },
            offset: None,
        };
        let mut t = vec![0.0; k * k];
        CompoundSymmetry.fill_template(k, &[tau, rho], &mut t);
        let tmpl = Mat::from_fn(k, k, |i, j| t[j * k + i]);
        let (ml, reml) = dense_objectives(&x, &y, &w, &z, &codes, &tmpl);
        for use_reml in [false, true] {
            let mut model = LinearMixedModel::new(&data, use_reml).unwrap();
            prop_assert_eq!(model.n_theta(), 2);
            let e = model.evaluate(&[tau, rho]).unwrap();
            prop_assert!(close(e.deviance_ml, ml), "ML {} vs dense {}", e.deviance_ml, ml);
            prop_assert!(close(e.reml_criterion, reml), "REML {} vs dense {}", e.reml_criterion, reml);
        }
    }
}

/// Both optimizers agree on a compound-symmetry fit, which stays inside ρ's range.
#[test]
fn fits_agree_across_optimizers() {
    let mut rng = Rng(7);
    let (levels, per, k) = (12, 6, 3);
    let n = levels * per;
    let codes: Vec<i64> = (0..n).map(|i| (i % levels) as i64).collect();
    let z = Mat::<f64>::from_fn(n, k, |i, j| if j == 0 { 1.0 } else { ((i / levels + j) % 3) as f64 - 1.0 });
    let x = Mat::<f64>::from_fn(n, 1, |_, _| 1.0);
    let b: Vec<f64> = (0..levels * k).map(|_| rng.normal()).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            let l = codes[i] as usize;
            let shared = b[l * k];
            (0..k).map(|a| z[(i, a)] * (0.6 * shared + 0.8 * b[l * k + a])).sum::<f64>() + 0.5 * rng.normal()
        })
        .collect();
    let data = ModelData {
        x: x.as_ref(),
        y: &y,
        terms: vec![TermData::new(&codes, levels, z.as_ref()).with_covariance(Arc::new(CompoundSymmetry))],
        weights: None,
        offset: None,
    };
    let mut fits = Vec::new();
    for method in [OptimizerMethod::Bobyqa, OptimizerMethod::QuasiNewton] {
        let mut model = LinearMixedModel::new(&data, true).unwrap();
        let mut options = FitOptions::default();
        options.optimizer.method = method;
        fits.push(fit_lmm(&mut model, &options).unwrap());
    }
    let (a, b) = (&fits[0], &fits[1]);
    assert!((a.evaluation.objective - b.evaluation.objective).abs() < 1e-6, "{} vs {}", a.evaluation.objective, b.evaluation.objective);
    assert!(a.theta[1] > -0.5 && a.theta[1] <= 1.0);
    // A correlation outside its range is refused, not clamped.
    let mut model = LinearMixedModel::new(&data, true).unwrap();
    let err = model.evaluate(&[1.0, 1.5]).unwrap_err().to_string();
    assert!(err.contains("random-effects term 0 (compound_symmetry): the correlation 1.5 is outside [-0.5, 1]"), "{err}");
}
