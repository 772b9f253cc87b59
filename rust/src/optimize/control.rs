//! What the caller can see of a running optimisation and how it stops one: a count of
//! objective evaluations (for a progress display) and a cancellation flag (Ctrl-C in Python).
//!
//! Both are atomics shared with the thread that watches the fit. Once cancelled, every
//! further evaluation returns +∞ without touching the model (BOBYQA and the quasi-Newton
//! method then stop within a few cheap iterations) and `minimize` reports
//! [`MerxError::Interrupted`](crate::error::MerxError::Interrupted): the model itself is left
//! as consistent as after any evaluation, and can be fitted again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct FitControl {
    cancelled: Arc<AtomicBool>,
    evaluations: Arc<AtomicUsize>,
}

impl FitControl {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the optimisation to stop at its next evaluation.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Objective evaluations so far (over every optimisation that shares this control).
    pub fn evaluations(&self) -> usize {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// Counts one evaluation; false when the optimisation is cancelled (do not evaluate).
    pub(crate) fn tick(&self) -> bool {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        !self.is_cancelled()
    }
}
