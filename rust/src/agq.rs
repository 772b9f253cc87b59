//! Adaptive Gauss-Hermite quadrature of a GLMM with one scalar random-effects term (lme4's
//! `nAGQ > 1`, which lme4 restricts to that case).
//!
//! The levels are then independent given (θ, β): the likelihood is a product of
//! one-dimensional integrals over uₗ. Each is centred at the PIRLS mode ûₗ and scaled by
//! sₗ = 1/Lₗₗ (the conditional standard deviation of the Laplace approximation): with
//! Gauss-Hermite nodes zₖ and weights wₖ for the standard normal density φ,
//!   ∫ exp(-½ dₗ(u)) du ≈ sₗ exp(-½ dₗ(ûₗ)) Σₖ wₖ exp(-½ (dₗ(ûₗ + sₗzₖ) - dₗ(ûₗ))) / (√(2π) φ(zₖ)),
//! dₗ(u) = Σᵢ∈ₗ d(yᵢ, μᵢ(u)) + u². The deviance, as lme4 defines it, is
//!   Σₗ dₗ(ûₗ) + log|L|² - 2 Σₗ log(Σₖ ...),
//! built from the deviance residuals: unlike the Laplace deviance it leaves out the
//! family's constants (cbpp: logLik -92.03 by Laplace, -50.01 with 25 nodes).

use crate::data::ModelData;
use crate::error::{MerxError, Result};
use crate::pirls::GeneralizedLinearMixedModel;

/// Gauss-Hermite nodes and weights for ∫ f(z) φ(z) dz (weights sum to 1), by Golub-Welsch.
#[derive(Clone, Debug)]
pub struct GaussHermite {
    pub nodes: Vec<f64>,
    pub weights: Vec<f64>,
}

impl GaussHermite {
    pub fn new(n: usize) -> Result<Self> {
        if n == 0 || n > 100 {
            return Err(MerxError::InvalidInput(format!("nAGQ = {n}: use between 1 and 100 quadrature nodes")));
        }
        // Jacobi matrix of the probabilists' Hermite polynomials: off-diagonal √k.
        let jacobi = faer::Mat::<f64>::from_fn(n, n, |i, j| if i.abs_diff(j) == 1 { (i.max(j) as f64).sqrt() } else { 0.0 });
        let eig = jacobi
            .self_adjoint_eigen(faer::Side::Lower)
            .map_err(|_| MerxError::Numerical("the Gauss-Hermite eigenproblem did not converge".into()))?;
        let (s, u) = (eig.S(), eig.U());
        let mut nodes: Vec<f64> = (0..n).map(|i| s[i]).collect();
        let mut weights: Vec<f64> = (0..n).map(|i| u[(0, i)] * u[(0, i)]).collect();
        // The middle node of an odd rule is 0 exactly (lme4 treats it specially).
        if n % 2 == 1 {
            nodes[n / 2] = 0.0;
        }
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        Ok(GaussHermite { nodes, weights })
    }
}

/// log φ(z).
fn log_phi(z: f64) -> f64 {
    -0.5 * z * z - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

impl GeneralizedLinearMixedModel {
    /// The AGQ deviance at (θ, β) with the given rule; one scalar random-effects term only.
    pub fn agq_deviance(&mut self, data: &ModelData, theta: &[f64], beta: &[f64], rule: &GaussHermite) -> Result<f64> {
        let terms = &self.lmm.random_effects.terms;
        if terms.len() != 1 || terms[0].k != 1 {
            return Err(MerxError::InvalidInput(
                "adaptive Gauss-Hermite quadrature (nAGQ > 1) needs a single scalar random-effects term such as (1 | g)".into(),
            ));
        }
        let levels = terms[0].n_levels;
        let laplace = self.laplace(data, theta, Some(beta))?;
        let codes = data.terms[0].codes;
        let z = data.terms[0].z;
        let lambda = theta[0];
        let u0 = self.u().to_vec();
        let eta0 = self.eta().to_vec();
        let weights = self.working_weights().to_vec();
        // Lₗₗ² = 1 + θ² Σᵢ∈ₗ wᵢ zᵢ² (the term's part of A is diagonal).
        let mut a = vec![1.0; levels];
        for i in 0..eta0.len() {
            a[codes[i] as usize] += lambda * lambda * weights[i] * z[(i, 0)] * z[(i, 0)];
        }
        let sd: Vec<f64> = a.iter().map(|v| 1.0 / v.sqrt()).collect();
        let group_deviance = |shift: f64, out: &mut Vec<f64>| {
            out.iter_mut().enumerate().for_each(|(l, v)| *v = (u0[l] + shift * sd[l]).powi(2));
            let link = self.family.link();
            for i in 0..eta0.len() {
                let l = codes[i] as usize;
                let eta = eta0[i] + lambda * z[(i, 0)] * shift * sd[l];
                out[l] += self.family.deviance_residual(self.response()[i], link.inverse(eta), self.prior_weights()[i]);
            }
        };
        let mut dev0 = vec![0.0; levels];
        group_deviance(0.0, &mut dev0);
        let mut mult = vec![0.0; levels];
        let mut dev = vec![0.0; levels];
        for (&node, &w) in rule.nodes.iter().zip(&rule.weights) {
            if node == 0.0 {
                mult.iter_mut().for_each(|m| *m += w);
                continue;
            }
            group_deviance(node, &mut dev);
            for l in 0..levels {
                mult[l] += w * (-0.5 * (dev[l] - dev0[l]) - log_phi(node) - 0.5 * (2.0 * std::f64::consts::PI).ln()).exp();
            }
        }
        let ld_l2: f64 = a.iter().map(|v| v.ln()).sum();
        debug_assert!((ld_l2 - laplace.ld_l2).abs() < 1e-8 * ld_l2.abs().max(1.0));
        Ok(dev0.iter().sum::<f64>() + ld_l2 - 2.0 * mult.iter().map(|m| m.ln()).sum::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_integrates_polynomials_against_the_normal_density() {
        for n in [1, 2, 5, 9, 25] {
            let r = GaussHermite::new(n).unwrap();
            // E z^(2j) = (2j-1)!!, exact for degree < 2n.
            let mut double_factorial = 1.0;
            for j in 0..n {
                if 2 * j >= 2 * n {
                    break;
                }
                let got: f64 = r.nodes.iter().zip(&r.weights).map(|(z, w)| w * z.powi(2 * j as i32)).sum();
                assert!((got - double_factorial).abs() < 1e-9 * double_factorial, "n={n} j={j}: {got} vs {double_factorial}");
                double_factorial *= (2 * j + 1) as f64;
            }
        }
        assert!(GaussHermite::new(0).is_err());
    }
}
