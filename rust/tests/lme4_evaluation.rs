//! lme4's evaluation of the Laplace deviance (`pirls_lme4`) on cbpp, against numbers from
//! lme4 1.1-31: its deviance function at its optimum is 184.053132779061 (-2 logLik of
//! the reference fit), while the exact Laplace deviance there, computed densely in R with
//! the modes converged to 1e-12, is 184.052572403412. The difference is lme4's log|L|² at
//! the weights of the iterate before the last; merx reproduces both numbers.

use faer::Mat;
use merx_core::family::family_by_name;
use merx_core::glmm_fit::{fit_glmm, GlmmFitOptions};
use merx_core::pirls::GeneralizedLinearMixedModel;
use merx_core::{ModelData, TermData};

const HERD: [i64; 56] = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14];
const PERIOD: [usize; 56] = [0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3];
const INCIDENCE: [f64; 56] = [2.0, 3.0, 4.0, 0.0, 3.0, 1.0, 1.0, 8.0, 2.0, 0.0, 2.0, 2.0, 0.0, 2.0, 0.0, 5.0, 0.0, 0.0, 1.0, 3.0, 0.0, 0.0, 1.0, 8.0, 1.0, 3.0, 0.0, 12.0, 2.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 2.0, 0.0, 5.0, 3.0, 1.0, 2.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 11.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0];
const SIZE: [f64; 56] = [14.0, 12.0, 9.0, 5.0, 22.0, 18.0, 21.0, 22.0, 16.0, 16.0, 20.0, 10.0, 10.0, 9.0, 6.0, 18.0, 25.0, 24.0, 4.0, 17.0, 17.0, 18.0, 20.0, 16.0, 10.0, 9.0, 5.0, 34.0, 9.0, 6.0, 8.0, 6.0, 22.0, 22.0, 18.0, 22.0, 25.0, 27.0, 22.0, 22.0, 10.0, 8.0, 6.0, 5.0, 21.0, 24.0, 19.0, 23.0, 19.0, 2.0, 3.0, 2.0, 19.0, 15.0, 15.0, 15.0];

/// lme4's (θ, β) at its optimum (reference cbpp_laplace).
const LME4_OPTIMUM: [f64; 5] = [0.6420699277291793, -1.3983428644711453, -0.9919249749757388, -1.1282162159433398, -1.579745413649192];

#[test]
fn lme4s_deviance_function_is_reproduced_on_cbpp() {
    let n = 56;
    let x = Mat::<f64>::from_fn(n, 4, |i, j| if j == 0 || PERIOD[i] == j { 1.0 } else { 0.0 });
    let y: Vec<f64> = (0..n).map(|i| INCIDENCE[i] / SIZE[i]).collect();
    let ones = Mat::<f64>::from_fn(n, 1, |_, _| 1.0);
    let data = ModelData {
        x: x.as_ref(),
        y: &y,
        terms: vec![TermData::new(&HERD, 15, ones.as_ref())],
        weights: Some(&SIZE),
        offset: None,
    };
    let mut model = GeneralizedLinearMixedModel::new(&data, family_by_name("binomial", None).unwrap()).unwrap();
    // lme4 starts each evaluation from the linear predictor of the nAGQ = 0 optimum.
    let fast = fit_glmm(&mut model, &data, &GlmmFitOptions { fast: true, ..Default::default() }).unwrap();
    let eta0 = fast.linear_predictor.clone().unwrap();
    let (theta, beta) = LME4_OPTIMUM.split_at(1);
    let lme4 = model.laplace_lme4(&data, theta, beta, &eta0).unwrap();
    assert!((lme4 - 184.053132779061).abs() < 1e-6, "lme4's evaluation {lme4}");
    let exact = model.laplace(&data, theta, Some(beta)).unwrap().deviance;
    assert!((exact - 184.052572403412).abs() < 1e-8, "exact Laplace {exact}");
}
