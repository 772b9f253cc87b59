//! Bootstrap responses on the fitted model's design (lme4's `bootMer`, lmeresampler).
//!
//! With η_F = Xβ̂ + offset, b̂ the conditional modes and ê = y - η_F - Zb̂:
//! * parametric (bootMer): y* = η_F + σ̂ Z T(θ̂) u* + σ̂ ε*/√w, u*, ε* standard normal;
//! * semiparametric (bootMer `use.u = TRUE`): y* = η_F + Zb̂ + ê resampled with replacement;
//! * residual (Carpenter, Goldstein and Rasbash 2003; lmeresampler's `resid`): each term's
//!   modes (L × k) centred and rescaled so that their empirical covariance B'B/L equals the
//!   estimate σ̂²TT' (B R⁻¹ C with R'R = B'B/L, C'C = σ̂²TT', upper Cholesky factors), the
//!   residuals centred and rescaled to variance σ̂²; levels and rows resampled with
//!   replacement, independently;
//! * wild (Modugno and Giannerini 2015; lmeresampler's `wild`): the marginal residuals
//!   r = y - η_F of each cluster (level of the one grouping factor) adjusted by
//!   (I - H_ii)^{-1/2} (HC2) or (I - H_ii)^{-1} (HC3), H_ii = X_i(X'X)⁻¹X_i', and multiplied
//!   by one weight per cluster (Mammen's two-point or Rademacher's ±1);
//! * REB (Chambers and Chandra 2013; lmeresampler's `reb`, two-level models): ũ_j =
//!   (Z_j'Z_j)⁻¹Z_j'r_j per cluster, ẽ = r - Zũ (type 1: both centred and rescaled as in the
//!   residual kind); cluster j gets the ũ of a cluster drawn with replacement, and residuals
//!   drawn with replacement from the ẽ of another cluster drawn with replacement.

use crate::data::ModelData;
use crate::error::{invalid, Result};
use crate::family::link::Link;
use crate::fit::fitted_values;
use crate::pls::LinearMixedModel;
use crate::rng::Rng;
use crate::simulate::{ConditionalDistribution, DrawnTerm, SimulationDesign};
use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};

/// Mammen's or Rademacher's cluster weights (mean 0, variance 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WildWeights {
    Mammen,
    Rademacher,
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
    /// `rescale`: REB type 1 (type 0 without; type 2 is type 0 adjusted afterwards).
    Reb { rescale: bool },
    /// Per level, outermost grouping factor first and the observations last: resample there.
    Case { resample: Vec<bool> },
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
    Effects { terms: Vec<EffectPool>, residuals: ResidualPool },
    Wild { codes: Vec<i64>, adjusted: Vec<f64>, weights: WildWeights, n_clusters: usize },
}

/// One term's effects to draw levels from: codes and Z of its rows, the pool (L × k).
struct EffectPool {
    codes: Vec<i64>,
    z: Vec<f64>,
    k: usize,
    pool: Vec<f64>,
}

enum ResidualPool {
    /// Rows draw from all residuals.
    Rows(Vec<f64>),
    /// Each cluster draws its rows' residuals from those of another cluster drawn at random.
    Blocks { codes: Vec<i64>, blocks: Vec<Vec<f64>> },
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
        let templates = term_templates(model, &original.theta);
        let sigma = original.sigma;
        let owned_term = |t: usize| -> (Vec<i64>, Vec<f64>, usize) {
            let term = &data.terms[t];
            let k = term.k();
            let z: Vec<f64> = (0..k).flat_map(|a| (0..n).map(move |i| term.z[(i, a)])).collect();
            (term.codes.to_vec(), z, k)
        };
        let single_factor = |what: &str| -> Result<()> {
            if data.terms.len() != 1 {
                return invalid(format!(
                    "kind={what:?} needs a two-level model (one random-effects term); this model has {} terms",
                    data.terms.len()
                ));
            }
            Ok(())
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
                    let target = scaled_covariance(&templates[t], k, sigma);
                    let pool = centre_and_rescale(&original.b[t], k, &target);
                    terms.push(EffectPool { codes, z, k, pool });
                }
                let e = centre_and_rescale(&residuals, 1, &[sigma * sigma]);
                Scheme::Effects { terms, residuals: ResidualPool::Rows(e) }
            }
            ResamplingKind::Reb { rescale } => {
                single_factor("reb")?;
                let (codes, z, k) = owned_term(0);
                let levels = data.terms[0].n_levels;
                let marginal: Vec<f64> = (0..n).map(|i| data.y[i] - fixed[i]).collect();
                let (mut u, e) = cluster_least_squares(&codes, &z, k, levels, &marginal);
                let mut e = e;
                if rescale {
                    u = centre_and_rescale(&u, k, &scaled_covariance(&templates[0], k, sigma));
                    e = centre_and_rescale(&e, 1, &[sigma * sigma]);
                }
                let mut blocks = vec![Vec::new(); levels];
                for i in 0..n {
                    blocks[codes[i] as usize].push(e[i]);
                }
                blocks.retain(|b| !b.is_empty());
                Scheme::Effects { terms: vec![EffectPool { codes: codes.clone(), z, k, pool: u }], residuals: ResidualPool::Blocks { codes, blocks } }
            }
            ResamplingKind::Wild { weights: wild_weights, hccme } => {
                single_factor("wild")?;
                let codes = data.terms[0].codes.to_vec();
                let levels = data.terms[0].n_levels;
                let marginal: Vec<f64> = (0..n).map(|i| data.y[i] - fixed[i]).collect();
                let adjusted = leverage_adjusted(data, &codes, levels, &marginal, hccme)?;
                Scheme::Wild { codes, adjusted, weights: wild_weights, n_clusters: levels }
            }
            ResamplingKind::Case { .. } => return invalid("case resampling changes the design; it has no response generator"),
        };
        Ok(ResponseGenerator { n, fixed, scheme })
    }

    /// One replicate's response into `y` (n).
    pub fn generate(&self, rng: &mut Rng, y: &mut [f64]) {
        let n = self.n;
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
                for i in 0..n {
                    y[i] = conditional[i] + residuals[rng.below(n)];
                }
            }
            Scheme::Effects { terms, residuals } => {
                y.copy_from_slice(&self.fixed);
                for term in terms {
                    let k = term.k;
                    let levels = term.pool.len() / k;
                    let draws: Vec<usize> = (0..levels).map(|_| rng.below(levels)).collect();
                    for i in 0..n {
                        let l = draws[term.codes[i] as usize];
                        y[i] += (0..k).map(|a| term.z[a * n + i] * term.pool[l * k + a]).sum::<f64>();
                    }
                }
                match residuals {
                    ResidualPool::Rows(e) => {
                        for v in y.iter_mut() {
                            *v += e[rng.below(e.len())];
                        }
                    }
                    ResidualPool::Blocks { codes, blocks } => {
                        let max_code = codes.iter().copied().max().unwrap_or(0) as usize;
                        let source: Vec<usize> = (0..=max_code).map(|_| rng.below(blocks.len())).collect();
                        for i in 0..n {
                            let block = &blocks[source[codes[i] as usize]];
                            y[i] += block[rng.below(block.len())];
                        }
                    }
                }
            }
            Scheme::Wild { codes, adjusted, weights, n_clusters } => {
                let v: Vec<f64> = (0..*n_clusters).map(|_| wild_weight(*weights, rng)).collect();
                for i in 0..n {
                    y[i] = self.fixed[i] + adjusted[i] * v[codes[i] as usize];
                }
            }
        }
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
    }
}

/// Each term's template T(θ) (k × k column-major).
fn term_templates(model: &LinearMixedModel, theta: &[f64]) -> Vec<Vec<f64>> {
    let re = &model.random_effects;
    let off = re.template_offsets();
    let mut all = vec![0.0; *off.last().unwrap_or(&0)];
    re.fill_templates(theta, &off, &mut all);
    (0..re.terms.len()).map(|t| all[off[t]..off[t + 1]].to_vec()).collect()
}

/// σ²TT' (k × k column-major).
fn scaled_covariance(template: &[f64], k: usize, sigma: f64) -> Vec<f64> {
    let mut out = vec![0.0; k * k];
    for r in 0..k {
        for c in 0..k {
            out[c * k + r] = sigma * sigma * (0..k).map(|a| template[a * k + r] * template[a * k + c]).sum::<f64>();
        }
    }
    out
}

/// Lower Cholesky factor of a k × k column-major matrix, None when not positive definite.
fn cholesky_lower(a: &[f64], k: usize) -> Option<Mat<f64>> {
    let m = Mat::from_fn(k, k, |r, c| a[c * k + r]);
    m.llt(Side::Lower).ok().map(|llt| llt.L().to_owned())
}

/// The rows of x (m × k, row-major per level) centred at their mean and mapped by R⁻¹C
/// (R'R = x'x/m, C'C = target) so that their empirical covariance is the target. Where
/// either matrix is singular (a fit on the boundary) the rows are centred only.
fn centre_and_rescale(x: &[f64], k: usize, target: &[f64]) -> Vec<f64> {
    let m = x.len() / k;
    let mut centred = x.to_vec();
    for a in 0..k {
        let mean = (0..m).map(|l| x[l * k + a]).sum::<f64>() / m as f64;
        for l in 0..m {
            centred[l * k + a] -= mean;
        }
    }
    let mut s = vec![0.0; k * k];
    for l in 0..m {
        for r in 0..k {
            for c in 0..k {
                s[c * k + r] += centred[l * k + r] * centred[l * k + c] / m as f64;
            }
        }
    }
    let (Some(ls), Some(lt)) = (cholesky_lower(&s, k), cholesky_lower(target, k)) else {
        return centred;
    };
    // Row x ↦ x R⁻¹ C with R = Ls', C = Lt': solve Ls v = x' (v = R^{-T}x'), then C'v = Lt v.
    let mut out = vec![0.0; m * k];
    let mut v = vec![0.0; k];
    for l in 0..m {
        for r in 0..k {
            let acc: f64 = (0..r).map(|c| ls[(r, c)] * v[c]).sum();
            v[r] = (centred[l * k + r] - acc) / ls[(r, r)];
        }
        for r in 0..k {
            out[l * k + r] = (0..=r).map(|c| lt[(r, c)] * v[c]).sum();
        }
    }
    out
}

/// REB's per-cluster least-squares effects ũ_j = (Z_j'Z_j)⁺Z_j'r_j (L × k) and ẽ = r - Zũ.
fn cluster_least_squares(codes: &[i64], z: &[f64], k: usize, levels: usize, r: &[f64]) -> (Vec<f64>, Vec<f64>) {
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
        let rhs: Vec<f64> = ztr[l * k..(l + 1) * k].to_vec();
        let sol = symmetric_power_apply(&m, &rhs, -1.0);
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

/// M^power x for a symmetric positive semi-definite M, by its eigendecomposition; the
/// eigenvalues at rounding level of the largest are treated as 0 (a pseudo-inverse).
fn symmetric_power_apply(m: &Mat<f64>, x: &[f64], power: f64) -> Vec<f64> {
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
        let coef = (0..k).map(|i| u[(i, j)] * x[i]).sum::<f64>() * s[j].powf(power);
        for i in 0..k {
            out[i] += coef * u[(i, j)];
        }
    }
    out
}

/// The wild bootstrap's leverage-adjusted marginal residuals, cluster by cluster.
fn leverage_adjusted(data: &ModelData, codes: &[i64], levels: usize, r: &[f64], hccme: Hccme) -> Result<Vec<f64>> {
    let (n, p) = (data.n(), data.p());
    let xtx = Mat::from_fn(p, p, |a, b| (0..n).map(|i| data.x[(i, a)] * data.x[(i, b)]).sum::<f64>());
    let Ok(llt) = xtx.llt(Side::Lower) else {
        return invalid("the wild bootstrap needs X'X of full rank");
    };
    let xtx_inv = llt.inverse();
    let mut rows_of = vec![Vec::new(); levels];
    for i in 0..n {
        rows_of[codes[i] as usize].push(i);
    }
    let power = match hccme {
        Hccme::Hc2 => -0.5,
        Hccme::Hc3 => -1.0,
    };
    let mut out = vec![0.0; n];
    for rows in rows_of.iter().filter(|r| !r.is_empty()) {
        let m = rows.len();
        // I - X_j (X'X)⁻¹ X_j'
        let xa = Mat::from_fn(m, p, |a, b| data.x[(rows[a], b)]);
        let h = &xa * &xtx_inv * xa.transpose();
        let ih = Mat::from_fn(m, m, |a, b| if a == b { 1.0 - h[(a, b)] } else { -h[(a, b)] });
        let rj: Vec<f64> = rows.iter().map(|&i| r[i]).collect();
        let adj = symmetric_power_apply(&ih, &rj, power);
        for (a, &i) in rows.iter().enumerate() {
            out[i] = adj[a];
        }
    }
    Ok(out)
}
