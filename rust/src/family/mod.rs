//! The conditional distribution of y given the random effects.
//!
//! Gaussian with the identity link is the linear mixed model: its profiled likelihood is
//! what the penalized least squares of `pls` evaluates (σ and β profiled out,
//! [`gaussian::profiled_objective`]). The GLM families of `glmer` implement [`Family`], one
//! file each; PIRLS (`crate::pirls`) needs exactly these pieces: the link (`link.rs`), the
//! variance function, the deviance residuals, the starting μ, and the log-likelihood's
//! constants for the Laplace approximation (R's `family$aic`). The families with a
//! dispersion parameter (Gamma, inverse Gaussian, Gaussian with any link) follow lme4's
//! treatment of it, described in `dispersion.rs`.

pub mod binomial;
pub mod fastmath;
mod dispersion;
pub mod gamma;
pub mod gaussian;
pub mod gaussian_glm;
pub mod inverse_gaussian;
pub mod link;
pub mod negative_binomial;
pub mod poisson;

pub use binomial::Binomial;
pub use gamma::Gamma;
pub use gaussian::Gaussian;
pub use gaussian_glm::GaussianGlm;
pub use inverse_gaussian::InverseGaussian;
pub use link::Link;
pub use negative_binomial::NegativeBinomial;
pub use poisson::Poisson;

use crate::error::{invalid, Result};

pub trait Family: std::fmt::Debug + Send + Sync {
    /// R's family name (`"gaussian"`, `"binomial"`, ...).
    fn name(&self) -> &'static str;
    fn link(&self) -> Link;
    /// The variance function V(μ).
    fn variance(&self, mu: f64) -> f64;
    /// Deviance residual contribution of one observation with prior weight w (R's
    /// `dev.resids`, squared).
    fn deviance_residual(&self, y: f64, mu: f64, w: f64) -> f64;
    /// -2 Σ log p(yᵢ | μᵢ) with all constants, R's `family$aic` before its `+ 2 rank` (for a
    /// binomial response y is the proportion and w the trials).
    fn minus_twice_log_likelihood(&self, y: &[f64], mu: &[f64], w: &[f64]) -> f64;
    /// μ = g⁻¹(η) into `mu` and Σ d(yᵢ, μᵢ): PIRLS's per-row pass after each step.
    /// Families override it with loops of their own for their common links (no dispatch and
    /// no link match per row).
    fn mu_and_deviance(&self, eta: &[f64], y: &[f64], prior: &[f64], mu: &mut [f64]) -> f64 {
        generic_mu_and_deviance(self, eta, y, prior, mu)
    }
    /// PIRLS's working weights a μ'²/V(μ) (0 where a = 0) and working response
    /// η - offset + (y - μ)/μ' at (η, μ).
    #[allow(clippy::too_many_arguments)]
    fn working(&self, eta: &[f64], mu: &[f64], y: &[f64], prior: &[f64], offset: &[f64], weights: &mut [f64], response: &mut [f64]) {
        generic_working(self, eta, mu, y, prior, offset, weights, response)
    }
    /// -2 Σ log p(yᵢ | μᵢ = yᵢ), the saturated model's, where -2 log p(y | μ) is it plus
    /// Σ d(yᵢ, μᵢ) for every μ (an exponential family without a dispersion): the Laplace
    /// deviance then needs no pass of logarithms of its own. None where it does not split so.
    fn saturated_minus_twice_log_likelihood(&self, _y: &[f64], _w: &[f64]) -> Option<f64> {
        None
    }
    /// R's `family$initialize`: the starting μ of one observation.
    fn mu_start(&self, y: f64, w: f64) -> f64;
    /// Checks the response against the family's support; the message names the row.
    fn check_response(&self, y: &[f64], w: &[f64]) -> Result<()>;
    /// -∂² log p(y | μ(η)) / ∂η² (the observed information of one observation with prior
    /// weight w), where the Laplace approximation uses it (glmmTMB does; lme4 uses the
    /// expected information, the PIRLS weight, which is the same for canonical links).
    fn observed_weight(&self, y: f64, eta: f64, w: f64) -> f64 {
        let link = self.link();
        let mu = link.inverse(eta);
        let d = link.mu_eta(eta);
        let _ = y;
        w * d * d / self.variance(mu)
    }
    /// dV/dμ, for the analytic gradient of the Laplace deviance (None: not provided).
    fn variance_derivative(&self, _mu: f64) -> Option<f64> {
        None
    }
    /// Whether the link is the family's canonical one (then dμ/dη = V(μ), and the observed
    /// and expected information agree).
    fn canonical_link(&self) -> bool {
        false
    }
    /// The family's own shape parameter (the negative binomial θ), if it has one.
    fn shape(&self) -> Option<f64> {
        None
    }
    /// The same family with another shape (None for families without one).
    fn with_shape(&self, _shape: f64) -> Option<Box<dyn Family>> {
        None
    }
}

/// The family named `name` (R's spelling) with link `link` (None: the family's default).
pub fn family_by_name(name: &str, link: Option<&str>) -> Result<Box<dyn Family>> {
    family_with_shape(name, link, None)
}

/// As [`family_by_name`], with the shape of a family that has one (the negative binomial's
/// θ; its start when `glmer_nb` estimates it; default 1).
pub fn family_with_shape(name: &str, link: Option<&str>, shape: Option<f64>) -> Result<Box<dyn Family>> {
    let link = link.map(Link::from_name).transpose()?;
    let check = |allowed: &[Link], default: Link, family: &str| -> Result<Link> {
        match link {
            None => Ok(default),
            Some(l) if allowed.contains(&l) => Ok(l),
            Some(l) => invalid(format!(
                "link {:?} is not available for the {family} family: use {}",
                l.name(),
                allowed.iter().map(|l| l.name()).collect::<Vec<_>>().join(", ")
            )),
        }
    };
    Ok(match name {
        "binomial" => Box::new(Binomial::new(check(
            &[Link::Logit, Link::Probit, Link::Cloglog, Link::Cauchit, Link::Log],
            Link::Logit,
            "binomial",
        )?)),
        "poisson" => Box::new(Poisson::new(check(&[Link::Log, Link::Identity, Link::Sqrt], Link::Log, "poisson")?)),
        "negative_binomial" => Box::new(NegativeBinomial::new(
            check(&[Link::Log, Link::Identity, Link::Sqrt], Link::Log, "negative binomial")?,
            shape.unwrap_or(1.0),
        )?),
        "Gamma" => Box::new(Gamma::new(check(&[Link::Inverse, Link::Log, Link::Identity], Link::Inverse, "Gamma")?)),
        "inverse.gaussian" => Box::new(InverseGaussian::new(check(
            &[Link::InverseSquare, Link::Inverse, Link::Identity, Link::Log],
            Link::InverseSquare,
            "inverse.gaussian",
        )?)),
        "gaussian" => Box::new(GaussianGlm::new(check(&[Link::Inverse, Link::Log, Link::Identity], Link::Identity, "gaussian")?)),
        other => {
            return invalid(format!(
                "unknown family {other:?}: use \"binomial\", \"poisson\", \"negative_binomial\", \"Gamma\", \"inverse.gaussian\" or \"gaussian\""
            ))
        }
    })
}

/// The binomial family with R's n of each row (the trials of a `cbind(s, f)` response) kept
/// apart from the weights, for prior weights besides the trials ([`Binomial::with_trials`]).
pub fn binomial_with_trials(link: Option<&str>, trials: Vec<f64>) -> Result<Box<dyn Family>> {
    let fam = family_by_name("binomial", link)?;
    Ok(Box::new(Binomial::with_trials(fam.link(), trials)?))
}

/// [`Family::mu_and_deviance`] from the family's per-row pieces.
pub(crate) fn generic_mu_and_deviance<F: Family + ?Sized>(family: &F, eta: &[f64], y: &[f64], prior: &[f64], mu: &mut [f64]) -> f64 {
    let link = family.link();
    let mut dev = 0.0;
    for i in 0..eta.len() {
        mu[i] = link.inverse(eta[i]);
        dev += family.deviance_residual(y[i], mu[i], prior[i]);
    }
    dev
}

/// [`Family::working`] from the family's per-row pieces.
#[allow(clippy::too_many_arguments)]
pub(crate) fn generic_working<F: Family + ?Sized>(
    family: &F,
    eta: &[f64],
    mu: &[f64],
    y: &[f64],
    prior: &[f64],
    offset: &[f64],
    weights: &mut [f64],
    response: &mut [f64],
) {
    let link = family.link();
    for i in 0..eta.len() {
        let d = link.mu_eta_at(eta[i], mu[i]);
        weights[i] = if prior[i] > 0.0 { prior[i] * d * d / family.variance(mu[i]) } else { 0.0 };
        response[i] = eta[i] - offset[i] + (y[i] - mu[i]) / d;
    }
}

/// R's `ifelse(y > 0, y * log(y / mu), 0)`.
pub(crate) fn y_log_y(y: f64, mu: f64) -> f64 {
    if y > 0.0 {
        y * (y / mu).ln()
    } else {
        0.0
    }
}
