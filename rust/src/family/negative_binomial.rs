//! The negative binomial family with shape θ (MASS's `negative.binomial(theta)`, glmmTMB's
//! `nbinom2`): Var(y) = μ + μ²/θ. `glmer_nb` estimates θ with the other parameters; here it
//! is a value of the family, replaced through [`Family::with_shape`].

use super::{y_log_y, Family, Link};
use crate::error::{invalid, Result};

#[derive(Clone, Copy, Debug)]
pub struct NegativeBinomial {
    link: Link,
    shape: f64,
}

impl NegativeBinomial {
    pub fn new(link: Link, shape: f64) -> Result<Self> {
        if !(shape.is_finite() && shape > 0.0) {
            return invalid(format!("the negative binomial shape (theta) must be finite and positive, not {shape}"));
        }
        Ok(NegativeBinomial { link, shape })
    }
}

impl Family for NegativeBinomial {
    fn name(&self) -> &'static str {
        "negative_binomial"
    }

    fn link(&self) -> Link {
        self.link
    }

    fn variance(&self, mu: f64) -> f64 {
        mu + mu * mu / self.shape
    }

    /// MASS: 2 w (y log(max(1, y)/μ) - (y + θ) log((y + θ)/(μ + θ))).
    fn deviance_residual(&self, y: f64, mu: f64, w: f64) -> f64 {
        let t = self.shape;
        2.0 * w * (y_log_y(y, mu) - (y + t) * ((y + t) / (mu + t)).ln())
    }

    /// -2 Σ w log p(y | μ, θ) with p the negative binomial probability.
    fn saturated_minus_twice_log_likelihood(&self, y: &[f64], w: &[f64]) -> Option<f64> {
        Some(self.minus_twice_log_likelihood(y, y, w))
    }

    fn minus_twice_log_likelihood(&self, y: &[f64], mu: &[f64], w: &[f64]) -> f64 {
        let t = self.shape;
        let mut s = 0.0;
        for i in 0..y.len() {
            if w[i] == 0.0 {
                continue;
            }
            let log_p = libm::lgamma(y[i] + t) - libm::lgamma(t) - libm::lgamma(y[i] + 1.0) + t * (t / (mu[i] + t)).ln()
                + if y[i] > 0.0 { y[i] * (mu[i] / (mu[i] + t)).ln() } else { 0.0 };
            s += w[i] * log_p;
        }
        -2.0 * s
    }

    /// MASS: y + (y = 0)/6.
    fn mu_start(&self, y: f64, _w: f64) -> f64 {
        y + if y == 0.0 { 1.0 / 6.0 } else { 0.0 }
    }

    fn check_response(&self, y: &[f64], _w: &[f64]) -> Result<()> {
        if let Some(i) = y.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return invalid(format!("a negative binomial response is a non-negative count; row {i} has {}", y[i]));
        }
        Ok(())
    }

    /// With the log link: θμ(y + θ)/(μ + θ)² (the expected one is θμ/(μ + θ)).
    fn observed_weight(&self, y: f64, eta: f64, w: f64) -> f64 {
        let mu = self.link.inverse(eta);
        let t = self.shape;
        match self.link {
            Link::Log => w * t * mu * (y + t) / ((mu + t) * (mu + t)),
            _ => {
                let d = self.link.mu_eta(eta);
                w * d * d / self.variance(mu)
            }
        }
    }

    fn shape(&self) -> Option<f64> {
        Some(self.shape)
    }

    fn with_shape(&self, shape: f64) -> Option<Box<dyn Family>> {
        NegativeBinomial::new(self.link, shape).ok().map(|f| Box::new(f) as Box<dyn Family>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The observed weight is -∂² log p/∂η² (by differences of the log-likelihood), the
    /// deviance residual is 2(log p(y|y) - log p(y|μ)), and the expected weight is the
    /// PIRLS one.
    #[test]
    fn weights_and_deviance_follow_the_likelihood() {
        let f = NegativeBinomial::new(Link::Log, 0.8).unwrap();
        let log_p = |y: f64, eta: f64| -0.5 * f.minus_twice_log_likelihood(&[y], &[eta.exp()], &[1.0]);
        for &(y, eta) in &[(0.0, -0.5), (3.0, 0.7), (12.0, 2.0)] {
            let h = 1e-4;
            let second = (log_p(y, eta + h) - 2.0 * log_p(y, eta) + log_p(y, eta - h)) / (h * h);
            assert!((f.observed_weight(y, eta, 1.0) + second).abs() < 1e-5, "y={y}: {} vs {}", f.observed_weight(y, eta, 1.0), -second);
            let mu = eta.exp();
            let saturated = if y > 0.0 { log_p(y, y.ln()) } else { 0.0 };
            assert!((f.deviance_residual(y, mu, 1.0) - 2.0 * (saturated - log_p(y, eta))).abs() < 1e-9);
        }
        assert!(NegativeBinomial::new(Link::Log, 0.0).is_err());
        assert_eq!(f.with_shape(2.0).unwrap().shape(), Some(2.0));
    }
}
