//! Simulated prediction intervals of a fitted mixed model, as merTools' `predictInterval`.
//!
//! Each of `n_sim` simulations draws
//! * the fixed effects β_s ~ N(β̂, V) (V = vcov(β̂), optionally adjusted, see
//!   [`beta_draw_covariance`]),
//! * per level ℓ of each random-effects term that the rows use, b_ℓs ~ N(b̂_ℓ, C_ℓ) with
//!   b̂_ℓ the conditional mode and C_ℓ the conditional covariance (lme4's `postVar`); a
//!   level not seen in the fit either contributes 0 or is drawn from N(0, Σ) of its term,
//! * the residual standard deviation σ_s (a linear mixed model: σ_s² = pwrss / χ²_df, the
//!   scaled inverse chi-square merTools draws as 1 / Gamma(df/2, rate pwrss/2); or a fixed σ),
//!
//! and per row r the components x_r'β_s (+ offset) and z_r'b_ℓs, one per grouping factor.
//! An output is a sum of components plus, when asked, its own residual noise σ_s ε_rs; per
//! row and output the simulations are summarised by their median (or mean) and the
//! (1 ± level)/2 quantiles (R's `quantile(type = 7)`); with `keep_sims` (merTools'
//! `returnSims`) every simulated value is returned as well.
//!
//! Memory: the draws of β and σ take p × n_sim and n_sim values, those of the random effects
//! (used levels) × k × n_sim; rows are processed in chunks, each thread holding
//! (components + 1) × n_sim values, so nothing of size rows × n_sim is formed unless `keep_sims` asks for it.
//! Every draw comes from its own [`Rng`] stream (β, σ, each term's level, each output's row),
//! so the result depends only on the seed, not on the chunking or the number of threads.

use crate::error::{invalid, MerxError, Result};
use crate::linalg::small_cholesky_lower;
use crate::rng::Rng;
use faer::{Mat, MatRef};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The code of a row whose grouping value is missing: its predictions are NaN.
pub const MISSING_LEVEL: i64 = -2;
/// The code of a row whose level was not seen in the fit and contributes 0.
pub const ZERO_LEVEL: i64 = -1;

/// One random-effects term as the intervals need it.
pub struct IntervalTerm<'a> {
    /// Per row: the level (0..n_levels), a new level drawn from N(0, Σ)
    /// (n_levels..n_levels + n_new_levels), [`ZERO_LEVEL`] or [`MISSING_LEVEL`].
    pub codes: &'a [i64],
    /// The rows' model matrix of the term (rows × k).
    pub z: MatRef<'a, f64>,
    /// Conditional modes, n_levels × k, row-major.
    pub modes: &'a [f64],
    /// Conditional covariances, n_levels × k × k.
    pub condvar: &'a [f64],
    pub n_levels: usize,
    /// Levels not seen in the fit, drawn from N(0, `covariance`).
    pub n_new_levels: usize,
    /// The term's covariance Σ (k × k, row-major); read only when `n_new_levels > 0`.
    pub covariance: &'a [f64],
    /// The random component (grouping factor) the term adds to.
    pub component: usize,
}

/// How the residual standard deviation of each simulation is drawn.
#[derive(Clone, Copy, Debug)]
pub enum ResidualScale {
    /// σ_s² = pwrss / χ²_df (merTools for a linear mixed model).
    ScaledInverseChiSquare { df: f64, pwrss: f64 },
    /// σ_s = σ for all s (merTools for a binomial GLMM: 1, on the link scale).
    Fixed(f64),
}

/// The centre of each interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Center {
    Median,
    Mean,
}

/// What to simulate and summarise.
pub struct IntervalOptions {
    pub n_sim: usize,
    pub level: f64,
    pub center: Center,
    pub residual: ResidualScale,
    pub seed: u64,
    /// Per output the components it sums (0..n_random_components the grouping factors,
    /// n_random_components the fixed part) and whether it adds residual noise.
    pub outputs: Vec<(Vec<usize>, bool)>,
    /// Worker threads (at least 1).
    pub n_threads: usize,
    /// Whether to return every simulated value (merTools' `returnSims`): outputs × rows × n_sim.
    pub keep_sims: bool,
}

/// The rows to predict and the fitted model's estimates.
pub struct IntervalProblem<'a> {
    pub x: MatRef<'a, f64>,
    pub offset: Option<&'a [f64]>,
    pub beta: &'a [f64],
    /// The covariance to draw β from (p × p, row-major).
    pub beta_covariance: &'a [f64],
    pub terms: Vec<IntervalTerm<'a>>,
    pub n_random_components: usize,
}

/// Per output (`n_outputs` blocks of `n_rows`): centre and interval bounds.
#[derive(Clone, Debug)]
pub struct PredictionIntervals {
    pub n_rows: usize,
    pub n_outputs: usize,
    pub fit: Vec<f64>,
    pub lwr: Vec<f64>,
    pub upr: Vec<f64>,
    /// With `keep_sims`: simulation s of row r in output o at (o * n_rows + r) * n_sim + s
    /// (NaN for a row with a missing value); empty otherwise.
    pub sims: Vec<f64>,
}

const STREAM_BETA: u64 = 1 << 60;
const STREAM_SIGMA: u64 = 2 << 60;
const STREAM_LEVEL: u64 = 3 << 60;
const STREAM_NOISE: u64 = 4 << 60;
const ROWS_PER_CHUNK: usize = 256;

/// The covariance β is drawn from: vcov(β̂), with merTools' `fix.intercept.variance` (the
/// intercept's variance reduced by 1 / Σ_ℓ 1/(C_ℓ,11 + Σ_11) per grouping factor, applied as
/// merTools does through the precision's (1,1) entry) when `intercept_groups` is given (per
/// grouping factor: the conditional variances of its intercept, its intercept variance), and
/// `ignore.fixed.terms` (`known`: coefficients held at β̂) as the limit of merTools' inflated
/// precision: known rows and columns 0, the others the inverse of their precision block.
pub fn beta_draw_covariance(
    vcov: &[f64],
    p: usize,
    intercept_groups: Option<&[(Vec<f64>, f64)]>,
    known: &[bool],
) -> Result<Vec<f64>> {
    if vcov.len() != p * p || known.len() != p {
        return invalid(format!("vcov must be {p} × {p} and known of length {p}"));
    }
    let mut v = vcov.to_vec();
    if let Some(groups) = intercept_groups {
        if p == 0 {
            return invalid("fix_intercept_variance needs a fixed-effects intercept");
        }
        let mut intercept_var = v[0];
        for (g, (condvars, group_var)) in groups.iter().enumerate() {
            let precision: f64 = condvars.iter().map(|c| 1.0 / (c + group_var)).filter(|t| *t > 0.0).sum();
            if !(precision > 0.0) {
                return Err(MerxError::Numerical(format!(
                    "fix_intercept_variance: grouping factor {g} gives no positive precision; turn it off"
                )));
            }
            intercept_var -= 1.0 / precision;
        }
        if !(intercept_var > 0.0) {
            return Err(MerxError::Numerical(format!(
                "fix_intercept_variance: the adjusted intercept variance is {intercept_var:.6e}, not positive; \
                 turn it off"
            )));
        }
        let ratio = intercept_var / v[0];
        let mut prec = spd_inverse(&v, p, "vcov of the fixed effects")?;
        prec[0] /= ratio;
        v = spd_inverse(&prec, p, "the adjusted precision of the fixed effects")?;
    }
    if known.iter().any(|&k| k) {
        let free: Vec<usize> = (0..p).filter(|&j| !known[j]).collect();
        let prec = spd_inverse(&v, p, "vcov of the fixed effects")?;
        let m = free.len();
        let block: Vec<f64> = free.iter().flat_map(|&i| free.iter().map(move |&j| (i, j))).map(|(i, j)| prec[i * p + j]).collect();
        let inv = if m > 0 { spd_inverse(&block, m, "the precision of the free fixed effects")? } else { vec![] };
        v = vec![0.0; p * p];
        for (a, &i) in free.iter().enumerate() {
            for (b, &j) in free.iter().enumerate() {
                v[i * p + j] = inv[a * m + b];
            }
        }
    }
    Ok(v)
}

fn spd_inverse(a: &[f64], n: usize, what: &str) -> Result<Vec<f64>> {
    let mut l = Mat::from_fn(n, n, |i, j| a[i * n + j]);
    small_cholesky_lower(l.as_mut(), n, 1e-14)
        .map_err(|j| MerxError::Numerical(format!("{what} is not positive definite (pivot {j})")))?;
    let mut out = vec![0.0; n * n];
    for c in 0..n {
        let mut e = vec![0.0; n];
        e[c] = 1.0;
        solve_lower(&l, &mut e);
        solve_upper_transposed(&l, &mut e);
        for r in 0..n {
            out[r * n + c] = e[r];
        }
    }
    Ok(out)
}

fn solve_lower(l: &Mat<f64>, x: &mut [f64]) {
    for i in 0..x.len() {
        let mut v = x[i];
        for k in 0..i {
            v -= l[(i, k)] * x[k];
        }
        x[i] = v / l[(i, i)];
    }
}

fn solve_upper_transposed(l: &Mat<f64>, x: &mut [f64]) {
    for i in (0..x.len()).rev() {
        let mut v = x[i];
        for k in i + 1..x.len() {
            v -= l[(k, i)] * x[k];
        }
        x[i] = v / l[(i, i)];
    }
}

/// The lower Cholesky factor of a covariance that may be singular (a variance estimated
/// at 0, a coefficient held known): pivots that vanish give zero columns, as R's
/// `chol(pivot = TRUE)` in mvtnorm's `rmvnorm(method = "chol")` yields the same law.
fn covariance_factor(a: &[f64], n: usize, what: &str) -> Result<Mat<f64>> {
    if a.iter().any(|v| !v.is_finite()) {
        return Err(MerxError::Numerical(format!("{what} has a non-finite entry")));
    }
    let mut l = Mat::from_fn(n, n, |i, j| if i >= j { a[i * n + j] } else { 0.0 });
    let _ = small_cholesky_lower(l.as_mut(), 0, 1e-12);
    for j in 0..n {
        if l[(j, j)] < 0.0 || (a[j * n + j] < -1e-12 * a[j * n + j].abs().max(1.0)) {
            return Err(MerxError::Numerical(format!("{what} has a negative variance")));
        }
    }
    Ok(l)
}

/// Fills `out` (k blocks of n_sim: coordinate c of draw s at c * n_sim + s) with draws of
/// N(mean, L L') from `rng`; draw s uses k consecutive normals.
fn draw_normal(mean: &[f64], l: &Mat<f64>, n_sim: usize, rng: &mut Rng, z: &mut [f64], out: &mut [f64]) {
    let k = mean.len();
    for s in 0..n_sim {
        for zc in z.iter_mut() {
            *zc = rng.normal();
        }
        for c in 0..k {
            let mut v = mean[c];
            for d in 0..=c {
                v += l[(c, d)] * z[d];
            }
            out[c * n_sim + s] = v;
        }
    }
}

/// A Gamma(shape, 1) variate by Marsaglia and Tsang (2000), with the U^(1/shape) boost
/// for shape < 1.
fn gamma(rng: &mut Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        return gamma(rng, shape + 1.0) * rng.uniform().powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = rng.normal();
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = rng.uniform();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// The random-effects draws of one term, for the levels the rows use.
struct TermDraws {
    /// Per code (levels, then new levels): its slot in `values`, or u32::MAX when unused.
    slot: Vec<u32>,
    /// Per used level: k blocks of n_sim.
    values: Vec<f64>,
    k: usize,
}

fn term_draws(t: usize, term: &IntervalTerm<'_>, n_sim: usize, seed: u64) -> Result<TermDraws> {
    let k = term.z.ncols();
    let total = term.n_levels + term.n_new_levels;
    let mut slot = vec![u32::MAX; total];
    let mut used = Vec::new();
    for &c in term.codes {
        if c >= 0 && slot[c as usize] == u32::MAX {
            slot[c as usize] = used.len() as u32;
            used.push(c as usize);
        }
    }
    let mut values = vec![0.0; used.len() * k * n_sim];
    let mut z = vec![0.0; k];
    let zero = vec![0.0; k];
    let new_factor =
        if term.n_new_levels > 0 { Some(covariance_factor(term.covariance, k, &format!("Σ of random-effects term {t}"))?) } else { None };
    for (u, &level) in used.iter().enumerate() {
        let mut rng = Rng::for_stream(seed, STREAM_LEVEL | ((t as u64) << 40) | level as u64);
        let out = &mut values[u * k * n_sim..(u + 1) * k * n_sim];
        if level < term.n_levels {
            let what = format!("the conditional covariance of level {level} of random-effects term {t}");
            let l = covariance_factor(&term.condvar[level * k * k..(level + 1) * k * k], k, &what)?;
            draw_normal(&term.modes[level * k..(level + 1) * k], &l, n_sim, &mut rng, &mut z, out);
        } else if let Some(l) = &new_factor {
            draw_normal(&zero, l, n_sim, &mut rng, &mut z, out);
        }
    }
    Ok(TermDraws { slot, values, k })
}

fn check(problem: &IntervalProblem<'_>, options: &IntervalOptions) -> Result<()> {
    let (n, p) = (problem.x.nrows(), problem.x.ncols());
    if problem.beta.len() != p || problem.beta_covariance.len() != p * p {
        return invalid(format!("X has {p} columns but β has {} values and vcov {}", problem.beta.len(), problem.beta_covariance.len()));
    }
    if problem.offset.is_some_and(|o| o.len() != n) {
        return invalid(format!("the offset must have one value per row ({n})"));
    }
    if options.n_sim < 2 {
        return invalid(format!("n_sim must be at least 2, not {}", options.n_sim));
    }
    if !(options.level > 0.0 && options.level < 1.0) {
        return invalid(format!("level must be strictly between 0 and 1, not {}", options.level));
    }
    for (t, term) in problem.terms.iter().enumerate() {
        let k = term.z.ncols();
        let total = (term.n_levels + term.n_new_levels) as i64;
        if term.codes.len() != n || term.z.nrows() != n {
            return invalid(format!("random-effects term {t}: codes and Z need one row per row of X ({n})"));
        }
        if term.modes.len() != term.n_levels * k || term.condvar.len() != term.n_levels * k * k {
            return invalid(format!("random-effects term {t}: modes must be levels × {k} and condvar levels × {k} × {k}"));
        }
        if term.n_new_levels > 0 && term.covariance.len() != k * k {
            return invalid(format!("random-effects term {t}: its covariance must be {k} × {k}"));
        }
        if term.component >= problem.n_random_components {
            return invalid(format!("random-effects term {t}: component {} out of range", term.component));
        }
        if let Some(&c) = term.codes.iter().find(|&&c| c >= total || c < MISSING_LEVEL) {
            return invalid(format!("random-effects term {t}: level code {c} out of range (-2..{total})"));
        }
    }
    for (o, (components, _)) in options.outputs.iter().enumerate() {
        if components.iter().any(|&c| c > problem.n_random_components) {
            return invalid(format!("output {o} names a component beyond the fixed part"));
        }
    }
    match options.residual {
        ResidualScale::ScaledInverseChiSquare { df, pwrss } if !(df > 0.0 && pwrss > 0.0 && pwrss.is_finite()) => {
            invalid(format!("the residual draw needs df > 0 and pwrss > 0 (got {df}, {pwrss})"))
        }
        ResidualScale::Fixed(s) if !(s >= 0.0 && s.is_finite()) => invalid(format!("sigma must be finite and ≥ 0, not {s}")),
        _ => Ok(()),
    }
}

/// Simulates the intervals (see the module documentation).
pub fn prediction_intervals(problem: &IntervalProblem<'_>, options: &IntervalOptions) -> Result<PredictionIntervals> {
    check(problem, options)?;
    let (n, p, n_sim) = (problem.x.nrows(), problem.x.ncols(), options.n_sim);
    let mut beta_draws = vec![0.0; p * n_sim];
    let l = covariance_factor(problem.beta_covariance, p, "the covariance of the fixed effects")?;
    draw_normal(problem.beta, &l, n_sim, &mut Rng::for_stream(options.seed, STREAM_BETA), &mut vec![0.0; p], &mut beta_draws);
    let mut rng = Rng::for_stream(options.seed, STREAM_SIGMA);
    let sigma: Vec<f64> = (0..n_sim)
        .map(|_| match options.residual {
            ResidualScale::ScaledInverseChiSquare { df, pwrss } => (pwrss / (2.0 * gamma(&mut rng, df / 2.0))).sqrt(),
            ResidualScale::Fixed(s) => s,
        })
        .collect();
    let draws = problem.terms.iter().enumerate().map(|(t, term)| term_draws(t, term, n_sim, options.seed)).collect::<Result<Vec<_>>>()?;
    let shared = Shared { problem, options, beta_draws: &beta_draws, sigma: &sigma, draws: &draws };

    let n_out = options.outputs.len();
    let n_chunks = n.div_ceil(ROWS_PER_CHUNK);
    let next = AtomicUsize::new(0);
    let n_threads = options.n_threads.max(1).min(n_chunks.max(1));
    let mut chunks: Vec<(usize, Vec<[f64; 3]>, Vec<f64>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..n_threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut work = Workspace::new(problem.n_random_components + 1, n_sim);
                    let mut done = Vec::new();
                    loop {
                        let c = next.fetch_add(1, Ordering::Relaxed);
                        if c >= n_chunks {
                            break done;
                        }
                        let rows = c * ROWS_PER_CHUNK..((c + 1) * ROWS_PER_CHUNK).min(n);
                        let mut stats = Vec::with_capacity(rows.len() * n_out);
                        let mut sims = Vec::with_capacity(if options.keep_sims { rows.len() * n_out * n_sim } else { 0 });
                        for r in rows {
                            shared.row(r, &mut work, &mut stats, options.keep_sims.then_some(&mut sims));
                        }
                        done.push((c, stats, sims));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("prediction interval worker panicked")).collect()
    });
    chunks.sort_by_key(|(c, _, _)| *c);
    let (fit, lwr, upr) = (vec![0.0; n * n_out], vec![0.0; n * n_out], vec![0.0; n * n_out]);
    let sims = vec![0.0; if options.keep_sims { n * n_out * n_sim } else { 0 }];
    let mut out = PredictionIntervals { n_rows: n, n_outputs: n_out, fit, lwr, upr, sims };
    for (c, stats, sims) in chunks {
        for (i, s) in stats.iter().enumerate() {
            let (r, o) = (c * ROWS_PER_CHUNK + i / n_out, i % n_out);
            out.fit[o * n + r] = s[0];
            out.lwr[o * n + r] = s[1];
            out.upr[o * n + r] = s[2];
            if options.keep_sims {
                out.sims[(o * n + r) * n_sim..(o * n + r + 1) * n_sim].copy_from_slice(&sims[i * n_sim..(i + 1) * n_sim]);
            }
        }
    }
    Ok(out)
}

struct Shared<'a, 'b> {
    problem: &'a IntervalProblem<'b>,
    options: &'a IntervalOptions,
    beta_draws: &'a [f64],
    sigma: &'a [f64],
    draws: &'a [TermDraws],
}

struct Workspace {
    /// Per component (grouping factors, then the fixed part): n_sim values of the row.
    components: Vec<f64>,
    total: Vec<f64>,
}

impl Workspace {
    fn new(n_components: usize, n_sim: usize) -> Workspace {
        Workspace { components: vec![0.0; n_components * n_sim], total: vec![0.0; n_sim] }
    }
}

impl Shared<'_, '_> {
    /// The summaries of row r, one [centre, lower, upper] per output, appended to `stats`
    /// (and, when given, its simulated values appended to `sims`).
    fn row(&self, r: usize, work: &mut Workspace, stats: &mut Vec<[f64; 3]>, mut sims: Option<&mut Vec<f64>>) {
        let (pr, opt) = (self.problem, self.options);
        let n_sim = opt.n_sim;
        let n_rc = pr.n_random_components;
        work.components.fill(0.0);
        let mut missing = false;
        {
            let fixed = &mut work.components[n_rc * n_sim..(n_rc + 1) * n_sim];
            fixed.fill(pr.offset.map_or(0.0, |o| o[r]));
            for j in 0..pr.x.ncols() {
                let xj = pr.x[(r, j)];
                if xj != 0.0 {
                    axpy(xj, &self.beta_draws[j * n_sim..(j + 1) * n_sim], fixed);
                }
            }
        }
        for (term, draws) in pr.terms.iter().zip(self.draws) {
            let code = term.codes[r];
            if code == MISSING_LEVEL {
                missing = true;
                continue;
            }
            if code == ZERO_LEVEL {
                continue;
            }
            let u = draws.slot[code as usize] as usize;
            let comp = &mut work.components[term.component * n_sim..(term.component + 1) * n_sim];
            for c in 0..draws.k {
                let zc = term.z[(r, c)];
                if zc != 0.0 {
                    let at = (u * draws.k + c) * n_sim;
                    axpy(zc, &draws.values[at..at + n_sim], comp);
                }
            }
        }
        for (o, (components, noise)) in opt.outputs.iter().enumerate() {
            work.total.fill(0.0);
            for &c in components {
                axpy(1.0, &work.components[c * n_sim..(c + 1) * n_sim], &mut work.total);
            }
            if missing || work.total[0].is_nan() {
                stats.push([f64::NAN; 3]);
                if let Some(s) = sims.as_deref_mut() {
                    s.extend(std::iter::repeat_n(f64::NAN, n_sim));
                }
                continue;
            }
            if *noise {
                let mut rng = Rng::for_stream(opt.seed, STREAM_NOISE | ((o as u64) << 40) | r as u64);
                for (v, s) in work.total.iter_mut().zip(self.sigma) {
                    *v += s * rng.normal();
                }
            }
            if let Some(s) = sims.as_deref_mut() {
                s.extend_from_slice(&work.total);
            }
            stats.push(summarise(&mut work.total, opt.level, opt.center));
        }
    }
}

#[inline]
fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// [centre, lower, upper] of the simulated values (reordered in place).
fn summarise(values: &mut [f64], level: f64, center: Center) -> [f64; 3] {
    let lo_p = (1.0 - level) / 2.0;
    let mean = if center == Center::Mean { values.iter().sum::<f64>() / values.len() as f64 } else { f64::NAN };
    let q = quantiles_type7(values, &[lo_p, 0.5, 1.0 - lo_p]);
    [if center == Center::Mean { mean } else { q[1] }, q[0], q[2]]
}

/// R's `quantile(x, probs, type = 7)` for increasing `probs`, by successive selection
/// (each order statistic is found in the part above the previous one): O(n) per probability
/// instead of a sort.
pub fn quantiles_type7(values: &mut [f64], probs: &[f64]) -> Vec<f64> {
    let n = values.len();
    let mut start = 0; // values[..start] are all ≤ values[start..]
    let mut cache: Option<(usize, f64)> = None;
    let mut order_stat = |values: &mut [f64], k: usize| -> f64 {
        if let Some((kk, v)) = cache {
            if kk == k {
                return v;
            }
        }
        let v = if k >= start {
            let v = *values[start..].select_nth_unstable_by(k - start, f64::total_cmp).1;
            start = k;
            v
        } else {
            // below the last selection: permuting the prefix keeps values[..start] ≤ values[start..]
            *values[..start].select_nth_unstable_by(k, f64::total_cmp).1
        };
        cache = Some((k, v));
        v
    };
    probs
        .iter()
        .map(|&p| {
            let h = (n - 1) as f64 * p;
            let lo = h.floor() as usize;
            let frac = h - lo as f64;
            let x_lo = order_stat(values, lo);
            if frac > 0.0 && lo + 1 < n {
                let x_hi = order_stat(values, lo + 1);
                x_lo + frac * (x_hi - x_lo)
            } else {
                x_lo
            }
        })
        .collect()
}

