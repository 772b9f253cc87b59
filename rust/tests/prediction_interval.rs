//! The simulated prediction intervals of `prediction_interval.rs`: the selection quantiles
//! against their definition, the known-coefficient covariance against merTools' inflated
//! precision, and independence of the result from the number of threads.

use faer::Mat;
use merx_core::prediction_interval::*;
use merx_core::rng::Rng;

/// The inverse of a small SPD matrix by Gauss-Jordan elimination (an independent route).
fn gauss_jordan_inverse(a: &[f64], n: usize) -> Vec<f64> {
    let mut m: Vec<f64> = a.to_vec();
    let mut inv: Vec<f64> = (0..n * n).map(|k| if k / n == k % n { 1.0 } else { 0.0 }).collect();
    for c in 0..n {
        let d = m[c * n + c];
        for j in 0..n {
            m[c * n + j] /= d;
            inv[c * n + j] /= d;
        }
        for r in 0..n {
            if r != c {
                let f = m[r * n + c];
                for j in 0..n {
                    m[r * n + j] -= f * m[c * n + j];
                    inv[r * n + j] -= f * inv[c * n + j];
                }
            }
        }
    }
    inv
}

/// R's type-7 quantile from a full sort, the definition.
fn sorted_quantile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

#[test]
fn selection_quantiles_equal_the_sorted_definition() {
    let mut rng = Rng::for_stream(5, 0);
    for n in [2usize, 3, 7, 100, 1001] {
        let x: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let probs = [0.025, 0.1, 0.5, 0.5, 0.9, 0.975];
        let got = quantiles_type7(&mut x.clone(), &probs);
        for (g, p) in got.iter().zip(probs) {
            assert_eq!(*g, sorted_quantile(&x, p), "n = {n}, p = {p}");
        }
    }
}

#[test]
fn known_coefficients_are_the_limit_of_an_inflated_precision() {
    let v = [4.0, 1.2, 0.4, 1.2, 2.0, -0.3, 0.4, -0.3, 1.0];
    let got = beta_draw_covariance(&v, 3, None, &[false, true, false]).unwrap();
    // merTools: precision[1,1] × 1e15, then invert
    let mut prec = gauss_jordan_inverse(&v, 3);
    prec[4] *= 1e15;
    let want = gauss_jordan_inverse(&prec, 3);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-9, "{got:?} vs {want:?}");
    }
    assert_eq!(got[4], 0.0);
}

fn one_term_problem<'a>(x: &'a Mat<f64>, z: &'a Mat<f64>, codes: &'a [i64]) -> IntervalProblem<'a> {
    const MODES: [f64; 2] = [0.5, -0.5];
    const CONDVAR: [f64; 2] = [0.2, 0.3];
    const SIGMA: [f64; 1] = [1.5];
    IntervalProblem {
        x: x.as_ref(),
        offset: None,
        beta: &[1.0, 2.0],
        beta_covariance: &[0.04, 0.01, 0.01, 0.09],
        terms: vec![IntervalTerm {
            codes,
            z: z.as_ref(),
            modes: &MODES,
            condvar: &CONDVAR,
            n_levels: 2,
            n_new_levels: 1,
            covariance: &SIGMA,
            component: 0,
        }],
        n_random_components: 1,
    }
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let n = 1000;
    let x = Mat::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { i as f64 / 100.0 });
    let z = Mat::from_fn(n, 1, |_, _| 1.0);
    let codes: Vec<i64> = (0..n).map(|i| [0, 1, 2, -1, -2][i % 5]).collect();
    let problem = one_term_problem(&x, &z, &codes);
    let run = |threads| {
        let options = IntervalOptions {
            n_sim: 200,
            level: 0.8,
            center: Center::Median,
            residual: ResidualScale::ScaledInverseChiSquare { df: 50.0, pwrss: 60.0 },
            seed: 11,
            outputs: vec![(vec![0, 1], true), (vec![1], false)],
            n_threads: threads,
            keep_sims: true,
        };
        prediction_intervals(&problem, &options).unwrap()
    };
    let (a, b) = (run(1), run(3));
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.fit), bits(&b.fit));
    assert_eq!(bits(&a.lwr), bits(&b.lwr));
    assert_eq!(bits(&a.upr), bits(&b.upr));
    assert_eq!(bits(&a.sims), bits(&b.sims));
    assert_eq!(a.sims.len(), 2 * n * 200);
    // the kept simulations are those summarised: row 7 of output 0 and row 3 of output 1
    // (the probabilities as the core forms them from level 0.8: (1 - 0.8) / 2 is not 0.1)
    let lo_p = (1.0 - 0.8) / 2.0;
    for (o, r) in [(0, 7), (1, 3)] {
        let at = (o * n + r) * 200;
        let sims = &a.sims[at..at + 200];
        assert_eq!(a.fit[o * n + r].to_bits(), sorted_quantile(sims, 0.5).to_bits());
        assert_eq!(a.lwr[o * n + r].to_bits(), sorted_quantile(sims, lo_p).to_bits());
        assert_eq!(a.upr[o * n + r].to_bits(), sorted_quantile(sims, 1.0 - lo_p).to_bits());
    }
    assert!(a.sims[4 * 200..5 * 200].iter().all(|v| v.is_nan()));
    // a missing grouping value gives NaN; the fixed-only output has no noise and ignores the level
    assert!(a.fit[4].is_nan() && a.fit[n + 4].is_nan());
    assert!(a.lwr[..4].iter().zip(&a.upr[..4]).all(|(l, u)| l < u));
}
