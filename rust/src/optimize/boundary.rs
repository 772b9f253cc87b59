//! The second-order check at a boundary optimum.
//!
//! A variance parameter at its bound (a diagonal entry of a template at 0) is where the
//! profiled objective is often even: for a scalar term f(θ) = f(-θ), and for a vector
//! term the same holds in the last diagonal entry of its template. Its derivative there is
//! exactly zero, so a first-order test (a gradient that does not point inward, a model
//! that predicts no decrease) takes the point for a minimum even when f dips just inside,
//! where a small positive variance fits better. A step h inward changes such a function
//! only by O(h²), so the check probes each parameter on or near a bound at distances from
//! 10⁻⁴ to 0.3 from it (on θ's scale: relative standard deviations), and reports the lowest
//! point that lowers f by more than the rounding level; the caller restarts from there.
//! "Near" matters: a quasi-Newton method can also stall a little inside the bound (θ ≈ 10⁻⁵),
//! where the slope of an even function is still negligible. Where the covariance structure
//! has another parameter vector with the same covariance at that bound (a column of an
//! unstructured template whose diagonal entry is 0 may change sign), the probe also moves
//! inward from that one: off the bound the two differ, and only one may descend.

/// Probe steps, in units of θ (relative standard deviations and correlations).
const STEPS: [f64; 8] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3];

/// A parameter within this distance of a bound is probed.
const NEAR_BOUND: f64 = 1e-2;

/// What the probe found.
pub struct Probe {
    /// A point inside the box with a lower objective, and that objective.
    pub better: Option<(Vec<f64>, f64)>,
    pub n_eval: usize,
}

/// Probes inward along every coordinate of `x` that sits on or near a bound, one
/// coordinate at a time, the others held (from `x` and from `reflections[i]` if given).
pub fn probe_inward<F: FnMut(&[f64]) -> f64>(
    f: &mut F,
    x: &[f64],
    fx: f64,
    lower: &[f64],
    upper: &[f64],
    reflections: &[Option<Vec<f64>>],
) -> Probe {
    let tol = 1e-12 * fx.abs().max(1.0);
    let mut n_eval = 0;
    let mut best: Option<(Vec<f64>, f64)> = None;
    for i in 0..x.len() {
        let width = upper[i] - lower[i];
        let (below, above) = (x[i] - lower[i], upper[i] - x[i]);
        let (from, direction, distance) = if below <= NEAR_BOUND && below <= above {
            (lower[i], 1.0, below)
        } else if above <= NEAR_BOUND {
            (upper[i], -1.0, above)
        } else {
            continue;
        };
        let origins = std::iter::once(x).chain(reflections.get(i).and_then(|r| r.as_deref()));
        for origin in origins {
            let mut trial = origin.to_vec();
            for h in STEPS {
                if h >= width {
                    break;
                }
                if h <= distance {
                    continue;
                }
                trial[i] = from + direction * h;
                n_eval += 1;
                let ft = f(&trial);
                let threshold = best.as_ref().map_or(fx - tol, |b| b.1);
                if ft.is_finite() && ft < threshold {
                    best = Some((trial.clone(), ft));
                }
            }
        }
    }
    Probe { better: best, n_eval }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_dip_of_an_even_function_and_accepts_a_true_boundary_minimum() {
        // f(θ) = θ⁴ - 2·0.05²θ²: zero gradient at 0, minimum at 0.05.
        let mut dip = |x: &[f64]| x[0].powi(4) - 2.0 * 0.0025 * x[0] * x[0] + 100.0;
        let p = probe_inward(&mut dip, &[0.0], 100.0, &[0.0], &[f64::INFINITY], &[]);
        let (pt, fp) = p.better.expect("the dip is found");
        assert!(pt[0] > 0.0 && fp < 100.0);
        // f(θ) = θ² + 100: the bound is the minimum; every step is probed, none is better.
        // (The dip above is found at its bottom, the probe nearest 0.05.)
        assert!((pt[0] - 0.03).abs() < 1e-12);
        let mut bowl = |x: &[f64]| x[0] * x[0] + 100.0;
        let p = probe_inward(&mut bowl, &[0.0], 100.0, &[0.0], &[f64::INFINITY], &[]);
        assert!(p.better.is_none());
        assert_eq!(p.n_eval, STEPS.len());
        // An upper bound is probed downward; an interior coordinate is not probed.
        let mut up = |x: &[f64]| (x[0] - 0.97).powi(2) + x[1] * x[1];
        let p = probe_inward(&mut up, &[1.0, 0.5], (0.03f64).powi(2) + 0.25, &[-1.0, 0.0], &[1.0, 2.0], &[]);
        assert_eq!(p.better.expect("inside is lower").0[1], 0.5);
    }

    #[test]
    fn probes_from_the_reflection_too() {
        // At a = 0, (0, b) and (0, -b) are the same point of f(a, b) = (ab + 0.5)², but
        // moving a off 0 descends only with b < 0.
        let mut f = |x: &[f64]| (x[0] * x[1] + 0.5).powi(2);
        let (lower, upper) = ([0.0, f64::NEG_INFINITY], [f64::INFINITY; 2]);
        let p = probe_inward(&mut f, &[0.0, 1.0], 0.25, &lower, &upper, &[]);
        assert!(p.better.is_none());
        let p = probe_inward(&mut f, &[0.0, 1.0], 0.25, &lower, &upper, &[Some(vec![0.0, -1.0]), None]);
        let (pt, fp) = p.better.expect("the reflected side descends");
        assert!(pt[0] > 0.0 && pt[1] == -1.0 && fp < 0.25);
    }
}
