//! Fits that Ctrl-C can stop, with an optional progress callback.
//!
//! Python runs its signal handlers only while it holds the GIL, and a core fit releases it for
//! its whole length. A watched fit therefore runs on a worker thread while the calling thread
//! waits for it, taking the GIL back every [`POLL`] to run Python's signal handlers and the
//! progress callback (called with the number of objective evaluations so far). A
//! `KeyboardInterrupt` (or an error of the callback) cancels the fit through its
//! [`FitControl`]: the worker's next evaluation returns at once, the optimiser stops, the
//! worker is joined and the Python error propagates; the model is left as after any evaluation.
//! Unwatched fits (small ones) run on the calling thread as before: no thread, no polling.

use crate::to_py_err;
use merx_core::optimize::FitControl;
use merx_core::MerxError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

/// How often a watched fit looks at Python's signals and reports its progress.
const POLL: Duration = Duration::from_millis(100);

/// Runs `work` (a core fit taking the control to put in its optimiser settings), watched when
/// `watch` or a `progress` callback is given.
pub(crate) fn run_watched<T: Send>(
    py: Python<'_>,
    what: &str,
    watch: bool,
    progress: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce(Option<FitControl>) -> Result<T, MerxError> + Send,
) -> PyResult<T> {
    if !watch && progress.is_none() {
        return crate::guard(what, || py.detach(|| work(None).map_err(to_py_err)));
    }
    let control = FitControl::new();
    let worker_control = control.clone();
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let done_rx = Mutex::new(done_rx); // shared with the GIL-free wait below (a Receiver is not Sync)
        let handle = scope.spawn(move || {
            let out = catch_unwind(AssertUnwindSafe(|| work(Some(worker_control))));
            let _ = done_tx.send(());
            out
        });
        // The watcher runs once at the start (the bar's first state), then after every POLL.
        loop {
            let watcher = py.check_signals().and_then(|()| match progress {
                Some(callback) => callback.call1((control.evaluations(),)).map(|_| ()),
                None => Ok(()),
            });
            if let Err(e) = watcher {
                control.cancel();
                let _ = py.detach(|| handle.join());
                return Err(e);
            }
            // Finished (a message) or gone (the sender dropped): join below.
            let finished = py.detach(|| {
                let rx = done_rx.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                !matches!(rx.recv_timeout(POLL), Err(mpsc::RecvTimeoutError::Timeout))
            });
            if finished {
                break;
            }
        }
        match py.detach(|| handle.join()) {
            Ok(Ok(result)) => result.map_err(to_py_err),
            Ok(Err(_)) | Err(_) => Err(PyRuntimeError::new_err(format!("internal error in merx core ({what}): a panic"))),
        }
    })
}
