//! The accumulator against the in-memory assembly: crossed terms (one with a slope), prior
//! weights, a large response mean, batches merged out of order.

use super::*;
use crate::data::{ModelData, TermData};
use crate::LinearMixedModel;
use faer::Mat;

struct Rows {
    x: Mat<f64>,
    z1: Mat<f64>,
    z2: Mat<f64>,
    g1: Vec<i64>,
    g2: Vec<i64>,
    y: Vec<f64>,
    w: Vec<f64>,
}

fn rows(n: usize) -> Rows {
    let x = Mat::<f64>::from_fn(n, 3, |i, j| match j {
        0 => 1.0,
        1 => ((i * 7) % 11) as f64 / 3.0 + 50.0,
        _ => ((i * 13) % 5) as f64 - 2.0,
    });
    let z1 = Mat::<f64>::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { x[(i, 1)] - 50.0 });
    let z2 = Mat::<f64>::from_fn(n, 1, |_, _| 1.0);
    let g1 = (0..n).map(|i| (i % 9) as i64).collect();
    let g2 = (0..n).map(|i| ((i * 5 + i / 7) % 6) as i64).collect();
    let y = (0..n).map(|i| 1e8 + 3.0 * x[(i, 1)] + ((i * i) % 17) as f64 / 4.0).collect();
    let w = (0..n).map(|i| 0.5 + (i % 4) as f64 * 0.5).collect();
    Rows { x, z1, z2, g1, g2, y, w }
}

fn batch<'a>(r: &'a Rows, lo: usize, hi: usize) -> Batch<'a> {
    Batch {
        x: r.x.as_ref().subrows(lo, hi - lo),
        r: &r.y[lo..hi],
        weights: Some(&r.w[lo..hi]),
        codes: vec![&r.g1[lo..hi], &r.g2[lo..hi]],
        z: vec![r.z1.as_ref().subrows(lo, hi - lo), r.z2.as_ref().subrows(lo, hi - lo)],
    }
}

#[test]
fn merged_batches_give_the_in_memory_objective_and_block_pattern() {
    let n = 90;
    let r = rows(n);
    let data = ModelData {
        x: r.x.as_ref(),
        y: &r.y,
        terms: vec![TermData::new(&r.g1, 9, r.z1.as_ref()), TermData::new(&r.g2, 6, r.z2.as_ref())],
        weights: Some(&r.w),
        offset: None,
    };
    let mut memory = LinearMixedModel::new(&data, true).unwrap();
    let first = batch(&r, 0, 20);
    let (centre, shift) = pilot(first.x, first.r, first.weights, Some(0));
    let shapes = [(9, 2), (6, 1)];
    let mut a = CrossProductAccumulator::new(3, &shapes, centre.clone(), shift.clone()).unwrap();
    let mut b = CrossProductAccumulator::new(3, &shapes, centre, shift).unwrap();
    b.add_batch(&batch(&r, 50, 90)).unwrap();
    a.add_batch(&batch(&r, 0, 20)).unwrap();
    a.add_batch(&batch(&r, 20, 50)).unwrap();
    a.merge(&b).unwrap();
    let structures: Vec<Arc<dyn CovarianceStructure>> = vec![Arc::new(crate::covariance::Unstructured); 2];
    let (cp, re) = a.finish(&[0, 1, 2], Some(0), &structures).unwrap();
    assert_eq!(cp.block_row, memory.cp.block_row);
    assert_eq!(cp.block_col_ptr, memory.cp.block_col_ptr);
    for (s, m) in cp.ztz.iter().zip(&memory.cp.ztz) {
        assert!((s - m).abs() <= 1e-9 * m.abs().max(1.0));
    }
    let mut streamed = LinearMixedModel::from_cross_products(cp, re, true).unwrap();
    // The reference: the in-memory model of y - 10⁸ (exact in floating point), free of the
    // large mean. (On these data the in-memory model of y itself is 2.5e-10 from it, the
    // streamed one 3.5e-11: the pilot-then-exact shift loses no more than the second pass.)
    let y0: Vec<f64> = r.y.iter().map(|v| v - 1e8).collect();
    let mut reference = LinearMixedModel::new(&ModelData { y: &y0, ..data.clone() }, true).unwrap();
    for theta in [[0.8, 0.1, 0.3, 0.5], [1.5, -0.2, 0.05, 1.1]] {
        let m = memory.evaluate(&theta).unwrap().objective;
        let s = streamed.evaluate(&theta).unwrap().objective;
        let e = reference.evaluate(&theta).unwrap().objective;
        assert!((s - e).abs() <= 1e-10 * e.abs(), "streamed {s} vs {e}");
        assert!((m - e).abs() <= 1e-9 * e.abs(), "in memory {m} vs {e}");
    }
}

#[test]
fn a_dropped_column_and_bad_codes() {
    let r = rows(40);
    let mut a = CrossProductAccumulator::new(3, &[(9, 2), (6, 1)], vec![0.0; 3], vec![0.0; 3]).unwrap();
    let mut bad = batch(&r, 0, 40);
    let codes: Vec<i64> = r.g1.iter().map(|c| c + 3).collect();
    bad.codes[0] = &codes;
    assert!(a.add_batch(&bad).unwrap_err().to_string().contains("outside 0..9"));
    a.add_batch(&batch(&r, 0, 40)).unwrap();
    let structures: Vec<Arc<dyn CovarianceStructure>> = vec![Arc::new(crate::covariance::Unstructured); 2];
    let (cp, _) = a.finish(&[0, 1], Some(0), &structures).unwrap();
    assert_eq!((cp.p, cp.n_obs, cp.xtxy.len()), (2, 40, 9));
    let other = CrossProductAccumulator::new(3, &[(9, 2), (6, 1)], vec![1.0; 3], vec![0.0; 3]).unwrap();
    assert!(a.merge(&other).is_err());
}
