//! The Gaussian family as a GLMM family (R's `gaussian(link)` in `glmer`, for the log and
//! inverse links; the identity link is the linear mixed model of `gaussian.rs`, which lme4's
//! `glmer` hands to `lmer`). V(μ) = 1 with a dispersion σ²; see `dispersion.rs` for how
//! lme4 treats it.

use super::dispersion::weighted_rows;
use super::{Family, Link};
use crate::error::{invalid, Result};

const LOG_2PI: f64 = 1.8378770664093453;

#[derive(Clone, Copy, Debug)]
pub struct GaussianGlm {
    link: Link,
}

impl GaussianGlm {
    pub fn new(link: Link) -> Self {
        GaussianGlm { link }
    }
}

impl Family for GaussianGlm {
    fn name(&self) -> &'static str {
        "gaussian"
    }

    fn link(&self) -> Link {
        self.link
    }

    fn variance(&self, _mu: f64) -> f64 {
        1.0
    }

    fn deviance_residual(&self, y: f64, mu: f64, w: f64) -> f64 {
        w * (y - mu) * (y - mu)
    }

    /// R's `gaussian()$aic` in full, its +2 included (lme4 keeps it): with σ² = dev/n,
    /// n (1 + log(2πσ²)) + 2 - Σ log w (n and Σ log w over the rows of positive weight).
    fn minus_twice_log_likelihood(&self, y: &[f64], mu: &[f64], w: &[f64]) -> f64 {
        let n = weighted_rows(w, |_| 1.0);
        let dev = weighted_rows(w, |i| self.deviance_residual(y[i], mu[i], w[i]));
        n * (1.0 + LOG_2PI + (dev / n).ln()) + 2.0 - weighted_rows(w, |i| w[i].ln())
    }

    /// R: μ starts at y.
    fn mu_start(&self, y: f64, _w: f64) -> f64 {
        y
    }

    /// R's `gaussian()$initialize` cannot start the log link from y ≤ 0 nor the inverse
    /// link from y = 0.
    fn check_response(&self, y: &[f64], _w: &[f64]) -> Result<()> {
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return invalid(format!("the gaussian response is not finite at row {i}: {}", y[i]));
        }
        let bad = match self.link {
            Link::Log => y.iter().position(|v| *v <= 0.0),
            Link::Inverse => y.iter().position(|v| *v == 0.0),
            _ => None,
        };
        if let Some(i) = bad {
            return invalid(format!(
                "cannot start the gaussian family's {} link from the response: row {i} has {} (the {} link needs {})",
                self.link.name(),
                y[i],
                self.link.name(),
                if self.link == Link::Log { "y > 0" } else { "y != 0" }
            ));
        }
        Ok(())
    }

    fn canonical_link(&self) -> bool {
        self.link == Link::Identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R 4.2: `gaussian()$aic` on the vectors of the Gamma test, with their weights and
    /// with unit weights.
    #[test]
    fn matches_r() {
        let (y, mu, w) = ([0.5, 1.2, 3.4, 0.8, 2.2], [0.7, 1.0, 2.9, 1.1, 2.5], [1.0, 2.0, 1.0, 0.5, 1.0]);
        let f = GaussianGlm::new(Link::Log);
        assert!((f.minus_twice_log_likelihood(&y, &mu, &w) - 4.7262115213423375).abs() < 1e-12);
        assert!((f.minus_twice_log_likelihood(&y, &mu, &[1.0; 5]) - 4.775473003557396).abs() < 1e-12);
        let err = f.check_response(&[1.0, 0.0], &[1.0, 1.0]).unwrap_err().to_string();
        assert!(err.contains("row 1") && err.contains("log"), "{err}");
        assert!(GaussianGlm::new(Link::Inverse).check_response(&[1.0, -1.0], &[1.0, 1.0]).is_ok());
    }
}
