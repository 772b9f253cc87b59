//! The random-effects side: the relative covariance factor Λ(θ).
//!
//! Λ is block diagonal: for term t with k columns and L levels it repeats one k × k
//! lower-triangular template T_t L times, and Var(b) = σ²ΛΛ'. What T_t looks like as a
//! function of the term's parameters is the term's covariance structure, a small type
//! behind [`CovarianceStructure`]: [`Unstructured`] (lme4's default, T's lower triangle
//! itself), [`Diagonal`] (lme4's `||`, glmmTMB's `diag`: one variance per column),
//! [`CompoundSymmetry`] (nlme's `pdCompSymm`), [`HeterogeneousCompoundSymmetry`] (glmmTMB's
//! `cs`), [`Ar1`] (glmmTMB's `ar1`). A new
//! structure is one new file here that implements the trait; the penalized least squares
//! and the gradient see only templates and their derivatives.
//!
//! θ lists the terms' parameters in term order (lme4's order for the unstructured and
//! diagonal structures: within a term the lower triangle column by column).

mod ar1;
mod compound_symmetry;
mod diagonal;
mod heterogeneous_compound_symmetry;
mod unstructured;

pub use ar1::Ar1;
pub use compound_symmetry::CompoundSymmetry;
pub use diagonal::Diagonal;
pub use heterogeneous_compound_symmetry::HeterogeneousCompoundSymmetry;
pub use unstructured::Unstructured;

use crate::error::{invalid, Result};
use std::sync::Arc;

/// How a term's k × k template T (lower triangular, T T' = Var(b_level)/σ²) depends on the
/// term's parameters. Implementations are stateless apart from what they are constructed
/// with; k is passed in, so one value serves terms of any size.
pub trait CovarianceStructure: std::fmt::Debug + Send + Sync {
    /// The name the binding uses to ask for the structure.
    fn name(&self) -> &'static str;
    /// Number of parameters of a term with k columns.
    fn n_params(&self, k: usize) -> usize;
    /// Parameter names for a term with grouping factor `group` and these columns.
    fn param_names(&self, group: &str, columns: &[String]) -> Vec<String>;
    /// Starting values (lme4 starts at identity templates).
    fn start(&self, k: usize) -> Vec<f64>;
    fn lower_bounds(&self, k: usize) -> Vec<f64>;
    fn upper_bounds(&self, k: usize) -> Vec<f64> {
        vec![f64::INFINITY; self.n_params(k)]
    }
    /// Writes T (k × k, column-major, zeros above the diagonal).
    fn fill_template(&self, k: usize, params: &[f64], out: &mut [f64]);
    /// Writes ∂T/∂params_i for each parameter i: `n_params` k × k column-major blocks.
    fn template_jacobian(&self, k: usize, params: &[f64], out: &mut [f64]);
    /// Writes ∂²T/∂params_i∂params_j for every pair (i, j): `n_params²` k × k column-major
    /// blocks, pair (i, j) at block i·n_params + j. Returns false when the structure does not
    /// provide them (the exact Hessian in θ that Satterthwaite's method needs is then not
    /// available). A structure whose template is linear in its parameters writes zeros.
    fn template_hessian(&self, _k: usize, _params: &[f64], _out: &mut [f64]) -> bool {
        false
    }
    /// Parameters outside the structure's domain (where the template would not be a
    /// factor of the covariance it describes): a message naming the parameter.
    fn domain_error(&self, _k: usize, _params: &[f64]) -> Option<String> {
        None
    }
    /// Where parameter `i` sits on its bound, another parameter vector with the same
    /// covariance, if the structure has one (for the unstructured template: a column whose
    /// diagonal entry is 0 may change sign). The optimizer's boundary check probes inward
    /// from it too: moving off the bound may lower the objective on one side only.
    fn reflection(&self, _k: usize, _params: &[f64], _i: usize) -> Option<Vec<f64>> {
        None
    }
}

/// The structure named `name` (as the binding spells it).
pub fn structure_by_name(name: &str) -> Result<Arc<dyn CovarianceStructure>> {
    let all: [Arc<dyn CovarianceStructure>; 5] = [
        Arc::new(Unstructured),
        Arc::new(Diagonal),
        Arc::new(CompoundSymmetry),
        Arc::new(HeterogeneousCompoundSymmetry),
        Arc::new(Ar1),
    ];
    match all.into_iter().find(|s| s.name() == name) {
        Some(s) => Ok(s),
        None => invalid(format!(
            "unknown covariance structure {name:?}: use \"unstructured\", \"diagonal\", \"compound_symmetry\", \
             \"heterogeneous_compound_symmetry\" or \"ar1\""
        )),
    }
}

/// Positions (row, col) of the lower triangle of a k × k matrix, column by column.
pub fn lower_triangle(k: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..k).flat_map(move |c| (c..k).map(move |r| (r, c)))
}

/// lme4's name of template entry (r, c): `g.col` on the diagonal, `g.row.col` below it.
pub(crate) fn entry_name(group: &str, columns: &[String], r: usize, c: usize) -> String {
    if r == c {
        format!("{group}.{}", columns[r])
    } else {
        format!("{group}.{}.{}", columns[r], columns[c])
    }
}

/// One random-effects term's place in θ and in the random-effects vector u.
#[derive(Clone, Debug)]
pub struct TermCovariance {
    pub n_levels: usize,
    pub k: usize,
    pub structure: Arc<dyn CovarianceStructure>,
    /// First index of this term's parameters in θ.
    pub theta_offset: usize,
    pub n_theta: usize,
    /// First index of this term's coefficients in u (level-major: level l occupies
    /// `u_offset + l*k .. u_offset + (l+1)*k`).
    pub u_offset: usize,
}

impl TermCovariance {
    pub fn params<'t>(&self, theta: &'t [f64]) -> &'t [f64] {
        &theta[self.theta_offset..self.theta_offset + self.n_theta]
    }
}

/// The θ ↔ Λ map of a whole model.
#[derive(Clone, Debug)]
pub struct RandomEffects {
    pub terms: Vec<TermCovariance>,
    pub n_theta: usize,
    /// Total number of random effects q.
    pub q: usize,
}

impl RandomEffects {
    /// From (levels, columns, structure) per term, in the model's term order.
    pub fn new(spec: &[(usize, usize, Arc<dyn CovarianceStructure>)]) -> Self {
        let mut terms = Vec::with_capacity(spec.len());
        let (mut th, mut u) = (0, 0);
        for (n_levels, k, structure) in spec {
            let n_theta = structure.n_params(*k);
            terms.push(TermCovariance {
                n_levels: *n_levels,
                k: *k,
                structure: structure.clone(),
                theta_offset: th,
                n_theta,
                u_offset: u,
            });
            th += n_theta;
            u += n_levels * k;
        }
        RandomEffects { terms, n_theta: th, q: u }
    }

    fn concat(&self, f: impl Fn(&TermCovariance) -> Vec<f64>) -> Vec<f64> {
        self.terms.iter().flat_map(f).collect()
    }

    pub fn start(&self) -> Vec<f64> {
        self.concat(|t| t.structure.start(t.k))
    }

    pub fn lower_bounds(&self) -> Vec<f64> {
        self.concat(|t| t.structure.lower_bounds(t.k))
    }

    pub fn upper_bounds(&self) -> Vec<f64> {
        self.concat(|t| t.structure.upper_bounds(t.k))
    }

    /// Parameter names; `names` gives per term the grouping factor and column names
    /// (default `term1`, `term2`, ... and `x1`, `x2`, ...).
    pub fn param_names(&self, names: Option<&[(String, Vec<String>)]>) -> Vec<String> {
        let mut out = Vec::with_capacity(self.n_theta);
        for (t, term) in self.terms.iter().enumerate() {
            let (group, columns) = match names.and_then(|n| n.get(t)) {
                Some((g, c)) if c.len() == term.k => (g.clone(), c.clone()),
                _ => (format!("term{}", t + 1), (1..=term.k).map(|j| format!("x{j}")).collect()),
            };
            out.extend(term.structure.param_names(&group, &columns));
        }
        out
    }

    /// Largest template size, for scratch buffers.
    pub fn max_k(&self) -> usize {
        self.terms.iter().map(|t| t.k).max().unwrap_or(0)
    }

    /// Term t's k×k column-major block starts at `template_offsets()[t]`.
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

    /// The reflection of θ at parameter `i` (see [`CovarianceStructure::reflection`]).
    pub fn reflection(&self, theta: &[f64], i: usize) -> Option<Vec<f64>> {
        let term = self.terms.iter().find(|t| i >= t.theta_offset && i < t.theta_offset + t.n_theta)?;
        let local = term.structure.reflection(term.k, term.params(theta), i - term.theta_offset)?;
        let mut out = theta.to_vec();
        out[term.theta_offset..term.theta_offset + term.n_theta].copy_from_slice(&local);
        Some(out)
    }

    /// The first parameter outside its structure's domain, as a message naming the term.
    pub fn domain_error(&self, theta: &[f64]) -> Option<String> {
        self.terms.iter().enumerate().find_map(|(t, term)| {
            term.structure
                .domain_error(term.k, term.params(theta))
                .map(|m| format!("random-effects term {t} ({}): {m}", term.structure.name()))
        })
    }

    /// Writes every template for θ at the offsets from [`template_offsets`](Self::template_offsets).
    pub fn fill_templates(&self, theta: &[f64], off: &[usize], out: &mut [f64]) {
        for (t, term) in self.terms.iter().enumerate() {
            term.structure.fill_template(term.k, term.params(theta), &mut out[off[t]..off[t + 1]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of each structure's template against its Jacobian.
    #[test]
    fn jacobians_match_finite_differences() {
        let cases: Vec<(Arc<dyn CovarianceStructure>, usize, Vec<f64>)> = vec![
            (Arc::new(Unstructured), 3, vec![0.9, -0.3, 0.2, 0.5, 0.1, 0.7]),
            (Arc::new(Diagonal), 3, vec![0.9, 0.5, 0.7]),
            (Arc::new(CompoundSymmetry), 4, vec![1.3, 0.35]),
            (Arc::new(CompoundSymmetry), 3, vec![0.7, -0.3]),
            (Arc::new(CompoundSymmetry), 1, vec![0.7]),
            (Arc::new(Ar1), 4, vec![0.8, 1.55]),
            (Arc::new(HeterogeneousCompoundSymmetry), 3, vec![0.9, 0.5, 0.7, 1.2]),
        ];
        for (s, k, p) in cases {
            let m = s.n_params(k);
            assert_eq!(p.len(), m);
            let mut jac = vec![0.0; m * k * k];
            s.template_jacobian(k, &p, &mut jac);
            for i in 0..m {
                let h = 1e-6;
                let (mut tp, mut tm) = (vec![0.0; k * k], vec![0.0; k * k]);
                let (mut pp, mut pm) = (p.clone(), p.clone());
                pp[i] += h;
                pm[i] -= h;
                s.fill_template(k, &pp, &mut tp);
                s.fill_template(k, &pm, &mut tm);
                for e in 0..k * k {
                    let fd = (tp[e] - tm[e]) / (2.0 * h);
                    assert!((fd - jac[i * k * k + e]).abs() < 1e-7, "{} k={k} param {i} entry {e}: {fd} vs {}", s.name(), jac[i * k * k + e]);
                }
            }
        }
    }

    #[test]
    fn layout_follows_lme4() {
        let re = RandomEffects::new(&[(18, 2, Arc::new(Unstructured)), (5, 3, Arc::new(Diagonal))]);
        assert_eq!(re.n_theta, 3 + 3);
        assert_eq!(re.q, 36 + 15);
        assert_eq!(re.start(), vec![1.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        let lo = re.lower_bounds();
        assert_eq!(lo[0], 0.0);
        assert_eq!(lo[1], f64::NEG_INFINITY);
        assert_eq!(&lo[2..], &[0.0; 4]);
        let mut t = vec![0.0; 4];
        re.terms[0].structure.fill_template(2, &[2.0, 3.0, 4.0], &mut t);
        // column-major [[2,0],[3,4]]
        assert_eq!(t, vec![2.0, 3.0, 0.0, 4.0]);
        let cols = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let names = re.param_names(Some(&[
            ("Subject".into(), cols(&["(Intercept)", "Days"])),
            ("g".into(), cols(&["a", "b", "c"])),
        ]));
        assert_eq!(names, ["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days", "g.a", "g.b", "g.c"]);
        assert!(structure_by_name("toeplitz").is_err());
        assert_eq!(structure_by_name("ar1").unwrap().name(), "ar1");
        assert_eq!(structure_by_name("compound_symmetry").unwrap().name(), "compound_symmetry");
    }
}
