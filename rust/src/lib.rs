//! merx-core: the numerical heart of merx.
//!
//! A linear mixed model y = Xβ + Zb + ε, b ~ N(0, σ²ΛΛ'), ε ~ N(0, σ²R) is fitted by
//! profiling β and σ out of the likelihood and optimising over the relative covariance
//! parameters θ (Bates, Mächler, Bolker and Walker 2015, J. Stat. Softw. 67(1), §3-5).
//!
//! The pipeline, one module per concept:
//! [`data`] (validated row views) → [`crossprod`] (O(n) cross-products of [Z X y]) →
//! [`pls`] (penalized least squares and the profiled objective, over the blocked factor of
//! [`linalg`]) → [`optimize`] (BOBYQA or quasi-Newton with the [`gradient`],
//! over the free entries of a [`params::ParameterVector`]) → [`fit`] (quantities at the
//! optimum). The model's pieces are small types behind traits, one file each:
//! [`covariance`] (Λ(θ) per random-effects term), [`family`] (the conditional distribution)
//! and [`residual`] (the residual covariance).

pub mod agq;
pub mod bootstrap;
pub mod bootstrap_cases;
pub mod bootstrap_rescale;
pub mod bootstrap_resample;
pub mod covariance;
pub mod crossprod;
pub mod crossprod_pass;
pub mod crossprod_pirls;
pub mod data;
pub mod error;
pub mod family;
pub mod fit;
pub mod glmm_fit;
pub mod glmm_gradient;
pub mod glmm_gradient_first;
pub mod glmm_hessian;
pub mod gradient;
pub mod inference;
pub mod laplace;
pub mod linalg;
pub mod lme;
pub mod optimize;
pub mod params;
pub mod pirls;
pub mod pirls_lme4;
pub mod pirls_newton;
pub mod pls;
pub mod prediction_interval;
pub mod profile;
pub mod residual;
pub mod rng;
pub mod simulate;
pub mod stream_algebra;
pub mod stream_crossprod;
pub mod stream_glmm;
pub mod stream_glmm_pass;
pub mod timing;

pub use data::{ModelData, TermData};
pub use error::{MerxError, Result};
pub use fit::{fit_lmm, FitOptions, MixedModelFit};
pub use params::ParameterVector;
pub use pls::{LinearMixedModel, PlsEvaluation};
