//! Bootstrap responses on the fitted model's design: lme4's `bootMer` (parametric,
//! semiparametric) and lmeresampler 0.2.x (github.com/aloy/lmeresampler: `R/bootstrap_lme4.R`,
//! `R/resamplers.R`, `R/setup.R`, `R/lme4_utility_functions.R`) for the residual, REB and wild kinds.
//!
//! With η_F = Xβ̂ + offset, b̂ the conditional modes and ê = y - η_F - Zb̂ (lme4's response
//! residuals):
//! * parametric (bootMer): y* = η_F + σ̂ Z T(θ̂) u* + σ̂ ε*/√w, u*, ε* standard normal;
//! * semiparametric (bootMer `use.u = TRUE`): y* = η_F + Zb̂ + ê resampled with replacement;
//! * residual (lmeresampler's `resid_bootstrap`, Carpenter, Goldstein and Rasbash 2003):
//!   each term's modes are centred, L of its L levels drawn with replacement, and the draws
//!   centred again and rescaled so that their empirical covariance (divisor L) is exactly
//!   σ̂²TT' (`scale_center_ranef` after `slice_sample`, per replicate); the centred ê
//!   resampled with replacement, not rescaled (lmeresampler computes a σ̂-rescaled copy,
//!   `ehat`, and adds the centred residuals);
//! * REB (lmeresampler's `reb_bootstrap`, Chambers and Chandra 2013; one grouping factor):
//!   with r = y - η_F, ũ = (Z'Z)⁻¹Z'r per cluster and ẽ = r - Zũ (type 1: ũ centred and
//!   rescaled to σ̂²TT' as above, ẽ scaled to σ̂ (root mean square) then centred, once,
//!   before resampling); L clusters' ũ drawn with replacement, every row's residual drawn
//!   with replacement from all of ẽ (lmeresampler also draws donor clusters for the
//!   residuals and leaves them unused: its draw is from all residuals);
//! * wild (lmeresampler's `wild_bootstrap`, Modugno and Giannerini 2015): the marginal
//!   residuals r_i divided by √(1 - h_ii) (HC2) or 1 - h_ii (HC3), h_ii the diagonal of
//!   X(X'X)⁻¹X', times one weight per cluster (the combinations of all grouping factors'
//!   levels), drawn from Mammen's two-point, Rademacher's, the standard normal, Webb's
//!   six-point or the centred Gamma(4, scale ½) distribution.

use crate::bootstrap_rescale::{centre_and_rescale, cluster_least_squares, covariance_factor, scale_then_centre};
use crate::data::ModelData;
use crate::error::{invalid, Result};
use crate::family::link::Link;
use crate::fit::fitted_values;
use crate::pls::LinearMixedModel;
use crate::rng::Rng;
use crate::simulate::{ConditionalDistribution, DrawnTerm, SimulationDesign};
use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};

/// The wild bootstrap's cluster weights (mean 0, variance 1), lmeresampler's `aux.dist`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WildWeights {
    Mammen,
    Rademacher,
    Normal,
    Webb,
    Gamma,
}

/// The leverage adjustment of the wild bootstrap's residuals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Hccme {
    Hc2,
    Hc3,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ResamplingKind {
    Parametric,
    Semiparametric,
    Residual,
    Wild { weights: WildWeights, hccme: Hccme },
    /// `rescale`: REB type 1 (type 0 without; type 2 is type 0 post-processed).
    Reb { rescale: bool },
    /// Per level, outermost grouping factor first and the observations last: resample there.
    Case { resample: Vec<bool> },
}

/// The random choices behind one replicate's response.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Draws {
    /// Per term (residual) or for the one term (REB): the pool row drawn for each level.
    pub levels: Vec<Vec<usize>>,
    /// Per row: the residual drawn for it (semiparametric, residual, REB).
    pub rows: Vec<usize>,
    /// Wild: the weight of each cluster.
    pub weights: Vec<f64>,
    /// Wild: each row's cluster.
    pub clusters: Vec<usize>,
}

/// Draws replicate responses on the model's design.
pub struct ResponseGenerator {
    n: usize,
    /// η_F = Xβ̂ + offset.
    fixed: Vec<f64>,
    scheme: Scheme,
}

enum Scheme {
    Parametric { terms: Vec<(Vec<i64>, usize, Vec<f64>, usize, Vec<f64>)>, sigma: f64, weights: Option<Vec<f64>> },
    Semiparametric { conditional: Vec<f64>, residuals: Vec<f64> },
    /// `rescale`: each replicate's drawn effects are centred and rescaled to the term's target.
    Effects { terms: Vec<EffectPool>, residuals: Vec<f64>, rescale: bool },
    Wild { clusters: Vec<usize>, adjusted: Vec<f64>, weights: WildWeights, n_clusters: usize },
}

/// One term's effects to draw levels from: codes and Z of its rows, the pool (L × k) and
/// the lower factor of the covariance σ̂²TT' the draws are rescaled to.
struct EffectPool {
    codes: Vec<i64>,
    z: Vec<f64>,
    k: usize,
    pool: Vec<f64>,
    factor: Vec<f64>,
}

impl ResponseGenerator {
    pub fn new(
        data: &ModelData,
        model: &LinearMixedModel,
        weights: Option<Vec<f64>>,
        original: &crate::bootstrap::OriginalFit,
        kind: ResamplingKind,
    ) -> Result<Self> {
        let n = data.n();
        let no_b: Vec<Vec<f64>> = data.terms.iter().map(|t| vec![0.0; t.n_levels * t.k()]).collect();
        let fixed = fitted_values(data, &original.beta, &no_b);
        let fitted = fitted_values(data, &original.beta, &original.b);
        let residuals: Vec<f64> = (0..n).map(|i| data.y[i] - fitted[i]).collect();
        let marginal: Vec<f64> = (0..n).map(|i| data.y[i] - fixed[i]).collect();
        let templates = term_templates(model, &original.theta);
        let sigma = original.sigma;
        let owned_term = |t: usize| -> (Vec<i64>, Vec<f64>, usize) {
            let term = &data.terms[t];
            let k = term.k();
            let z: Vec<f64> = (0..k).flat_map(|a| (0..n).map(move |i| term.z[(i, a)])).collect();
            (term.codes.to_vec(), z, k)
        };
        let scheme = match kind {
            ResamplingKind::Parametric => Scheme::Parametric {
                terms: (0..data.terms.len())
                    .map(|t| {
                        let (codes, z, k) = owned_term(t);
                        (codes, data.terms[t].n_levels, z, k, templates[t].clone())
                    })
                    .collect(),
                sigma,
                weights,
            },
            ResamplingKind::Semiparametric => Scheme::Semiparametric { conditional: fitted, residuals },
            ResamplingKind::Residual => {
                let mut terms = Vec::new();
                for t in 0..data.terms.len() {
                    let (codes, z, k) = owned_term(t);
                    let Some(factor) = covariance_factor(&templates[t], k, sigma) else {
                        return invalid(format!("random-effects term {t}: the estimated covariance is not positive semi-definite"));
                    };
                    terms.push(EffectPool { codes, z, k, pool: centred(&original.b[t], k), factor });
                }
                Scheme::Effects { terms, residuals: centred(&residuals, 1), rescale: true }
            }
            ResamplingKind::Reb { rescale } => {
                if data.terms.len() != 1 {
                    return invalid(format!(
                        "kind=\"reb\" needs a two-level model (one random-effects term); this model has {} terms",
                        data.terms.len()
                    ));
                }
                let (codes, z, k) = owned_term(0);
                let levels = data.terms[0].n_levels;
                let (mut u, mut e) = cluster_least_squares(&codes, &z, k, levels, &marginal);
                let Some(factor) = covariance_factor(&templates[0], k, sigma) else {
                    return invalid("the estimated random-effects covariance is not positive semi-definite");
                };
                if rescale {
                    u = centre_and_rescale(&u, k, &factor).map_err(|m| crate::error::MerxError::InvalidInput(format!("REB type 1: {m}")))?;
                    e = scale_then_centre(&e, sigma);
                }
                Scheme::Effects { terms: vec![EffectPool { codes, z, k, pool: u, factor }], residuals: e, rescale: false }
            }
            ResamplingKind::Wild { weights: wild_weights, hccme } => {
                let (clusters, n_clusters) = combined_clusters(data);
                let adjusted = leverage_adjusted(data, &marginal, hccme)?;
                Scheme::Wild { clusters, adjusted, weights: wild_weights, n_clusters }
            }
            ResamplingKind::Case { .. } => return invalid("case resampling changes the design; it has no response generator"),
        };
        Ok(ResponseGenerator { n, fixed, scheme })
    }

    /// One replicate's response into `y` (n) and the choices it was built from; Err when
    /// the drawn effects cannot be rescaled (a singular empirical covariance).
    pub fn generate(&self, rng: &mut Rng, y: &mut [f64]) -> std::result::Result<Draws, String> {
        let n = self.n;
        let mut draws = Draws::default();
        match &self.scheme {
            Scheme::Parametric { terms, sigma, weights } => {
                let drawn = terms
                    .iter()
                    .map(|(codes, levels, z, k, template)| DrawnTerm {
                        codes,
                        n_levels: *levels,
                        z: faer::MatRef::from_column_major_slice(z, n, *k),
                        template: template.clone(),
                    })
                    .collect();
                let design = SimulationDesign {
                    eta_base: &self.fixed,
                    drawn,
                    re_scale: *sigma,
                    distribution: ConditionalDistribution::Gaussian { link: Link::Identity, sigma: *sigma },
                    weights: weights.as_deref(),
                };
                design.draw(rng, y);
            }
            Scheme::Semiparametric { conditional, residuals } => {
                draws.rows = (0..n).map(|_| rng.below(n)).collect();
                for i in 0..n {
                    y[i] = conditional[i] + residuals[draws.rows[i]];
                }
            }
            Scheme::Effects { terms, residuals, rescale } => {
                y.copy_from_slice(&self.fixed);
                for (t, term) in terms.iter().enumerate() {
                    let k = term.k;
                    let levels = term.pool.len() / k;
                    let picks: Vec<usize> = (0..levels).map(|_| rng.below(levels)).collect();
                    let mut u: Vec<f64> = picks.iter().flat_map(|&l| term.pool[l * k..(l + 1) * k].iter().copied()).collect();
                    if *rescale {
                        u = centre_and_rescale(&u, k, &term.factor).map_err(|m| format!("random-effects term {t}: {m}"))?;
                    }
                    for i in 0..n {
                        let l = term.codes[i] as usize;
                        y[i] += (0..k).map(|a| term.z[a * n + i] * u[l * k + a]).sum::<f64>();
                    }
                    draws.levels.push(picks);
                }
                draws.rows = (0..n).map(|_| rng.below(residuals.len())).collect();
                for i in 0..n {
                    y[i] += residuals[draws.rows[i]];
                }
            }
            Scheme::Wild { clusters, adjusted, weights, n_clusters } => {
                draws.weights = (0..*n_clusters).map(|_| wild_weight(*weights, rng)).collect();
                for i in 0..n {
                    y[i] = self.fixed[i] + adjusted[i] * draws.weights[clusters[i]];
                }
                draws.clusters = clusters.clone();
            }
        }
        Ok(draws)
    }
}

fn wild_weight(kind: WildWeights, rng: &mut Rng) -> f64 {
    match kind {
        WildWeights::Rademacher => {
            if rng.uniform() < 0.5 {
                -1.0
            } else {
                1.0
            }
        }
        WildWeights::Mammen => {
            let s5 = 5f64.sqrt();
            if rng.uniform() < (s5 + 1.0) / (2.0 * s5) {
                -(s5 - 1.0) / 2.0
            } else {
                (s5 + 1.0) / 2.0
            }
        }
        WildWeights::Normal => rng.normal(),
        WildWeights::Webb => {
            let magnitude = [1.5f64.sqrt(), 1.0, 0.5f64.sqrt()];
            let j = rng.below(6);
            if j < 3 {
                magnitude[j]
            } else {
                -magnitude[j - 3]
            }
        }
        WildWeights::Gamma => 0.5 * rng.gamma(4.0) - 2.0,
    }
}

/// The rows of x (m × k) centred at their column means (R's `scale(x, scale = FALSE)`).
fn centred(x: &[f64], k: usize) -> Vec<f64> {
    let m = x.len() / k;
    let means: Vec<f64> = (0..k).map(|a| (0..m).map(|l| x[l * k + a]).sum::<f64>() / m as f64).collect();
    x.iter().enumerate().map(|(i, v)| v - means[i % k]).collect()
}

/// Each term's template T(θ) (k × k column-major).
fn term_templates(model: &LinearMixedModel, theta: &[f64]) -> Vec<Vec<f64>> {
    let re = &model.random_effects;
    let off = re.template_offsets();
    let mut all = vec![0.0; *off.last().unwrap_or(&0)];
    re.fill_templates(theta, &off, &mut all);
    (0..re.terms.len()).map(|t| all[off[t]..off[t + 1]].to_vec()).collect()
}

/// The wild bootstrap's clusters: the combinations of all grouping factors' levels, numbered
/// in order of first appearance (lmeresampler's `fct_inorder` of the pasted factors).
fn combined_clusters(data: &ModelData) -> (Vec<usize>, usize) {
    let mut seen: std::collections::HashMap<Vec<i64>, usize> = std::collections::HashMap::new();
    let clusters = (0..data.n())
        .map(|i| {
            let key: Vec<i64> = data.terms.iter().map(|t| t.codes[i]).collect();
            let next = seen.len();
            *seen.entry(key).or_insert(next)
        })
        .collect();
    (clusters, seen.len())
}

/// The wild bootstrap's leverage-adjusted marginal residuals, row by row.
fn leverage_adjusted(data: &ModelData, r: &[f64], hccme: Hccme) -> Result<Vec<f64>> {
    let (n, p) = (data.n(), data.p());
    let xtx = Mat::from_fn(p, p, |a, b| (0..n).map(|i| data.x[(i, a)] * data.x[(i, b)]).sum::<f64>());
    let Ok(llt) = xtx.llt(Side::Lower) else {
        return invalid("the wild bootstrap needs X'X of full rank");
    };
    let xtx_inv = llt.inverse();
    let mut out = vec![0.0; n];
    for i in 0..n {
        let h: f64 = (0..p).map(|a| (0..p).map(|b| data.x[(i, a)] * xtx_inv[(a, b)] * data.x[(i, b)]).sum::<f64>()).sum();
        if 1.0 - h <= 1e-10 {
            return invalid(format!("the wild bootstrap needs leverages below 1; observation {} has leverage {h}", i + 1));
        }
        out[i] = match hccme {
            Hccme::Hc2 => r[i] / (1.0 - h).sqrt(),
            Hccme::Hc3 => r[i] / (1.0 - h),
        };
    }
    Ok(out)
}
