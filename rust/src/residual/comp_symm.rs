//! nlme's `corCompSymm`: one correlation ρ between any two rows of a group,
//! R_g = (1 − ρ)I + ρ11'. Not Markov, but its inverse is as simple:
//! R_g⁻¹ = [I − c_m 11']/(1 − ρ), c_m = ρ/(1 + (m − 1)ρ) for a group of m rows, and
//! log|R_g| = (m − 1) log(1 − ρ) + log(1 + (m − 1)ρ). So U'R⁻¹U = [Σ_i u_i u_i' −
//! Σ_g c_{m_g} s_g s_g']/(1 − ρ) with s_g the sum of the group's rows: per group size one
//! cross-product of the sums, combined per evaluation (see `crate::lme`).
//!
//! The parameter is nlme's unconstrained log((ρ + 1/(M − 1))/(1 − ρ)), M the largest group,
//! so ρ ∈ (−1/(M − 1), 1) keeps every R_g positive definite.

use crate::data::ModelData;
use crate::error::{invalid, Result};

#[derive(Clone, Debug)]
pub struct CompoundSymmetry {
    /// The rows of each group, in the data's order.
    pub groups: Vec<Vec<u32>>,
    max_size: usize,
}

impl CompoundSymmetry {
    /// Groups from codes 0..n_groups (each at least one row; the largest at least two).
    pub fn new(codes: &[i64], n_groups: usize) -> Result<Self> {
        if let Some(i) = codes.iter().position(|&g| g < 0 || g as usize >= n_groups) {
            return invalid(format!("corCompSymm: group code {} at row {i} is outside 0..{n_groups}", codes[i]));
        }
        let mut groups = vec![Vec::new(); n_groups];
        for (i, &g) in codes.iter().enumerate() {
            groups[g as usize].push(i as u32);
        }
        groups.retain(|g| !g.is_empty());
        let max_size = groups.iter().map(Vec::len).max().unwrap_or(0);
        if max_size < 2 {
            return invalid("corCompSymm: every correlation group has a single row; there is no correlation to estimate");
        }
        Ok(CompoundSymmetry { groups, max_size })
    }

    /// Checks that each group's rows share their level of every random-effects term of
    /// `data` (the group sums then feed the blocks one row feeds: the pattern is unchanged).
    pub fn check_nested(&self, data: &ModelData) -> Result<()> {
        for (t, term) in data.terms.iter().enumerate() {
            for (k, g) in self.groups.iter().enumerate() {
                if let Some(&i) = g.iter().find(|&&i| term.codes[i as usize] != term.codes[g[0] as usize]) {
                    return invalid(format!(
                        "corCompSymm: the correlation groups are not nested in the random-effects groups of term {t} \
                         (rows {} and {i} of correlation group {k} belong to different levels)",
                        g[0]
                    ));
                }
            }
        }
        Ok(())
    }

    fn a(&self) -> f64 {
        1.0 / (self.max_size as f64 - 1.0)
    }

    /// nlme's start: ρ = 0.
    pub fn start(&self) -> f64 {
        self.a().ln()
    }

    pub fn bounds(&self) -> (f64, f64) {
        (self.start() - 30.0, 30.0)
    }

    pub fn natural(&self, u: f64) -> f64 {
        let e = u.exp();
        (e - self.a()) / (1.0 + e)
    }

    /// (1 − ρ, and per group size m: c_m and log|R_g|), computed without cancellation near
    /// either end of ρ's range.
    pub fn terms(&self, u: f64, m: usize) -> (f64, f64, f64) {
        let e = u.exp();
        let one_minus = (1.0 + self.a()) / (1.0 + e);
        let mf = m as f64;
        // 1 + (m − 1)ρ = (1 + m·e − (m − 1)·a)/(1 + e)
        let spread = (1.0 + mf * e - (mf - 1.0) * self.a()) / (1.0 + e);
        let rho = self.natural(u);
        (one_minus, rho / spread, (mf - 1.0) * one_minus.ln() + spread.ln())
    }

    /// nlme's whitening of each group (its `corFactor`, rows in the data's order within the
    /// group): the first row the group's sum over √(m(1 + (m − 1)ρ)), row k ≥ 2 the Helmert
    /// contrast ((k − 1)x_k − Σ_{j<k} x_j)/√(k(k − 1)(1 − ρ)). O(m) per group.
    pub fn whiten(&self, u: f64, values: &mut [f64]) {
        for g in &self.groups {
            let m = g.len();
            let (one_minus, _, _) = self.terms(u, m);
            let spread = 1.0 + (m as f64 - 1.0) * self.natural(u);
            let mut sum = 0.0;
            for (k0, &i) in g.iter().enumerate() {
                let x = values[i as usize];
                if k0 > 0 {
                    let k = (k0 + 1) as f64;
                    values[i as usize] = ((k - 1.0) * x - sum) / (k * (k - 1.0) * one_minus).sqrt();
                }
                sum += x;
            }
            values[g[0] as usize] = sum / (m as f64 * spread).sqrt();
        }
    }
}
