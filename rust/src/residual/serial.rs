//! Serial correlation structures whose correlation between two observations of a group
//! depends only on their distance d in time and is Markov: ρ(d) = s^d · exp(λ d) with
//! λ = log|ρ(1)| ≤ 0 (s = -1 only for corAR1 with φ < 0, where d is an integer).
//!
//! Markov means that, in a group sorted by time, the inverse Cholesky factor of the
//! correlation matrix is lower bidiagonal: the whitened row i is a_i·x_i − b_i·x_{i−1}, with
//! a = 1/√(1−ρ²), b = ρ·a for ρ = ρ(d_i) (d_i the gap to the previous row), and a = 1,
//! b = 0 for a group's first row. log|R| = Σ_i log(1 − ρ(d_i)²).
//!
//! Each structure has one parameter on nlme's unconstrained scale (the optimiser's), bounded
//! so that |ρ(d)| < 1 stays representable: the objective never sees φ = ±1.

use std::fmt::Debug;

pub trait SerialCorrelation: Debug + Send + Sync {
    /// nlme's class name (`corAR1`, `corCAR1`, `corExp`).
    fn name(&self) -> &'static str;
    /// nlme's name of the natural parameter (`Phi`, `range`).
    fn parameter_name(&self) -> &'static str;
    /// The natural parameter at an unconstrained value.
    fn natural(&self, unconstrained: f64) -> f64;
    /// (λ = log|ρ(1)|, whether ρ(1) < 0) at an unconstrained value.
    fn log_decay(&self, unconstrained: f64) -> (f64, bool);
    /// nlme's starting value on the unconstrained scale.
    fn start(&self) -> f64;
    /// Bounds of the unconstrained parameter.
    fn bounds(&self) -> (f64, f64);
    /// Whether the time covariate must be integer-valued (nlme's corAR1).
    fn integer_time(&self) -> bool;
}

/// The whitening coefficients (a, b) of a row whose gap to the previous row is `gap`, and
/// log(1 − ρ²) (its term of log|R|).
pub fn lag_coefficients(log_decay: f64, negative: bool, gap: f64) -> (f64, f64, f64) {
    let one_minus_rho2 = -(2.0 * log_decay * gap).exp_m1();
    let rho_abs = (log_decay * gap).exp();
    let odd = negative && (gap.round() as i64) % 2 != 0;
    let rho = if odd { -rho_abs } else { rho_abs };
    let a = 1.0 / one_minus_rho2.sqrt();
    (a, rho * a, one_minus_rho2.ln())
}

/// nlme's corAR1: ρ(d) = φ^d for an integer time, φ ∈ (−1, 1); unconstrained
/// log((1 + φ)/(1 − φ)), so φ = tanh(u/2).
#[derive(Clone, Copy, Debug, Default)]
pub struct CorAr1;

impl SerialCorrelation for CorAr1 {
    fn name(&self) -> &'static str {
        "corAR1"
    }
    fn parameter_name(&self) -> &'static str {
        "Phi"
    }
    fn natural(&self, u: f64) -> f64 {
        (0.5 * u).tanh()
    }
    fn log_decay(&self, u: f64) -> (f64, bool) {
        // log|tanh(x)| = log1p(−e^{−2|x|}) − log1p(e^{−2|x|}), exact also where tanh rounds to 1.
        let e = (-u.abs()).exp();
        ((-e).ln_1p() - e.ln_1p(), u < 0.0)
    }
    fn start(&self) -> f64 {
        0.0
    }
    fn bounds(&self) -> (f64, f64) {
        (-30.0, 30.0)
    }
    fn integer_time(&self) -> bool {
        true
    }
}

/// nlme's corCAR1: ρ(d) = φ^d for a continuous time, φ ∈ (0, 1); unconstrained
/// log(φ/(1 − φ)).
#[derive(Clone, Copy, Debug, Default)]
pub struct CorCar1;

impl SerialCorrelation for CorCar1 {
    fn name(&self) -> &'static str {
        "corCAR1"
    }
    fn parameter_name(&self) -> &'static str {
        "Phi"
    }
    fn natural(&self, u: f64) -> f64 {
        1.0 / (1.0 + (-u).exp())
    }
    fn log_decay(&self, u: f64) -> (f64, bool) {
        // log φ = −log(1 + e^{−u}).
        (-(-u).exp().ln_1p(), false)
    }
    fn start(&self) -> f64 {
        // nlme's default value φ = 0.2.
        (0.2f64 / 0.8).ln()
    }
    fn bounds(&self) -> (f64, f64) {
        (-30.0, 30.0)
    }
    fn integer_time(&self) -> bool {
        false
    }
}

/// nlme's corExp without nugget: ρ(d) = exp(−d/range), range > 0; unconstrained log(range).
/// The same Markov structure as corCAR1 with φ = exp(−1/range).
#[derive(Clone, Copy, Debug, Default)]
pub struct CorExp {
    /// nlme's start: 0.1 × the smallest distance between two rows of a group (> 0).
    pub start_range: f64,
}

impl SerialCorrelation for CorExp {
    fn name(&self) -> &'static str {
        "corExp"
    }
    fn parameter_name(&self) -> &'static str {
        "range"
    }
    fn natural(&self, u: f64) -> f64 {
        u.exp()
    }
    fn log_decay(&self, u: f64) -> (f64, bool) {
        (-(-u).exp(), false)
    }
    fn start(&self) -> f64 {
        self.start_range.ln()
    }
    fn bounds(&self) -> (f64, f64) {
        let s = self.start();
        (s - 30.0, s + 30.0)
    }
    fn integer_time(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_coefficients_whiten_a_pair() {
        // [1 ρ; ρ 1] whitened by [1 0; −b a] is the identity.
        for (c, u, gap) in [(&CorAr1 as &dyn SerialCorrelation, -1.3, 3.0), (&CorAr1, 0.8, 2.0), (&CorCar1, 0.4, 0.37), (&CorExp { start_range: 0.1 }, 0.2, 1.7)] {
            let (l, neg) = c.log_decay(u);
            let (a, b, log_term) = lag_coefficients(l, neg, gap);
            let rho = match c.name() {
                "corExp" => (-gap / c.natural(u)).exp(),
                _ => c.natural(u).powf(gap),
            };
            // Var(a x2 − b x1) = a² − 2ab ρ + b² = 1 and Cov(x1, a x2 − b x1) = aρ − b = 0.
            assert!((a * a - 2.0 * a * b * rho + b * b - 1.0).abs() < 1e-12, "{}", c.name());
            assert!((a * rho - b).abs() < 1e-12, "{}", c.name());
            assert!((log_term - (1.0 - rho * rho).ln()).abs() < 1e-12);
        }
        // At the bound the coefficients stay finite.
        let (l, neg) = CorAr1.log_decay(30.0);
        let (a, b, t) = lag_coefficients(l, neg, 1.0);
        assert!(a.is_finite() && b.is_finite() && t.is_finite());
    }
}
