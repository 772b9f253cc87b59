//! Fitting by the Laplace approximation: all outer parameters (θ, β, β_zi, β_d) by BOBYQA
//! over the Laplace objective (each evaluation warm-started from the last modes), from β of
//! the fixed-effects model; then Newton steps from central differences polish the optimum,
//! and the inverse of that Hessian is the covariance of the parameters (glmmTMB's
//! `sdreport`'s `cov.fixed`, whose β blocks do not depend on θ's parametrisation).

use super::dense::{cholesky, cholesky_solve, spd_inverse};
use super::model::LaplaceModel;
use super::Predictors;
use crate::data::ModelData;
use crate::error::{MerxError, Result};
use crate::optimize::{minimize, Objective, OptimizerMethod, OptimizerSettings};
use crate::params::ParameterVector;

/// The relative step of the central differences (gradient and Hessian).
pub const DIFFERENCE_STEP: f64 = 1e-3;

#[derive(Clone, Debug)]
pub struct LaplaceFitOptions {
    /// The outer parameters to start from (θ, β, β_zi, β_d); None: θ the core's start, β from
    /// the fixed-effects model, β_zi and β_d zero.
    pub start: Option<Vec<f64>>,
    pub max_fun: Option<usize>,
    pub rho_end: f64,
    /// Newton steps after BOBYQA, at most.
    pub newton_steps: usize,
    /// Evaluation count and cancellation shared with a watcher (Ctrl-C in Python).
    pub control: Option<crate::optimize::FitControl>,
    /// The covariance of the parameters (a Hessian by differences).
    pub vcov: bool,
    /// The relative step of the differences.
    pub step: f64,
    /// Optimise (default); false: the quantities at `start` (an optimum found elsewhere,
    /// such as a linear mixed model's), the covariance included.
    pub optimize: bool,
}

impl Default for LaplaceFitOptions {
    fn default() -> Self {
        LaplaceFitOptions {
            start: None,
            max_fun: None,
            rho_end: 1e-5,
            newton_steps: 3,
            control: None,
            vcov: true,
            step: DIFFERENCE_STEP,
            optimize: true,
        }
    }
}

/// The quantities at the optimum.
#[derive(Clone, Debug)]
pub struct LaplaceFit {
    /// (θ, β, β_zi, β_d).
    pub params: Vec<f64>,
    pub n_theta: usize,
    pub p: usize,
    pub p_zi: usize,
    pub p_disp: usize,
    /// -log L.
    pub objective: f64,
    pub u: Vec<f64>,
    /// b = Λu per term, level-major (L × k).
    pub b: Vec<Vec<f64>>,
    /// Xβ + offset + Zb.
    pub eta: Vec<f64>,
    /// Xβ + offset.
    pub eta_fixed: Vec<f64>,
    /// g⁻¹(η).
    pub mu: Vec<f64>,
    /// Zero-inflation probabilities (empty without zero inflation).
    pub pz: Vec<f64>,
    /// φ per row (empty without dispersion).
    pub phi: Vec<f64>,
    /// The family's conditional variance at μ and φ (without zero inflation).
    pub variance: Vec<f64>,
    /// Per term, per level: the k × k block (column-major) of the covariance of b̂, as TMB's
    /// `sdreport` (glmmTMB's `ranef(condVar = TRUE)`): Λ H(û)⁻¹ Λ' (b given y and the
    /// parameters) plus J V J' with J = ∂b̂/∂(parameters) by central differences and V their
    /// covariance (without `cov`: the first part only; empty where H(û) could not be factored).
    pub condvar: Vec<Vec<f64>>,
    /// The covariance of the parameters (row-major, n_params²; NaN rows and columns for a
    /// parameter on its bound), when asked for and positive definite.
    pub cov: Option<Vec<f64>>,
    /// Why the covariance is missing, if it is.
    pub cov_message: String,
    pub n_eval: usize,
    pub converged: bool,
    pub message: String,
}

/// û at a point x and ∂û/∂x over the free parameters.
struct ModePrediction {
    x: Vec<f64>,
    u: Vec<f64>,
    free: Vec<usize>,
    jacobian: Vec<Vec<f64>>,
}

impl ModePrediction {
    fn at(outer: &mut Outer, x: &[f64], free: &[usize], h: &[f64]) -> Result<Self> {
        let mut jacobian = Vec::with_capacity(free.len());
        let mut y = x.to_vec();
        for &i in free {
            y[i] = x[i] + h[i];
            let up = outer.modes_u(&y)?;
            y[i] = x[i] - h[i];
            let down = outer.modes_u(&y)?;
            y[i] = x[i];
            jacobian.push(up.iter().zip(&down).map(|(a, b)| (a - b) / (2.0 * h[i])).collect());
        }
        let u = outer.modes_u(x)?;
        Ok(ModePrediction { x: x.to_vec(), u, free: free.to_vec(), jacobian })
    }
}

struct Outer<'a, 'd> {
    model: &'a mut LaplaceModel,
    data: &'a ModelData<'d>,
    n_eval: usize,
}

impl Outer<'_, '_> {
    fn eval(&mut self, x: &[f64]) -> Result<f64> {
        self.n_eval += 1;
        let (theta, beta, zi, disp) = self.model.split(x);
        let pred = self.model.predictors(self.data, beta, zi, disp);
        Ok(self.model.laplace_at(self.data, theta, &pred)?.objective)
    }
}

impl Outer<'_, '_> {
    /// û at x.
    fn modes_u(&mut self, x: &[f64]) -> Result<Vec<f64>> {
        self.n_eval += 1;
        let (theta, beta, zi, disp) = self.model.split(x);
        let pred = self.model.predictors(self.data, beta, zi, disp);
        Ok(self.model.laplace_at(self.data, theta, &pred)?.u)
    }

    /// The objective at y with the modes started from their linear prediction from x
    /// (û(x) + Σ ∂û/∂x_i (y_i - x_i)): one Newton step fewer for the differences' points.
    fn eval_predicted(&mut self, y: &[f64], prediction: Option<&ModePrediction>) -> Result<f64> {
        if let Some(p) = prediction {
            let mut u = p.u.clone();
            for (col, &i) in p.jacobian.iter().zip(&p.free) {
                let d = y[i] - p.x[i];
                if d != 0.0 {
                    for (a, j) in u.iter_mut().zip(col) {
                        *a += j * d;
                    }
                }
            }
            self.model.set_mode_start(&u);
        }
        self.eval(y)
    }

    /// b̂ = Λ(θ)û at x, all terms' level-major blocks in one vector.
    fn modes_b(&mut self, x: &[f64]) -> Result<Vec<f64>> {
        self.n_eval += 1;
        let (theta, beta, zi, disp) = self.model.split(x);
        let pred = self.model.predictors(self.data, beta, zi, disp);
        let sol = self.model.laplace_at(self.data, theta, &pred)?;
        Ok(self.model.lmm.conditional_modes_at(theta, &sol.u).concat())
    }
}

impl Objective for Outer<'_, '_> {
    fn value(&mut self, x: &[f64]) -> f64 {
        self.eval(x).unwrap_or(f64::INFINITY)
    }
    fn value_and_gradient(&mut self, _x: &[f64], _g: &mut [f64]) -> f64 {
        f64::INFINITY
    }
}

impl LaplaceModel {
    /// β of the fixed-effects model (no random effects or zero inflation, φ = 1) by Newton
    /// steps from the least-squares fit of the linked starting μ.
    pub fn fixed_effects_start(&mut self, data: &ModelData) -> Vec<f64> {
        let (n, p) = (self.y.len(), self.p());
        let eta0: Vec<f64> = self.y.iter().map(|&y| self.link.link(self.density.mu_start(y))).collect();
        let mut xtx = vec![0.0; p * p];
        let mut xte = vec![0.0; p];
        for i in 0..n {
            for a in 0..p {
                xte[a] += data.x[(i, a)] * eta0[i];
                for b in 0..p {
                    xtx[a * p + b] += data.x[(i, a)] * data.x[(i, b)];
                }
            }
        }
        let Some(l) = cholesky(&xtx, p) else { return vec![0.0; p] };
        let mut beta = cholesky_solve(&l, p, &xte);
        let phi = if self.density.has_dispersion() { vec![1.0; n] } else { Vec::new() };
        self.refresh_constants(&Predictors { fixed: Vec::new(), pz: Vec::new(), phi: phi.clone() });
        let loglik = |beta: &[f64]| -> (f64, Vec<f64>, Vec<f64>) {
            let pred = Predictors { fixed: crate::pirls::offset_plus_x_beta(data, beta), pz: Vec::new(), phi: phi.clone() };
            let (mut ll, mut g, mut h) = (0.0, vec![0.0; p], vec![0.0; p * p]);
            for i in 0..n {
                let r = self.row(i, pred.fixed[i], &pred);
                ll += r.value;
                let w = r.second.abs().max(1e-12);
                for a in 0..p {
                    g[a] += data.x[(i, a)] * r.first;
                    for b in 0..p {
                        h[a * p + b] += w * data.x[(i, a)] * data.x[(i, b)];
                    }
                }
            }
            (ll, g, h)
        };
        let (mut ll, mut g, mut h) = loglik(&beta);
        if !ll.is_finite() {
            return vec![0.0; p];
        }
        for _ in 0..50 {
            let Some(l) = cholesky(&h, p) else { break };
            let step = cholesky_solve(&l, p, &g);
            let mut t = 1.0;
            let mut moved = false;
            for _ in 0..30 {
                let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b + t * s).collect();
                let (ll_t, g_t, h_t) = loglik(&trial);
                if ll_t.is_finite() && ll_t >= ll {
                    moved = ll_t - ll > 1e-12 * (1.0 + ll.abs());
                    (beta, ll, g, h) = (trial, ll_t, g_t, h_t);
                    break;
                }
                t *= 0.5;
            }
            if !moved {
                break;
            }
        }
        beta
    }

    /// Fits the model by the Laplace approximation.
    pub fn fit(&mut self, data: &ModelData, options: &LaplaceFitOptions) -> Result<LaplaceFit> {
        let n_params = self.n_params();
        let theta_params = self.lmm.parameters(None)?;
        let mut lower = theta_params.lower.clone();
        let mut upper = theta_params.upper.clone();
        lower.resize(n_params, f64::NEG_INFINITY);
        upper.resize(n_params, f64::INFINITY);
        let start = match &options.start {
            Some(s) if s.len() == n_params => s.clone(),
            Some(s) => return Err(MerxError::InvalidInput(format!("start has {} values but the model has {n_params} parameters", s.len()))),
            None => {
                let mut s = theta_params.values.clone();
                s.extend(self.fixed_effects_start(data));
                s.resize(n_params, 0.0);
                s
            }
        };
        let names: Vec<String> = (0..n_params).map(|i| format!("x{i}")).collect();
        let params = ParameterVector::new(names, start, lower.clone(), upper.clone())?;
        let settings = OptimizerSettings {
            method: OptimizerMethod::Bobyqa,
            rho_end: options.rho_end,
            max_fun: options.max_fun,
            control: options.control.clone(),
            ..Default::default()
        };
        self.warm_start = true;
        let mut outer = Outer { model: self, data, n_eval: 0 };
        let (mut x, mut f, mut converged, mut message) = if options.optimize {
            let report = minimize(&mut outer, &params, &settings, false)?;
            (report.theta, report.objective, report.converged, report.message)
        } else {
            let x = params.values.clone();
            let f = outer.eval(&x)?;
            (x, f, true, "evaluated at the given parameters".to_string())
        };
        let newton_steps = if options.optimize { options.newton_steps } else { 0 };
        // Parameters on (or within two steps of) a bound are held in the differences.
        let h: Vec<f64> = x.iter().map(|v| options.step * v.abs().max(1.0)).collect();
        let free: Vec<usize> = (0..n_params).filter(|&i| x[i] - lower[i] > 2.0 * h[i] && upper[i] - x[i] > 2.0 * h[i]).collect();
        let mut cov = None;
        let mut cov_message = String::new();
        if options.vcov || newton_steps > 0 {
            let mut hess = hessian(&mut outer, &x, f, &free, &h)?;
            let hess_at = x.clone();
            let m = free.len();
            // Newton steps from central-difference gradients, until one would move no
            // parameter by more than 1e-4 standard errors (that step is not taken).
            let mut worst = f64::INFINITY;
            let polish = if options.optimize { cholesky(&hess, m).zip(spd_inverse(&hess, m)) } else { None };
            if let Some((l, inv)) = polish {
                for step in 0..=newton_steps {
                    let g = gradient(&mut outer, &x, &free, &h)?;
                    let delta = cholesky_solve(&l, m, &g);
                    worst = (0..m).map(|a| delta[a].abs() / inv[a * m + a].sqrt()).fold(0.0f64, f64::max);
                    if worst < 1e-4 || step == newton_steps {
                        break;
                    }
                    let mut trial = x.clone();
                    for (j, &i) in free.iter().enumerate() {
                        trial[i] = (x[i] - delta[j]).clamp(lower[i], upper[i]);
                    }
                    let f_trial = outer.eval(&trial).unwrap_or(f64::INFINITY);
                    if !(f_trial <= f) {
                        break;
                    }
                    x = trial;
                    f = f_trial;
                }
            }
            // The covariance is the inverse Hessian at the optimum: again where the Newton
            // steps moved the point by more than a tenth of the differences' step.
            if free.iter().any(|&i| (x[i] - hess_at[i]).abs() > 0.1 * h[i]) {
                hess = hessian(&mut outer, &x, f, &free, &h)?;
            }
            match spd_inverse(&hess, m) {
                Some(inv) => {
                    if options.optimize && worst > 1e-2 {
                        converged = false;
                        message = format!("{message}; a Newton step from the optimum moves a parameter by {worst:.3} standard errors");
                    }
                    let mut full = vec![f64::NAN; n_params * n_params];
                    for (a, &i) in free.iter().enumerate() {
                        for (b, &j) in free.iter().enumerate() {
                            full[i * n_params + j] = inv[a * m + b];
                        }
                    }
                    cov = Some(full);
                }
                None => {
                    converged = false;
                    cov_message = "the Hessian of the negative log-likelihood at the optimum is not positive definite".into();
                    message = format!("{message}; {cov_message}");
                }
            }
        }
        // ∂b̂/∂x over the free parameters (for the covariance of b̂).
        let mut jacobian: Vec<Vec<f64>> = Vec::new();
        if cov.is_some() {
            let h: Vec<f64> = x.iter().map(|v| options.step * v.abs().max(1.0)).collect();
            for &i in &free {
                let mut y = x.clone();
                y[i] = x[i] + h[i];
                let up = outer.modes_b(&y)?;
                y[i] = x[i] - h[i];
                let down = outer.modes_b(&y)?;
                jacobian.push(up.iter().zip(&down).map(|(a, b)| (a - b) / (2.0 * h[i])).collect());
            }
        }
        let n_eval = outer.n_eval;
        // The state at the optimum.
        let (theta, beta, zi, disp) = self.split(&x);
        let theta = theta.to_vec();
        let pred = self.predictors(data, beta, zi, disp);
        let sol = self.laplace_at(data, &theta, &pred)?;
        let b = self.lmm.conditional_modes_at(&theta, &sol.u);
        let exact: Vec<f64> = (0..sol.eta.len()).map(|i| -self.row(i, sol.eta[i], &pred).second).collect();
        let mut condvar = match self.lmm.factor_for_weights(data, &theta, &exact) {
            Ok(()) => self.lmm.unscaled_condvar().unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        if let (Some(c), false) = (&cov, condvar.is_empty()) {
            // + J V J' on each level's block (b level-major per term, terms in order).
            let np = x.len();
            let mut offset = 0;
            for (t, term) in self.lmm.random_effects.terms.iter().enumerate() {
                let k = term.k;
                for l in 0..term.n_levels {
                    for a in 0..k {
                        for bb in 0..k {
                            let (ra, rb) = (offset + l * k + a, offset + l * k + bb);
                            let mut v = 0.0;
                            for (p1, &i) in free.iter().enumerate() {
                                for (p2, &j) in free.iter().enumerate() {
                                    v += jacobian[p1][ra] * c[i * np + j] * jacobian[p2][rb];
                                }
                            }
                            condvar[t][l * k * k + bb * k + a] += v;
                        }
                    }
                }
                offset += term.n_levels * k;
            }
        }
        let mu: Vec<f64> = sol.eta.iter().map(|&e| self.link.inverse(e)).collect();
        let variance: Vec<f64> = (0..mu.len())
            .map(|i| self.density.variance(mu[i], if pred.phi.is_empty() { f64::NAN } else { pred.phi[i] }, self.size[i]))
            .collect();
        Ok(LaplaceFit {
            n_theta: self.n_theta(),
            p: self.p(),
            p_zi: self.p_zi(),
            p_disp: self.p_disp(),
            objective: sol.objective,
            u: sol.u,
            b,
            eta: sol.eta,
            eta_fixed: pred.fixed,
            mu,
            pz: pred.pz,
            phi: pred.phi,
            variance,
            condvar,
            cov: if options.vcov { cov } else { None },
            cov_message,
            n_eval,
            converged,
            message,
            params: x,
        })
    }
}

/// The gradient over the free entries by central differences.
fn gradient(outer: &mut Outer, x: &[f64], free: &[usize], h: &[f64]) -> Result<Vec<f64>> {
    let mut g = Vec::with_capacity(free.len());
    let mut y = x.to_vec();
    for &i in free {
        y[i] = x[i] + h[i];
        let up = outer.eval(&y)?;
        y[i] = x[i] - h[i];
        let down = outer.eval(&y)?;
        y[i] = x[i];
        g.push((up - down) / (2.0 * h[i]));
    }
    Ok(g)
}

/// The Hessian over the free entries by central differences (row-major), each point's modes
/// started from their linear prediction.
fn hessian(outer: &mut Outer, x: &[f64], f0: f64, free: &[usize], h: &[f64]) -> Result<Vec<f64>> {
    let prediction = ModePrediction::at(outer, x, free, h)?;
    let p = Some(&prediction);
    let m = free.len();
    let mut hess = vec![0.0; m * m];
    let mut y = x.to_vec();
    for a in 0..m {
        let i = free[a];
        y[i] = x[i] + h[i];
        let up = outer.eval_predicted(&y, p)?;
        y[i] = x[i] - h[i];
        let down = outer.eval_predicted(&y, p)?;
        y[i] = x[i];
        hess[a * m + a] = (up - 2.0 * f0 + down) / (h[i] * h[i]);
        for b in 0..a {
            let j = free[b];
            let mut corner = |si: f64, sj: f64, y: &mut Vec<f64>| -> Result<f64> {
                y[i] = x[i] + si * h[i];
                y[j] = x[j] + sj * h[j];
                let v = outer.eval_predicted(y, p);
                y[i] = x[i];
                y[j] = x[j];
                v
            };
            let v = (corner(1.0, 1.0, &mut y)? - corner(1.0, -1.0, &mut y)? - corner(-1.0, 1.0, &mut y)? + corner(-1.0, -1.0, &mut y)?)
                / (4.0 * h[i] * h[j]);
            hess[a * m + b] = v;
            hess[b * m + a] = v;
        }
    }
    Ok(hess)
}
