//! The rows of a serial correlation structure: groups (nested in the random-effects
//! levels), the rows of each sorted by time, the previous row and the gap to it.
//!
//! The order and the gaps are fixed by the data; the correlation parameter only changes
//! what each gap's coefficients are. Rows with the same gap share them, so the gaps are
//! also numbered as classes (`gap_class`).

use crate::data::ModelData;
use crate::error::{invalid, Result};
use std::collections::HashMap;

/// Marks a row without a predecessor (the first of its group).
pub const NO_PREVIOUS: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub struct SeriesLayout {
    /// Per row: the previous row of its group in time, or [`NO_PREVIOUS`].
    pub previous: Vec<u32>,
    /// Per row: the gap class (index into `gaps`); unused for first rows.
    pub gap_class: Vec<u32>,
    /// The distinct gaps, in order of first appearance.
    pub gaps: Vec<f64>,
    /// Per gap class: the number of rows with that gap.
    pub gap_count: Vec<usize>,
    pub n_groups: usize,
}

impl SeriesLayout {
    /// Every row its own group: no correlation (a variance function alone).
    pub fn independent(n: usize) -> Self {
        SeriesLayout { previous: vec![NO_PREVIOUS; n], gap_class: vec![0; n], gaps: Vec::new(), gap_count: Vec::new(), n_groups: n }
    }

    /// Sorts the rows by (group, time); checks the codes, the times (finite, distinct within
    /// a group, integers when `integer_time`), and that consecutive rows of a group share
    /// their level of every random-effects term of `data` (the groups are nested in them).
    pub fn new(groups: &[i64], n_groups: usize, time: &[f64], integer_time: bool, data: &ModelData) -> Result<Self> {
        let n = groups.len();
        if time.len() != n || data.n() != n {
            return invalid(format!("correlation: {n} group codes, {} times and {} observations", time.len(), data.n()));
        }
        if let Some(i) = groups.iter().position(|&g| g < 0 || g as usize >= n_groups) {
            return invalid(format!("correlation: group code {} at row {i} is outside 0..{n_groups}", groups[i]));
        }
        if let Some(i) = time.iter().position(|t| !t.is_finite()) {
            return invalid(format!("correlation: the time covariate is missing or not finite at row {i} ({})", time[i]));
        }
        if integer_time {
            if let Some(i) = time.iter().position(|t| t.fract() != 0.0) {
                return invalid(format!("correlation: the time covariate must be integer-valued; row {i} has {}", time[i]));
            }
        }
        // Rows bucketed by group (counting sort, data order kept), then each group by time:
        // O(n) plus the groups' own sorts, which are short (and already ordered in
        // longitudinal data).
        let mut start = vec![0usize; n_groups + 1];
        for &g in groups {
            start[g as usize + 1] += 1;
        }
        for g in 0..n_groups {
            start[g + 1] += start[g];
        }
        let mut next = start.clone();
        let mut order = vec![0u32; n];
        for (i, &g) in groups.iter().enumerate() {
            order[next[g as usize]] = i as u32;
            next[g as usize] += 1;
        }
        for g in 0..n_groups {
            let rows = &mut order[start[g]..start[g + 1]];
            if rows.windows(2).any(|w| time[w[0] as usize] > time[w[1] as usize]) {
                rows.sort_by(|&a, &b| time[a as usize].total_cmp(&time[b as usize]).then(a.cmp(&b)));
            }
        }
        let mut previous = vec![NO_PREVIOUS; n];
        let mut gap_class = vec![0u32; n];
        let mut gaps = Vec::new();
        let mut gap_count = Vec::new();
        let mut class_of: HashMap<u64, u32> = HashMap::new();
        let mut last: Option<(u64, u32)> = None;
        for w in order.windows(2) {
            let (j, i) = (w[0] as usize, w[1] as usize);
            if groups[i] != groups[j] {
                continue;
            }
            if time[i] == time[j] {
                return invalid(format!(
                    "correlation: the time covariate repeats within a group (rows {j} and {i} of group {} both have time {})",
                    groups[i], time[i]
                ));
            }
            for (t, term) in data.terms.iter().enumerate() {
                if term.codes[i] != term.codes[j] {
                    return invalid(format!(
                        "correlation: the correlation groups are not nested in the random-effects groups of term {t} \
                         (rows {j} and {i} of correlation group {} belong to different levels)",
                        groups[i]
                    ));
                }
            }
            let gap = time[i] - time[j];
            // Consecutive rows mostly share their gap: look at the last class first.
            let c = match last {
                Some((bits, c)) if bits == gap.to_bits() => c,
                _ => *class_of.entry(gap.to_bits()).or_insert_with(|| {
                    gaps.push(gap);
                    gap_count.push(0);
                    (gaps.len() - 1) as u32
                }),
            };
            last = Some((gap.to_bits(), c));
            gap_count[c as usize] += 1;
            previous[i] = j as u32;
            gap_class[i] = c;
        }
        Ok(SeriesLayout { previous, gap_class, gaps, gap_count, n_groups })
    }

    pub fn n(&self) -> usize {
        self.previous.len()
    }

    /// The smallest gap between consecutive rows of a group (1 without any).
    pub fn min_gap(&self) -> f64 {
        if self.gaps.is_empty() {
            return 1.0;
        }
        self.gaps.iter().copied().fold(f64::INFINITY, f64::min)
    }
}
