//! Memory honesty: a factor's storage is known after the symbolic analysis, before it is
//! allocated. Where it would not fit in the memory the system has available, the analysis
//! fails with an error that says how much is needed, instead of the process being killed
//! by the operating system once the pages are touched.

use crate::error::{MerxError, Result};

/// Bytes the system can give without swapping (`MemAvailable` of /proc/meminfo), where the
/// platform says; None elsewhere (no check).
pub fn available_bytes() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// Below this many bytes nothing is checked: no model that small is refused, and small
/// models (a bootstrap's case replicates, a profile's refits) skip reading /proc/meminfo.
const CHECK_FROM_BYTES: f64 = 256e6;

/// An error when `needed` bytes for `what` exceed the memory available.
pub fn ensure_fits(what: &str, needed: f64) -> Result<()> {
    if needed < CHECK_FROM_BYTES {
        return Ok(());
    }
    check_fits(what, needed, available_bytes())
}

/// An error when `needed` bytes for `what` exceed `available` (when known).
pub fn check_fits(what: &str, needed: f64, available: Option<f64>) -> Result<()> {
    match available {
        Some(avail) if needed > avail => Err(MerxError::InvalidInput(format!(
            "{what} needs {:.1} GB of memory but {:.1} GB is available",
            needed / 1e9,
            avail / 1e9
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_larger_than_the_memory_is_refused_with_its_size() {
        let err = check_fits("the dense Schur complement (54000 columns)", 23.3e9, Some(16.0e9)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid input: the dense Schur complement (54000 columns) needs 23.3 GB of memory but 16.0 GB is available"
        );
        assert!(check_fits("x", 1e9, Some(2e9)).is_ok());
        assert!(check_fits("x", 1e12, None).is_ok());
        // Small factors are not checked at all.
        assert!(ensure_fits("x", 1e3).is_ok());
        // This machine reports its memory.
        if cfg!(target_os = "linux") {
            assert!(available_bytes().is_some_and(|b| b > 0.0));
        }
    }
}
