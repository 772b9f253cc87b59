//! merx-core: the numerical heart of merx.
//!
//! A linear mixed model y = Xβ + Zb + ε, b ~ N(0, σ²ΛΛ'), ε ~ N(0, σ²W⁻¹) is fitted by
//! profiling β and σ out of the likelihood and optimising over the relative covariance
//! parameters θ (Bates, Mächler, Bolker and Walker 2015, J. Stat. Softw. 67(1), §3-5).
//!
//! The pipeline, one module per concept:
//! [`problem`] (validated data views) → [`crossprod`] (O(n) cross-products of [Z X y]) →
//! [`lambda`] (Λ(θ) templates) → [`linalg`] (the blocked Cholesky factor, its Schur
//! complement sparse supernodal or dense; symbolic analysis once, numeric refactorisation
//! per θ) → [`pls`] (penalized least squares, profiled deviance) → [`optimize`] (BOBYQA or
//! quasi-Newton with the [`gradient`] over θ) → [`fit`] (quantities at the optimum).

pub mod crossprod;
pub mod error;
pub mod fit;
pub mod gradient;
pub mod lambda;
pub mod linalg;
pub mod optimize;
pub mod pls;
pub mod problem;

pub use error::{MerxError, Result};
pub use fit::{fit_lmm, FitOptions, LmmFit};
pub use pls::{LmmModel, PlsEvaluation};
pub use problem::{DataView, TermView};
