//! A general Laplace engine for glmmTMB's models: families beyond the exponential-family
//! GLMs enter through each observation's log-density and its first two derivatives in the
//! conditional linear predictor ([`density`], one file per family), zero inflation (logit
//! link) and dispersion (log link) as per-observation predictors of fixed effects
//! ([`model`]). The inner problem finds the spherical random effects' modes by Newton steps
//! on the linear mixed model's sparse factor ([`inner`]); the outer problem optimises
//! (θ, β, β_zi, β_d) of the Laplace objective ([`fit`]).

pub mod dense;
pub mod density;
pub mod fit;
pub mod inner;
pub mod model;

pub use density::{density_by_name, ConditionalDensity, Derivatives};
pub use fit::{LaplaceFit, LaplaceFitOptions};
pub use inner::InnerSolution;
pub use model::{LaplaceModel, Predictors};
