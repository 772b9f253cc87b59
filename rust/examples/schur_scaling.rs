//! Time of factoring a dense Schur complement of n columns with merx's dense factor (the
//! blocked Cholesky on all cores, as a crossed fit runs it once per evaluation), for the
//! sizes given on the command line: `cargo run --release --example schur_scaling -- 2000 5000`.
//! Prints seconds, GFlop/s (n³/3 flops) and the block's memory. docs/scaling.md uses it.
use merx_core::linalg::DenseCholesky;
use std::time::Instant;

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    for n in sizes {
        let mut f = DenseCholesky::new(n).expect("memory for the block");
        let mut best = f64::INFINITY;
        for _ in 0..2 {
            let mut l = f.lower_mut();
            for j in 0..n {
                for i in j..n {
                    l[(i, j)] = if i == j { n as f64 } else { 1.0 / (1.0 + (i as f64 - j as f64).abs()) };
                }
            }
            let t = Instant::now();
            f.factorize_in_place().expect("positive definite");
            best = best.min(t.elapsed().as_secs_f64());
        }
        let flops = (n as f64).powi(3) / 3.0;
        println!("n {n} factor {best:.3} s {:.1} GFlop/s flops {flops:.3e} block {:.2} GB", flops / best / 1e9, 8.0 * (n * n) as f64 / 1e9);
    }
}
