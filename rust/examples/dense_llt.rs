use std::time::Instant;
fn main() {
    for n in [1128usize, 2000] {
        let a = faer::Mat::<f64>::from_fn(n, n, |i, j| if i == j { n as f64 } else { 1.0 / (1.0 + (i as f64 - j as f64).abs()) });
        for _ in 0..3 {
            let mut b = a.clone();
            let t = Instant::now();
            faer::linalg::cholesky::llt::factor::cholesky_in_place(b.as_mut(), Default::default(), faer::Par::Seq, faer::dyn_stack::MemStack::new(&mut faer::dyn_stack::MemBuffer::new(faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<f64>(n, faer::Par::Seq, Default::default()))), Default::default()).unwrap();
            let el = t.elapsed();
            println!("n {n} {:?} {:.1} GFlops", el, (n as f64).powi(3) / 3.0 / el.as_secs_f64() / 1e9);
        }
    }
}
