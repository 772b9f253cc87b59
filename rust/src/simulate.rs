//! Simulation from a fitted mixed model: lme4's `simulate.merMod`.
//!
//! A response is η = η₀ + s Σ_t Z_t b_t, b_t = T_t u_t with u_t ~ N(0, I) per level, drawn
//! for the random-effects terms that are not conditioned on (η₀ holds the fixed part, the
//! offset and the conditioned terms' modes), then y | η from the conditional distribution.
//! s is σ for a linear mixed model (its T are relative to σ) and 1 for a GLMM, as lme4's
//! simulate. Replicate j draws from stream j of the seed ([`Rng::for_stream`]), so a
//! simulation is the same whether its replicates run in one thread or several.
//!
//! The conditional distributions follow the fitted model: a Gaussian has standard deviation
//! σ/√w (lme4's linear-model branch ignores prior weights), a binomial row has w trials (R's
//! `rbinom(size = wts)`; w must be whole) and y is the proportion of successes, a Gamma
//! shape w/σ² and an inverse Gaussian shape w/σ² (lme4's simfun list uses σ·w and w/σ, not
//! the fitted dispersion σ²), a negative binomial the fitted shape θ.

use crate::error::{invalid, Result};
use crate::family::link::Link;
use crate::rng::Rng;
use faer::MatRef;

/// The conditional distribution of y given η.
#[derive(Clone, Debug)]
pub enum ConditionalDistribution {
    /// A linear mixed model (identity link) or a Gaussian GLMM (any link): N(μ, σ²/w).
    Gaussian { link: Link, sigma: f64 },
    /// y the proportion of w trials.
    Binomial { link: Link },
    Poisson { link: Link },
    Gamma { link: Link, sigma: f64 },
    InverseGaussian { link: Link, sigma: f64 },
    NegativeBinomial { link: Link, shape: f64 },
}

impl ConditionalDistribution {
    /// The distribution of R's family `family` with `link`; `sigma` the residual scale of
    /// the families that have one, `shape` the negative binomial's θ.
    pub fn new(family: &str, link: &str, sigma: f64, shape: Option<f64>) -> Result<Self> {
        let link = Link::from_name(link)?;
        let positive = |what: &str, v: f64| -> Result<f64> {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                invalid(format!("simulating from the {family} family needs a positive finite {what}, not {v}"))
            }
        };
        Ok(match family {
            "gaussian" => ConditionalDistribution::Gaussian { link, sigma: positive("sigma", sigma)? },
            "binomial" => ConditionalDistribution::Binomial { link },
            "poisson" => ConditionalDistribution::Poisson { link },
            "Gamma" => ConditionalDistribution::Gamma { link, sigma: positive("sigma", sigma)? },
            "inverse.gaussian" => ConditionalDistribution::InverseGaussian { link, sigma: positive("sigma", sigma)? },
            "negative_binomial" => {
                ConditionalDistribution::NegativeBinomial { link, shape: positive("shape", shape.unwrap_or(f64::NAN))? }
            }
            other => return invalid(format!("simulation is not available for the {other:?} family")),
        })
    }

    /// Checks the prior weights once (binomial trials must be whole numbers).
    pub fn check_weights(&self, weights: Option<&[f64]>) -> Result<()> {
        if let (ConditionalDistribution::Binomial { .. }, Some(w)) = (self, weights) {
            if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0 && v.fract() == 0.0)) {
                return invalid(format!(
                    "cannot simulate binomial responses from non-integer prior weights (trials): row {i} has {}",
                    w[i]
                ));
            }
        }
        Ok(())
    }

    /// One draw of y at linear predictor `eta` with prior weight `w`.
    pub fn draw(&self, eta: f64, w: f64, rng: &mut Rng) -> f64 {
        match *self {
            ConditionalDistribution::Gaussian { link, sigma } => link.inverse(eta) + sigma / w.sqrt() * rng.normal(),
            ConditionalDistribution::Binomial { link } => {
                if w == 0.0 {
                    return 0.0;
                }
                rng.binomial(w as u64, link.inverse(eta)) as f64 / w
            }
            ConditionalDistribution::Poisson { link } => rng.poisson(link.inverse(eta)) as f64,
            ConditionalDistribution::Gamma { link, sigma } => {
                let shape = w / (sigma * sigma);
                rng.gamma(shape) * link.inverse(eta) / shape
            }
            ConditionalDistribution::InverseGaussian { link, sigma } => {
                rng.inverse_gaussian(link.inverse(eta), w / (sigma * sigma))
            }
            ConditionalDistribution::NegativeBinomial { link, shape } => {
                rng.negative_binomial(link.inverse(eta), shape) as f64
            }
        }
    }
}

/// A random-effects term whose effects are drawn afresh: its rows' level codes (-1: no
/// level, contributes nothing), raw model matrix and template T (k × k column-major).
#[derive(Clone, Debug)]
pub struct DrawnTerm<'a> {
    pub codes: &'a [i64],
    pub n_levels: usize,
    pub z: MatRef<'a, f64>,
    pub template: Vec<f64>,
}

impl DrawnTerm<'_> {
    pub fn k(&self) -> usize {
        self.z.ncols()
    }
}

/// Everything one simulated response needs.
#[derive(Clone, Debug)]
pub struct SimulationDesign<'a> {
    /// η₀: fixed part, offset and the random effects conditioned on.
    pub eta_base: &'a [f64],
    pub drawn: Vec<DrawnTerm<'a>>,
    /// s: the drawn effects enter as s Z T u (σ for a linear mixed model, 1 for a GLMM).
    pub re_scale: f64,
    pub distribution: ConditionalDistribution,
    pub weights: Option<&'a [f64]>,
}

impl SimulationDesign<'_> {
    /// Checks shapes and values once, before any draw.
    pub fn validate(&self) -> Result<()> {
        let n = self.eta_base.len();
        if let Some(i) = self.eta_base.iter().position(|v| !v.is_finite()) {
            return invalid(format!("the linear predictor is not finite at row {i}"));
        }
        for (t, term) in self.drawn.iter().enumerate() {
            let k = term.k();
            if term.codes.len() != n || term.z.nrows() != n {
                return invalid(format!("random-effects term {t} has {} rows for {n} responses", term.codes.len()));
            }
            if term.template.len() != k * k {
                return invalid(format!("random-effects term {t}: the template needs {} values", k * k));
            }
            if let Some(i) = term.codes.iter().position(|&c| c >= term.n_levels as i64) {
                return invalid(format!("random-effects term {t}: code {} at row {i} is out of range", term.codes[i]));
            }
        }
        if let Some(w) = self.weights {
            if w.len() != n {
                return invalid(format!("weights have length {} for {n} responses", w.len()));
            }
            if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
                return invalid(format!("weights must be finite and non-negative; row {i} has {}", w[i]));
            }
        }
        if !(self.re_scale.is_finite() && self.re_scale >= 0.0) {
            return invalid(format!("the random-effects scale must be finite and non-negative, not {}", self.re_scale));
        }
        self.distribution.check_weights(self.weights)
    }

    /// One response into `out` (n), drawing from `rng`: first the random effects (term by
    /// term, level by level), then y row by row.
    pub fn draw(&self, rng: &mut Rng, out: &mut [f64]) {
        out.copy_from_slice(self.eta_base);
        let mut u = Vec::new();
        let mut b = Vec::new();
        for term in &self.drawn {
            let k = term.k();
            u.resize(term.n_levels * k, 0.0);
            b.resize(term.n_levels * k, 0.0);
            for v in u.iter_mut() {
                *v = rng.normal();
            }
            lower_times(&term.template, k, &u, self.re_scale, &mut b);
            for (i, eta) in out.iter_mut().enumerate() {
                let c = term.codes[i];
                if c < 0 {
                    continue;
                }
                let bl = &b[c as usize * k..(c as usize + 1) * k];
                *eta += (0..k).map(|a| term.z[(i, a)] * bl[a]).sum::<f64>();
            }
        }
        for (i, y) in out.iter_mut().enumerate() {
            let w = self.weights.map_or(1.0, |w| w[i]);
            *y = self.distribution.draw(*y, w, rng);
        }
    }

    /// `nsim` responses (n × nsim column-major), replicate j from stream j of `seed`.
    pub fn simulate(&self, nsim: usize, seed: u64) -> Result<Vec<f64>> {
        self.simulate_from(0, nsim, seed)
    }

    /// Replicates `first`..`first + nsim` (replicate j from stream j of the seed, so a run in
    /// chunks gives the same responses as one call).
    pub fn simulate_from(&self, first: usize, nsim: usize, seed: u64) -> Result<Vec<f64>> {
        self.validate()?;
        let n = self.eta_base.len();
        let mut out = vec![0.0; n * nsim];
        for (j, column) in out.chunks_mut(n.max(1)).enumerate().take(nsim) {
            self.draw(&mut Rng::for_stream(seed, (first + j) as u64), column);
        }
        Ok(out)
    }
}

/// b_l = s T u_l for every level l (T lower triangular k × k column-major).
pub fn lower_times(template: &[f64], k: usize, u: &[f64], scale: f64, b: &mut [f64]) {
    for (ul, bl) in u.chunks(k).zip(b.chunks_mut(k)) {
        for r in 0..k {
            bl[r] = scale * (0..=r).map(|c| template[c * k + r] * ul[c]).sum::<f64>();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One term with 400 levels of 3 rows each: per row, Var(y) = σ²(z'TT'z + 1), and two
    /// rows of a level covary by σ² z'TT'z; the means follow η₀.
    #[test]
    fn gaussian_draws_have_the_models_moments() {
        let levels = 400;
        let n = 3 * levels;
        let codes: Vec<i64> = (0..n).map(|i| (i / 3) as i64).collect();
        let z: Vec<f64> = (0..n).map(|i| (i % 3) as f64).chain(std::iter::repeat(1.0).take(n)).collect();
        let eta: Vec<f64> = (0..n).map(|i| 0.5 * (i % 3) as f64).collect();
        let template = vec![0.8, 0.3, 0.0, 0.5]; // T = [[0.8, 0], [0.3, 0.5]]
        let design = SimulationDesign {
            eta_base: &eta,
            drawn: vec![DrawnTerm { codes: &codes, n_levels: levels, z: MatRef::from_column_major_slice(&z, n, 2), template: template.clone() }],
            re_scale: 2.0,
            distribution: ConditionalDistribution::Gaussian { link: Link::Identity, sigma: 2.0 },
            weights: None,
        };
        let nsim = 200;
        let ys = design.simulate(nsim, 11).unwrap();
        // Row position 2 of each level: z = (2, 1); z'TT'z = ‖T'z‖².
        let tz = [0.8 * 2.0 + 0.3 * 1.0, 0.5 * 1.0];
        let quad = tz[0] * tz[0] + tz[1] * tz[1];
        let (mut sum, mut sq) = (0.0, 0.0);
        let mut count = 0.0;
        for j in 0..nsim {
            for l in 0..levels {
                let y = ys[j * n + 3 * l + 2] - eta[3 * l + 2];
                sum += y;
                sq += y * y;
                count += 1.0;
            }
        }
        let var = 4.0 * (quad + 1.0);
        assert!((sum / count).abs() < 5.0 * (var / count).sqrt());
        assert!((sq / count - var).abs() < 5.0 * var * (2.0 / count).sqrt(), "{} vs {var}", sq / count);
        // Reproducible per seed.
        assert_eq!(ys, design.simulate(nsim, 11).unwrap());
    }

    #[test]
    fn binomial_trials_must_be_whole() {
        let eta = vec![0.0; 2];
        let w = vec![2.0, 1.5];
        let design = SimulationDesign {
            eta_base: &eta,
            drawn: vec![],
            re_scale: 1.0,
            distribution: ConditionalDistribution::new("binomial", "logit", 1.0, None).unwrap(),
            weights: Some(&w),
        };
        let err = design.simulate(1, 0).unwrap_err().to_string();
        assert!(err.contains("non-integer prior weights") && err.contains("row 1"), "{err}");
    }
}
