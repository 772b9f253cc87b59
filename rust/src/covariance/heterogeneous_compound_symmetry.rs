//! glmmTMB's `cs(x | g)`: heterogeneous compound symmetry, each column its own variance and
//! every pair one common correlation ρ: Var(b_level)/σ² = S((1-ρ)I + ρJ)S, S = diag(s).
//!
//! Parameters (s_1..s_k, y): s_j ≥ 0 the relative standard deviations and y unbounded with
//! ρ = (1+a)·logistic(y) - a, a = 1/(k-1) (glmmTMB's map), so ρ stays inside (-a, 1), where
//! the matrix is positive definite, without bounds; y = -ln(k-1) is ρ = 0. The template is
//! S·L(ρ), L the Cholesky factor of the equicorrelation matrix, in closed form with
//! q_j = 1 + jρ:
//!   L_00 = 1, L_i0 = ρ; for j ≥ 1: L_jj = √((1-ρ) q_j / q_{j-1}), L_ij = ρ√((1-ρ)/(q_{j-1} q_j)).
//! Each is written through logarithms whose y-derivatives stay bounded at both ends of ρ's
//! range: 1-ρ = (1+a)·logistic(-y) and q_{k-1} = k·logistic(y) are formed without
//! cancellation. A term with one column has s_1 only (the formula refuses it: `(1 | g)`).

use super::{entry_name, CovarianceStructure};

#[derive(Clone, Copy, Debug, Default)]
pub struct HeterogeneousCompoundSymmetry;

/// ln(1 + e^z) without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// Value, first and second y-derivative of a scalar.
type Jet = (f64, f64, f64);

/// The equicorrelation factor L(ρ(y)) of size k ≥ 2 and its y-derivatives, each k × k
/// column-major (zeros above the diagonal).
pub(crate) fn correlation_factor(k: usize, y: f64) -> [Vec<f64>; 3] {
    let a = 1.0 / (k as f64 - 1.0);
    let sig = 1.0 / (1.0 + (-y).exp());
    let sig_bar = 1.0 / (1.0 + y.exp());
    let rho: Jet = {
        let d1 = (1.0 + a) * sig * sig_bar;
        ((1.0 + a) * sig - a, d1, d1 * (sig_bar - sig))
    };
    // ln(1-ρ) = ln(1+a) + ln logistic(-y)
    let ln_one_minus: Jet = ((1.0 + a).ln() - softplus(y), -sig, -sig * sig_bar);
    // ln q_j for j = 0..k-1
    let ln_q: Vec<Jet> = (0..k)
        .map(|j| {
            if j == 0 {
                (0.0, 0.0, 0.0)
            } else if j == k - 1 {
                ((k as f64).ln() - softplus(-y), sig_bar, -sig * sig_bar)
            } else {
                let jf = j as f64;
                let q = (1.0 - jf * a) + jf * (1.0 + a) * sig;
                let r = jf * rho.1 / q;
                (q.ln(), r, jf * rho.2 / q - r * r)
            }
        })
        .collect();
    let mut out = [vec![0.0; k * k], vec![0.0; k * k], vec![0.0; k * k]];
    let mut put = |i: usize, j: usize, v: Jet| {
        out[0][j * k + i] = v.0;
        out[1][j * k + i] = v.1;
        out[2][j * k + i] = v.2;
    };
    put(0, 0, (1.0, 0.0, 0.0));
    for i in 1..k {
        put(i, 0, rho);
    }
    for j in 1..k {
        let (lq, lp) = (ln_q[j], ln_q[j - 1]);
        // L_jj = exp(G), G = ½(ln(1-ρ) + ln q_j - ln q_{j-1})
        let g = (
            0.5 * (ln_one_minus.0 + lq.0 - lp.0),
            0.5 * (ln_one_minus.1 + lq.1 - lp.1),
            0.5 * (ln_one_minus.2 + lq.2 - lp.2),
        );
        let e = g.0.exp();
        put(j, j, (e, e * g.1, e * (g.2 + g.1 * g.1)));
        // L_ij = ρ·exp(H), H = ½(ln(1-ρ) - ln q_{j-1} - ln q_j)
        let h = (
            0.5 * (ln_one_minus.0 - lp.0 - lq.0),
            0.5 * (ln_one_minus.1 - lp.1 - lq.1),
            0.5 * (ln_one_minus.2 - lp.2 - lq.2),
        );
        let e = h.0.exp();
        let off = (rho.0 * e, e * (rho.1 + rho.0 * h.1), e * (rho.2 + 2.0 * rho.1 * h.1 + rho.0 * (h.2 + h.1 * h.1)));
        for i in j + 1..k {
            put(i, j, off);
        }
    }
    out
}

impl CovarianceStructure for HeterogeneousCompoundSymmetry {
    fn name(&self) -> &'static str {
        "heterogeneous_compound_symmetry"
    }

    fn n_params(&self, k: usize) -> usize {
        if k > 1 {
            k + 1
        } else {
            1
        }
    }

    fn param_names(&self, group: &str, columns: &[String]) -> Vec<String> {
        let k = columns.len();
        let mut out: Vec<String> = (0..k).map(|j| entry_name(group, columns, j, j)).collect();
        if k > 1 {
            out.push(format!("{group}.(rho_raw)"));
        }
        out
    }

    fn start(&self, k: usize) -> Vec<f64> {
        let mut out = vec![1.0; k];
        if k > 1 {
            out.push(-(k as f64 - 1.0).ln());
        }
        out
    }

    fn lower_bounds(&self, k: usize) -> Vec<f64> {
        let mut out = vec![0.0; k];
        if k > 1 {
            out.push(f64::NEG_INFINITY);
        }
        out
    }

    fn domain_error(&self, k: usize, params: &[f64]) -> Option<String> {
        if let Some((j, s)) = params[..k].iter().enumerate().find(|(_, s)| !(**s >= 0.0 && s.is_finite())) {
            return Some(format!("the relative standard deviation {s} of column {j} is not a finite number ≥ 0"));
        }
        match params.get(k) {
            Some(&y) if !y.is_finite() => Some(format!("the correlation parameter {y} is not finite")),
            _ => None,
        }
    }

    fn fill_template(&self, k: usize, params: &[f64], out: &mut [f64]) {
        out[..k * k].fill(0.0);
        if k == 1 {
            out[0] = params[0];
            return;
        }
        let [l, _, _] = correlation_factor(k, params[k]);
        for j in 0..k {
            for i in j..k {
                out[j * k + i] = params[i] * l[j * k + i];
            }
        }
    }

    fn template_jacobian(&self, k: usize, params: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        if k == 1 {
            out[0] = 1.0;
            return;
        }
        let kk = k * k;
        let [l, d1, _] = correlation_factor(k, params[k]);
        for j in 0..k {
            for i in j..k {
                // ∂T_ij/∂s_i = L_ij: row i of block i
                out[i * kk + j * k + i] = l[j * k + i];
                out[k * kk + j * k + i] = params[i] * d1[j * k + i];
            }
        }
    }

    /// ∂²T/∂s_m∂s_n = 0, ∂²T/∂s_m∂y = row m of ∂L/∂y, ∂²T/∂y² = S·∂²L/∂y².
    fn template_hessian(&self, k: usize, params: &[f64], out: &mut [f64]) -> bool {
        out.fill(0.0);
        if k == 1 {
            return true;
        }
        let (kk, m) = (k * k, k + 1);
        let [_, d1, d2] = correlation_factor(k, params[k]);
        for j in 0..k {
            for i in j..k {
                let e = j * k + i;
                out[(i * m + k) * kk + e] = d1[e];
                out[(k * m + i) * kk + e] = d1[e];
                out[(k * m + k) * kk + e] = params[i] * d2[e];
            }
        }
        true
    }
}
