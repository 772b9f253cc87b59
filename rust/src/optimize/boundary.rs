//! The second-order check at a boundary optimum.
//!
//! A variance parameter at its bound (a diagonal entry of a template at 0) is where the
//! profiled objective is often even: for a scalar term f(θ) = f(-θ), and for a vector
//! term the same holds in the last diagonal entry of its template. Its derivative there is
//! exactly zero, so a first-order test (a gradient that does not point inward, a model
//! that predicts no decrease) takes the point for a minimum even when f dips just inside,
//! where a small positive variance fits better. A step h inward changes such a function
//! only by O(h²), so the check probes each parameter on a bound at steps from 10⁻⁴ to 0.3
//! (on θ's scale: relative standard deviations), smallest first, and reports the first
//! point that lowers f by more than the rounding level; the caller restarts from there.

/// Probe steps, in units of θ (relative standard deviations and correlations).
const STEPS: [f64; 8] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3];

/// A parameter within this distance of a bound counts as on it.
const ON_BOUND: f64 = 1e-7;

/// What the probe found.
pub struct Probe {
    /// A point inside the box with a lower objective, and that objective.
    pub better: Option<(Vec<f64>, f64)>,
    pub n_eval: usize,
}

/// Probes inward from every coordinate of `x` that sits on a bound.
pub fn probe_inward<F: FnMut(&[f64]) -> f64>(f: &mut F, x: &[f64], fx: f64, lower: &[f64], upper: &[f64]) -> Probe {
    let tol = 1e-12 * fx.abs().max(1.0);
    let mut n_eval = 0;
    let mut trial = x.to_vec();
    for i in 0..x.len() {
        let width = upper[i] - lower[i];
        let direction = if x[i] - lower[i] <= ON_BOUND {
            1.0
        } else if upper[i] - x[i] <= ON_BOUND {
            -1.0
        } else {
            continue;
        };
        let from = if direction > 0.0 { lower[i] } else { upper[i] };
        for h in STEPS {
            if h >= width {
                break;
            }
            trial[i] = from + direction * h;
            n_eval += 1;
            let ft = f(&trial);
            if ft.is_finite() && ft < fx - tol {
                return Probe { better: Some((trial, ft)), n_eval };
            }
        }
        trial[i] = x[i];
    }
    Probe { better: None, n_eval }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_dip_of_an_even_function_and_accepts_a_true_boundary_minimum() {
        // f(θ) = θ⁴ - 2·0.05²θ²: zero gradient at 0, minimum at 0.05.
        let mut dip = |x: &[f64]| x[0].powi(4) - 2.0 * 0.0025 * x[0] * x[0] + 100.0;
        let p = probe_inward(&mut dip, &[0.0], 100.0, &[0.0], &[f64::INFINITY]);
        let (pt, fp) = p.better.expect("the dip is found");
        assert!(pt[0] > 0.0 && fp < 100.0);
        // f(θ) = θ² + 100: the bound is the minimum; every step is probed, none is better.
        let mut bowl = |x: &[f64]| x[0] * x[0] + 100.0;
        let p = probe_inward(&mut bowl, &[0.0], 100.0, &[0.0], &[f64::INFINITY]);
        assert!(p.better.is_none());
        assert_eq!(p.n_eval, STEPS.len());
        // An upper bound is probed downward; an interior coordinate is not probed.
        let mut up = |x: &[f64]| -(x[0] - 0.9).powi(2) * 0.0 + (x[0] - 0.97).powi(2) + x[1] * x[1];
        let p = probe_inward(&mut up, &[1.0, 0.5], (0.03f64).powi(2) + 0.25, &[-1.0, 0.0], &[1.0, 2.0]);
        assert_eq!(p.better.expect("inside is lower").0[1], 0.5);
    }
}
