//! Property-based tests of the solver invariants against dense references.
//!
//! Every case draws a small random design (5..60 rows; 1-3 random-effects terms with k = 1,
//! 2 or 3 columns, correlated or diagonal templates; crossed, nested, partially crossed,
//! balanced or unbalanced grouping with singleton levels and occasionally an unused level;
//! optional prior weights, sometimes with zeros; optional offset) and a random θ with
//! positive diagonals, sometimes exactly 0 (boundary). The sparse machinery
//! (`SparseCholesky`, the model's `BlockedCholesky`, `LinearMixedModel`) is then checked against
//! plain dense linear algebra written out in this file:
//!
//! 1. L L' = P A P' for A = Λ'Z'WZΛ + I: the factor `LinearMixedModel::evaluate` leaves in place
//!    (`LinearMixedModel::cholesky().dense_factor()`, blocked with a sparse or dense Schur
//!    complement), and `SparseCholesky::analyse` + `factorize` directly, on random sparse
//!    SPD matrices and on the A of random designs (whose block pattern must be the one the
//!    model analysed).
//! 2. log det A, solves with A and the selected inverse agree with dense computations.
//! 3. deviance_ml and reml_criterion equal -2 log L and -2 log L_R of
//!    y - offset ~ N(Xβ, σ²(ZΛΛ'Z' + W⁻¹)), profiled, computed densely.
//! 4. β̂ (GLS), b = Λû (BLUP), Λ A⁻¹ Λ' blocks, (X'V⁻¹X)⁻¹, σ̂, fitted values.
//! 5. Invariance under row permutation and relabelling of levels.
//!
//! Zero weights: a row with w = 0 contributes nothing to any cross-product, so everything
//! that does not involve the observation count agrees exactly with the design whose
//! zero-weight rows are dropped. The count n used in the profiled σ̂², the deviance and the
//! REML criterion is the number of rows with positive weight (`cp.n_obs`), so a zero-weight
//! fit equals the dropped-rows fit in every respect (lme4 counts `length(y)` but then has
//! log 0 = -∞ in its ldW). [`N_COUNTS_ZERO_WEIGHT_ROWS`] pins that convention; the tests
//! check the core against the dense reference evaluated with that n.

use faer::Mat;
use merx_core::linalg::{CholeskyFactor, SparseCholesky};
use merx_core::fit::{estimates_at, fit_lmm, FitOptions};
use merx_core::covariance::Diagonal;
use merx_core::{LinearMixedModel, MerxError, ModelData, TermData};
use std::sync::Arc;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Whether the core's observation count includes rows with zero prior weight (it does not;
/// see the module docs).
const N_COUNTS_ZERO_WEIGHT_ROWS: bool = false;

const LOG_2PI: f64 = 1.8378770664093453;

// ---------------------------------------------------------------------------------------
// Deterministic random numbers (values); proptest draws the structure and the seed.
// ---------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        // SplitMix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unif(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, m: usize) -> usize {
        (self.next_u64() % m as u64) as usize
    }
    fn normal(&mut self) -> f64 {
        let u1 = self.unif().max(1e-300);
        let u2 = self.unif();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unif() < p
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Designs
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Structure {
    /// Independent random level assignment per term (every level used at least once).
    Crossed,
    /// Levels of term t+1 are a function of the levels of term t.
    Nested,
    /// Nested for most rows, random for the others.
    PartiallyCrossed,
    /// Balanced: level = row mod L (after a random row order).
    Balanced,
    /// Random assignment with many singleton levels (L close to n).
    Unbalanced,
}

#[derive(Clone, Copy, Debug)]
enum WeightMode {
    None,
    Positive,
    /// Positive weights with a few rows set to exactly 0.
    SomeZero,
}

#[derive(Clone, Debug)]
struct TermSpec {
    k: usize,
    correlated: bool,
    levels: usize,
    /// For k = 1: a covariate column (0 + x | g) instead of the intercept.
    slope_only: bool,
    /// Declare one more level than the rows use.
    unused_level: bool,
}

#[derive(Clone, Debug)]
struct DesignSpec {
    n: usize,
    p_extra: usize,
    terms: Vec<TermSpec>,
    structure: Structure,
    weights: WeightMode,
    offset: bool,
    boundary: bool,
    reml: bool,
    seed: u64,
}

fn term_spec() -> impl Strategy<Value = TermSpec> {
    (1usize..=3, any::<bool>(), 1usize..=20, any::<bool>(), 0u8..8).prop_map(|(k, correlated, levels, slope_only, u)| {
        TermSpec { k, correlated, levels, slope_only, unused_level: u == 0 }
    })
}

fn design_spec() -> impl Strategy<Value = DesignSpec> {
    (
        5usize..=60,
        0usize..=2,
        prop::collection::vec(term_spec(), 1..=3),
        prop_oneof![
            Just(Structure::Crossed),
            Just(Structure::Nested),
            Just(Structure::PartiallyCrossed),
            Just(Structure::Balanced),
            Just(Structure::Unbalanced)
        ],
        prop_oneof![Just(WeightMode::None), Just(WeightMode::Positive), Just(WeightMode::SomeZero)],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(n, p_extra, terms, structure, weights, offset, boundary, reml, seed)| DesignSpec {
            n,
            p_extra,
            terms,
            structure,
            weights,
            offset,
            boundary,
            reml,
            seed,
        })
}

/// Owned data of one model.
#[derive(Clone, Debug)]
struct Design {
    x: Mat<f64>,
    y: Vec<f64>,
    codes: Vec<Vec<i64>>,
    n_levels: Vec<usize>,
    z: Vec<Mat<f64>>,
    correlated: Vec<bool>,
    weights: Option<Vec<f64>>,
    offset: Option<Vec<f64>>,
}

/// Codes using every one of `used` levels at least once (n ≥ used), in random order.
fn covering_codes(rng: &mut Rng, n: usize, used: usize) -> Vec<i64> {
    let mut c: Vec<i64> = (0..n).map(|i| if i < used { i as i64 } else { rng.below(used) as i64 }).collect();
    rng.shuffle(&mut c);
    c
}

impl Design {
    fn generate(spec: &DesignSpec) -> Design {
        let mut rng = Rng(spec.seed);
        let n = spec.n;
        let p = 1 + spec.p_extra.min(n - 4);
        let x = Mat::from_fn(n, p, |_, j| if j == 0 { 1.0 } else { 0.0 });
        let mut x = x;
        for j in 1..p {
            for i in 0..n {
                x[(i, j)] = rng.normal();
            }
        }
        let mut codes: Vec<Vec<i64>> = Vec::new();
        let mut n_levels = Vec::new();
        let mut z = Vec::new();
        let mut correlated = Vec::new();
        let mut prev_used = n;
        for (t, ts) in spec.terms.iter().enumerate() {
            let mut used = ts.levels.min(n);
            let c: Vec<i64> = match spec.structure {
                Structure::Crossed => covering_codes(&mut rng, n, used),
                Structure::Balanced => {
                    let mut order: Vec<usize> = (0..n).collect();
                    rng.shuffle(&mut order);
                    let mut c = vec![0i64; n];
                    for (pos, &i) in order.iter().enumerate() {
                        c[i] = (pos % used) as i64;
                    }
                    c
                }
                Structure::Unbalanced => {
                    // between n/2 and 3n/4 levels: many singletons
                    used = (n / 2 + rng.below(n / 4 + 1)).clamp(1, n);
                    covering_codes(&mut rng, n, used)
                }
                Structure::Nested | Structure::PartiallyCrossed => {
                    if t == 0 {
                        covering_codes(&mut rng, n, used)
                    } else {
                        used = used.min(prev_used);
                        // parent map from the previous term's used levels onto `used` levels
                        let parent = covering_codes(&mut rng, prev_used, used);
                        let prev = &codes[t - 1];
                        let partial = matches!(spec.structure, Structure::PartiallyCrossed);
                        let mut c: Vec<i64> = (0..n)
                            .map(|i| {
                                if partial && rng.chance(0.3) {
                                    rng.below(used) as i64
                                } else {
                                    parent[prev[i] as usize]
                                }
                            })
                            .collect();
                        // keep every level used (relabel to the used set)
                        let mut map = vec![-1i64; used];
                        let mut next = 0i64;
                        for v in c.iter_mut() {
                            if map[*v as usize] < 0 {
                                map[*v as usize] = next;
                                next += 1;
                            }
                            *v = map[*v as usize];
                        }
                        used = next as usize;
                        c
                    }
                }
            };
            prev_used = used;
            let k = ts.k;
            let zt = Mat::from_fn(n, k, |_, a| if a == 0 && !(k == 1 && ts.slope_only) { 1.0 } else { f64::NAN });
            let mut zt = zt;
            for a in 0..k {
                for i in 0..n {
                    if zt[(i, a)].is_nan() {
                        zt[(i, a)] = rng.normal();
                    }
                }
            }
            codes.push(c);
            n_levels.push(used + usize::from(ts.unused_level));
            z.push(zt);
            correlated.push(ts.correlated);
        }
        let weights = match spec.weights {
            WeightMode::None => None,
            WeightMode::Positive => Some((0..n).map(|_| 0.25 + 3.75 * rng.unif()).collect::<Vec<_>>()),
            WeightMode::SomeZero => {
                let mut w: Vec<f64> = (0..n).map(|_| 0.25 + 3.75 * rng.unif()).collect();
                let max_zero = n.saturating_sub(p + 3);
                let n_zero = (1 + n / 8).min(max_zero);
                let mut rows: Vec<usize> = (0..n).collect();
                rng.shuffle(&mut rows);
                for &i in &rows[..n_zero] {
                    w[i] = 0.0;
                }
                Some(w)
            }
        };
        let offset = spec.offset.then(|| (0..n).map(|_| rng.normal()).collect::<Vec<_>>());
        // y = Xβ + Zb + ε + offset, with a visible signal
        let mut y: Vec<f64> = (0..n).map(|i| 0.5 * rng.normal() + (0..p).map(|j| x[(i, j)] * (j as f64 + 1.0)).sum::<f64>()).collect();
        for t in 0..codes.len() {
            let k = z[t].ncols();
            let b: Vec<f64> = (0..n_levels[t] * k).map(|_| rng.normal()).collect();
            for i in 0..n {
                let l = codes[t][i] as usize;
                for a in 0..k {
                    y[i] += z[t][(i, a)] * b[l * k + a];
                }
            }
        }
        if let Some(o) = &offset {
            for i in 0..n {
                y[i] += o[i];
            }
        }
        Design { x, y, codes, n_levels, z, correlated, weights, offset }
    }

    fn n(&self) -> usize {
        self.y.len()
    }

    fn p(&self) -> usize {
        self.x.ncols()
    }

    fn view(&self) -> ModelData<'_> {
        ModelData {
            x: self.x.as_ref(),
            y: &self.y,
            terms: (0..self.codes.len())
                .map(|t| {
                    let term = TermData::new(&self.codes[t], self.n_levels[t], self.z[t].as_ref());
                    if self.correlated[t] {
                        term
                    } else {
                        term.with_covariance(Arc::new(Diagonal))
                    }
                })
                .collect(),
            weights: self.weights.as_deref(),
            offset: self.offset.as_deref(),
        }
    }

    fn weight(&self, i: usize) -> f64 {
        self.weights.as_ref().map_or(1.0, |w| w[i])
    }

    /// Term layout: (u offset, k, n_levels, θ offset, correlated).
    fn layout(&self) -> Vec<(usize, usize, usize, usize, bool)> {
        let mut out = Vec::new();
        let (mut u, mut th) = (0, 0);
        for t in 0..self.codes.len() {
            let k = self.z[t].ncols();
            out.push((u, k, self.n_levels[t], th, self.correlated[t]));
            u += k * self.n_levels[t];
            th += if self.correlated[t] { k * (k + 1) / 2 } else { k };
        }
        out
    }

    fn q(&self) -> usize {
        self.layout().iter().map(|&(_, k, l, _, _)| k * l).sum()
    }

    fn n_theta(&self) -> usize {
        self.layout().iter().map(|&(_, k, _, _, c)| if c { k * (k + 1) / 2 } else { k }).sum()
    }

    /// Random θ in lme4's layout: diagonals in [0.2, 2] (exactly 0 with probability 1/4 when
    /// `boundary`), off-diagonals N(0, 0.5²).
    fn random_theta(&self, rng: &mut Rng, boundary: bool) -> Vec<f64> {
        let mut theta = Vec::with_capacity(self.n_theta());
        for &(_, k, _, _, corr) in &self.layout() {
            for c in 0..k {
                let rows = if corr { c..k } else { c..c + 1 };
                for r in rows {
                    theta.push(if r == c {
                        if boundary && rng.chance(0.25) {
                            0.0
                        } else {
                            0.2 + 1.8 * rng.unif()
                        }
                    } else {
                        0.5 * rng.normal()
                    });
                }
            }
        }
        theta
    }

    /// Dense Z (n × q), u-ordering of the core (per term, level-major).
    fn dense_z(&self) -> Mat<f64> {
        let mut zd = Mat::<f64>::zeros(self.n(), self.q());
        for (t, &(u0, k, _, _, _)) in self.layout().iter().enumerate() {
            for i in 0..self.n() {
                let l = self.codes[t][i] as usize;
                for a in 0..k {
                    zd[(i, u0 + l * k + a)] = self.z[t][(i, a)];
                }
            }
        }
        zd
    }

    /// Lower pattern of A (sorted rows, diagonal present): a full lower k × k block per
    /// level, and a full block between two levels of different terms that share a row
    /// (whatever its weight).
    fn structural_pattern(&self) -> (Vec<usize>, Vec<usize>) {
        let q = self.q();
        let lay = self.layout();
        let mut cols: Vec<std::collections::BTreeSet<usize>> = vec![Default::default(); q];
        for (t, &(ut, kt, lt, _, _)) in lay.iter().enumerate() {
            for l in 0..lt {
                for a in 0..kt {
                    for b in a..kt {
                        cols[ut + l * kt + a].insert(ut + l * kt + b);
                    }
                }
            }
            for i in 0..self.n() {
                let l = self.codes[t][i] as usize;
                for (s, &(us, ks, _, _, _)) in lay.iter().enumerate().skip(t + 1) {
                    let m = self.codes[s][i] as usize;
                    for a in 0..kt {
                        for b in 0..ks {
                            cols[ut + l * kt + a].insert(us + m * ks + b);
                        }
                    }
                }
            }
        }
        let mut cp = vec![0usize];
        let mut ri = Vec::new();
        for c in cols {
            ri.extend(c);
            cp.push(ri.len());
        }
        (cp, ri)
    }

    /// Dense Λ(θ) (q × q, block diagonal of lower-triangular templates).
    fn dense_lambda(&self, theta: &[f64]) -> Mat<f64> {
        let mut lam = Mat::<f64>::zeros(self.q(), self.q());
        for &(u0, k, levels, th0, corr) in &self.layout() {
            let mut tmpl = Mat::<f64>::zeros(k, k);
            let mut idx = th0;
            for c in 0..k {
                let rows = if corr { c..k } else { c..c + 1 };
                for r in rows {
                    tmpl[(r, c)] = theta[idx];
                    idx += 1;
                }
            }
            for l in 0..levels {
                for c in 0..k {
                    for r in 0..k {
                        lam[(u0 + l * k + r, u0 + l * k + c)] = tmpl[(r, c)];
                    }
                }
            }
        }
        lam
    }

    /// A = Λ'Z'WZΛ + I, densely.
    fn dense_a(&self, theta: &[f64]) -> Mat<f64> {
        let zl = &self.dense_z() * &self.dense_lambda(theta);
        let q = self.q();
        let mut a = Mat::<f64>::identity(q, q);
        for i in 0..self.n() {
            let w = self.weight(i);
            if w == 0.0 {
                continue;
            }
            for c in 0..q {
                let v = w * zl[(i, c)];
                if v == 0.0 {
                    continue;
                }
                for r in 0..q {
                    a[(r, c)] += v * zl[(i, r)];
                }
            }
        }
        a
    }

    /// Same model with the rows in `order` (order[new] = old; a subset keeps those rows).
    fn permute_rows(&self, order: &[usize]) -> Design {
        let n = order.len();
        Design {
            x: Mat::from_fn(n, self.p(), |i, j| self.x[(order[i], j)]),
            y: order.iter().map(|&i| self.y[i]).collect(),
            codes: self.codes.iter().map(|c| order.iter().map(|&i| c[i]).collect()).collect(),
            n_levels: self.n_levels.clone(),
            z: self.z.iter().map(|zt| Mat::from_fn(n, zt.ncols(), |i, a| zt[(order[i], a)])).collect(),
            correlated: self.correlated.clone(),
            weights: self.weights.as_ref().map(|w| order.iter().map(|&i| w[i]).collect()),
            offset: self.offset.as_ref().map(|o| order.iter().map(|&i| o[i]).collect()),
        }
    }

    /// Same model with the rows of positive weight only (levels keep their codes).
    fn drop_zero_weight_rows(&self) -> Design {
        let keep: Vec<usize> = (0..self.n()).filter(|&i| self.weight(i) > 0.0).collect();
        self.permute_rows(&keep)
    }
}

// ---------------------------------------------------------------------------------------
// Dense linear algebra
// ---------------------------------------------------------------------------------------

/// Lower Cholesky factor of a dense SPD matrix (None if a pivot is not positive).
fn chol(a: &Mat<f64>) -> Option<Mat<f64>> {
    let n = a.nrows();
    let mut l = Mat::<f64>::zeros(n, n);
    for j in 0..n {
        let mut d = a[(j, j)];
        for k in 0..j {
            d -= l[(j, k)] * l[(j, k)];
        }
        if !(d > 0.0) {
            return None;
        }
        let djj = d.sqrt();
        l[(j, j)] = djj;
        for i in j + 1..n {
            let mut v = a[(i, j)];
            for k in 0..j {
                v -= l[(i, k)] * l[(j, k)];
            }
            l[(i, j)] = v / djj;
        }
    }
    Some(l)
}

fn chol_logdet(l: &Mat<f64>) -> f64 {
    (0..l.nrows()).map(|i| 2.0 * l[(i, i)].ln()).sum()
}

/// Solves (L L') X = B.
fn chol_solve(l: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
    let n = l.nrows();
    let mut x = b.clone();
    for c in 0..x.ncols() {
        for i in 0..n {
            let mut v = x[(i, c)];
            for k in 0..i {
                v -= l[(i, k)] * x[(k, c)];
            }
            x[(i, c)] = v / l[(i, i)];
        }
        for i in (0..n).rev() {
            let mut v = x[(i, c)];
            for k in i + 1..n {
                v -= l[(k, i)] * x[(k, c)];
            }
            x[(i, c)] = v / l[(i, i)];
        }
    }
    x
}

fn max_abs(m: &Mat<f64>) -> f64 {
    let mut acc = 0.0f64;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            acc = acc.max(m[(i, j)].abs());
        }
    }
    acc
}

fn close(a: f64, b: f64, rel: f64, scale: f64) -> bool {
    (a - b).abs() <= rel * scale.max(a.abs()).max(b.abs()).max(1.0)
}

macro_rules! check_close {
    ($a:expr, $b:expr, $rel:expr, $scale:expr, $($what:tt)+) => {{
        let (a, b): (f64, f64) = ($a, $b);
        prop_assert!(close(a, b, $rel, $scale), "{}: {} vs dense {} (diff {:e})", format!($($what)+), a, b, (a - b).abs());
    }};
}

/// The dense reference of one model at one θ (on the rows with positive weight).
struct DenseFit {
    /// log |V| with V = ZΛΛ'Z' + W⁻¹ (relative covariance of y).
    logdet_v: f64,
    /// log |X'V⁻¹X|.
    logdet_xvx: f64,
    /// r'V⁻¹r at the GLS β̂ (r = y - offset - Xβ̂), equal to the penalized RSS.
    quad: f64,
    beta: Vec<f64>,
    /// b = ΛΛ'Z'V⁻¹(y - offset - Xβ̂) (q).
    b: Vec<f64>,
    /// (X'V⁻¹X)⁻¹.
    vcov: Mat<f64>,
    /// Λ A⁻¹ Λ'.
    condvar: Mat<f64>,
    /// rows with positive weight
    n_pos: usize,
}

impl DenseFit {
    fn compute(d: &Design, theta: &[f64]) -> DenseFit {
        let keep: Vec<usize> = (0..d.n()).filter(|&i| d.weight(i) > 0.0).collect();
        let m = keep.len();
        let p = d.p();
        let zfull = d.dense_z();
        let z = Mat::from_fn(m, d.q(), |i, c| zfull[(keep[i], c)]);
        let x = Mat::from_fn(m, p, |i, j| d.x[(keep[i], j)]);
        let r = Mat::from_fn(m, 1, |i, _| {
            let row = keep[i];
            d.y[row] - d.offset.as_ref().map_or(0.0, |o| o[row])
        });
        let lam = d.dense_lambda(theta);
        let zl = &z * &lam;
        let mut v = &zl * zl.transpose();
        for i in 0..m {
            v[(i, i)] += 1.0 / d.weight(keep[i]);
        }
        let lv = chol(&v).expect("V is SPD");
        let vinv_x = chol_solve(&lv, &x);
        let vinv_r = chol_solve(&lv, &r);
        let xvx = x.transpose() * &vinv_x;
        let xvr = x.transpose() * &vinv_r;
        let lx = chol(&xvx).expect("X'V⁻¹X is SPD");
        let beta_m = chol_solve(&lx, &xvr);
        let e = &r - &x * &beta_m;
        let vinv_e = chol_solve(&lv, &e);
        let quad = (e.transpose() * &vinv_e)[(0, 0)];
        let b = &lam * (zl.transpose() * &vinv_e);
        let vcov = chol_solve(&lx, &Mat::identity(p, p));
        let la = chol(&d.dense_a(theta)).expect("A is SPD");
        let ainv_lt = chol_solve(&la, &lam.transpose().to_owned());
        let condvar = &lam * &ainv_lt;
        DenseFit {
            logdet_v: chol_logdet(&lv),
            logdet_xvx: chol_logdet(&lx),
            quad,
            beta: (0..p).map(|j| beta_m[(j, 0)]).collect(),
            b: (0..d.q()).map(|i| b[(i, 0)]).collect(),
            vcov,
            condvar,
            n_pos: m,
        }
    }

    /// -2 log L at the profiled β̂ and σ̂² = r'V⁻¹r / n.
    fn deviance_ml(&self, n: f64) -> f64 {
        self.logdet_v + n * (1.0 + LOG_2PI + (self.quad / n).ln())
    }

    /// -2 log L_R at the profiled σ̂² = r'V⁻¹r / (n - p).
    fn reml_criterion(&self, n: f64, p: usize) -> f64 {
        let nmp = n - p as f64;
        self.logdet_v + self.logdet_xvx + nmp * (1.0 + LOG_2PI + (self.quad / nmp).ln())
    }

    /// The observation count the core uses for this design.
    fn core_n(&self, d: &Design) -> f64 {
        if N_COUNTS_ZERO_WEIGHT_ROWS {
            d.n() as f64
        } else {
            self.n_pos as f64
        }
    }
}

fn model_for(d: &Design, reml: bool) -> Result<LinearMixedModel, TestCaseError> {
    LinearMixedModel::new(&d.view(), reml).map_err(|e| TestCaseError::fail(format!("LinearMixedModel::new failed: {e}")))
}

/// `cases` per property unless PROPTEST_CASES is set (for longer stress runs).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, max_shrink_iters: 2000, ..ProptestConfig::default() }
}

/// Checks P A P' = L L', log det, solves and the selected inverse of a factored
/// `SparseCholesky` against the dense matrix `a` (original ordering).
fn check_factor(ch: &mut SparseCholesky, a: &Mat<f64>, rng: &mut Rng) -> Result<(), TestCaseError> {
    let n = a.nrows();
    let perm = ch.perm_fwd().to_vec();
    let mut seen = vec![false; n];
    for &f in &perm {
        prop_assert!(f < n && !seen[f], "perm_fwd is not a permutation");
        seen[f] = true;
    }
    for (i, &f) in perm.iter().enumerate() {
        prop_assert_eq!(ch.perm_inv()[f], i, "perm_inv is not the inverse of perm_fwd");
    }
    let l = ch.dense_factor();
    for i in 0..n {
        prop_assert!(l[(i, i)] > 0.0, "L[{i},{i}] = {} is not positive", l[(i, i)]);
    }
    let llt = &l * l.transpose();
    let scale = max_abs(a);
    for j in 0..n {
        for i in 0..n {
            let pap = a[(perm[i], perm[j])];
            check_close!(llt[(i, j)], pap, 1e-11, scale, "(LL')[{i},{j}] vs (PAP')");
        }
    }
    // log det
    let la = chol(a).expect("dense reference: A is SPD");
    check_close!(ch.log_det(), chol_logdet(&la), 1e-10, n as f64, "log det A");
    // solve A x = b through P' L⁻ᵀ L⁻¹ P, with 1..3 right-hand sides
    let nrhs = 1 + rng.below(2);
    let b = Mat::from_fn(n, nrhs, |_, _| rng.normal());
    let mut pb = Mat::<f64>::zeros(n, nrhs);
    ch.permute_rows(b.as_ref(), pb.as_mut());
    ch.l_solve_in_place(pb.as_mut());
    ch.lt_solve_in_place(pb.as_mut());
    let mut xs = Mat::<f64>::zeros(n, nrhs);
    ch.unpermute_rows(pb.as_ref(), xs.as_mut());
    let xd = chol_solve(&la, &b);
    let xscale = max_abs(&xd);
    for c in 0..nrhs {
        for i in 0..n {
            check_close!(xs[(i, c)], xd[(i, c)], 1e-9, xscale, "A⁻¹b [{i},{c}]");
        }
    }
    // selected inverse: every entry in the pattern of A must be available and correct;
    // entries outside A's pattern that the factor's pattern covers must be correct too.
    let ainv = chol_solve(&la, &Mat::identity(n, n));
    let iscale = max_abs(&ainv);
    let inv = ch.selected_inverse().map_err(|e| TestCaseError::fail(format!("selected_inverse: {e}")))?;
    let cp = ch.col_ptr().to_vec();
    let ri = ch.row_idx().to_vec();
    let mut in_a = vec![false; n * n];
    for j in 0..n {
        for &i in &ri[cp[j]..cp[j + 1]] {
            in_a[i * n + j] = true;
            in_a[j * n + i] = true;
        }
    }
    for j in 0..n {
        for i in 0..n {
            match ch.inverse_entry(&inv, i, j) {
                Ok(v) => check_close!(v, ainv[(i, j)], 1e-9, iscale, "A⁻¹[{i},{j}] (selected inverse)"),
                Err(e) => prop_assert!(!in_a[i * n + j], "A⁻¹[{i},{j}] missing although A[{i},{j}] is in the pattern: {e}"),
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(128))]

    /// Properties 1 and 2 through `LinearMixedModel`: the factor of Λ'Z'WZΛ + I left by `evaluate`
    /// reproduces the matrix formed densely from the random design, and ldL2 = log det A.
    /// (Its solves and selected inverse are checked through β̂, û and the conditional
    /// variances in `objective_and_estimates_match_dense`.)
    #[test]
    fn model_factor_reproduces_a(spec in design_spec()) {
        let d = Design::generate(&spec);
        let mut rng = Rng(spec.seed ^ 0xA5A5);
        let theta = d.random_theta(&mut rng, spec.boundary);
        let mut model = model_for(&d, spec.reml)?;
        prop_assert_eq!(model.q(), d.q());
        let eval = model.evaluate(&theta).map_err(|e| TestCaseError::fail(format!("evaluate: {e}")))?;
        let a = d.dense_a(&theta);
        let la = chol(&a).unwrap();
        check_close!(eval.ld_l2, chol_logdet(&la), 1e-10, d.q() as f64, "ldL2");
        // the factor left in place by the evaluation
        let ch = model.cholesky();
        prop_assert_eq!(ch.n(), d.q());
        let l = ch.dense_factor();
        let perm = ch.perm_fwd().to_vec();
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        prop_assert!(sorted.iter().enumerate().all(|(i, &v)| i == v), "perm_fwd is not a permutation");
        for j in 0..d.q() {
            prop_assert!(l[(j, j)] > 0.0, "L[{j},{j}] = {}", l[(j, j)]);
            prop_assert!((0..j).all(|i| l[(i, j)] == 0.0), "L has entries above the diagonal in column {j}");
        }
        let llt = &l * l.transpose();
        let scale = max_abs(&a);
        for j in 0..d.q() {
            for i in 0..d.q() {
                check_close!(llt[(i, j)], a[(perm[i], perm[j])], 1e-11, scale, "(LL')[{i},{j}] vs PAP'");
            }
        }
        // The analysed pattern of A covers every structural nonzero of the dense A.
        let (cp, ri) = (ch.col_ptr(), ch.row_idx());
        for j in 0..d.q() {
            for i in j..d.q() {
                if a[(i, j)] != 0.0 {
                    prop_assert!(ri[cp[j]..cp[j + 1]].binary_search(&i).is_ok(), "A[{i},{j}] = {} outside the pattern", a[(i, j)]);
                }
            }
        }
    }

    /// Properties 1 and 2 for `SparseCholesky::analyse` on its own: random sparse SPD
    /// matrices (from diagonal to dense), and a refactorisation with new values on the same
    /// symbolic analysis.
    #[test]
    fn analyse_factorize_solve_inverse(n in 1usize..40, density in 0.0f64..0.5, seed in any::<u64>()) {
        let mut rng = Rng(seed);
        // pattern: random lower entries plus the diagonal
        let mut pat = vec![false; n * n];
        for j in 0..n {
            pat[j * n + j] = true;
            for i in j + 1..n {
                if rng.chance(density) {
                    pat[j * n + i] = true;
                }
            }
        }
        let mut cp = vec![0usize];
        let mut ri = Vec::new();
        for j in 0..n {
            for i in j..n {
                if pat[j * n + i] {
                    ri.push(i);
                }
            }
            cp.push(ri.len());
        }
        let mut ch = SparseCholesky::analyse(n, cp.clone(), ri.clone(), 3)
            .map_err(|e| TestCaseError::fail(format!("analyse: {e}")))?;
        prop_assert_eq!(ch.nnz_a(), ri.len());
        for round in 0..2 {
            // values: random off-diagonals, diagonal dominance (SPD), varying scale
            let mut a = Mat::<f64>::zeros(n, n);
            for j in 0..n {
                for i in j + 1..n {
                    if pat[j * n + i] {
                        let v = rng.normal();
                        a[(i, j)] = v;
                        a[(j, i)] = v;
                    }
                }
            }
            for i in 0..n {
                let row: f64 = (0..n).filter(|&j| j != i).map(|j| a[(i, j)].abs()).sum();
                a[(i, i)] = row + 0.1 + 5.0 * rng.unif();
            }
            let vals: Vec<f64> = (0..n).flat_map(|j| ri[cp[j]..cp[j + 1]].iter().map(move |&i| (i, j))).map(|(i, j)| a[(i, j)]).collect();
            ch.factorize(&vals).map_err(|e| TestCaseError::fail(format!("factorize (round {round}): {e}")))?;
            check_factor(&mut ch, &a, &mut rng)?;
        }
        // wrong number of values is an error, not a panic
        prop_assert!(ch.factorize(&vec![1.0; ri.len() + 1]).is_err());
    }

    /// Properties 1 and 2 for `SparseCholesky` on the A = Λ'Z'WZΛ + I of random designs,
    /// with the block pattern derived here from the grouping codes (which must also be the
    /// pattern the model analysed): factor, log det, solves and selected inverse.
    #[test]
    fn design_matrix_factor_solves_and_inverse(spec in design_spec()) {
        let d = Design::generate(&spec);
        let mut rng = Rng(spec.seed ^ 0x5A5A);
        let theta = d.random_theta(&mut rng, spec.boundary);
        let (cp, ri) = d.structural_pattern();
        let model = model_for(&d, spec.reml)?;
        prop_assert_eq!(model.cholesky().col_ptr(), &cp[..], "column pointers of the analysed pattern");
        prop_assert_eq!(model.cholesky().row_idx(), &ri[..], "row indices of the analysed pattern");
        let mut ch = SparseCholesky::analyse(d.q(), cp.clone(), ri.clone(), d.p() + 1)
            .map_err(|e| TestCaseError::fail(format!("analyse: {e}")))?;
        let a = d.dense_a(&theta);
        let vals: Vec<f64> = (0..d.q()).flat_map(|j| ri[cp[j]..cp[j + 1]].iter().map(move |&i| (i, j))).map(|(i, j)| a[(i, j)]).collect();
        ch.factorize(&vals).map_err(|e| TestCaseError::fail(format!("factorize: {e}")))?;
        check_factor(&mut ch, &a, &mut rng)?;
    }

    /// Properties 3 and 4: the profiled ML deviance and REML criterion, β̂, b = Λû, the
    /// conditional variances, vcov(β̂), σ̂ and the fitted values against dense GLS / BLUP
    /// computations with V = ZΛΛ'Z' + W⁻¹.
    #[test]
    fn objective_and_estimates_match_dense(spec in design_spec()) {
        let d = Design::generate(&spec);
        let mut rng = Rng(spec.seed ^ 0x3C3C);
        let theta = d.random_theta(&mut rng, spec.boundary);
        let mut model = model_for(&d, spec.reml)?;
        // evaluate another θ first: the refactorisation must not depend on the previous one
        let other = d.random_theta(&mut rng, false);
        model.evaluate(&other).map_err(|e| TestCaseError::fail(format!("evaluate: {e}")))?;
        let eval = model.evaluate(&theta).map_err(|e| TestCaseError::fail(format!("evaluate: {e}")))?;
        let dense = DenseFit::compute(&d, &theta);
        let n = dense.core_n(&d);
        let p = d.p();
        prop_assert_eq!(model.n_obs() as f64, n);
        check_close!(eval.pwrss, dense.quad, 1e-9, 0.0, "pwrss vs r'V⁻¹r");
        let sum_log_w: f64 = (0..d.n()).map(|i| d.weight(i)).filter(|&w| w > 0.0).map(f64::ln).sum();
        check_close!(eval.ld_l2 - sum_log_w, dense.logdet_v, 1e-9, n, "ldL2 - Σlog w vs log|V|");
        check_close!(eval.ld_rx2, dense.logdet_xvx, 1e-9, n, "ldRX2 vs log|X'V⁻¹X|");
        check_close!(eval.deviance_ml, dense.deviance_ml(n), 1e-9, n, "deviance_ml");
        check_close!(eval.reml_criterion, dense.reml_criterion(n, p), 1e-9, n, "reml_criterion");
        check_close!(eval.objective, if spec.reml { eval.reml_criterion } else { eval.deviance_ml }, 0.0, 0.0, "objective");

        let (beta, u) = model.solution().map_err(|e| TestCaseError::fail(format!("solution: {e}")))?;
        let bscale = dense.beta.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for j in 0..p {
            check_close!(beta[j], dense.beta[j], 1e-8, bscale, "beta[{j}]");
        }
        let b = model.conditional_modes(&u);
        let lam = d.dense_lambda(&theta);
        let bu = &lam * Mat::from_fn(d.q(), 1, |i, _| u[i]);
        let uscale = dense.b.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for (t, &(u0, k, levels, _, _)) in d.layout().iter().enumerate() {
            prop_assert_eq!(b[t].len(), levels * k);
            for l in 0..levels {
                for a in 0..k {
                    let j = u0 + l * k + a;
                    check_close!(b[t][l * k + a], dense.b[j], 1e-8, uscale, "b term {t} level {l} col {a}");
                    check_close!(bu[(j, 0)], dense.b[j], 1e-8, uscale, "Λû [{j}]");
                }
            }
        }
        let cv = model.unscaled_condvar().map_err(|e| TestCaseError::fail(format!("condvar: {e}")))?;
        let cscale = max_abs(&dense.condvar);
        for (t, &(u0, k, levels, _, _)) in d.layout().iter().enumerate() {
            prop_assert_eq!(cv[t].len(), levels * k * k);
            for l in 0..levels {
                for c in 0..k {
                    for r in 0..k {
                        let got = cv[t][l * k * k + c * k + r];
                        let want = dense.condvar[(u0 + l * k + r, u0 + l * k + c)];
                        check_close!(got, want, 1e-8, cscale, "condvar term {t} level {l} [{r},{c}]");
                    }
                }
            }
        }
        let vc = model.unscaled_vcov_beta().map_err(|e| TestCaseError::fail(format!("vcov: {e}")))?;
        let vscale = max_abs(&dense.vcov);
        for c in 0..p {
            for r in 0..p {
                check_close!(vc[c * p + r], dense.vcov[(r, c)], 1e-8, vscale, "vcov_beta[{r},{c}]");
            }
        }

        // estimates_at: σ̂ with the REML / ML denominators, scaled covariances, fitted values
        let mut fit = estimates_at(&mut model, &theta, false).map_err(|e| TestCaseError::fail(format!("estimates_at: {e}")))?;
        fit.attach_fitted(&model, &d.view());
        let dof = if spec.reml { n - p as f64 } else { n };
        let s2 = dense.quad / dof;
        check_close!(fit.sigma * fit.sigma, s2, 1e-9, 0.0, "sigma²");
        for c in 0..p {
            for r in 0..p {
                check_close!(fit.vcov_beta[c * p + r], s2 * dense.vcov[(r, c)], 1e-8, s2 * vscale, "σ² vcov[{r},{c}]");
            }
        }
        let zd = d.dense_z();
        let bvec = Mat::from_fn(d.q(), 1, |i, _| dense.b[i]);
        let zb = &zd * &bvec;
        let mut wrss = 0.0;
        for i in 0..d.n() {
            let want = (0..p).map(|j| d.x[(i, j)] * dense.beta[j]).sum::<f64>() + zb[(i, 0)] + d.offset.as_ref().map_or(0.0, |o| o[i]);
            check_close!(fit.fitted[i], want, 1e-8, d.y.iter().fold(0.0f64, |a, v| a.max(v.abs())), "fitted[{i}]");
            wrss += d.weight(i) * (d.y[i] - want).powi(2);
        }
        // pwrss = wrss + ‖u‖²
        check_close!(fit.wrss + fit.ussq, eval.pwrss, 1e-8, 0.0, "wrss + ussq vs pwrss");
        check_close!(fit.wrss, wrss, 1e-7, eval.pwrss, "wrss");
    }

    /// Zero-weight rows contribute nothing: the model with them equals the model with them
    /// dropped in every quantity that does not involve n; the objective differs only through
    /// the observation count (rows, including zero weights).
    #[test]
    fn zero_weight_rows_equal_dropped_rows(spec in design_spec()) {
        let mut spec = spec;
        spec.weights = WeightMode::SomeZero;
        spec.n = spec.n.max(8);
        let d = Design::generate(&spec);
        let dropped = d.drop_zero_weight_rows();
        prop_assert!(dropped.n() < d.n());
        let mut rng = Rng(spec.seed ^ 0x0F0F);
        let theta = d.random_theta(&mut rng, spec.boundary);
        let mut m_all = model_for(&d, spec.reml)?;
        let mut m_drop = model_for(&dropped, spec.reml)?;
        let e_all = m_all.evaluate(&theta).map_err(|e| TestCaseError::fail(format!("evaluate: {e}")))?;
        let e_drop = m_drop.evaluate(&theta).map_err(|e| TestCaseError::fail(format!("evaluate: {e}")))?;
        let scale = e_all.ld_l2.abs() + 1.0;
        check_close!(e_all.ld_l2, e_drop.ld_l2, 1e-10, scale, "ldL2");
        check_close!(e_all.ld_rx2, e_drop.ld_rx2, 1e-10, scale, "ldRX2");
        check_close!(e_all.pwrss, e_drop.pwrss, 1e-10, 0.0, "pwrss");
        let (b_all, u_all) = m_all.solution().unwrap();
        let (b_drop, u_drop) = m_drop.solution().unwrap();
        for j in 0..b_all.len() {
            check_close!(b_all[j], b_drop[j], 1e-9, 1.0, "beta[{j}]");
        }
        for j in 0..u_all.len() {
            check_close!(u_all[j], u_drop[j], 1e-9, 1.0, "u[{j}]");
        }
        let (na, nd) = (d.n() as f64, dropped.n() as f64);
        let expect = |n: f64| e_all.ld_l2 - (0..d.n()).map(|i| d.weight(i)).filter(|&w| w > 0.0).map(f64::ln).sum::<f64>()
            + n * (1.0 + LOG_2PI + (e_all.pwrss / n).ln());
        check_close!(e_drop.deviance_ml, expect(nd), 1e-10, nd, "dropped-rows deviance");
        let n_core = if N_COUNTS_ZERO_WEIGHT_ROWS { na } else { nd };
        check_close!(e_all.deviance_ml, expect(n_core), 1e-10, na, "zero-weight deviance uses n = {n_core}");
    }

    /// Property 5: the objective and the estimates do not change when the rows are permuted
    /// or the levels of a term are relabelled (b follows the relabelling).
    #[test]
    fn invariant_under_row_permutation_and_relabelling(spec in design_spec()) {
        let d = Design::generate(&spec);
        let mut rng = Rng(spec.seed ^ 0x7777);
        let theta = d.random_theta(&mut rng, spec.boundary);
        let mut order: Vec<usize> = (0..d.n()).collect();
        rng.shuffle(&mut order);
        let mut d2 = d.permute_rows(&order);
        let mut relabel: Vec<Vec<usize>> = Vec::new();
        for t in 0..d2.codes.len() {
            let mut pi: Vec<usize> = (0..d2.n_levels[t]).collect();
            rng.shuffle(&mut pi);
            for c in d2.codes[t].iter_mut() {
                *c = pi[*c as usize] as i64;
            }
            relabel.push(pi);
        }
        let mut m1 = model_for(&d, spec.reml)?;
        let mut m2 = model_for(&d2, spec.reml)?;
        let e1 = m1.evaluate(&theta).map_err(|e| TestCaseError::fail(format!("evaluate: {e}")))?;
        let e2 = m2.evaluate(&theta).map_err(|e| TestCaseError::fail(format!("evaluate: {e}")))?;
        let n = d.n() as f64;
        check_close!(e2.objective, e1.objective, 1e-10, n, "objective");
        check_close!(e2.deviance_ml, e1.deviance_ml, 1e-10, n, "deviance_ml");
        check_close!(e2.reml_criterion, e1.reml_criterion, 1e-10, n, "reml_criterion");
        let (beta1, u1) = m1.solution().unwrap();
        let (beta2, u2) = m2.solution().unwrap();
        let bs = beta1.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for j in 0..beta1.len() {
            check_close!(beta2[j], beta1[j], 1e-9, bs, "beta[{j}]");
        }
        let b1 = m1.conditional_modes(&u1);
        let b2 = m2.conditional_modes(&u2);
        let cv1 = m1.unscaled_condvar().unwrap();
        let cv2 = m2.unscaled_condvar().unwrap();
        let us = b1.iter().flatten().fold(0.0f64, |a, v| a.max(v.abs()));
        for (t, &(_, k, levels, _, _)) in d.layout().iter().enumerate() {
            for l in 0..levels {
                let l2 = relabel[t][l];
                for a in 0..k {
                    check_close!(b2[t][l2 * k + a], b1[t][l * k + a], 1e-9, us, "b term {t} level {l}->{l2}");
                }
                for e in 0..k * k {
                    check_close!(cv2[t][l2 * k * k + e], cv1[t][l * k * k + e], 1e-9, 1.0, "condvar term {t} level {l}->{l2}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// A non-finite θ start is invalid input for `fit_lmm` (it used to be clamped silently:
    /// NaN on a diagonal became the bound 0, elsewhere the fit ran and failed as a
    /// numerical error); a non-finite θ is invalid input for `evaluate`.
    #[test]
    fn non_finite_theta_is_invalid_input(spec in design_spec(), pos in any::<prop::sample::Index>(), bad in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)]) {
        let d = Design::generate(&spec);
        let mut model = model_for(&d, spec.reml)?;
        let mut theta = model.random_effects.start();
        let i = pos.index(theta.len());
        theta[i] = bad;
        let options = FitOptions { theta_start: Some(theta.clone()), ..Default::default() };
        prop_assert!(matches!(fit_lmm(&mut model, &options), Err(MerxError::InvalidInput(_))), "fit_lmm with theta_start[{i}] = {bad}");
        prop_assert!(matches!(model.evaluate(&theta), Err(MerxError::InvalidInput(_))), "evaluate with theta[{i}] = {bad}");
        theta.push(1.0);
        prop_assert!(matches!(model.evaluate(&theta), Err(MerxError::InvalidInput(_))), "evaluate with a θ one too long");
    }
}

/// A fixed case pinning the zero-weight convention with numbers one can recompute by hand:
/// (1 | g) with two groups, θ = 1, one zero-weight row.
#[test]
fn zero_weight_row_is_as_if_dropped() {
    let x = Mat::from_fn(6, 1, |_, _| 1.0);
    let y = vec![1.0, 2.0, 4.0, 3.0, 7.0, 100.0];
    let codes = vec![0i64, 0, 0, 1, 1, 1];
    let z = Mat::from_fn(6, 1, |_, _| 1.0);
    let w = vec![1.0, 1.0, 1.0, 1.0, 1.0, 0.0];
    let data = ModelData {
        x: x.as_ref(),
        y: &y,
        terms: vec![TermData::new(&codes, 2, z.as_ref())],
        weights: Some(&w),
        offset: None,
    };
    let mut m = LinearMixedModel::new(&data, false).unwrap();
    let e = m.evaluate(&[1.0]).unwrap();
    assert_eq!(m.n(), 6);
    assert_eq!(m.n_obs(), 5);
    let d = Design {
        x: x.clone(),
        y: y.clone(),
        codes: vec![codes.clone()],
        n_levels: vec![2],
        z: vec![z.clone()],
        correlated: vec![true],
        weights: Some(w.clone()),
        offset: None,
    };
    let dense = DenseFit::compute(&d, &[1.0]);
    assert_eq!(dense.n_pos, 5);
    // n is the number of rows with positive weight: the zero-weight row is as if dropped.
    assert!((e.deviance_ml - dense.deviance_ml(5.0)).abs() < 1e-10);
    assert!((e.deviance_ml - dense.deviance_ml(6.0)).abs() > 1e-3);
    // the response of the zero-weight row has no influence at all
    let mut y2 = y.clone();
    y2[5] = -1e6;
    let data2 = ModelData { y: &y2, ..data.clone() };
    let mut m2 = LinearMixedModel::new(&data2, false).unwrap();
    assert_eq!(m2.evaluate(&[1.0]).unwrap(), e);
}
