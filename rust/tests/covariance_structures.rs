//! glmmTMB's structures (`ar1`, heterogeneous `cs`, `diag`) against their dense definitions:
//! each template T satisfies T T' = Var(b_level)/σ² as glmmTMB defines it, is lower
//! triangular, and its analytic Jacobian and Hessian match central differences of the
//! template and of the Jacobian; a model with an ar1 term evaluates to the dense Gaussian
//! likelihood; both optimizers agree on an ar1 fit.

mod common;

use common::{dense_objectives, Rng};
use faer::Mat;
use merx_core::covariance::{Ar1, CovarianceStructure, Diagonal, HeterogeneousCompoundSymmetry};
use merx_core::fit::{fit_lmm, FitOptions};
use merx_core::optimize::OptimizerMethod;
use merx_core::{LinearMixedModel, ModelData, TermData};
use proptest::prelude::*;
use std::f64::consts::FRAC_PI_2;
use std::sync::Arc;

fn template(s: &dyn CovarianceStructure, k: usize, p: &[f64]) -> Vec<f64> {
    let mut t = vec![0.0; k * k];
    s.fill_template(k, p, &mut t);
    t
}

fn jacobian(s: &dyn CovarianceStructure, k: usize, p: &[f64]) -> Vec<f64> {
    let mut j = vec![0.0; s.n_params(k) * k * k];
    s.template_jacobian(k, p, &mut j);
    j
}

/// T T' against `want(i, j)`, and T's upper triangle zero.
fn check_product(s: &dyn CovarianceStructure, k: usize, p: &[f64], want: impl Fn(usize, usize) -> f64) -> Result<(), TestCaseError> {
    let t = template(s, k, p);
    for i in 0..k {
        for j in 0..k {
            if j > i {
                prop_assert_eq!(t[j * k + i], 0.0);
            }
            let tt: f64 = (0..k).map(|c| t[c * k + i] * t[c * k + j]).sum();
            let w = want(i, j);
            prop_assert!((tt - w).abs() <= 1e-11 * (1.0 + w.abs()), "{} k={} {:?} ({},{}): {} vs {}", s.name(), k, p, i, j, tt, w);
        }
    }
    Ok(())
}

/// The Jacobian against central differences of T, and the Hessian against central
/// differences of the Jacobian.
fn check_derivatives(s: &dyn CovarianceStructure, k: usize, p: &[f64]) -> Result<(), TestCaseError> {
    let (m, kk, h) = (s.n_params(k), k * k, 1e-5);
    let jac = jacobian(s, k, p);
    let mut hess = vec![f64::NAN; m * m * kk];
    prop_assert!(s.template_hessian(k, p, &mut hess));
    for i in 0..m {
        let (mut pp, mut pm) = (p.to_vec(), p.to_vec());
        pp[i] += h;
        pm[i] -= h;
        let (tp, tm) = (template(s, k, &pp), template(s, k, &pm));
        let (jp, jm) = (jacobian(s, k, &pp), jacobian(s, k, &pm));
        for e in 0..kk {
            let fd = (tp[e] - tm[e]) / (2.0 * h);
            let an = jac[i * kk + e];
            prop_assert!((fd - an).abs() <= 1e-6 * (1.0 + an.abs()), "{} k={} {:?} ∂/∂p{} entry {}: {} vs {}", s.name(), k, p, i, e, fd, an);
        }
        for j in 0..m {
            for e in 0..kk {
                let fd = (jp[j * kk + e] - jm[j * kk + e]) / (2.0 * h);
                let an = hess[(i * m + j) * kk + e];
                prop_assert!((fd - an).abs() <= 1e-5 * (1.0 + an.abs()), "{} k={} {:?} ∂²/∂p{}∂p{} entry {}: {} vs {}", s.name(), k, p, i, j, e, fd, an);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn ar1_reproduces_its_covariance(k in 1usize..8, sd in 0.0f64..3.0, u in -FRAC_PI_2..=FRAC_PI_2) {
        let p: Vec<f64> = if k > 1 { vec![sd, u] } else { vec![sd] };
        let phi = u.sin();
        check_product(&Ar1, k, &p, |i, j| sd * sd * if k > 1 { phi.powi((i as i32 - j as i32).abs()) } else { 1.0 })?;
        check_derivatives(&Ar1, k, &p)?;
    }

    #[test]
    fn heterogeneous_compound_symmetry_reproduces_its_covariance(k in 1usize..7, sds in prop::collection::vec(0.0f64..3.0, 7), v in 0.0f64..=FRAC_PI_2) {
        let mut p = sds[..k].to_vec();
        let a = if k > 1 { 1.0 / (k as f64 - 1.0) } else { 0.0 };
        let rho = -a + (1.0 + a) * v.sin().powi(2);
        if k > 1 {
            p.push(v);
        }
        check_product(&HeterogeneousCompoundSymmetry, k, &p, |i, j| sds[i] * sds[j] * if i == j { 1.0 } else { rho })?;
        check_derivatives(&HeterogeneousCompoundSymmetry, k, &p)?;
    }

    #[test]
    fn diagonal_has_one_variance_per_column(k in 1usize..7, sds in prop::collection::vec(0.0f64..3.0, 7)) {
        let p = sds[..k].to_vec();
        check_product(&Diagonal, k, &p, |i, j| if i == j { sds[i] * sds[i] } else { 0.0 })?;
        check_derivatives(&Diagonal, k, &p)?;
    }

    #[test]
    fn ar1_model_matches_the_dense_likelihood(k in 2usize..6, levels in 3usize..9, sd in 0.05f64..2.0, u in -1.5f64..1.5, seed in any::<u64>()) {
        let mut rng = Rng(seed | 1);
        // one row per (level, time point), some rows dropped; Z the time point's indicator
        let rows: Vec<(usize, usize)> = (0..levels).flat_map(|l| (0..k).map(move |t| (l, t))).filter(|_| rng.unif() > 0.15).collect();
        let n = rows.len();
        prop_assume!(n > levels * k / 2 + 2);
        let codes: Vec<i64> = rows.iter().map(|&(l, _)| l as i64).collect();
        let z = Mat::<f64>::from_fn(n, k, |i, j| if rows[i].1 == j { 1.0 } else { 0.0 });
        let x_mat = Mat::<f64>::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { rows[i].1 as f64 });
        let mut rng = Rng(seed | 3);
        let y: Vec<f64> = (0..n).map(|i| 1.0 + 0.3 * rows[i].1 as f64 + rng.normal()).collect();
        let w = vec![1.0; n];
        let data = ModelData {
            x: x_mat.as_ref(),
            y: &y,
            terms: vec![TermData::new(&codes, levels, z.as_ref()).with_covariance(Arc::new(Ar1))],
            weights: None,
            offset: None,
        };
        let t = template(&Ar1, k, &[sd, u]);
        let tmpl = Mat::from_fn(k, k, |i, j| t[j * k + i]);
        let (ml, reml) = dense_objectives(&x_mat, &y, &w, &z, &codes, &tmpl);
        for use_reml in [false, true] {
            let mut model = LinearMixedModel::new(&data, use_reml).unwrap();
            let e = model.evaluate(&[sd, u]).unwrap();
            let (got, want) = if use_reml { (e.reml_criterion, reml) } else { (e.deviance_ml, ml) };
            prop_assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "reml={} {} vs dense {}", use_reml, got, want);
        }
    }
}

/// BOBYQA and quasi-Newton reach the same ar1 optimum on data simulated with φ = 0.8.
#[test]
fn ar1_fits_agree_across_optimizers() {
    let mut rng = Rng(11);
    let (levels, k, phi) = (40, 6, 0.8f64);
    let n = levels * k;
    let codes: Vec<i64> = (0..n).map(|i| (i / k) as i64).collect();
    let z = Mat::<f64>::from_fn(n, k, |i, j| if i % k == j { 1.0 } else { 0.0 });
    let x = Mat::<f64>::from_fn(n, 1, |_, _| 1.0);
    let mut y = vec![0.0; n];
    for l in 0..levels {
        let mut b = rng.normal();
        for t in 0..k {
            if t > 0 {
                b = phi * b + (1.0 - phi * phi).sqrt() * rng.normal();
            }
            y[l * k + t] = 2.0 + 0.7 * b + 0.3 * rng.normal();
        }
    }
    let data = ModelData {
        x: x.as_ref(),
        y: &y,
        terms: vec![TermData::new(&codes, levels, z.as_ref()).with_covariance(Arc::new(Ar1))],
        weights: None,
        offset: None,
    };
    let mut fits = Vec::new();
    for method in [OptimizerMethod::Bobyqa, OptimizerMethod::QuasiNewton] {
        let mut model = LinearMixedModel::new(&data, false).unwrap();
        let mut options = FitOptions::default();
        options.optimizer.method = method;
        fits.push(fit_lmm(&mut model, &options).unwrap());
    }
    let (a, b) = (&fits[0], &fits[1]);
    assert!((a.evaluation.objective - b.evaluation.objective).abs() < 1e-6, "{} vs {}", a.evaluation.objective, b.evaluation.objective);
    let phi_hat = a.theta[1].sin();
    assert!(phi_hat > 0.5 && phi_hat < 0.95, "φ̂ = {phi_hat}");
    // Past the bounds the template stays a factor of the same family: s → -s and u → π - u
    // leave T T' unchanged (a GLMM's Hessian differences at a bound step there).
    let at = |p: &[f64]| {
        let t = template(&Ar1, k, p);
        (0..k * k).map(|e| (0..k).map(|c| t[c * k + e % k] * t[c * k + e / k]).sum::<f64>()).collect::<Vec<f64>>()
    };
    let (want, got) = (at(&[0.7, 1.2]), at(&[-0.7, std::f64::consts::PI - 1.2]));
    assert!(want.iter().zip(&got).all(|(a, b)| (a - b).abs() < 1e-12), "{want:?} vs {got:?}");
}
