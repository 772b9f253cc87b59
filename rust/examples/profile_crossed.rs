//! Phase timings of the crossed 1M-row design (users × Zipf items), for profiling.
use merx_core::{LinearMixedModel, ModelData, TermData};
use std::time::Instant;

fn main() {
    let n = 1_000_000usize;
    let (nu, ni) = (50_000usize, 2_000usize);
    // deterministic LCG
    let mut s: u64 = 42;
    let mut next = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let h: f64 = (1..=ni).map(|i| 1.0 / i as f64).sum();
    let mut cdf = Vec::with_capacity(ni);
    let mut acc = 0.0;
    for i in 1..=ni {
        acc += 1.0 / (i as f64 * h);
        cdf.push(acc);
    }
    let mut user = vec![0i64; n];
    let mut item = vec![0i64; n];
    let mut x = vec![0f64; 2 * n];
    let mut y = vec![0f64; n];
    let ones = vec![1f64; n];
    for i in 0..n {
        user[i] = (next() * nu as f64) as i64 % nu as i64;
        let u = next();
        item[i] = cdf.partition_point(|&c| c < u).min(ni - 1) as i64;
        x[i] = 1.0;
        x[n + i] = next() - 0.5;
        y[i] = 2.0 + x[n + i] + 0.8 * ((user[i] % 7) as f64 - 3.0) + 0.5 * ((item[i] % 5) as f64 - 2.0) + next();
    }
    let data = ModelData {
        x: faer::MatRef::from_column_major_slice(&x, n, 2),
        y: &y,
        terms: vec![
            TermData::new(&user, nu, faer::MatRef::from_column_major_slice(&ones, n, 1)),
            TermData::new(&item, ni, faer::MatRef::from_column_major_slice(&ones, n, 1)),
        ],
        weights: None,
        offset: None,
    };
    let t = Instant::now();
    let mut m = LinearMixedModel::new(&data, true).unwrap();
    println!("model new {:?} {:?}", t.elapsed(), m);
    let t = Instant::now();
    let cp = merx_core::crossprod::CrossProducts::assemble(&data, None, &m.random_effects).unwrap();
    println!("assemble {:?} blocks {}", t.elapsed(), cp.block_row.len());
    for _ in 0..3 {
        let t = Instant::now();
        let e = m.evaluate(&[0.8, 0.5]).unwrap();
        println!("evaluate {:?} {}", t.elapsed(), e.objective);
    }
}
