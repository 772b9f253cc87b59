//! Link functions as R's `make.link` defines them, with the same clamping of extreme
//! values (so that μ stays strictly inside the family's range and dμ/dη stays positive).

use crate::error::{invalid, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Identity,
    Log,
    Logit,
    Probit,
    Cloglog,
    Cauchit,
    Sqrt,
    Inverse,
    InverseSquare,
}

pub(crate) const EPS: f64 = f64::EPSILON;
/// R's logit (family.c): beyond ±30 the odds are taken as ε or 1/ε.
pub(crate) const THRESH: f64 = 30.0;
pub(crate) const MTHRESH: f64 = -30.0;

fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Inverse of the standard normal CDF (Acklam's algorithm with one Halley refinement).
fn norm_quantile(p: f64) -> f64 {
    let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
    let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
    let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
    let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
    let plow = 0.02425;
    let x = if p < plow {
        let q = (-2.0 * p.ln()).sqrt();
        (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    } else if p <= 1.0 - plow {
        let q = p - 0.5;
        let r = q * q;
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    };
    let e = norm_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

impl Link {
    pub fn from_name(name: &str) -> Result<Link> {
        Ok(match name {
            "identity" => Link::Identity,
            "log" => Link::Log,
            "logit" => Link::Logit,
            "probit" => Link::Probit,
            "cloglog" => Link::Cloglog,
            "cauchit" => Link::Cauchit,
            "sqrt" => Link::Sqrt,
            "inverse" => Link::Inverse,
            "1/mu^2" => Link::InverseSquare,
            other => {
                return invalid(format!(
                    "unknown link {other:?}: use identity, log, logit, probit, cloglog, cauchit, sqrt, inverse or 1/mu^2"
                ))
            }
        })
    }

    /// R's name of the link.
    pub fn name(self) -> &'static str {
        match self {
            Link::Identity => "identity",
            Link::Log => "log",
            Link::Logit => "logit",
            Link::Probit => "probit",
            Link::Cloglog => "cloglog",
            Link::Cauchit => "cauchit",
            Link::Sqrt => "sqrt",
            Link::Inverse => "inverse",
            Link::InverseSquare => "1/mu^2",
        }
    }

    /// η = g(μ).
    pub fn link(self, mu: f64) -> f64 {
        match self {
            Link::Identity => mu,
            Link::Log => mu.ln(),
            Link::Logit => (mu / (1.0 - mu)).ln(),
            Link::Probit => norm_quantile(mu),
            Link::Cloglog => (-(1.0 - mu).ln()).ln(),
            Link::Cauchit => (std::f64::consts::PI * (mu - 0.5)).tan(),
            Link::Sqrt => mu.sqrt(),
            Link::Inverse => 1.0 / mu,
            Link::InverseSquare => 1.0 / (mu * mu),
        }
    }

    /// μ = g⁻¹(η), clamped as R's `linkinv` clamps it.
    pub fn inverse(self, eta: f64) -> f64 {
        match self {
            Link::Identity => eta,
            Link::Log => eta.exp().max(EPS),
            Link::Logit => {
                let e = if eta < MTHRESH {
                    EPS
                } else if eta > THRESH {
                    1.0 / EPS
                } else {
                    eta.exp()
                };
                e / (1.0 + e)
            }
            Link::Probit => {
                let t = -norm_quantile(EPS);
                norm_cdf(eta.clamp(-t, t))
            }
            Link::Cloglog => (-(-eta.exp()).exp_m1()).clamp(EPS, 1.0 - EPS),
            Link::Cauchit => {
                let t = -(std::f64::consts::PI * (EPS - 0.5)).tan();
                0.5 + eta.clamp(-t, t).atan() / std::f64::consts::PI
            }
            Link::Sqrt => eta * eta,
            Link::Inverse => 1.0 / eta,
            Link::InverseSquare => 1.0 / eta.sqrt(),
        }
    }

    /// dμ/dη at η.
    /// dμ/dη at η where μ = g⁻¹(η) is already known: the same value as
    /// [`mu_eta`](Self::mu_eta), without a second exponential for the logit and log links
    /// (μ(1 - μ) and μ inside R's thresholds).
    pub fn mu_eta_at(self, eta: f64, mu: f64) -> f64 {
        match self {
            Link::Logit if (MTHRESH..=THRESH).contains(&eta) => mu * (1.0 - mu),
            Link::Logit => EPS,
            Link::Log => mu.max(EPS),
            _ => self.mu_eta(eta),
        }
    }

    /// d²μ/dη², for the analytic gradient of the Laplace deviance with a non-canonical link
    /// (the derivative of the working weights). Where R's `mu.eta` is held at its floor, 0.
    pub fn mu_eta_derivative(self, eta: f64) -> f64 {
        match self {
            Link::Identity => 0.0,
            Link::Log => {
                let e = eta.exp();
                if e > EPS { e } else { 0.0 }
            }
            Link::Logit => {
                if !(MTHRESH..=THRESH).contains(&eta) {
                    return 0.0;
                }
                let mu = self.inverse(eta);
                mu * (1.0 - mu) * (1.0 - 2.0 * mu)
            }
            Link::Probit => {
                let d = norm_pdf(eta);
                if d > EPS { -eta * d } else { 0.0 }
            }
            Link::Cloglog => {
                let e = eta.min(700.0).exp();
                let d = e * (-e).exp();
                if d > EPS { d * (1.0 - e) } else { 0.0 }
            }
            Link::Cauchit => {
                let d = 1.0 / (std::f64::consts::PI * (1.0 + eta * eta));
                if d > EPS { -2.0 * eta * d / (1.0 + eta * eta) } else { 0.0 }
            }
            Link::Sqrt => 2.0,
            Link::Inverse => 2.0 / (eta * eta * eta),
            Link::InverseSquare => 0.75 * eta.powf(-2.5),
        }
    }

    pub fn mu_eta(self, eta: f64) -> f64 {
        match self {
            Link::Identity => 1.0,
            Link::Log => eta.exp().max(EPS),
            Link::Logit => {
                let opexp = 1.0 + eta.exp();
                if !(MTHRESH..=THRESH).contains(&eta) {
                    EPS
                } else {
                    eta.exp() / (opexp * opexp)
                }
            }
            Link::Probit => norm_pdf(eta).max(EPS),
            Link::Cloglog => {
                let e = eta.min(700.0);
                (e.exp() * (-e.exp()).exp()).max(EPS)
            }
            Link::Cauchit => (1.0 / (std::f64::consts::PI * (1.0 + eta * eta))).max(EPS),
            Link::Sqrt => 2.0 * eta,
            Link::Inverse => -1.0 / (eta * eta),
            Link::InverseSquare => -1.0 / (2.0 * eta.powf(1.5)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mu_eta_derivative_matches_differences() {
        let links = [Link::Identity, Link::Log, Link::Logit, Link::Probit, Link::Cloglog, Link::Cauchit, Link::Sqrt, Link::Inverse, Link::InverseSquare];
        for link in links {
            for eta in [0.3, 0.9, 1.7, 2.5] {
                let h = 1e-5;
                let want = (link.mu_eta(eta + h) - link.mu_eta(eta - h)) / (2.0 * h);
                let got = link.mu_eta_derivative(eta);
                assert!((got - want).abs() <= 1e-7 * want.abs().max(1.0), "{link:?} at {eta}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn mu_eta_from_mu_equals_mu_eta() {
        for link in [Link::Logit, Link::Log, Link::Probit, Link::Identity] {
            for eta in [-40.0, -5.0, -0.3, 0.0, 0.7, 4.0, 35.0] {
                let (mu, d) = (link.inverse(eta), link.mu_eta(eta));
                assert!((link.mu_eta_at(eta, mu) - d).abs() <= 1e-14 * d.abs().max(1e-300), "{link:?} at {eta}");
            }
        }
    }

    #[test]
    fn links_invert_and_differentiate() {
        let all = [Link::Identity, Link::Log, Link::Logit, Link::Probit, Link::Cloglog, Link::Cauchit, Link::Sqrt, Link::Inverse, Link::InverseSquare];
        for link in all {
            assert_eq!(Link::from_name(link.name()).unwrap(), link);
            for &mu in &[0.1, 0.3, 0.5, 0.8] {
                let eta = link.link(mu);
                assert!((link.inverse(eta) - mu).abs() < 1e-9, "{link:?} μ={mu}: {}", link.inverse(eta));
                let h = 1e-6;
                let fd = (link.inverse(eta + h) - link.inverse(eta - h)) / (2.0 * h);
                assert!((fd - link.mu_eta(eta)).abs() < 1e-6 * (1.0 + fd.abs()), "{link:?} μ={mu}: dμ/dη {} vs {fd}", link.mu_eta(eta));
            }
        }
        assert!(Link::from_name("logistic").is_err());
        // R: qnorm(0.975) = 1.959963984540054
        assert!((norm_quantile(0.975) - 1.959963984540054).abs() < 1e-12);
        assert!((norm_cdf(1.959963984540054) - 0.975).abs() < 1e-12);
    }
}
