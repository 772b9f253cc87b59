//! `LaplaceModel`: a glmmTMB-style model on the linear mixed model's sparse structure. The
//! conditional linear predictor η = Xβ + ZΛ(θ)u + offset carries the random effects; the
//! zero-inflation probability (logit of X_zi β_zi) and the dispersion (log of X_d β_d) are
//! per-observation predictors of fixed effects only.
//!
//! Outer parameters, in this order: θ (the covariance parameters of the core's
//! `RandomEffects`, any structure), β, β_zi, β_d.

use super::density::{observation, ConditionalDensity, Derivatives};
use crate::data::ModelData;
use crate::error::{MerxError, Result};
use crate::family::link::Link;
use crate::pirls::offset_plus_x_beta;
use crate::pls::LinearMixedModel;
use faer::Mat;

/// The per-observation predictors that do not involve the random effects, at one point.
#[derive(Clone, Debug, Default)]
pub struct Predictors {
    /// Xβ + offset.
    pub fixed: Vec<f64>,
    /// The zero-inflation probability (empty without zero inflation).
    pub pz: Vec<f64>,
    /// φ = exp(X_d β_d) (empty for a family without dispersion).
    pub phi: Vec<f64>,
}

pub struct LaplaceModel {
    pub lmm: LinearMixedModel,
    pub density: Box<dyn ConditionalDensity>,
    pub link: Link,
    pub(crate) y: Vec<f64>,
    /// Binomial trials (1 elsewhere).
    pub(crate) size: Vec<f64>,
    /// Prior weights: multipliers of each row's log-likelihood (glmmTMB's `weights`).
    pub(crate) prior: Vec<f64>,
    pub(crate) x_zi: Mat<f64>,
    pub(crate) x_disp: Mat<f64>,
    /// The modes each evaluation starts from (the last evaluation's, with warm starts).
    pub(crate) u_start: Vec<f64>,
    pub warm_start: bool,
    /// Each row's μ-free part of log f (`log_constant`) and the φ it was computed at.
    constants: Vec<f64>,
    constants_phi: Option<Vec<f64>>,
}

impl std::fmt::Debug for LaplaceModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaplaceModel").field("density", &self.density).field("link", &self.link).finish()
    }
}

impl LaplaceModel {
    /// `data`: X of the conditional model, y, the random-effects terms and the offset
    /// (`data.weights` are ignored: the prior weights come as `prior`). `x_zi` (n × p_zi,
    /// p_zi = 0 without zero inflation) and `x_disp` (n × p_d; must be 0 columns for a family
    /// without dispersion).
    pub fn new(
        data: &ModelData,
        density: Box<dyn ConditionalDensity>,
        link: Option<Link>,
        size: Option<Vec<f64>>,
        prior: Option<Vec<f64>>,
        x_zi: Mat<f64>,
        x_disp: Mat<f64>,
    ) -> Result<Self> {
        data.validate()?;
        let n = data.n();
        let size = size.unwrap_or_else(|| vec![1.0; n]);
        let prior = prior.unwrap_or_else(|| vec![1.0; n]);
        for (what, v) in [("trials", &size), ("weights", &prior)] {
            if v.len() != n {
                return Err(MerxError::InvalidInput(format!("{what} has length {} but the response has {n}", v.len())));
            }
            if let Some(i) = v.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
                return Err(MerxError::InvalidInput(format!("{what} must be finite and non-negative; row {i} has {}", v[i])));
            }
        }
        for (what, m) in [("the zero-inflation model matrix", &x_zi), ("the dispersion model matrix", &x_disp)] {
            if m.nrows() != n {
                return Err(MerxError::InvalidInput(format!("{what} has {} rows but the response has {n}", m.nrows())));
            }
        }
        if !density.has_dispersion() && x_disp.ncols() > 0 {
            return Err(MerxError::InvalidInput(format!("the {} family has no dispersion parameter to model", density.name())));
        }
        if density.has_dispersion() && x_disp.ncols() == 0 {
            return Err(MerxError::InvalidInput(format!("the {} family needs a dispersion model (at least an intercept)", density.name())));
        }
        let zi = x_zi.ncols() > 0;
        for i in 0..n {
            if prior[i] == 0.0 {
                continue;
            }
            if let Some(msg) = density.support_error(data.y[i], size[i], zi) {
                return Err(MerxError::InvalidInput(format!("the response at row {i}: {msg}")));
            }
        }
        let lmm = LinearMixedModel::new(data, false)?;
        let q = lmm.q();
        let link = link.unwrap_or_else(|| density.default_link());
        Ok(LaplaceModel { lmm, link, y: data.y.to_vec(), size, prior, x_zi, x_disp, u_start: vec![0.0; q], warm_start: true, density, constants: Vec::new(), constants_phi: None })
    }

    pub fn n_theta(&self) -> usize {
        self.lmm.n_theta()
    }
    pub fn p(&self) -> usize {
        self.lmm.p()
    }
    pub fn p_zi(&self) -> usize {
        self.x_zi.ncols()
    }
    pub fn p_disp(&self) -> usize {
        self.x_disp.ncols()
    }
    /// The number of outer parameters.
    pub fn n_params(&self) -> usize {
        self.n_theta() + self.p() + self.p_zi() + self.p_disp()
    }

    /// (θ, β, β_zi, β_d) of an outer parameter vector.
    pub fn split<'x>(&self, x: &'x [f64]) -> (&'x [f64], &'x [f64], &'x [f64], &'x [f64]) {
        let (theta, rest) = x.split_at(self.n_theta());
        let (beta, rest) = rest.split_at(self.p());
        let (zi, disp) = rest.split_at(self.p_zi());
        (theta, beta, zi, disp)
    }

    /// The predictors of the fixed parts at (β, β_zi, β_d).
    pub fn predictors(&self, data: &ModelData, beta: &[f64], beta_zi: &[f64], beta_disp: &[f64]) -> Predictors {
        let n = self.y.len();
        let lin = |m: &Mat<f64>, b: &[f64]| -> Vec<f64> { (0..n).map(|i| (0..b.len()).map(|j| m[(i, j)] * b[j]).sum::<f64>()).collect() };
        let pz = if beta_zi.is_empty() { Vec::new() } else { lin(&self.x_zi, beta_zi).into_iter().map(|e| 1.0 / (1.0 + (-e).exp())).collect() };
        let phi = if beta_disp.is_empty() { Vec::new() } else { lin(&self.x_disp, beta_disp).into_iter().map(f64::exp).collect() };
        Predictors { fixed: offset_plus_x_beta(data, beta), pz, phi }
    }

    /// Row i's log-likelihood and its derivatives in η.
    #[inline]
    pub(crate) fn row(&self, i: usize, eta: f64, pred: &Predictors) -> Derivatives {
        let pz = if pred.pz.is_empty() { 0.0 } else { pred.pz[i] };
        let phi = if pred.phi.is_empty() { f64::NAN } else { pred.phi[i] };
        observation(self.density.as_ref(), self.link, self.y[i], eta, phi, self.size[i], pz, self.prior[i], self.constants[i])
    }

    /// The rows' μ-free parts of log f at the predictors' φ (recomputed when φ changed).
    pub(crate) fn refresh_constants(&mut self, pred: &Predictors) {
        if self.constants_phi.as_deref() == Some(pred.phi.as_slice()) {
            return;
        }
        let n = self.y.len();
        self.constants = (0..n)
            .map(|i| {
                let phi = if pred.phi.is_empty() { f64::NAN } else { pred.phi[i] };
                self.density.log_constant(self.y[i], phi, self.size[i])
            })
            .collect();
        self.constants_phi = Some(pred.phi.clone());
    }

    /// The response, trials and prior weights.
    pub fn response(&self) -> (&[f64], &[f64], &[f64]) {
        (&self.y, &self.size, &self.prior)
    }

    /// Sets the modes the next evaluation starts from.
    pub fn set_mode_start(&mut self, u: &[f64]) {
        if u.len() == self.u_start.len() {
            self.u_start.copy_from_slice(u);
        }
    }
}
