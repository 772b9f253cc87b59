//! nlme's `varIdent`: one residual standard deviation per stratum of a factor,
//! Var(ε_i) = σ² δ²_{s(i)} with δ = 1 for the reference stratum (the first, as nlme), so the
//! precision weights are w_i = p_i / δ²_{s(i)} (p_i the prior weight, 1 without).
//!
//! The weights depend on the parameters only through one value per stratum, so every
//! weighted cross-product is a sum over strata: [Z X r]'W[Z X r] = Σ_s w_s C_s with
//! C_s = [Z X r]'P_s[Z X r] the stratum's own cross-products on the model's block pattern.
//! [`StratumCrossProducts`] computes the C_s once (S passes over the rows at construction);
//! each evaluation then combines them in O(S × stored entries), never touching the rows.
//! Σ log w_i = Σ_s (Σ_{i∈s} log p_i + n_s log w_s) comes the same way, in O(S).
//!
//! The parameters are the log-ratios log δ_s of the strata after the reference one (nlme's
//! unconstrained `coef(varStruct)`): unbounded, and the objective is smooth in them.

use super::ResidualCovariance;
use crate::crossprod::{ColumnReader, CrossProducts};
use crate::data::ModelData;
use crate::error::{invalid, Result};
use std::borrow::Cow;

/// Stratum codes of the rows and the log-ratios log δ_s (s ≥ 1) at which the weights are
/// taken; stratum 0 is the reference.
#[derive(Clone, Debug)]
pub struct VarIdent {
    strata: Vec<u32>,
    n_strata: usize,
    log_ratio: Vec<f64>,
}

impl VarIdent {
    /// Checks the codes (0..n_strata, n rows), at least two strata, and at least two rows
    /// with positive prior weight in every stratum: with one, δ_s → 0 fits that row exactly
    /// and the likelihood grows without bound.
    pub fn new(strata: &[i64], n_strata: usize, prior: Option<&[f64]>) -> Result<Self> {
        if n_strata < 2 {
            return invalid(format!(
                "varIdent needs a stratum variable with at least two levels; it has {n_strata}"
            ));
        }
        if let Some(i) = strata.iter().position(|&s| s < 0 || s as usize >= n_strata) {
            return invalid(format!("varIdent: stratum code {} at row {i} is outside 0..{n_strata}", strata[i]));
        }
        if let Some(p) = prior {
            if p.len() != strata.len() {
                return invalid(format!("varIdent: {} stratum codes for {} prior weights", strata.len(), p.len()));
            }
        }
        let mut counts = vec![0usize; n_strata];
        for (i, &s) in strata.iter().enumerate() {
            if prior.map_or(true, |p| p[i] > 0.0) {
                counts[s as usize] += 1;
            }
        }
        if let Some(s) = counts.iter().position(|&c| c < 2) {
            return invalid(format!(
                "varIdent: stratum {s} has {} observation(s); each stratum needs at least two to estimate its \
                 variance ratio",
                counts[s]
            ));
        }
        Ok(VarIdent {
            strata: strata.iter().map(|&s| s as u32).collect(),
            n_strata,
            log_ratio: vec![0.0; n_strata - 1],
        })
    }

    pub fn n_strata(&self) -> usize {
        self.n_strata
    }

    /// Number of parameters: one log-ratio per stratum after the reference.
    pub fn n_params(&self) -> usize {
        self.n_strata - 1
    }

    pub fn n_rows(&self) -> usize {
        self.strata.len()
    }

    pub fn log_ratio(&self) -> &[f64] {
        &self.log_ratio
    }

    /// Takes the weights at these log-ratios from now on.
    pub fn set_log_ratio(&mut self, log_ratio: &[f64]) -> Result<()> {
        if log_ratio.len() != self.n_params() {
            return invalid(format!(
                "varIdent has {} log-ratios; {} given",
                self.n_params(),
                log_ratio.len()
            ));
        }
        if let Some(v) = log_ratio.iter().find(|v| !v.is_finite()) {
            return invalid(format!("varIdent: a log-ratio is not finite ({v})"));
        }
        self.log_ratio.copy_from_slice(log_ratio);
        Ok(())
    }

    /// w_s = 1/δ_s² per stratum (1 for the reference).
    pub fn stratum_weights(&self) -> Vec<f64> {
        std::iter::once(1.0).chain(self.log_ratio.iter().map(|l| (-2.0 * l).exp())).collect()
    }
}

impl ResidualCovariance for VarIdent {
    fn name(&self) -> &'static str {
        "var_ident"
    }

    fn precision_weights<'a>(&self, n: usize, prior: Option<&'a [f64]>) -> Result<Option<Cow<'a, [f64]>>> {
        if self.strata.len() != n {
            return invalid(format!("varIdent: {} stratum codes for {n} observations", self.strata.len()));
        }
        let w = self.stratum_weights();
        let rows = self.strata.iter().enumerate().map(|(i, &s)| w[s as usize] * prior.map_or(1.0, |p| p[i]));
        Ok(Some(Cow::Owned(rows.collect())))
    }
}

/// The cross-products of each stratum on the model's block pattern, stored interleaved
/// (entry-major: the S values of one entry side by side), so that a combination is one
/// sequential pass over them.
#[derive(Clone, Debug)]
pub struct StratumCrossProducts {
    n_strata: usize,
    ztz: Vec<f64>,
    ztxy: Vec<f64>,
    xtxy: Vec<f64>,
    /// Per stratum: Σ log p_i, observations, r'Pr of the response before the shift.
    sum_log_prior: Vec<f64>,
    n_obs: Vec<usize>,
    response_ss: Vec<f64>,
    /// γ, the response shift of `base` every stratum shares (see `crossprod.rs`): with one
    /// γ and one centring for all strata, the cross-products are linear in the weights.
    response_shift: Vec<f64>,
}

impl StratumCrossProducts {
    /// One pass over the rows per stratum, each into a copy of `base`'s block pattern, with
    /// `base`'s centring of X and its response shift γ.
    pub fn assemble(data: &ModelData, var_ident: &VarIdent, base: &CrossProducts) -> Result<Self> {
        let (n, p, s_count) = (data.n(), data.p(), var_ident.n_strata);
        if var_ident.n_rows() != n || base.n != n || base.p != p {
            return invalid("stratum cross-products need the data the model was built from");
        }
        let x_cols: Vec<ColumnReader> = (0..p).map(|j| ColumnReader::new(data.x, j)).collect();
        let gamma = &base.response_shift;
        let mut xr = vec![0.0; p + 1];
        let shifted: Vec<f64> = (0..n)
            .map(|i| {
                base.centred_row(data, &x_cols, None, i, &mut xr);
                xr[p] - (0..p).map(|j| xr[j] * gamma[j]).sum::<f64>()
            })
            .collect();
        let mut out = StratumCrossProducts {
            n_strata: s_count,
            ztz: vec![0.0; base.ztz.len() * s_count],
            ztxy: vec![0.0; base.ztxy.len() * s_count],
            xtxy: vec![0.0; base.xtxy.len() * s_count],
            sum_log_prior: vec![0.0; s_count],
            n_obs: vec![0; s_count],
            response_ss: vec![0.0; s_count],
            response_shift: gamma.clone(),
        };
        let mut scratch = base.clone();
        let mut w = vec![0.0; n];
        for s in 0..s_count {
            for (i, wi) in w.iter_mut().enumerate() {
                *wi = if var_ident.strata[i] as usize == s { data.weights.map_or(1.0, |p| p[i]) } else { 0.0 };
            }
            scratch.accumulate_with(data, Some(&w), Some(&shifted), true);
            for (dst, src) in [(&mut out.ztz, &scratch.ztz), (&mut out.ztxy, &scratch.ztxy), (&mut out.xtxy, &scratch.xtxy)] {
                for (k, v) in src.iter().enumerate() {
                    dst[k * s_count + s] = *v;
                }
            }
            out.sum_log_prior[s] = scratch.sum_log_w;
            out.n_obs[s] = scratch.n_obs;
            out.response_ss[s] = (0..n)
                .filter(|&i| w[i] > 0.0)
                .map(|i| w[i] * (data.y[i] - data.offset_at(i)).powi(2))
                .sum();
        }
        Ok(out)
    }

    /// Stored values per stratum (Z'Z blocks, Z'[X r] and [X r]'[X r]): a combination costs
    /// this many multiply-adds per stratum.
    pub fn stored_entries(&self) -> usize {
        (self.ztz.len() + self.ztxy.len() + self.xtxy.len()) / self.n_strata
    }

    /// Writes Σ_s w_s C_s into `cp` (same block pattern), with Σ log w, the observation count,
    /// the shared response shift and r'Wr of the unshifted response.
    pub fn combine_into(&self, weights: &[f64], cp: &mut CrossProducts) {
        let s_count = self.n_strata;
        debug_assert_eq!(weights.len(), s_count);
        for (dst, src) in [(&mut cp.ztz, &self.ztz), (&mut cp.ztxy, &self.ztxy), (&mut cp.xtxy, &self.xtxy)] {
            for (d, chunk) in dst.iter_mut().zip(src.chunks_exact(s_count)) {
                *d = chunk.iter().zip(weights).map(|(c, w)| c * w).sum();
            }
        }
        cp.sum_log_w = (0..s_count).map(|s| self.sum_log_prior[s] + self.n_obs[s] as f64 * weights[s].ln()).sum();
        cp.n_obs = self.n_obs.iter().sum();
        cp.response_ss = self.response_ss.iter().zip(weights).map(|(r, w)| r * w).sum();
        cp.response_shift.clone_from(&self.response_shift);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::covariance::RandomEffects;
    use crate::data::TermData;
    use faer::Mat;

    /// Two crossed terms (one with a slope), prior weights, three strata: the combination
    /// equals a direct weighted pass with the same centring and response shift, entry by
    /// entry, and Σ log w and r'Wr agree.
    #[test]
    fn combined_stratum_cross_products_equal_a_direct_weighted_assembly() {
        let n = 60;
        let x = Mat::<f64>::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { ((i * 7) % 11) as f64 / 3.0 + 5.0 });
        let z1 = Mat::<f64>::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { x[(i, 1)] });
        let z2 = Mat::<f64>::from_fn(n, 1, |_, _| 1.0);
        let g1: Vec<i64> = (0..n).map(|i| (i % 7) as i64).collect();
        let g2: Vec<i64> = (0..n).map(|i| ((i * 5) % 4) as i64).collect();
        let y: Vec<f64> = (0..n).map(|i| 100.0 + x[(i, 1)] + ((i * i) % 13) as f64 / 4.0).collect();
        let prior: Vec<f64> = (0..n).map(|i| 0.5 + (i % 3) as f64 * 0.75).collect();
        let strata: Vec<i64> = (0..n).map(|i| ((i * 11) % 3) as i64).collect();
        let data = ModelData {
            x: x.as_ref(),
            y: &y,
            terms: vec![TermData::new(&g1, 7, z1.as_ref()), TermData::new(&g2, 4, z2.as_ref())],
            weights: Some(&prior),
            offset: None,
        };
        let re = RandomEffects::new(&data.terms.iter().map(|t| (t.n_levels, t.k(), t.covariance.clone())).collect::<Vec<_>>());
        let base = CrossProducts::assemble(&data, Some(&prior), &re).unwrap();
        let mut vi = VarIdent::new(&strata, 3, Some(&prior)).unwrap();
        let per_stratum = StratumCrossProducts::assemble(&data, &vi, &base).unwrap();
        vi.set_log_ratio(&[0.4, -0.7]).unwrap();
        let mut combined = base.clone();
        per_stratum.combine_into(&vi.stratum_weights(), &mut combined);

        let rows = vi.precision_weights(n, Some(&prior)).unwrap().unwrap().into_owned();
        let x_cols: Vec<ColumnReader> = (0..2).map(|j| ColumnReader::new(data.x, j)).collect();
        let mut xr = vec![0.0; 3];
        let shifted: Vec<f64> = (0..n)
            .map(|i| {
                base.centred_row(&data, &x_cols, None, i, &mut xr);
                xr[2] - xr[0] * base.response_shift[0] - xr[1] * base.response_shift[1]
            })
            .collect();
        let mut direct = base.clone();
        direct.accumulate_with(&data, Some(&rows), Some(&shifted), true);
        for (what, a, b) in [("Z'WZ", &combined.ztz, &direct.ztz), ("Z'W[X r]", &combined.ztxy, &direct.ztxy), ("[X r]'W[X r]", &combined.xtxy, &direct.xtxy)] {
            for (k, (u, v)) in a.iter().zip(b.iter()).enumerate() {
                assert!((u - v).abs() <= 1e-12 * v.abs().max(1.0), "{what} entry {k}: {u} vs {v}");
            }
        }
        let log_w: f64 = rows.iter().map(|w| w.ln()).sum();
        assert!((combined.sum_log_w - log_w).abs() < 1e-12 * log_w.abs().max(1.0));
        let rss: f64 = (0..n).map(|i| rows[i] * y[i] * y[i]).sum();
        assert!((combined.response_ss - rss).abs() < 1e-12 * rss);
        assert_eq!(combined.n_obs, n);
        assert_eq!(per_stratum.stored_entries(), base.ztz.len() + base.ztxy.len() + base.xtxy.len());
    }

    #[test]
    fn bad_strata_are_named() {
        let err = VarIdent::new(&[0, 0, 0], 1, None).unwrap_err().to_string();
        assert!(err.contains("at least two levels; it has 1"), "{err}");
        let err = VarIdent::new(&[0, 0, 1, 2], 2, None).unwrap_err().to_string();
        assert!(err.contains("stratum code 2 at row 3"), "{err}");
        let err = VarIdent::new(&[0, 0, 1, 0], 2, None).unwrap_err().to_string();
        assert!(err.contains("stratum 1 has 1 observation(s)"), "{err}");
        let err = VarIdent::new(&[0, 0, 1, 1], 2, Some(&[1.0, 1.0, 1.0, 0.0])).unwrap_err().to_string();
        assert!(err.contains("stratum 1 has 1 observation(s)"), "{err}");
    }
}
