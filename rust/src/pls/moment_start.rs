//! A starting θ for models whose random-effects terms are all scalar, from moments of the
//! cross-products already assembled (no pass over the rows).
//!
//! lme4 starts every relative standard deviation at 1. Where an evaluation is expensive
//! (crossed designs: a dense Schur complement of thousands of columns factored per
//! evaluation), most of BOBYQA's evaluations walk from there to the optimum. This start is
//! the ANOVA-type (Henderson method I) estimate of each term on its own: with r the response
//! net of its least-squares fit on X, d_l = Σ w z² and s_l = Σ w z r over the rows of level
//! l, the between-level sum of squares SS_b = Σ_l s_l²/d_l has expectation about
//! L σ_w² + τ² Σ_l d_l, where σ_w² = (r'Wr - SS_b)/(n - L) is the within-level variance
//! (the other terms' effects included, as noise). Then σ² ≈ (r'Wr - Σ_t τ_t² Σ_l d_l)/n and
//! θ_t = τ_t/σ. It is only a start: the optimiser still converges to the REML or ML
//! optimum, to the same tolerance. Where an estimate is not positive (a term near its
//! boundary) or the terms are not all scalar relative SDs, there is no moment start and
//! lme4's is used.

use super::LinearMixedModel;

impl LinearMixedModel {
    /// The moment-based start (one θ per term), if every term is scalar with θ its relative
    /// standard deviation and every estimate is positive.
    pub fn moment_start(&self) -> Option<Vec<f64>> {
        let re = &self.random_effects;
        let cp = &self.cp;
        if re.terms.len() < 2 || re.terms.iter().any(|t| t.k != 1 || t.n_theta != 1) {
            return None;
        }
        // θ must be the 1 × 1 template itself (a relative SD).
        let probe = vec![0.5; re.n_theta];
        let mut tmpl = vec![0.0; *self.template_off.last()?];
        re.fill_templates(&probe, &self.template_off, &mut tmpl);
        if tmpl.iter().any(|&v| v != 0.5) {
            return None;
        }
        let p = cp.p;
        let q = re.q;
        let rr = cp.xtxy[(p + 1) * (p + 1) - 1];
        let n = cp.n_obs as f64;
        let mut tau2 = Vec::with_capacity(re.terms.len());
        let mut trace = Vec::with_capacity(re.terms.len());
        for (t, term) in re.terms.iter().enumerate() {
            let (mut ssb, mut tr, mut used) = (0.0, 0.0, 0usize);
            for l in 0..term.n_levels {
                let g = cp.term_block_base[t] + l;
                let d = cp.ztz[cp.block_val[cp.block_col_ptr[g]]];
                if d > 0.0 {
                    let s = cp.ztxy[q * p + term.u_offset + l];
                    ssb += s * s / d;
                    tr += d;
                    used += 1;
                }
            }
            if used as f64 >= n || tr <= 0.0 {
                return None;
            }
            let within = (rr - ssb) / (n - used as f64);
            tau2.push((ssb - used as f64 * within) / tr);
            trace.push(tr);
        }
        let sigma2 = (rr - tau2.iter().zip(&trace).map(|(a, b)| a * b).sum::<f64>()) / n;
        if !(sigma2 > 0.0) || tau2.iter().any(|v| !(*v > 0.0) || !v.is_finite()) {
            return None;
        }
        Some(tau2.iter().map(|v| (v / sigma2).sqrt()).collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::data::{ModelData, TermData};
    use crate::fit::{fit_lmm, FitOptions};
    use crate::optimize::OptimizerMethod;
    use crate::pls::LinearMixedModel;
    use faer::MatRef;

    /// Two crossed scalar terms, 60 × 40 levels, simulated with relative SDs 0.8 and 0.5.
    fn crossed() -> (Vec<f64>, Vec<f64>, Vec<i64>, Vec<i64>, Vec<f64>) {
        let n = 3000;
        let mut rng = crate::rng::Rng::for_stream(7, 0);
        let u: Vec<f64> = (0..60).map(|_| 0.8 * rng.normal()).collect();
        let v: Vec<f64> = (0..40).map(|_| 0.5 * rng.normal()).collect();
        let (mut x, mut y, mut g1, mut g2) = (vec![1.0; 2 * n], vec![0.0; n], vec![0i64; n], vec![0i64; n]);
        for i in 0..n {
            g1[i] = (i % 60) as i64;
            g2[i] = ((i * 7 + i / 60) % 40) as i64;
            x[n + i] = rng.normal();
            y[i] = 2.0 + 0.5 * x[n + i] + u[g1[i] as usize] + v[g2[i] as usize] + rng.normal();
        }
        (x, y, g1, g2, vec![1.0; n])
    }

    #[test]
    fn the_moment_start_reaches_the_same_optimum_in_fewer_evaluations() {
        let (x, y, g1, g2, ones) = crossed();
        let n = y.len();
        let data = ModelData {
            x: MatRef::from_column_major_slice(&x, n, 2),
            y: &y,
            terms: vec![
                TermData::new(&g1, 60, MatRef::from_column_major_slice(&ones, n, 1)),
                TermData::new(&g2, 40, MatRef::from_column_major_slice(&ones, n, 1)),
            ],
            weights: None,
            offset: None,
        };
        let mut model = LinearMixedModel::new(&data, true).unwrap();
        assert!(model.cholesky().schur_is_dense());
        let start = model.moment_start().expect("a moment start for two scalar terms");
        assert!((start[0] - 0.8).abs() < 0.3 && (start[1] - 0.5).abs() < 0.3, "{start:?}");
        let mut options = FitOptions::default();
        options.optimizer.method = OptimizerMethod::Bobyqa;
        let from_moments = fit_lmm(&mut model, &options).unwrap();
        options.theta_start = Some(model.random_effects.start());
        let from_lme4 = fit_lmm(&mut model, &options).unwrap();
        let (a, b) = (from_moments.evaluation.objective, from_lme4.evaluation.objective);
        assert!(a <= b + 1e-10 * b.abs(), "{a} vs {b}");
        assert!((a - b).abs() <= 1e-9 * b.abs(), "{a} vs {b}");
        assert!(from_moments.n_eval < from_lme4.n_eval, "{} vs {}", from_moments.n_eval, from_lme4.n_eval);
    }
}
