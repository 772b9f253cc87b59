//! Helpers shared by the integration tests: a small deterministic generator and the dense
//! Gaussian likelihood that structured models are checked against.

// Each test binary uses some of these only.
#![allow(dead_code)]

use faer::Mat;

/// A linear congruential generator (deterministic across platforms) with uniform and
/// normal draws.
pub struct Rng(pub u64);

impl Rng {
    pub fn unif(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }

    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unif().max(1e-300), self.unif());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

pub const LOG_2PI: f64 = 1.8378770664093453;

/// Lower Cholesky factor of a dense SPD matrix.
pub fn chol(a: &Mat<f64>) -> Mat<f64> {
    let n = a.nrows();
    let mut l = Mat::<f64>::zeros(n, n);
    for j in 0..n {
        let d = a[(j, j)] - (0..j).map(|k| l[(j, k)] * l[(j, k)]).sum::<f64>();
        assert!(d > 0.0, "not positive definite");
        l[(j, j)] = d.sqrt();
        for i in j + 1..n {
            l[(i, j)] = (a[(i, j)] - (0..j).map(|k| l[(i, k)] * l[(j, k)]).sum::<f64>()) / l[(j, j)];
        }
    }
    l
}

/// Solves L L' x = b.
pub fn solve(l: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
    let n = l.nrows();
    let mut x = b.clone();
    for c in 0..b.ncols() {
        for i in 0..n {
            let s = x[(i, c)] - (0..i).map(|k| l[(i, k)] * x[(k, c)]).sum::<f64>();
            x[(i, c)] = s / l[(i, i)];
        }
        for i in (0..n).rev() {
            let s = x[(i, c)] - (i + 1..n).map(|k| l[(k, i)] * x[(k, c)]).sum::<f64>();
            x[(i, c)] = s / l[(i, i)];
        }
    }
    x
}

pub fn logdet(l: &Mat<f64>) -> f64 {
    (0..l.nrows()).map(|i| 2.0 * l[(i, i)].ln()).sum()
}

/// (ML deviance, REML criterion) of y ~ N(Xβ, σ²V), V = Z(I⊗TT')Z' + diag(1/w), β and σ
/// profiled; one random-effects term with template `tmpl`.
pub fn dense_objectives(x: &Mat<f64>, y: &[f64], w: &[f64], z: &Mat<f64>, codes: &[i64], tmpl: &Mat<f64>) -> (f64, f64) {
    let n = y.len();
    let r = Mat::<f64>::from_fn(n, n, |i, j| if i == j { 1.0 / w[i] } else { 0.0 });
    dense_objectives_with(x, y, &r, z, codes, tmpl)
}

/// As [`dense_objectives`] with a dense residual covariance V = Z(I⊗TT')Z' + R (R n × n).
pub fn dense_objectives_with(x: &Mat<f64>, y: &[f64], r: &Mat<f64>, z: &Mat<f64>, codes: &[i64], tmpl: &Mat<f64>) -> (f64, f64) {
    let (n, p, k) = (y.len(), x.ncols(), z.ncols());
    let sigma_b = tmpl * tmpl.transpose();
    let v = Mat::<f64>::from_fn(n, n, |i, j| {
        let mut v = r[(i, j)];
        if codes[i] == codes[j] {
            for a in 0..k {
                for b in 0..k {
                    v += z[(i, a)] * sigma_b[(a, b)] * z[(j, b)];
                }
            }
        }
        v
    });
    let lv = chol(&v);
    let ymat = Mat::from_fn(n, 1, |i, _| y[i]);
    let (vx, vy) = (solve(&lv, x), solve(&lv, &ymat));
    let lx = chol(&(x.transpose() * &vx));
    let beta = solve(&lx, &(x.transpose() * &vy));
    let r = &ymat - x * &beta;
    let vr = solve(&lv, &r);
    let rss: f64 = (0..n).map(|i| r[(i, 0)] * vr[(i, 0)]).sum();
    let (nf, nmp) = (n as f64, (n - p) as f64);
    let ml = logdet(&lv) + nf * (1.0 + LOG_2PI + (rss / nf).ln());
    let reml = logdet(&lv) + logdet(&lx) + nmp * (1.0 + LOG_2PI + (rss / nmp).ln());
    (ml, reml)
}
