//! Points of lme4's likelihood profile of the variance components.
//!
//! lme4's `profile.merMod` works in the standard deviations and correlations of each term
//! and σ (`sd_(Intercept)|Subject`, `cor_Days.(Intercept)|Subject`, `sigma`), on the ML
//! deviance with β profiled,
//!   dev(θ, σ) = log|L|² + r²(θ)/σ² + n log(2πσ²) - Σ log w,
//! where θ = chol(Σ_t)/σ per term. A profile point holds one of those parameters at a value
//! and minimises the deviance over the others: one BOBYQA run here, over the other
//! parameters scaled by σ̂ (standard deviations and σ) so that one trust-region radius fits
//! all, warm-started from the previous point, each evaluation one penalized least-squares
//! solve on the model's symbolic analysis. The caller searches for the ζ = ±z crossings.

use crate::error::{MerxError, Result};
use crate::optimize::{minimize, Objective, OptimizerMethod, OptimizerSettings};
use crate::params::ParameterVector;
use crate::pls::LinearMixedModel;

/// What each profiled parameter is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarianceParameterKind {
    Sd,
    Cor,
    Sigma,
}

/// How one term's θ entries map to its (sd, cor) parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TermMap {
    /// lme4's default: every SD and correlation.
    Unstructured,
    /// SDs only.
    Diagonal,
    /// glmmTMB's ar1 (θ = s, u with φ = sin u): one SD and φ.
    Ar1,
    /// glmmTMB's cs (θ = s_1..s_k, v with ρ = -a + (1+a) sin²v): every SD and ρ.
    HeterogeneousCompoundSymmetry,
}

/// The (sd, cor, σ) ↔ (θ, σ) map of a model's terms (unstructured, diagonal, ar1 and
/// heterogeneous compound symmetry ones).
#[derive(Clone, Debug)]
pub struct SdCorLayout {
    /// Per term: k and how its θ maps to its (sd, cor).
    terms: Vec<(usize, TermMap)>,
    pub kinds: Vec<VarianceParameterKind>,
}

impl SdCorLayout {
    pub fn new(model: &LinearMixedModel) -> Result<Self> {
        let spec: Vec<(usize, &str)> = model.random_effects.terms.iter().map(|t| (t.k, t.structure.name())).collect();
        Self::from_structures(&spec)
    }

    /// The map of terms given as (k, covariance structure name), in the model's term order.
    pub fn from_structures(spec: &[(usize, &str)]) -> Result<Self> {
        use VarianceParameterKind::{Cor, Sd};
        let mut terms = Vec::new();
        let mut kinds = Vec::new();
        for (t, &(k, structure)) in spec.iter().enumerate() {
            let map = match structure {
                "unstructured" => TermMap::Unstructured,
                "diagonal" => TermMap::Diagonal,
                "ar1" => TermMap::Ar1,
                "heterogeneous_compound_symmetry" => TermMap::HeterogeneousCompoundSymmetry,
                other => {
                    return Err(MerxError::InvalidInput(format!(
                        "profile intervals of random-effects term {t} (its covariance structure is {other}) are not available: \
                         use method=\"boot\" (method=\"Wald\" gives the fixed effects' only)"
                    )))
                }
            };
            match map {
                TermMap::Unstructured | TermMap::Diagonal => {
                    for j in 0..k {
                        kinds.push(Sd);
                        if map == TermMap::Unstructured {
                            kinds.extend(std::iter::repeat(Cor).take(k - j - 1));
                        }
                    }
                }
                TermMap::Ar1 => kinds.extend(if k > 1 { vec![Sd, Cor] } else { vec![Sd] }),
                TermMap::HeterogeneousCompoundSymmetry => {
                    kinds.extend(std::iter::repeat(Sd).take(k));
                    if k > 1 {
                        kinds.push(Cor);
                    }
                }
            }
            terms.push((k, map));
        }
        kinds.push(VarianceParameterKind::Sigma);
        Ok(SdCorLayout { terms, kinds })
    }

    /// (sd, cor per term, σ) of θ and σ, in lme4's order (per column j: sd_j, then the
    /// correlations of the later columns with j); an ar1 term gives its SD and φ, a
    /// heterogeneous compound symmetry term its SDs and ρ.
    pub fn from_theta(&self, theta: &[f64], sigma: f64) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.kinds.len());
        let mut pos = 0;
        for &(k, map) in &self.terms {
            match map {
                TermMap::Ar1 => {
                    out.push(sigma * theta[pos]);
                    if k > 1 {
                        out.push(theta[pos + 1].sin());
                    }
                    pos += if k > 1 { 2 } else { 1 };
                    continue;
                }
                TermMap::HeterogeneousCompoundSymmetry => {
                    out.extend(theta[pos..pos + k].iter().map(|s| sigma * s));
                    if k > 1 {
                        let a = 1.0 / (k as f64 - 1.0);
                        out.push(-a + (1.0 + a) * theta[pos + k].sin().powi(2));
                        pos += 1;
                    }
                    pos += k;
                    continue;
                }
                TermMap::Unstructured | TermMap::Diagonal => {}
            }
            let full = map == TermMap::Unstructured;
            let mut t = vec![0.0; k * k];
            if full {
                for c in 0..k {
                    for r in c..k {
                        t[c * k + r] = theta[pos];
                        pos += 1;
                    }
                }
            } else {
                for j in 0..k {
                    t[j * k + j] = theta[pos];
                    pos += 1;
                }
            }
            // S = T T'
            let s = |a: usize, b: usize| (0..k).map(|c| t[c * k + a] * t[c * k + b]).sum::<f64>();
            let sd: Vec<f64> = (0..k).map(|j| s(j, j).sqrt()).collect();
            for j in 0..k {
                out.push(sigma * sd[j]);
                if full {
                    for i in j + 1..k {
                        out.push(if sd[i] * sd[j] > 0.0 { s(i, j) / (sd[i] * sd[j]) } else { 0.0 });
                    }
                }
            }
        }
        out.push(sigma);
        out
    }

    /// θ of (sd, cor, σ); None when a term's correlations are not positive semi-definite
    /// (for ar1: φ outside [-1, 1]; for heterogeneous compound symmetry: ρ outside [-1/(k-1), 1]).
    pub fn to_theta(&self, p: &[f64]) -> Option<Vec<f64>> {
        let sigma = *p.last()?;
        let mut out = Vec::new();
        let mut pos = 0;
        for &(k, map) in &self.terms {
            match map {
                TermMap::Ar1 => {
                    out.push(p[pos] / sigma);
                    if k > 1 {
                        let phi = p[pos + 1];
                        if !(-1.0..=1.0).contains(&phi) {
                            return None;
                        }
                        out.push(phi.asin());
                    }
                    pos += if k > 1 { 2 } else { 1 };
                    continue;
                }
                TermMap::HeterogeneousCompoundSymmetry => {
                    out.extend(p[pos..pos + k].iter().map(|sd| sd / sigma));
                    if k > 1 {
                        let a = 1.0 / (k as f64 - 1.0);
                        let rho = p[pos + k];
                        if !(-a..=1.0).contains(&rho) {
                            return None;
                        }
                        out.push(((rho + a) / (1.0 + a)).sqrt().asin());
                        pos += 1;
                    }
                    pos += k;
                    continue;
                }
                TermMap::Unstructured | TermMap::Diagonal => {}
            }
            let full = map == TermMap::Unstructured;
            let mut sd = vec![0.0; k];
            let mut c = vec![0.0; k * k];
            for j in 0..k {
                c[j * k + j] = 1.0;
            }
            for j in 0..k {
                sd[j] = p[pos];
                pos += 1;
                if full {
                    for i in j + 1..k {
                        c[j * k + i] = p[pos];
                        c[i * k + j] = p[pos];
                        pos += 1;
                    }
                }
            }
            let l = if full { correlation_cholesky(&c, k)? } else { identity(k) };
            for col in 0..k {
                for row in col..k {
                    let v = sd[row] / sigma * l[col * k + row];
                    if full || row == col {
                        out.push(v);
                    }
                }
            }
        }
        Some(out)
    }
}

fn identity(k: usize) -> Vec<f64> {
    let mut out = vec![0.0; k * k];
    for j in 0..k {
        out[j * k + j] = 1.0;
    }
    out
}

/// Lower Cholesky factor of a correlation matrix (positive semi-definite: a zero pivot is
/// allowed when its column's remainder is zero too); None if it is not PSD.
fn correlation_cholesky(c: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; k * k];
    for j in 0..k {
        let d = c[j * k + j] - (0..j).map(|s| l[s * k + j] * l[s * k + j]).sum::<f64>();
        if d < -1e-10 {
            return None;
        }
        let ljj = d.max(0.0).sqrt();
        l[j * k + j] = ljj;
        for i in j + 1..k {
            let r = c[j * k + i] - (0..j).map(|s| l[s * k + i] * l[s * k + j]).sum::<f64>();
            if ljj > 1e-10 {
                l[j * k + i] = r / ljj;
            } else if r.abs() > 1e-8 {
                return None;
            }
        }
    }
    Some(l)
}

/// The ML deviance as a function of the scaled (sd, cor, σ) vector.
struct ScaledDeviance<'a> {
    model: &'a mut LinearMixedModel,
    layout: &'a SdCorLayout,
    scale: f64,
    buffer: Vec<f64>,
}

impl ScaledDeviance<'_> {
    fn deviance(&mut self, x: &[f64]) -> f64 {
        for (i, (&xi, kind)) in x.iter().zip(&self.layout.kinds).enumerate() {
            self.buffer[i] = if *kind == VarianceParameterKind::Cor { xi } else { xi * self.scale };
        }
        let sigma = *self.buffer.last().unwrap_or(&0.0);
        if !(sigma > 0.0) {
            return f64::INFINITY;
        }
        let Some(theta) = self.layout.to_theta(&self.buffer) else { return f64::INFINITY };
        match self.model.evaluate(&theta) {
            Ok(e) => {
                let n = self.model.n_obs() as f64;
                e.deviance_ml + e.pwrss / (sigma * sigma) - n + n * (n * sigma * sigma / e.pwrss).ln()
            }
            Err(_) => f64::INFINITY,
        }
    }
}

impl Objective for ScaledDeviance<'_> {
    fn value(&mut self, x: &[f64]) -> f64 {
        self.deviance(x)
    }

    fn value_and_gradient(&mut self, _x: &[f64], _gradient: &mut [f64]) -> f64 {
        f64::INFINITY // BOBYQA only
    }
}

/// The ML deviance at (sd, cor, σ) = p.
pub fn sdcor_deviance(model: &mut LinearMixedModel, layout: &SdCorLayout, p: &[f64]) -> f64 {
    let mut f = ScaledDeviance { model, layout, scale: 1.0, buffer: vec![0.0; p.len()] };
    f.deviance(p)
}

/// One profile point: the minimum of the ML deviance over the other parameters with
/// parameter `held` at `value`, from `start` (sd, cor, σ). `scale` is σ̂ (the scale of the
/// standard deviations). Returns the deviance and the minimising parameters.
pub fn profile_point(
    model: &mut LinearMixedModel,
    layout: &SdCorLayout,
    start: &[f64],
    held: usize,
    value: f64,
    scale: f64,
) -> Result<(f64, Vec<f64>)> {
    let m = layout.kinds.len();
    if start.len() != m || held >= m {
        return Err(MerxError::InvalidInput(format!(
            "a profile point needs {m} variance parameters and a held index below {m}"
        )));
    }
    if model.reml {
        return Err(MerxError::InvalidInput("profiles are of the ML deviance: build the model with reml=false".into()));
    }
    let scaled = |i: usize, v: f64| if layout.kinds[i] == VarianceParameterKind::Cor { v } else { v / scale };
    let mut x0: Vec<f64> = (0..m).map(|i| scaled(i, start[i])).collect();
    x0[held] = scaled(held, value);
    let lower: Vec<f64> = layout
        .kinds
        .iter()
        .map(|k| match k {
            VarianceParameterKind::Cor => -1.0,
            VarianceParameterKind::Sd => 0.0,
            VarianceParameterKind::Sigma => 1e-8,
        })
        .collect();
    let upper: Vec<f64> = layout
        .kinds
        .iter()
        .map(|k| if *k == VarianceParameterKind::Cor { 1.0 } else { f64::INFINITY })
        .collect();
    for i in 0..m {
        x0[i] = x0[i].clamp(lower[i], upper[i]);
    }
    // A held correlation may make the start's other correlations non-PSD: shrink them.
    for _ in 0..60 {
        let p: Vec<f64> = (0..m).map(|i| if layout.kinds[i] == VarianceParameterKind::Cor { x0[i] } else { x0[i] * scale }).collect();
        if layout.to_theta(&p).is_some() {
            break;
        }
        for i in 0..m {
            if i != held && layout.kinds[i] == VarianceParameterKind::Cor {
                x0[i] *= 0.8;
            }
        }
    }
    let names = (0..m).map(|i| format!("p{i}")).collect();
    let mut params = ParameterVector::new(names, x0.clone(), lower, upper)?;
    params.fix(held, x0[held])?;
    let mut objective = ScaledDeviance { model, layout, scale, buffer: vec![0.0; m] };
    if params.free_indices().is_empty() {
        let f = objective.deviance(&x0);
        return Ok((f, start.to_vec()));
    }
    let settings = OptimizerSettings { method: OptimizerMethod::Bobyqa, rho_begin: Some(0.05), rho_end: 1e-7, ..Default::default() };
    let report = minimize(&mut objective, &params, &settings, false)?;
    let full = report.theta; // the whole vector, the held entry included
    let p: Vec<f64> = (0..m).map(|i| if layout.kinds[i] == VarianceParameterKind::Cor { full[i] } else { full[i] * scale }).collect();
    Ok((report.objective, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdcor_and_theta_round_trip() {
        let layout = SdCorLayout::from_structures(&[
            (3, "unstructured"),
            (2, "diagonal"),
            (1, "unstructured"),
            (4, "ar1"),
            (3, "heterogeneous_compound_symmetry"),
        ])
        .unwrap();
        let theta = [1.2, 0.3, -0.4, 0.8, 0.1, 0.5, 0.7, 0.2, 0.9, 0.6, -0.7, 0.4, 0.3, 0.2, 1.1];
        let p = layout.from_theta(&theta, 2.5);
        assert_eq!(p.len(), layout.kinds.len());
        assert!((p[9] - 2.5 * 0.6).abs() < 1e-15 && (p[10] - (-0.7f64).sin()).abs() < 1e-15);
        let rho = -0.5 + 1.5 * 1.1f64.sin().powi(2);
        assert!((p[14] - rho).abs() < 1e-15);
        let back = layout.to_theta(&p).unwrap();
        for (a, b) in theta.iter().zip(&back) {
            assert!((a - b).abs() < 1e-12, "{theta:?} vs {back:?}");
        }
        // A correlation matrix that is not PSD has no θ.
        let mut bad = p.clone();
        bad[1] = 0.99;
        bad[2] = -0.99;
        bad[4] = 0.99;
        assert!(layout.to_theta(&bad).is_none());
        // φ beyond 1 and ρ below -1/(k-1) have no θ either.
        let mut bad = p.clone();
        bad[10] = 1.01;
        assert!(layout.to_theta(&bad).is_none());
        let mut bad = p.clone();
        bad[14] = -0.51;
        assert!(layout.to_theta(&bad).is_none());
    }
}
