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

/// The environment variable that caps the memory merx may plan for, below what the system
/// has available: a job's share of a shared machine, a container's limit the kernel does not
/// report in `MemAvailable`, or a test of the refusal. A number of bytes, or one with a
/// unit: "500MB", "2.5GB", "64GiB".
pub const LIMIT_VARIABLE: &str = "MERX_MEMORY_LIMIT";

/// Below this many bytes nothing is checked unless a limit is set: no model that small is
/// refused, and small models (a bootstrap's case replicates, a profile's refits) skip
/// reading /proc/meminfo.
const CHECK_FROM_BYTES: f64 = 256e6;

/// The limit set by [`LIMIT_VARIABLE`]: Ok(None) when unset, an error naming the variable
/// when its value is not a size.
pub fn configured_limit() -> Result<Option<f64>> {
    match std::env::var(LIMIT_VARIABLE) {
        Ok(text) if !text.trim().is_empty() => parse_size(&text).map(Some).ok_or_else(|| {
            MerxError::InvalidInput(format!(
                "{LIMIT_VARIABLE}={text:?} is not a memory size: give bytes or a number with a unit, e.g. 500MB or 2.5GB"
            ))
        }),
        _ => Ok(None),
    }
}

/// Bytes in "123", "1.5e9", "500MB", "2.5 GB", "64GiB" (decimal units, binary with "i").
fn parse_size(text: &str) -> Option<f64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    // "1.5e9" keeps its exponent: the unit starts at the first letter that is not an 'e'
    // followed by a digit or sign.
    let split = match t[split..].chars().next() {
        Some('e') | Some('E')
            if t[split + 1..].starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') =>
        {
            t[split + 1..].find(|c: char| c.is_ascii_alphabetic()).map_or(t.len(), |k| split + 1 + k)
        }
        _ => split,
    };
    let value: f64 = t[..split].trim().parse().ok()?;
    let scale = match t[split..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0_f64.powi(4),
        _ => return None,
    };
    (value.is_finite() && value > 0.0).then_some(value * scale)
}

/// An error when `needed` bytes for `what` exceed the memory available, or the limit set by
/// [`LIMIT_VARIABLE`].
pub fn ensure_fits(what: &str, needed: f64) -> Result<()> {
    let limit = configured_limit()?;
    if limit.is_none() && needed < CHECK_FROM_BYTES {
        return Ok(());
    }
    let system = available_bytes();
    match limit {
        Some(cap) if system.map_or(true, |avail| cap < avail) => check_fits_limit(what, needed, cap),
        _ => check_fits(what, needed, system),
    }
}

/// Sizes in the unit that shows them: "23.3 GB", "48.0 MB".
fn size_text(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{:.1} GB", bytes / 1e9)
    } else {
        format!("{:.1} MB", bytes / 1e6)
    }
}

/// An error when `needed` bytes for `what` exceed `available` (when known).
pub fn check_fits(what: &str, needed: f64, available: Option<f64>) -> Result<()> {
    available.map_or(Ok(()), |avail| compare(what, needed, avail, ""))
}

fn check_fits_limit(what: &str, needed: f64, limit: f64) -> Result<()> {
    compare(what, needed, limit, &format!(" (the limit set by {LIMIT_VARIABLE})"))
}

fn compare(what: &str, needed: f64, avail: f64, whose: &str) -> Result<()> {
    if needed > avail {
        return Err(MerxError::InvalidInput(format!(
            "{what} needs {} of memory but {} is available{whose}",
            size_text(needed),
            size_text(avail)
        )));
    }
    Ok(())
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
        assert_eq!(
            check_fits("x", 48e6, Some(10e6)).unwrap_err().to_string(),
            "invalid input: x needs 48.0 MB of memory but 10.0 MB is available"
        );
        // This machine reports its memory.
        if cfg!(target_os = "linux") {
            assert!(available_bytes().is_some_and(|b| b > 0.0));
        }
    }

    #[test]
    fn limits_are_read_in_bytes_and_units() {
        assert_eq!(parse_size("123"), Some(123.0));
        assert_eq!(parse_size("1.5e9"), Some(1.5e9));
        assert_eq!(parse_size("500MB"), Some(500e6));
        assert_eq!(parse_size(" 2.5 gb "), Some(2.5e9));
        assert_eq!(parse_size("1GiB"), Some(1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse_size("2e3KB"), Some(2e6));
        for bad in ["", "GB", "-1GB", "0", "12 parsecs", "nan"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        assert!(check_fits_limit("x", 2e6, 1e6).unwrap_err().to_string().contains("(the limit set by MERX_MEMORY_LIMIT)"));
    }
}
