//! PIRLS and the Laplace deviance against dense computations on small random designs:
//! the modes make the gradient of the penalized deviance in u vanish, and the Laplace
//! deviance equals -2 log p(y | μ̂) + ‖û‖² + log det(I + Λ'Z'WZΛ) computed densely at the
//! modes' weights; with β from PIRLS (nAGQ = 0) the gradient in β vanishes too.

mod common;

use faer::Mat;
use merx_core::covariance::Diagonal;
use merx_core::family::family_by_name;
use merx_core::glmm_fit::{fit_glmm, GlmmFitOptions};
use merx_core::pirls::GeneralizedLinearMixedModel;
use merx_core::{ModelData, TermData};
use common::Rng;
use proptest::prelude::*;
use std::sync::Arc;


struct Design {
    x: Mat<f64>,
    y: Vec<f64>,
    w: Vec<f64>,
    codes: Vec<i64>,
    levels: usize,
    z: Mat<f64>,
}

fn design(seed: u64, family: &str, k: usize, levels: usize, per: usize) -> Design {
    let mut rng = Rng(seed | 1);
    let n = levels * per;
    let codes: Vec<i64> = (0..n).map(|i| (i % levels) as i64).collect();
    let x = Mat::<f64>::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { ((i * 7) % 5) as f64 / 2.0 - 1.0 });
    let z = Mat::<f64>::from_fn(n, k, |i, j| if j == 0 { 1.0 } else { x[(i, 1)] });
    let b: Vec<f64> = (0..levels).map(|_| 0.7 * rng.normal()).collect();
    let mut y = vec![0.0; n];
    let mut w = vec![1.0; n];
    for i in 0..n {
        let eta = -0.3 + 0.5 * x[(i, 1)] + b[codes[i] as usize];
        if family == "binomial" {
            let trials = 1 + (i % 4);
            let p = 1.0 / (1.0 + (-eta).exp());
            let successes = (0..trials).filter(|_| rng.unif() < p).count();
            y[i] = successes as f64 / trials as f64;
            w[i] = trials as f64;
        } else {
            // Poisson by inversion.
            let mu = eta.exp();
            let (mut k, mut p, u) = (0.0, (-mu).exp(), rng.unif());
            let mut cdf = p;
            while u > cdf && k < 50.0 {
                k += 1.0;
                p *= mu / k;
                cdf += p;
            }
            y[i] = k;
        }
    }
    Design { x, y, w, codes, levels, z }
}

/// Dense Z Λ(θ) for one term with a diagonal template.
fn dense_zl(d: &Design, theta: &[f64]) -> Mat<f64> {
    let (n, k) = (d.y.len(), d.z.ncols());
    Mat::from_fn(n, d.levels * k, |i, c| {
        let (l, a) = (c / k, c % k);
        if d.codes[i] as usize == l {
            d.z[(i, a)] * theta[a]
        } else {
            0.0
        }
    })
}

fn logdet_spd(a: &Mat<f64>) -> f64 {
    let n = a.nrows();
    let mut l = a.clone();
    let mut ld = 0.0;
    for j in 0..n {
        let d = l[(j, j)] - (0..j).map(|k| l[(j, k)] * l[(j, k)]).sum::<f64>();
        let s = d.sqrt();
        ld += 2.0 * s.ln();
        l[(j, j)] = s;
        for i in j + 1..n {
            l[(i, j)] = (l[(i, j)] - (0..j).map(|k| l[(i, k)] * l[(j, k)]).sum::<f64>()) / s;
        }
    }
    ld
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn modes_and_laplace_deviance_match_dense(seed in any::<u64>(), binomial in any::<bool>(), k in 1usize..3,
                                              levels in 3usize..9, per in 3usize..7, t0 in 0.1f64..1.5, t1 in 0.0f64..0.8,
                                              b0 in -1.0f64..1.0, b1 in -1.0f64..1.0) {
        let family = if binomial { "binomial" } else { "poisson" };
        let d = design(seed, family, k, levels, per);
        // A response the same in every row (all zeros: a few small Poisson designs) has its
        // Laplace optimum at infinity (η → -∞): no finite modes to compare.
        prop_assume!(d.y.iter().any(|&v| v != d.y[0]));
        let n = d.y.len();
        let data = ModelData {
            x: d.x.as_ref(),
            y: &d.y,
            terms: vec![TermData::new(&d.codes, d.levels, d.z.as_ref()).with_covariance(Arc::new(Diagonal))],
            weights: Some(&d.w),
            offset: None,
        };
        let fam = family_by_name(family, None).unwrap();
        let link = fam.link();
        let mut model = GeneralizedLinearMixedModel::new(&data, family_by_name(family, None).unwrap()).unwrap();
        let theta: Vec<f64> = [t0, t1][..k].to_vec();
        let beta = [b0, b1];
        let zl = dense_zl(&d, &theta);
        for held in [true, false] {
            let e = model.laplace(&data, &theta, if held { Some(&beta) } else { None }).unwrap();
            let (u, eta) = (model.u().to_vec(), model.eta().to_vec());
            let q = u.len();
            // η = Xβ + ZΛu
            let beta_now = model.beta().to_vec();
            for i in 0..n {
                let want = d.x[(i, 0)] * beta_now[0] + d.x[(i, 1)] * beta_now[1] + (0..q).map(|c| zl[(i, c)] * u[c]).sum::<f64>();
                prop_assert!((eta[i] - want).abs() < 1e-9 * (1.0 + want.abs()));
            }
            // ∂/∂u: -2 Σ wᵢ (yᵢ - μᵢ) μ'ᵢ / V(μᵢ) (ZΛ)ᵢ + 2u = 0 (and in β when β is PIRLS's)
            let score: Vec<f64> = (0..n).map(|i| {
                let mu = link.inverse(eta[i]);
                d.w[i] * (d.y[i] - mu) * link.mu_eta(eta[i]) / fam.variance(mu)
            }).collect();
            let scale = 1.0 + score.iter().map(|s| s.abs()).sum::<f64>();
            for c in 0..q {
                let g = -2.0 * (0..n).map(|i| score[i] * zl[(i, c)]).sum::<f64>() + 2.0 * u[c];
                prop_assert!(g.abs() < 1e-6 * scale, "∂/∂u[{}] = {} (held β: {})", c, g, held);
            }
            if !held {
                for j in 0..2 {
                    let g = -2.0 * (0..n).map(|i| score[i] * d.x[(i, j)]).sum::<f64>();
                    prop_assert!(g.abs() < 1e-6 * scale, "∂/∂β[{}] = {}", j, g);
                }
            }
            // Laplace deviance, densely.
            let mu: Vec<f64> = eta.iter().map(|&e| link.inverse(e)).collect();
            let wts: Vec<f64> = (0..n).map(|i| d.w[i] * link.mu_eta(eta[i]).powi(2) / fam.variance(mu[i])).collect();
            let a = Mat::<f64>::from_fn(q, q, |r, c| (0..n).map(|i| zl[(i, r)] * wts[i] * zl[(i, c)]).sum::<f64>() + if r == c { 1.0 } else { 0.0 });
            let dense = fam.minus_twice_log_likelihood(&d.y, &mu, &d.w) + u.iter().map(|v| v * v).sum::<f64>() + logdet_spd(&a);
            prop_assert!((e.deviance - dense).abs() < 1e-8 * dense.abs().max(1.0), "Laplace {} vs dense {}", e.deviance, dense);
        }
    }
}

/// The full fit is at least as good as the fast one and its β is a stationary point.
#[test]
fn full_fit_improves_on_the_fast_one() {
    let d = design(11, "binomial", 1, 12, 8);
    let data = ModelData {
        x: d.x.as_ref(),
        y: &d.y,
        terms: vec![TermData::new(&d.codes, d.levels, d.z.as_ref())],
        weights: Some(&d.w),
        offset: None,
    };
    let mut model = GeneralizedLinearMixedModel::new(&data, family_by_name("binomial", None).unwrap()).unwrap();
    let fast = fit_glmm(&mut model, &data, &GlmmFitOptions { fast: true, ..Default::default() }).unwrap();
    let full = fit_glmm(&mut model, &data, &GlmmFitOptions::default()).unwrap();
    assert!(full.evaluation.objective <= fast.evaluation.objective + 1e-9);
    // The Laplace deviance cannot be lowered by moving β alone.
    for j in 0..2 {
        for step in [-1e-3, 1e-3] {
            let mut beta = full.beta.clone();
            beta[j] += step;
            let moved = model.laplace(&data, &full.theta, Some(&beta)).unwrap().deviance;
            assert!(moved >= full.evaluation.objective - 1e-7, "β{j} {step:+}: {moved} < {}", full.evaluation.objective);
        }
    }
    // Bad responses are named.
    let bad_y: Vec<f64> = d.y.iter().enumerate().map(|(i, v)| if i == 3 { 1.5 } else { *v }).collect();
    let bad = ModelData { y: &bad_y, ..data.clone() };
    let err = GeneralizedLinearMixedModel::new(&bad, family_by_name("binomial", None).unwrap()).unwrap_err().to_string();
    assert!(err.contains("proportion in [0, 1]") && err.contains("row 3 has 1.5"), "{err}");
    let err = family_by_name("poisson", Some("logit")).unwrap_err().to_string();
    assert!(err.contains("link \"logit\" is not available for the poisson family: use log, identity, sqrt"), "{err}");
}

/// Adaptive Gauss-Hermite quadrature with many nodes equals the integral over each level's
/// random effect computed by a fine one-dimensional quadrature (the trapezoidal rule).
#[test]
fn agq_with_many_nodes_equals_the_integral() {
    use merx_core::agq::GaussHermite;
    for (seed, family) in [(3u64, "binomial"), (5, "poisson")] {
        let d = design(seed, family, 1, 7, 5);
        let data = ModelData {
            x: d.x.as_ref(),
            y: &d.y,
            terms: vec![TermData::new(&d.codes, d.levels, d.z.as_ref())],
            weights: Some(&d.w),
            offset: None,
        };
        let fam = family_by_name(family, None).unwrap();
        let link = fam.link();
        let mut model = GeneralizedLinearMixedModel::new(&data, family_by_name(family, None).unwrap()).unwrap();
        let (theta, beta) = ([0.9], [-0.2, 0.4]);
        let agq = model.agq_deviance(&data, &theta, &beta, &GaussHermite::new(40).unwrap()).unwrap();
        let mut numeric = 0.0;
        for l in 0..d.levels {
            let rows: Vec<usize> = (0..d.y.len()).filter(|&i| d.codes[i] as usize == l).collect();
            let dl = |u: f64| -> f64 {
                rows.iter()
                    .map(|&i| {
                        let eta = beta[0] * d.x[(i, 0)] + beta[1] * d.x[(i, 1)] + theta[0] * d.z[(i, 0)] * u;
                        fam.deviance_residual(d.y[i], link.inverse(eta), d.w[i])
                    })
                    .sum::<f64>()
                    + u * u
            };
            let (lo, hi, m) = (-12.0, 12.0, 24_000);
            let h = (hi - lo) / m as f64;
            let integral: f64 = (0..=m)
                .map(|j| {
                    let u = lo + j as f64 * h;
                    let wt = if j == 0 || j == m { 0.5 } else { 1.0 };
                    wt * (-0.5 * dl(u)).exp()
                })
                .sum::<f64>()
                * h;
            numeric += -2.0 * (integral / (2.0 * std::f64::consts::PI).sqrt()).ln();
        }
        assert!((agq - numeric).abs() < 1e-7 * numeric.abs().max(1.0), "{family}: AGQ {agq} vs quadrature {numeric}");
        // One node is the Laplace approximation without the family's constants.
        let one = model.agq_deviance(&data, &theta, &beta, &GaussHermite::new(1).unwrap()).unwrap();
        let laplace = model.laplace(&data, &theta, Some(&beta)).unwrap();
        // -2 log p(y | μ) - Σ d(y, μ) = -2 log p(y | y): the saturated model's constant.
        let saturated = fam.minus_twice_log_likelihood(&d.y, &d.y, &d.w);
        assert!((one - (laplace.deviance - saturated)).abs() < 1e-8 * one.abs().max(1.0), "{family}: 1 node {one} vs Laplace {}", laplace.deviance - saturated);
    }
    // Vector-valued terms are refused by name.
    let d = design(7, "binomial", 2, 6, 4);
    let data = ModelData { x: d.x.as_ref(), y: &d.y, terms: vec![TermData::new(&d.codes, d.levels, d.z.as_ref())], weights: Some(&d.w), offset: None };
    let mut model = GeneralizedLinearMixedModel::new(&data, family_by_name("binomial", None).unwrap()).unwrap();
    let err = model.agq_deviance(&data, &[1.0, 0.0, 1.0], &[0.0, 0.0], &GaussHermite::new(5).unwrap()).unwrap_err().to_string();
    assert!(err.contains("single scalar random-effects term"), "{err}");
}

/// A random design (`design`) with a second, crossed scalar term of 5 levels.
struct Crossed {
    d: Design,
    codes2: Vec<i64>,
    ones: Mat<f64>,
}

impl Crossed {
    fn new(seed: u64, family: &str, k: usize) -> Self {
        let d = design(seed, family, k, 8, 6);
        let n = d.y.len();
        let codes2 = (0..n).map(|i| ((i * 5 + i / 7) % 5) as i64).collect();
        Crossed { d, codes2, ones: Mat::<f64>::from_fn(n, 1, |_, _| 1.0) }
    }

    fn data(&self) -> ModelData<'_> {
        ModelData {
            x: self.d.x.as_ref(),
            y: &self.d.y,
            terms: vec![
                TermData::new(&self.d.codes, self.d.levels, self.d.z.as_ref()).with_covariance(Arc::new(merx_core::covariance::Unstructured)),
                TermData::new(&self.codes2, 5, self.ones.as_ref()),
            ],
            weights: Some(&self.d.w),
            offset: None,
        }
    }
}

/// The analytic gradient of the Laplace deviance in (θ, β) against central differences,
/// for canonical and non-canonical links (where log|A| has the expected information and the
/// modes' sensitivity the observed one), scalar and vector-valued terms, crossed terms and
/// prior weights.
#[test]
fn laplace_gradient_matches_finite_differences() {
    let cases = [
        (1u64, "binomial", 1usize, None),
        (2, "binomial", 2, None),
        (3, "poisson", 1, None),
        (4, "poisson", 2, None),
        (5, "binomial", 1, Some("probit")),
        (6, "binomial", 2, Some("cloglog")),
        (7, "binomial", 1, Some("cauchit")),
        (8, "poisson", 1, Some("sqrt")),
        (9, "poisson", 2, Some("identity")),
    ];
    for (seed, family, k, link) in cases {
        let c = Crossed::new(seed, family, k);
        let data = c.data();
        let mut model = GeneralizedLinearMixedModel::new(&data, family_by_name(family, link).unwrap()).unwrap();
        assert!(model.has_analytic_gradient());
        let theta: Vec<f64> = if k == 1 { vec![0.8, 0.5] } else { vec![0.8, 0.2, 0.4, 0.5] };
        // The identity link needs η > 0 everywhere.
        let beta = if link == Some("identity") { [3.0, 0.3] } else { [-0.1, 0.3] };
        model.laplace(&data, &theta, Some(&beta)).unwrap();
        model.keep_state_as_start();
        let grad = model.laplace_gradient(&data, &theta).unwrap();
        let x0: Vec<f64> = theta.iter().chain(&beta).copied().collect();
        let nt = theta.len();
        for i in 0..x0.len() {
            // (Steps of 1e-5 need modes exact to rounding: for a non-canonical link that is
            // the Newton polish after PIRLS, `pirls_newton`.)
            let h = 1e-5;
            let mut xp = x0.clone();
            let mut xm = x0.clone();
            xp[i] += h;
            xm[i] -= h;
            let fp = model.laplace(&data, &xp[..nt], Some(&xp[nt..])).unwrap().deviance;
            let fm = model.laplace(&data, &xm[..nt], Some(&xm[nt..])).unwrap().deviance;
            let fd = (fp - fm) / (2.0 * h);
            assert!((grad[i] - fd).abs() < 1e-4 * (1.0 + fd.abs()), "{family} {link:?} k={k} parameter {i}: analytic {} vs differences {fd}", grad[i]);
        }
    }
}

/// The gradient of the first-stage objective D(θ, β̂(θ)) (nAGQ = 0: β from PIRLS) against
/// central differences, for canonical links, scalar and vector-valued terms, crossed terms
/// and prior weights.
#[test]
fn first_stage_gradient_matches_finite_differences() {
    for (seed, family, k) in [(11u64, "binomial", 1usize), (12, "binomial", 2), (13, "poisson", 1), (14, "poisson", 2)] {
        let c = Crossed::new(seed, family, k);
        let data = c.data();
        let mut model = GeneralizedLinearMixedModel::new(&data, family_by_name(family, None).unwrap()).unwrap();
        assert!(model.has_first_stage_gradient());
        let theta: Vec<f64> = if k == 1 { vec![0.8, 0.5] } else { vec![0.8, 0.2, 0.4, 0.5] };
        model.laplace(&data, &theta, None).unwrap();
        model.keep_state_as_start();
        let grad = model.first_stage_gradient(&data, &theta).unwrap();
        for i in 0..theta.len() {
            let h = 1e-5;
            let (mut tp, mut tm) = (theta.clone(), theta.clone());
            tp[i] += h;
            tm[i] -= h;
            let fp = model.laplace(&data, &tp, None).unwrap().deviance;
            let fm = model.laplace(&data, &tm, None).unwrap().deviance;
            let fd = (fp - fm) / (2.0 * h);
            assert!((grad[i] - fd).abs() < 1e-4 * (1.0 + fd.abs()), "{family} k={k} θ{i}: analytic {} vs differences {fd}", grad[i]);
        }
    }
}
