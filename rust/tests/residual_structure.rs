//! nlme's residual structures against dense computations on small random designs: the
//! class-combined objective in (θ, structure parameters) equals the dense Gaussian
//! (restricted) likelihood with V = σ²(ZΛΛ'Z' + S R S), R formed densely from the
//! correlation function (AR(1) with gaps and with a negative φ, CAR(1), exponential), with
//! and without varIdent, for ML and REML; the row path (one pass per evaluation) equals the
//! class path; varPower's row path equals the dense likelihood; bad input is an error.

mod common;

use common::{dense_objectives_with, Rng};
use faer::Mat;
use merx_core::lme::ResidualStructureModel;
use merx_core::residual::{CompoundSymmetry, CorAr1, CorCar1, CorExp, ResidualStructure, SerialCorrelation, SeriesLayout, VarIdent, VarPower, VarianceFunction};
use merx_core::{ModelData, TermData};
use proptest::prelude::*;

struct Design {
    x: Mat<f64>,
    z: Mat<f64>,
    y: Vec<f64>,
    codes: Vec<i64>,
    time: Vec<f64>,
    strata: Vec<i64>,
    covariate: Vec<f64>,
    levels: usize,
}

/// `levels` subjects with up to `per` occasions, some dropped (gaps), rows shuffled by a
/// stride so that groups are not contiguous; `continuous` draws uneven times.
fn design(seed: u64, levels: usize, per: usize, continuous: bool) -> Design {
    let mut rng = Rng(seed | 1);
    let mut rows: Vec<(i64, f64)> = Vec::new();
    for g in 0..levels {
        let mut t = 0.0;
        for occ in 0..per {
            t += if continuous { 0.2 + rng.unif() } else { 1.0 };
            if occ > 0 && rng.unif() < 0.25 {
                continue;
            }
            rows.push((g as i64, if continuous { t } else { occ as f64 * (1 + g % 2) as f64 }));
        }
    }
    let n = rows.len();
    let stride = (1..n).rev().find(|s| gcd(*s, n) == 1 && *s > n / 3).unwrap_or(1);
    let order: Vec<usize> = (0..n).map(|i| (i * stride) % n).collect();
    let codes: Vec<i64> = order.iter().map(|&i| rows[i].0).collect();
    let time: Vec<f64> = order.iter().map(|&i| rows[i].1).collect();
    let z = Mat::<f64>::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { time[i] / 3.0 + 0.2 * rng.normal() });
    let x = Mat::<f64>::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { z[(i, 1)] + 0.5 * rng.normal() });
    let b: Vec<f64> = (0..levels).map(|_| rng.normal()).collect();
    let strata: Vec<i64> = (0..n).map(|i| ((codes[i] as usize + i) % 2) as i64).collect();
    let covariate: Vec<f64> = (0..n).map(|i| 0.5 + time[i] / 2.0).collect();
    let y: Vec<f64> = (0..n).map(|i| 1.0 + 0.5 * x[(i, 1)] + b[codes[i] as usize] + 0.6 * rng.normal()).collect();
    Design { x, z, y, codes, time, strata, covariate, levels }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn data(d: &Design) -> ModelData<'_> {
    ModelData { x: d.x.as_ref(), y: &d.y, terms: vec![TermData::new(&d.codes, d.levels, d.z.as_ref())], weights: None, offset: None }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Ar1,
    Car1,
    Exp,
}

fn correlation(kind: Kind) -> Box<dyn SerialCorrelation> {
    match kind {
        Kind::Ar1 => Box::new(CorAr1),
        Kind::Car1 => Box::new(CorCar1),
        Kind::Exp => Box::new(CorExp { start_range: 0.1 }),
    }
}

/// S R S densely: ρ(|t_i − t_j|) within a group, s_i = exp(log sd).
fn dense_residual(d: &Design, kind: Kind, u: f64, log_sd: &dyn Fn(usize) -> f64) -> Mat<f64> {
    let c = correlation(kind);
    let n = d.y.len();
    Mat::from_fn(n, n, |i, j| {
        if d.codes[i] != d.codes[j] {
            return 0.0;
        }
        let gap = (d.time[i] - d.time[j]).abs();
        let rho = match kind {
            Kind::Ar1 => c.natural(u).powi(gap as i32),
            Kind::Car1 => c.natural(u).powf(gap),
            Kind::Exp => (-gap / c.natural(u)).exp(),
        };
        rho * (log_sd(i) + log_sd(j)).exp()
    })
}

fn structure(d: &Design, kind: Kind, variance: Option<Box<dyn VarianceFunction>>) -> ResidualStructure {
    let c = correlation(kind);
    let layout = SeriesLayout::new(&d.codes, d.levels, &d.time, c.integer_time(), &data(d)).unwrap();
    ResidualStructure::new(variance, Some(c), layout).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn class_objective_matches_the_dense_likelihood(levels in 3usize..7, per in 3usize..7, kind_ix in 0usize..3,
                                                     u in -2.5f64..2.5, log_ratio in -1.0f64..1.0, with_var_ident in any::<bool>(),
                                                     t11 in 0.05f64..2.0, t21 in -1.0f64..1.0, t22 in 0.0f64..1.0, seed in any::<u64>()) {
        let kind = [Kind::Ar1, Kind::Car1, Kind::Exp][kind_ix];
        let d = design(seed, levels, per, !matches!(kind, Kind::Ar1));
        let data = data(&d);
        let variance: Option<Box<dyn VarianceFunction>> = with_var_ident.then(|| Box::new(VarIdent::new(&d.strata, 2, None).unwrap()) as _);
        let lr = if with_var_ident { vec![log_ratio] } else { vec![] };
        let log_sd = |i: usize| if with_var_ident && d.strata[i] == 1 { log_ratio } else { 0.0 };
        let r = dense_residual(&d, kind, u, &log_sd);
        let tmpl = Mat::from_fn(2, 2, |i, j| [[t11, 0.0], [t21, t22]][i][j]);
        let (ml, reml) = dense_objectives_with(&d.x, &d.y, &r, &d.z, &d.codes, &tmpl);
        let params: Vec<f64> = [t11, t21, t22].into_iter().chain(lr.iter().copied()).chain([u]).collect();
        for use_reml in [false, true] {
            let variance: Option<Box<dyn VarianceFunction>> = with_var_ident.then(|| Box::new(VarIdent::new(&d.strata, 2, None).unwrap()) as _);
            let mut classes = ResidualStructureModel::with_path(&data, structure(&d, kind, variance), use_reml, true).unwrap();
            prop_assert!(classes.uses_classes());
            let e = classes.evaluate(&params).unwrap();
            prop_assert!((e.deviance_ml - ml).abs() <= 1e-8 * ml.abs().max(1.0), "{kind:?} ML {} vs dense {}", e.deviance_ml, ml);
            prop_assert!((e.reml_criterion - reml).abs() <= 1e-8 * reml.abs().max(1.0), "{kind:?} REML {} vs dense {}", e.reml_criterion, reml);
            let variance: Option<Box<dyn VarianceFunction>> = with_var_ident.then(|| Box::new(VarIdent::new(&d.strata, 2, None).unwrap()) as _);
            let mut rows = ResidualStructureModel::with_path(&data, structure(&d, kind, variance), use_reml, false).unwrap();
            prop_assert!(!rows.uses_classes());
            let f = rows.evaluate(&params).unwrap();
            prop_assert!((e.objective - f.objective).abs() <= 1e-10 * f.objective.abs().max(1.0), "rows {} vs classes {}", f.objective, e.objective);
        }
        let _ = variance;
    }

    #[test]
    fn var_power_with_ar1_matches_the_dense_likelihood(levels in 3usize..6, per in 3usize..6, u in -2.0f64..2.0, power in -1.0f64..1.0,
                                                       t11 in 0.05f64..2.0, seed in any::<u64>()) {
        let d = design(seed, levels, per, false);
        let data = data(&d);
        let log_sd = |i: usize| power * d.covariate[i].ln();
        let r = dense_residual(&d, Kind::Ar1, u, &log_sd);
        let tmpl = Mat::from_fn(2, 2, |i, j| [[t11, 0.0], [0.3, 0.2]][i][j]);
        let (ml, _) = dense_objectives_with(&d.x, &d.y, &r, &d.z, &d.codes, &tmpl);
        let vp: Box<dyn VarianceFunction> = Box::new(VarPower::new(&d.covariate).unwrap());
        let mut model = ResidualStructureModel::new(&data, structure(&d, Kind::Ar1, Some(vp)), false).unwrap();
        prop_assert!(!model.uses_classes());
        let e = model.evaluate(&[t11, 0.3, 0.2, power, u]).unwrap();
        prop_assert!((e.deviance_ml - ml).abs() <= 1e-8 * ml.abs().max(1.0), "ML {} vs dense {}", e.deviance_ml, ml);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Compound symmetry: the group-size combination (no variance function) and the row pass
    /// (with and without varIdent) equal the dense likelihood with R_g = (1 − ρ)I + ρ11'.
    #[test]
    fn compound_symmetry_matches_the_dense_likelihood(levels in 3usize..7, per in 3usize..7, u in -3.0f64..3.0,
                                                      log_ratio in -1.0f64..1.0, t11 in 0.05f64..2.0, seed in any::<u64>()) {
        let d = design(seed, levels, per, false);
        // varIdent needs two observations per stratum (the core refuses fewer, with a message)
        prop_assume!((0..2).all(|s| d.strata.iter().filter(|&&v| v == s).count() >= 2));
        let data = data(&d);
        let cs = CompoundSymmetry::new(&d.codes, d.levels).unwrap();
        let rho = cs.natural(u);
        let tmpl = Mat::from_fn(2, 2, |i, j| [[t11, 0.0], [0.2, 0.3]][i][j]);
        for with_var_ident in [false, true] {
            let log_sd = |i: usize| if with_var_ident && d.strata[i] == 1 { log_ratio } else { 0.0 };
            let n = d.y.len();
            let r = Mat::<f64>::from_fn(n, n, |i, j| {
                let c = if i == j { 1.0 } else if d.codes[i] == d.codes[j] { rho } else { 0.0 };
                c * (log_sd(i) + log_sd(j)).exp()
            });
            let (ml, reml) = dense_objectives_with(&d.x, &d.y, &r, &d.z, &d.codes, &tmpl);
            let lr = if with_var_ident { vec![log_ratio] } else { vec![] };
            let params: Vec<f64> = [t11, 0.2, 0.3].into_iter().chain(lr).chain([u]).collect();
            for classes in [true, false] {
                let variance: Option<Box<dyn VarianceFunction>> = with_var_ident.then(|| Box::new(VarIdent::new(&d.strata, 2, None).unwrap()) as _);
                let structure = ResidualStructure::compound_symmetry(variance, CompoundSymmetry::new(&d.codes, d.levels).unwrap(), n);
                let mut model = ResidualStructureModel::with_path(&data, structure, false, classes).unwrap();
                prop_assert_eq!(model.uses_classes(), classes && !with_var_ident);
                let e = model.evaluate(&params).unwrap();
                prop_assert!((e.deviance_ml - ml).abs() <= 1e-8 * ml.abs().max(1.0), "CS ML {} vs dense {}", e.deviance_ml, ml);
                prop_assert!((e.reml_criterion - reml).abs() <= 1e-8 * reml.abs().max(1.0), "CS REML {} vs dense {}", e.reml_criterion, reml);
            }
        }
    }
}

/// A fit with AR(1) recovers a simulated φ's sign and lands on a stationary point.
#[test]
fn fit_with_ar1_is_stationary() {
    let d = design(5, 40, 6, false);
    let data = data(&d);
    let mut model = ResidualStructureModel::new(&data, structure(&d, Kind::Ar1, None), true).unwrap();
    let fit = model.fit(&Default::default()).unwrap();
    let best: Vec<f64> = fit.theta.iter().chain(&fit.residual_parameters).copied().collect();
    let f0 = model.evaluate(&best).unwrap().objective;
    for j in [1, 3] {
        for step in [-1e-3, 1e-3] {
            let mut p = best.clone();
            p[j] += step;
            let f = model.evaluate(&p).unwrap().objective;
            assert!(f >= f0 - 1e-7, "parameter {j} step {step}: {f} < {f0}");
        }
    }
}

#[test]
fn bad_input_is_named() {
    let d = design(3, 4, 4, false);
    let data = data(&d);
    let mut time = d.time.clone();
    let i = (1..time.len()).find(|&i| d.codes[i] == d.codes[0]).unwrap();
    time[i] = time[0];
    let err = SeriesLayout::new(&d.codes, d.levels, &time, true, &data).unwrap_err().to_string();
    assert!(err.contains("repeats within a group"), "{err}");
    time[i] = 0.5;
    let err = SeriesLayout::new(&d.codes, d.levels, &time, true, &data).unwrap_err().to_string();
    assert!(err.contains("integer-valued"), "{err}");
    time[i] = f64::NAN;
    let err = SeriesLayout::new(&d.codes, d.levels, &time, false, &data).unwrap_err().to_string();
    assert!(err.contains("missing or not finite"), "{err}");
    // One correlation group over two random-effects levels.
    let one_group = vec![0i64; d.y.len()];
    let err = SeriesLayout::new(&one_group, 1, &d.time.iter().enumerate().map(|(i, _)| i as f64).collect::<Vec<_>>(), true, &data).unwrap_err().to_string();
    assert!(err.contains("not nested"), "{err}");
    let cs = CompoundSymmetry::new(&one_group, 1).unwrap();
    let err = ResidualStructureModel::new(&data, ResidualStructure::compound_symmetry(None, cs, d.y.len()), true).unwrap_err().to_string();
    assert!(err.contains("not nested"), "{err}");
    // φ at the bound: finite objective, and outside it an error, not NaN.
    let mut model = ResidualStructureModel::new(&data, structure(&d, Kind::Ar1, None), true).unwrap();
    let e = model.evaluate(&[1.0, 0.0, 0.5, 30.0]).unwrap();
    assert!(e.objective.is_finite());
    assert!(model.evaluate(&[1.0, 0.0, 0.5, 31.0]).is_err());
}
