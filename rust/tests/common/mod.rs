//! Helpers shared by the integration tests: a small deterministic generator.

/// A linear congruential generator (deterministic across platforms) with uniform and
/// normal draws.
pub struct Rng(pub u64);

impl Rng {
    pub fn unif(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }

    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unif().max(1e-300), self.unif());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}
