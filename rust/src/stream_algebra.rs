//! The small dense algebra of the streamed cross-products (`stream_crossprod.rs`): the
//! pilot centre and fit of a first batch, least squares from a cross-product matrix with
//! dependent columns skipped, and the congruence T'AT that maps accumulated cross-products
//! to other columns.

use crate::crossprod::add_to_lower;
use faer::MatRef;

/// The pilot centre and fit of a first batch: X's weighted column means (when X has the
/// constant column `intercept`; none otherwise, as centring would change the model) and the
/// weighted least-squares coefficients of r on the centred X (columns that are linear
/// combinations of earlier ones in this batch get 0).
pub fn pilot(x: MatRef<'_, f64>, r: &[f64], weights: Option<&[f64]>, intercept: Option<usize>) -> (Vec<f64>, Vec<f64>) {
    let (n, p) = (r.len(), x.ncols());
    let w = |i: usize| weights.map_or(1.0, |w| w[i]);
    let mut centre = vec![0.0; p];
    if let Some(j0) = intercept {
        let total: f64 = (0..n).map(w).sum();
        if total > 0.0 {
            for (j, m) in centre.iter_mut().enumerate().filter(|(j, _)| *j != j0) {
                *m = (0..n).map(|i| w(i) * x[(i, j)]).sum::<f64>() / total;
            }
        }
    }
    let mut b = vec![0.0; (p + 1) * (p + 1)];
    let mut xr = vec![0.0; p + 1];
    for i in 0..n {
        for j in 0..p {
            xr[j] = x[(i, j)] - centre[j];
        }
        xr[p] = r[i];
        add_to_lower(&mut b, w(i), &xr);
    }
    mirror_lower(&mut b, p + 1);
    let gamma = solve_normal_equations(&b, p + 1, p);
    (centre, gamma)
}

/// The least-squares coefficients from the (m × m, m = p + 1) cross-product matrix of
/// [X r]: Cholesky of X'X with columns whose pivot falls below 1e-10 of their diagonal
/// skipped (coefficient 0), then the two triangular solves.
pub(crate) fn solve_normal_equations(b: &[f64], m: usize, p: usize) -> Vec<f64> {
    let mut l = vec![0.0; p * p];
    let mut active = vec![false; p];
    for j in 0..p {
        let mut d = b[j * m + j];
        for k in (0..j).filter(|&k| active[k]) {
            d -= l[k * p + j] * l[k * p + j];
        }
        if !(d > 1e-10 * b[j * m + j]) || d <= 0.0 {
            continue;
        }
        active[j] = true;
        let djj = d.sqrt();
        l[j * p + j] = djj;
        for i in j + 1..p {
            let mut s = b[j * m + i];
            for k in (0..j).filter(|&k| active[k]) {
                s -= l[k * p + i] * l[k * p + j];
            }
            l[j * p + i] = s / djj;
        }
    }
    let mut g: Vec<f64> = (0..p).map(|j| b[p * m + j]).collect();
    for j in 0..p {
        if !active[j] {
            g[j] = 0.0;
            continue;
        }
        g[j] /= l[j * p + j];
        for i in j + 1..p {
            g[i] -= l[j * p + i] * g[j];
        }
    }
    for j in (0..p).rev() {
        if !active[j] {
            continue;
        }
        g[j] /= l[j * p + j];
        for i in 0..j {
            g[i] -= l[i * p + j] * g[j];
        }
    }
    g
}

pub(crate) fn mirror_lower(a: &mut [f64], m: usize) {
    for c in 0..m {
        for r in c + 1..m {
            a[r * m + c] = a[c * m + r];
        }
    }
}

pub(crate) fn identity(m: usize) -> Vec<f64> {
    let mut t = vec![0.0; m * m];
    for j in 0..m {
        t[j * m + j] = 1.0;
    }
    t
}

pub(crate) fn quadratic_form(a: &[f64], m: usize, v: &[f64]) -> f64 {
    (0..m).map(|c| v[c] * (0..m).map(|r| a[c * m + r] * v[r]).sum::<f64>()).sum()
}

/// T'AT for a symmetric m × m `a` and an m × k `t` (column-major).
pub(crate) fn transform_square(a: &[f64], m: usize, t: &[f64], k: usize) -> Vec<f64> {
    let at = transform_columns(a, m, m, t, k);
    let mut out = vec![0.0; k * k];
    for c in 0..k {
        for r in 0..k {
            out[c * k + r] = (0..m).map(|i| t[r * m + i] * at[c * m + i]).sum();
        }
    }
    out
}

/// A T for an rows × m `a` and an m × k `t` (column-major), skipping T's zeros.
pub(crate) fn transform_columns(a: &[f64], rows: usize, m: usize, t: &[f64], k: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * k];
    for c in 0..k {
        for j in 0..m {
            let tj = t[c * m + j];
            if tj != 0.0 {
                let (src, dst) = (&a[j * rows..(j + 1) * rows], &mut out[c * rows..(c + 1) * rows]);
                dst.iter_mut().zip(src).for_each(|(d, s)| *d += tj * s);
            }
        }
    }
    out
}
