//! Speed of faer's sequential dense Cholesky on this machine (the floor for the dense
//! Schur complement of crossed designs).
use std::time::Instant;
fn main() {
    let par = faer::Par::Seq;
    for n in [1128usize, 2000] {
        let a = faer::Mat::<f64>::from_fn(n, n, |i, j| if i == j { n as f64 } else { 1.0 / (1.0 + (i as f64 - j as f64).abs()) });
        let req = faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<f64>(n, par, Default::default());
        let mut mem = faer::dyn_stack::MemBuffer::new(req);
        for _ in 0..3 {
            let mut b = a.clone();
            let t = Instant::now();
            faer::linalg::cholesky::llt::factor::cholesky_in_place(b.as_mut(), Default::default(), par, faer::dyn_stack::MemStack::new(&mut mem), Default::default()).unwrap();
            let el = t.elapsed();
            println!("n {n} {:?} {:.1} GFlops", el, (n as f64).powi(3) / 3.0 / el.as_secs_f64() / 1e9);
        }
    }
}
