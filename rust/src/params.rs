//! The covariance parameter vector θ with names, bounds and a mask of fixed entries.
//!
//! The optimizer works on the free entries only; the objective always sees the whole θ.
//! Fixing entries is how a profile holds one parameter at a grid value while the others
//! are optimized, and how a user holds a variance component at a known value.

use crate::error::{invalid, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct ParameterVector {
    pub names: Vec<String>,
    pub values: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub fixed: Vec<bool>,
}

impl ParameterVector {
    pub fn new(names: Vec<String>, values: Vec<f64>, lower: Vec<f64>, upper: Vec<f64>) -> Result<Self> {
        let n = values.len();
        if names.len() != n || lower.len() != n || upper.len() != n {
            return invalid(format!(
                "parameter vector: {} names, {n} values, {} lower and {} upper bounds",
                names.len(),
                lower.len(),
                upper.len()
            ));
        }
        Ok(ParameterVector { names, values, lower, upper, fixed: vec![false; n] })
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Sets every value; each must be finite and inside its bounds.
    pub fn set_values(&mut self, values: &[f64], what: &str) -> Result<()> {
        if values.len() != self.len() {
            return invalid(format!("{what} has length {} but the model has {} covariance parameters", values.len(), self.len()));
        }
        for (i, &v) in values.iter().enumerate() {
            if !v.is_finite() {
                return invalid(format!("{what} has a non-finite value ({v}) at position {i}"));
            }
        }
        // lme4 moves a start below a bound onto it; merx does the same.
        for i in 0..self.len() {
            self.values[i] = values[i].clamp(self.lower[i], self.upper[i]);
        }
        Ok(())
    }

    /// Holds parameter `i` at `value` (inside its bounds) during optimization.
    pub fn fix(&mut self, i: usize, value: f64) -> Result<()> {
        if i >= self.len() {
            return invalid(format!("no covariance parameter {i}: the model has {}", self.len()));
        }
        if !(value.is_finite() && value >= self.lower[i] && value <= self.upper[i]) {
            return invalid(format!(
                "{} cannot be fixed at {value}: it must lie in [{}, {}]",
                self.names[i], self.lower[i], self.upper[i]
            ));
        }
        self.values[i] = value;
        self.fixed[i] = true;
        Ok(())
    }

    pub fn free_indices(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| !self.fixed[i]).collect()
    }

    fn select(&self, v: &[f64]) -> Vec<f64> {
        self.free_indices().into_iter().map(|i| v[i]).collect()
    }

    pub fn free_values(&self) -> Vec<f64> {
        self.select(&self.values)
    }

    pub fn free_lower(&self) -> Vec<f64> {
        self.select(&self.lower)
    }

    pub fn free_upper(&self) -> Vec<f64> {
        self.select(&self.upper)
    }

    /// The whole θ with the free entries taken from `free` (in `free_indices` order).
    pub fn expand_into(&self, free: &[f64], out: &mut [f64]) {
        let mut it = free.iter();
        for i in 0..self.len() {
            out[i] = if self.fixed[i] { self.values[i] } else { *it.next().unwrap_or(&self.values[i]) };
        }
    }

    pub fn expand(&self, free: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.len()];
        self.expand_into(free, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixing_selects_and_expands() {
        let names = vec!["a".to_string(), "b".into(), "c".into()];
        let mut p = ParameterVector::new(names, vec![1.0, 0.0, 1.0], vec![0.0, f64::NEG_INFINITY, 0.0], vec![f64::INFINITY; 3]).unwrap();
        p.fix(1, 0.25).unwrap();
        assert_eq!(p.free_indices(), vec![0, 2]);
        assert_eq!(p.expand(&[2.0, 3.0]), vec![2.0, 0.25, 3.0]);
        assert_eq!(p.index_of("c"), Some(2));
        assert!(p.fix(0, -1.0).is_err());
        assert!(p.set_values(&[1.0, f64::NAN, 1.0], "theta_start").is_err());
        p.set_values(&[-1.0, 0.5, 2.0], "theta_start").unwrap();
        assert_eq!(p.values, vec![0.0, 0.5, 2.0]);
    }
}
