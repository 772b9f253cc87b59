//! Phase timings of a model dumped by `benches` tooling to a raw binary file:
//! i64 n, i64 levels × 3, i64 codes × 3n, f64 x (n), f64 y (n). Scalar terms only.
use merx_core::{LinearMixedModel, ModelData, TermData};
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("path to the dump");
    let bytes = std::fs::read(path).expect("read");
    let i64s = |off: usize, k: usize| -> Vec<i64> { (0..k).map(|i| i64::from_le_bytes(bytes[off + 8 * i..off + 8 * i + 8].try_into().unwrap())).collect() };
    let f64s = |off: usize, k: usize| -> Vec<f64> { (0..k).map(|i| f64::from_le_bytes(bytes[off + 8 * i..off + 8 * i + 8].try_into().unwrap())).collect() };
    let head = i64s(0, 4);
    let n = head[0] as usize;
    let mut off = 32;
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(i64s(off, n));
        off += 8 * n;
    }
    let svc = f64s(off, n);
    let y = f64s(off + 8 * n, n);
    let mut x = vec![1.0; n];
    x.extend_from_slice(&svc);
    let ones = vec![1.0; n];
    let data = ModelData {
        x: faer::MatRef::from_column_major_slice(&x, n, 2),
        y: &y,
        terms: (0..3)
            .map(|t| TermData::new(&codes[t], head[1 + t] as usize, faer::MatRef::from_column_major_slice(&ones, n, 1)))
            .collect(),
        weights: None,
        offset: None,
    };
    let t = Instant::now();
    let mut m = LinearMixedModel::new(&data, true).unwrap();
    println!("model new {:?} {:?}", t.elapsed(), m);
    let theta = [0.276, 0.435, 0.093];
    for _ in 0..3 {
        let t = Instant::now();
        let e = m.evaluate(&theta).unwrap();
        println!("evaluate {:?} {}", t.elapsed(), e.objective);
    }
    let t = Instant::now();
    let reps = 20;
    for _ in 0..reps {
        m.evaluate(&theta).unwrap();
    }
    println!("mean evaluate {:?}", t.elapsed() / reps);
    for _ in 0..3 {
        m.evaluate(&theta).unwrap();
        let t = Instant::now();
        let g = m.gradient().unwrap();
        println!("gradient {:?} {:?}", t.elapsed(), g);
    }
}
