//! Errors of the core. Every failure is a value with a message that names the problem;
//! nothing in this crate panics on user input.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum MerxError {
    /// The input arrays are inconsistent or contain values the model cannot use.
    InvalidInput(String),
    /// A numerical failure (a matrix that should be positive definite is not, ...).
    Numerical(String),
    /// The caller cancelled the optimisation (Ctrl-C in Python; see `optimize::FitControl`).
    Interrupted,
}

impl fmt::Display for MerxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MerxError::InvalidInput(m) => write!(f, "invalid input: {m}"),
            MerxError::Numerical(m) => write!(f, "numerical failure: {m}"),
            MerxError::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for MerxError {}

pub type Result<T> = std::result::Result<T, MerxError>;

pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(MerxError::InvalidInput(msg.into()))
}
