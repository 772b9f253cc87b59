//! glmmTMB's `cs(x | g)`: heterogeneous compound symmetry, each column its own variance and
//! every pair one common correlation ρ: Var(b_level)/σ² = S((1-ρ)I + ρJ)S, S = diag(s).
//!
//! Parameters (s_1..s_k, v): s_j ≥ 0 the relative standard deviations and v ∈ [0, π/2]
//! with ρ = -a + (1+a)·sin²v, a = 1/(k-1): v sweeps ρ's whole range [-a, 1], where the
//! matrix is positive semi-definite (singular at both ends, boundaries like lme4's s = 0).
//! The angle keeps the template's derivatives bounded up to the ends and the objective's
//! slope there (glmmTMB's logistic map flattens as ρ → 1, where its fits of highly
//! correlated columns stop with false convergence). The template is S·L(ρ), L the Cholesky
//! factor of the equicorrelation matrix, in closed form with q_j = 1 + jρ:
//!   L_00 = 1, L_i0 = ρ; for j ≥ 1: L_jj = √((1-ρ) q_j / q_{j-1}), L_ij = ρ√((1-ρ)/(q_{j-1} q_j)).
//! In v, 1-ρ = (1+a)cos²v and q_{k-1} = k·sin²v, so √(1-ρ) = √(1+a)·cos v and
//! √q_{k-1} = √k·sin v; every other q_j (j ≤ k-2) is at least 1/(k-1). Each entry is then a
//! product of smooth factors, differentiated twice by the product rule (`Jet`). A term with
//! one column has s_1 only (the formula refuses it: `(1 | g)`).

use super::{entry_name, CovarianceStructure};
use std::f64::consts::FRAC_PI_2;

#[derive(Clone, Copy, Debug, Default)]
pub struct HeterogeneousCompoundSymmetry;

/// A function of v with its first and second derivatives.
#[derive(Clone, Copy, Debug)]
struct Jet(f64, f64, f64);

impl Jet {
    fn constant(c: f64) -> Jet {
        Jet(c, 0.0, 0.0)
    }

    fn mul(self, o: Jet) -> Jet {
        Jet(self.0 * o.0, self.1 * o.0 + self.0 * o.1, self.2 * o.0 + 2.0 * self.1 * o.1 + self.0 * o.2)
    }

    /// self^p for self > 0.
    fn powf(self, p: f64) -> Jet {
        let v = self.0.powf(p);
        let d = p * self.0.powf(p - 1.0);
        let dd = p * (p - 1.0) * self.0.powf(p - 2.0);
        Jet(v, d * self.1, dd * self.1 * self.1 + d * self.2)
    }
}

/// The equicorrelation factor L(ρ(v)) of size k ≥ 2 and its v-derivatives, each k × k
/// column-major (zeros above the diagonal).
pub(crate) fn correlation_factor(k: usize, v: f64) -> [Vec<f64>; 3] {
    let a = 1.0 / (k as f64 - 1.0);
    let (sin, cos) = v.sin_cos();
    let (sin2, cos2) = (2.0 * v).sin_cos();
    // ρ = -a + (1+a) sin²v: d/dv sin²v = sin 2v, d²/dv² = 2 cos 2v
    let rho = Jet(-a + (1.0 + a) * sin * sin, (1.0 + a) * sin2, 2.0 * (1.0 + a) * cos2);
    let root_one_minus = Jet(cos, -sin, -cos).mul(Jet::constant((1.0 + a).sqrt()));
    let q = |j: usize| Jet(1.0 + j as f64 * rho.0, j as f64 * rho.1, j as f64 * rho.2);
    let mut out = [vec![0.0; k * k], vec![0.0; k * k], vec![0.0; k * k]];
    let mut put = |i: usize, j: usize, e: Jet| {
        out[0][j * k + i] = e.0;
        out[1][j * k + i] = e.1;
        out[2][j * k + i] = e.2;
    };
    put(0, 0, Jet::constant(1.0));
    for i in 1..k {
        put(i, 0, rho);
    }
    for j in 1..k {
        let inv_root_prev = q(j - 1).powf(-0.5);
        let root_q = if j == k - 1 { Jet(sin, cos, -sin).mul(Jet::constant((k as f64).sqrt())) } else { q(j).powf(0.5) };
        put(j, j, root_one_minus.mul(root_q).mul(inv_root_prev));
        if j + 1 < k {
            let off = rho.mul(root_one_minus).mul(inv_root_prev).mul(q(j).powf(-0.5));
            for i in j + 1..k {
                put(i, j, off);
            }
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
            out.push(format!("{group}.(rho_angle)"));
        }
        out
    }

    fn start(&self, k: usize) -> Vec<f64> {
        let mut out = vec![1.0; k];
        if k > 1 {
            // ρ = 0: sin²v = a/(1+a) = 1/k
            out.push((1.0 / k as f64).sqrt().asin());
        }
        out
    }

    fn lower_bounds(&self, k: usize) -> Vec<f64> {
        let mut out = vec![0.0; k];
        if k > 1 {
            out.push(0.0);
        }
        out
    }

    fn upper_bounds(&self, k: usize) -> Vec<f64> {
        let mut out = vec![f64::INFINITY; k];
        if k > 1 {
            out.push(FRAC_PI_2);
        }
        out
    }

    /// Every finite (s, v) gives a factor of S((1-ρ)I + ρJ)S: a negative s_j flips row j's
    /// sign in S·L and an angle outside [0, π/2] flips whole columns of L (cos v enters every
    /// entry of columns 1.., sin v only the last diagonal entry), so T T' is that of
    /// sin²v; the bounds only make the map one-to-one, and differences taken at a bound (a
    /// GLMM's Hessian) may step past them.
    fn domain_error(&self, _k: usize, params: &[f64]) -> Option<String> {
        params.iter().find(|p| !p.is_finite()).map(|p| format!("the parameter {p} is not finite"))
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

    /// ∂²T/∂s_m∂s_n = 0, ∂²T/∂s_m∂v = row m of ∂L/∂v, ∂²T/∂v² = S·∂²L/∂v².
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
