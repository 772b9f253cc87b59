//! The linear algebra of lmeresampler's resampling schemes (version 0.2.x, `R/lme4_utility_functions.R`
//! and `R/setup.R` of github.com/aloy/lmeresampler): CGR's centring and rescaling of
//! random effects (`scale_center_ranef`) and level-1 residuals (`scale_center_e`), REB's
//! per-cluster least-squares effects, and REB type 2's post-processing of the replicates
//! (`.postprocess.reb2`).

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};

/// A lower triangular factor L of the random effects' covariance σ²TT' (LL' = σ²TT',
/// k × k column-major): σT itself when the template is lower triangular with a
/// non-negative diagonal (lme4's Cholesky parametrisation: then σT is the Cholesky factor,
/// without the cancellation of refactoring a nearly singular σ²TT'), else the factor of
/// σ²TT'. None when that is not positive semi-definite.
pub fn covariance_factor(template: &[f64], k: usize, sigma: f64) -> Option<Vec<f64>> {
    let lower = (0..k).all(|c| template[c * k + c] >= 0.0 && (0..c).all(|r| template[c * k + r] == 0.0));
    if lower {
        return Some(template.iter().map(|v| sigma * v).collect());
    }
    let mut cov = vec![0.0; k * k];
    for r in 0..k {
        for c in 0..k {
            cov[c * k + r] = sigma * sigma * (0..k).map(|a| template[a * k + r] * template[a * k + c]).sum::<f64>();
        }
    }
    psd_lower_factor(&cov, k)
}

/// Lower triangular L with LL' = A for a positive semi-definite k × k column-major A
/// (a column whose pivot is at rounding level of the largest diagonal is set to 0), None
/// when A is not positive semi-definite.
fn psd_lower_factor(a: &[f64], k: usize) -> Option<Vec<f64>> {
    let scale = (0..k).map(|i| a[i * k + i].abs()).fold(0.0, f64::max);
    let tol = 1e-12 * scale;
    let mut l = vec![0.0; k * k];
    for j in 0..k {
        let d = a[j * k + j] - (0..j).map(|c| l[c * k + j] * l[c * k + j]).sum::<f64>();
        if d < -tol.max(f64::MIN_POSITIVE) {
            return None;
        }
        if d <= tol {
            continue;
        }
        let root = d.sqrt();
        l[j * k + j] = root;
        for r in j + 1..k {
            l[j * k + r] = (a[j * k + r] - (0..j).map(|c| l[c * k + r] * l[c * k + j]).sum::<f64>()) / root;
        }
    }
    Some(l)
}

/// lmeresampler's `scale_center_ranef(b, vc)`: the rows of x (m × k, row-major per level)
/// centred at their column means and mapped by x ↦ x Ls⁻ᵀ Lvᵀ, Ls Ls' = S = u'u/m (u the
/// centred rows), `factor` = Lv (lower, Lv Lv' = vc), so that their empirical covariance
/// (divisor m) is vc. Err when S is singular (lmeresampler's `solve` fails there too).
/// lmeresampler factors S and vc by `chol(., pivot = TRUE)` and ignores the pivoting; merx
/// uses the unpivoted factors (the same whenever the pivots stay in place, always for one
/// effect per level), which give exactly vc.
pub fn centre_and_rescale(x: &[f64], k: usize, factor: &[f64]) -> Result<Vec<f64>, String> {
    let m = x.len() / k;
    let mut u = x.to_vec();
    for a in 0..k {
        let mean = (0..m).map(|l| x[l * k + a]).sum::<f64>() / m as f64;
        for l in 0..m {
            u[l * k + a] -= mean;
        }
    }
    let mut s = vec![0.0; k * k];
    for l in 0..m {
        for r in 0..k {
            for c in 0..k {
                s[c * k + r] += u[l * k + r] * u[l * k + c] / m as f64;
            }
        }
    }
    let ls = Mat::from_fn(k, k, |r, c| s[c * k + r])
        .llt(Side::Lower)
        .map_err(|_| "the random effects to rescale have a singular empirical covariance".to_string())?
        .L()
        .to_owned();
    // Row x ↦ (Lt Ls⁻¹ x')': solve Ls v = x', then Lt v.
    let mut out = vec![0.0; m * k];
    let mut v = vec![0.0; k];
    for l in 0..m {
        for r in 0..k {
            let acc: f64 = (0..r).map(|c| ls[(r, c)] * v[c]).sum();
            v[r] = (u[l * k + r] - acc) / ls[(r, r)];
        }
        for r in 0..k {
            out[l * k + r] = (0..=r).map(|c| factor[c * k + r] * v[c]).sum();
        }
    }
    Ok(out)
}

/// lmeresampler's `scale_center_e(e, σ)`: σ e (e'e/n)^{-1/2}, then centred.
pub fn scale_then_centre(e: &[f64], sigma: f64) -> Vec<f64> {
    let n = e.len() as f64;
    let ms = e.iter().map(|v| v * v).sum::<f64>() / n;
    let f = if ms > 0.0 { sigma / ms.sqrt() } else { 0.0 };
    let scaled: Vec<f64> = e.iter().map(|v| v * f).collect();
    let mean = scaled.iter().sum::<f64>() / n;
    scaled.iter().map(|v| v - mean).collect()
}

/// REB's per-cluster least-squares effects ũ_j = (Z_j'Z_j)⁺Z_j'r_j (L × k, lmeresampler's
/// (Z'Z)⁻¹Z'r for the block-diagonal Z'Z of one grouping factor) and ẽ = r - Zũ.
pub fn cluster_least_squares(codes: &[i64], z: &[f64], k: usize, levels: usize, r: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = r.len();
    let mut ztz = vec![0.0; levels * k * k];
    let mut ztr = vec![0.0; levels * k];
    for i in 0..n {
        let l = codes[i] as usize;
        for a in 0..k {
            ztr[l * k + a] += z[a * n + i] * r[i];
            for b in 0..k {
                ztz[l * k * k + b * k + a] += z[a * n + i] * z[b * n + i];
            }
        }
    }
    let mut u = vec![0.0; levels * k];
    for l in 0..levels {
        let m = Mat::from_fn(k, k, |a, b| ztz[l * k * k + b * k + a]);
        let sol = symmetric_pseudo_inverse_apply(&m, &ztr[l * k..(l + 1) * k]);
        u[l * k..(l + 1) * k].copy_from_slice(&sol);
    }
    let e = (0..n)
        .map(|i| {
            let l = codes[i] as usize;
            r[i] - (0..k).map(|a| z[a * n + i] * u[l * k + a]).sum::<f64>()
        })
        .collect();
    (u, e)
}

/// M⁺x for a symmetric positive semi-definite M, by its eigendecomposition (eigenvalues at
/// rounding level of the largest count as 0).
fn symmetric_pseudo_inverse_apply(m: &Mat<f64>, x: &[f64]) -> Vec<f64> {
    let k = m.nrows();
    let Ok(eig) = m.self_adjoint_eigen(Side::Lower) else { return vec![0.0; k] };
    let s = eig.S().column_vector();
    let u = eig.U();
    let largest = (0..k).map(|i| s[i].abs()).fold(0.0, f64::max);
    let mut out = vec![0.0; k];
    for j in 0..k {
        if s[j] <= 1e-10 * largest || s[j] <= 0.0 {
            continue;
        }
        let coef = (0..k).map(|i| u[(i, j)] * x[i]).sum::<f64>() / s[j];
        for i in 0..k {
            out[i] += coef * u[(i, j)];
        }
    }
    out
}

/// REB type 2's post-processing (lmeresampler's `.postprocess.reb2`) of B replicates of the
/// fixed effects `fe` (B × p, row-major) and variance components `vc` (B × q: the random
/// effects' variances, then σ²), given the original estimates: the fixed effects shifted by
/// fe0 - their mean, the variance components multiplied by vc0 / their mean (means over
/// the finite rows), and lmeresampler's log-scale matrix L_b = exp(M + ((S - M) W½) ∘ D),
/// S = log vc, M its column means, D its column standard deviations, W½ = V Λ^{1/2} from
/// the eigendecomposition V Λ V' of cov(S)⁻¹ (eigenvalues decreasing, each eigenvector's
/// largest entry positive: R's signs are LAPACK's and arbitrary). L_b is over the
/// replicates whose log variance components are all finite (NaN elsewhere), None when they
/// are fewer than q + 1 or cov(S) is singular. lmeresampler 0.2.x computes L_b and returns
/// the bias-corrected replicates only.
pub fn reb2_postprocess(fe: &[f64], vc: &[f64], fe0: &[f64], vc0: &[f64]) -> (Vec<f64>, Vec<f64>, Option<Vec<f64>>) {
    let (p, q) = (fe0.len(), vc0.len());
    let b = if p > 0 { fe.len() / p } else { vc.len() / q.max(1) };
    let column_mean = |x: &[f64], w: usize, j: usize| {
        let vals: Vec<f64> = (0..b).map(|r| x[r * w + j]).filter(|v| !v.is_nan()).collect();
        vals.iter().sum::<f64>() / vals.len() as f64
    };
    let fe_shift: Vec<f64> = (0..p).map(|j| fe0[j] - column_mean(fe, p, j)).collect();
    let vc_factor: Vec<f64> = (0..q).map(|j| vc0[j] / column_mean(vc, q, j)).collect();
    let fe_adj = (0..b * p).map(|i| fe[i] + fe_shift[i % p]).collect();
    let vc_adj = (0..b * q).map(|i| vc[i] * vc_factor[i % q]).collect();
    (fe_adj, vc_adj, log_scale_matrix(vc, b, q))
}

fn log_scale_matrix(vc: &[f64], b: usize, q: usize) -> Option<Vec<f64>> {
    let logs: Vec<f64> = vc.iter().map(|v| v.ln()).collect();
    let rows: Vec<usize> = (0..b).filter(|&r| (0..q).all(|j| logs[r * q + j].is_finite())).collect();
    let m = rows.len();
    if m <= q || q == 0 {
        return None;
    }
    let mean: Vec<f64> = (0..q).map(|j| rows.iter().map(|&r| logs[r * q + j]).sum::<f64>() / m as f64).collect();
    let cov = Mat::from_fn(q, q, |a, c| {
        rows.iter().map(|&r| (logs[r * q + a] - mean[a]) * (logs[r * q + c] - mean[c])).sum::<f64>() / (m - 1) as f64
    });
    let sd: Vec<f64> = (0..q).map(|j| cov[(j, j)].sqrt()).collect();
    let inv = cov.llt(Side::Lower).ok()?.inverse();
    let eig = inv.self_adjoint_eigen(Side::Lower).ok()?;
    let s = eig.S().column_vector();
    let v = eig.U();
    let mut order: Vec<usize> = (0..q).collect();
    order.sort_by(|&a, &c| s[c].partial_cmp(&s[a]).unwrap_or(std::cmp::Ordering::Equal));
    // W½ column c: the eigenvector of the c-th largest eigenvalue, signed, times √λ.
    let mut whalf = vec![0.0; q * q];
    for (c, &j) in order.iter().enumerate() {
        let big = (0..q).fold(0, |best, i| if v[(i, j)].abs() > v[(best, j)].abs() { i } else { best });
        let sign = if v[(big, j)] < 0.0 { -1.0 } else { 1.0 };
        let root = s[j].max(0.0).sqrt();
        for i in 0..q {
            whalf[c * q + i] = sign * v[(i, j)] * root;
        }
    }
    let mut out = vec![f64::NAN; b * q];
    for &r in &rows {
        for c in 0..q {
            let t: f64 = (0..q).map(|i| (logs[r * q + i] - mean[i]) * whalf[c * q + i]).sum();
            out[r * q + c] = (mean[c] + t * sd[c]).exp();
        }
    }
    Some(out)
}
