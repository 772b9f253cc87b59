//! Phase timers for profiling, off unless the environment variable `MERX_TIMINGS` is set
//! (to anything): then each timed phase writes `merx-timing <phase> <seconds>` to stderr.
//! The variable is read once per process; when it is unset a phase costs one atomic load.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("MERX_TIMINGS").is_some())
}

/// A running phase; reports its wall time when finished (or dropped) if timings are on.
pub struct Phase {
    name: &'static str,
    start: Option<Instant>,
}

impl Phase {
    pub fn start(name: &'static str) -> Self {
        Phase { name, start: enabled().then(Instant::now) }
    }

    /// Ends the phase now.
    pub fn finish(self) {}
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some(t) = self.start.take() {
            eprintln!("merx-timing {} {:.6}", self.name, t.elapsed().as_secs_f64());
        }
    }
}
