//! The relative covariance factor Λ(θ).
//!
//! Λ is block diagonal: for term t with k columns and L levels it repeats one k × k
//! lower-triangular template T_t L times. θ lists the templates' free entries in lme4's
//! order: terms in order, and within a term the lower triangle column by column
//! (for k = 2: T[0,0], T[1,0], T[1,1]). Uncorrelated terms have diagonal templates and only
//! k parameters. Diagonal entries are bounded below by 0, the others are free.

/// Layout of one random-effects term inside θ and inside the random-effects vector u.
#[derive(Clone, Debug)]
pub struct TermLayout {
    pub n_levels: usize,
    pub k: usize,
    pub correlated: bool,
    /// First index of this term's parameters in θ.
    pub theta_offset: usize,
    /// First index of this term's coefficients in u (level-major: level l occupies
    /// `u_offset + l*k .. u_offset + (l+1)*k`).
    pub u_offset: usize,
}

impl TermLayout {
    pub fn n_theta(&self) -> usize {
        if self.correlated {
            self.k * (self.k + 1) / 2
        } else {
            self.k
        }
    }

    /// Positions (row, col) of the template entries, in θ order.
    pub fn theta_positions(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(self.n_theta());
        for c in 0..self.k {
            if self.correlated {
                for r in c..self.k {
                    out.push((r, c));
                }
            } else {
                out.push((c, c));
            }
        }
        out
    }

    /// Writes T_t (column-major k × k, zeros above the diagonal) from the full θ.
    pub fn fill_template(&self, theta: &[f64], out: &mut [f64]) {
        let k = self.k;
        out[..k * k].fill(0.0);
        let mut idx = self.theta_offset;
        for c in 0..k {
            if self.correlated {
                for r in c..k {
                    out[c * k + r] = theta[idx];
                    idx += 1;
                }
            } else {
                out[c * k + c] = theta[idx];
                idx += 1;
            }
        }
    }
}

/// The θ ↔ Λ map of a whole model.
#[derive(Clone, Debug)]
pub struct Lambda {
    pub terms: Vec<TermLayout>,
    pub n_theta: usize,
    /// Total number of random effects q.
    pub q: usize,
}

impl Lambda {
    pub fn new(spec: &[(usize, usize, bool)]) -> Self {
        let mut terms = Vec::with_capacity(spec.len());
        let (mut th, mut u) = (0, 0);
        for &(n_levels, k, correlated) in spec {
            let layout = TermLayout { n_levels, k, correlated, theta_offset: th, u_offset: u };
            th += layout.n_theta();
            u += n_levels * k;
            terms.push(layout);
        }
        Lambda { terms, n_theta: th, q: u }
    }

    /// lme4's starting point: identity templates.
    pub fn start(&self) -> Vec<f64> {
        let mut theta = vec![0.0; self.n_theta];
        for t in &self.terms {
            for (i, (r, c)) in t.theta_positions().into_iter().enumerate() {
                if r == c {
                    theta[t.theta_offset + i] = 1.0;
                }
            }
        }
        theta
    }

    /// 0 for diagonal entries, -∞ for off-diagonal ones.
    pub fn lower_bounds(&self) -> Vec<f64> {
        let mut lower = vec![f64::NEG_INFINITY; self.n_theta];
        for t in &self.terms {
            for (i, (r, c)) in t.theta_positions().into_iter().enumerate() {
                if r == c {
                    lower[t.theta_offset + i] = 0.0;
                }
            }
        }
        lower
    }

    /// Largest template size, for scratch buffers.
    pub fn max_k(&self) -> usize {
        self.terms.iter().map(|t| t.k).max().unwrap_or(0)
    }

    /// All templates for θ, concatenated: term t's k×k column-major block starts at
    /// `template_offsets()[t]`.
    pub fn template_offsets(&self) -> Vec<usize> {
        let mut off = Vec::with_capacity(self.terms.len() + 1);
        let mut acc = 0;
        for t in &self.terms {
            off.push(acc);
            acc += t.k * t.k;
        }
        off.push(acc);
        off
    }

    /// Writes every template for θ at the offsets from [`template_offsets`](Self::template_offsets).
    pub fn fill_templates(&self, theta: &[f64], off: &[usize], out: &mut [f64]) {
        for (t, layout) in self.terms.iter().enumerate() {
            layout.fill_template(theta, &mut out[off[t]..off[t + 1]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_lme4() {
        let lam = Lambda::new(&[(18, 2, true), (5, 3, false)]);
        assert_eq!(lam.n_theta, 3 + 3);
        assert_eq!(lam.q, 36 + 15);
        assert_eq!(lam.start(), vec![1.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        let lo = lam.lower_bounds();
        assert_eq!(lo[0], 0.0);
        assert_eq!(lo[1], f64::NEG_INFINITY);
        assert_eq!(&lo[2..], &[0.0; 4]);
        let mut t = vec![0.0; 4];
        lam.terms[0].fill_template(&[2.0, 3.0, 4.0, 0.0, 0.0, 0.0], &mut t);
        // column-major [[2,0],[3,4]]
        assert_eq!(t, vec![2.0, 3.0, 0.0, 4.0]);
    }
}
