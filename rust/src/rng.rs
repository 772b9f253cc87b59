//! A small, self-contained random number generator for simulation and the bootstrap.
//!
//! xoshiro256++ (Blackman and Vigna 2021) seeded by SplitMix64. Every stream is derived
//! from a (seed, stream) pair, so replicate i of a bootstrap draws the same numbers whichever
//! thread runs it and however many threads there are. The samplers are exact (no
//! approximations beyond floating point): normal by the polar method, gamma by Marsaglia and
//! Tsang (2000), beta from two gammas, binomial by Bernoulli sums for few trials and by the
//! order-statistic splitting of Knuth (TAOCP 3.4.1) otherwise, Poisson by multiplication of
//! uniforms for small means and by gamma splitting (Ahrens and Dieter 1974) otherwise,
//! inverse Gaussian by Michael, Schucany and Haas (1976), negative binomial as a gamma
//! mixture of Poissons.

/// SplitMix64: one step of the seeding generator.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256++ with the samplers the simulations need.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
    /// The second normal of the last polar pair.
    spare_normal: Option<f64>,
}

impl Rng {
    /// The generator of stream `stream` under `seed` (replicate i of a bootstrap: stream i).
    pub fn for_stream(seed: u64, stream: u64) -> Self {
        // Two SplitMix64 rounds mix the pair, so neighbouring streams start far apart.
        let mut sm = seed ^ 0x6A09_E667_F3BC_C909;
        let mixed_seed = splitmix64(&mut sm);
        let mut stream_state = stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut state = mixed_seed ^ splitmix64(&mut stream_state);
        let mut s = [0u64; 4];
        for v in &mut s {
            *v = splitmix64(&mut state);
        }
        if s.iter().all(|&v| v == 0) {
            s[0] = 1;
        }
        Rng { s, spare_normal: None }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform on [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform on (0, 1): never 0, for logarithms.
    pub fn uniform_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in 0..n (Lemire's multiply-and-reject, unbiased). n must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as usize;
            }
        }
    }

    /// Standard normal (Marsaglia's polar method; the pair's second value is kept).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        loop {
            let a = 2.0 * self.uniform() - 1.0;
            let b = 2.0 * self.uniform() - 1.0;
            let s = a * a + b * b;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * s.ln() / s).sqrt();
                self.spare_normal = Some(b * f);
                return a * f;
            }
        }
    }

    /// Gamma with this shape and scale 1 (Marsaglia and Tsang; shape < 1 by the boost
    /// G(a) = G(a + 1) U^{1/a}).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = self.uniform_open();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.uniform_open();
            if u < 1.0 - 0.0331 * x * x * x * x || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
                return d * v;
            }
        }
    }

    /// Beta(a, b) from two gammas.
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        x / (x + y)
    }

    /// Binomial(n, p) for a whole number of trials n ≥ 0.
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if p <= 0.0 || n == 0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        let (mut n, mut p) = (n, p);
        let mut count = 0u64;
        // The k-th smallest of n uniforms is Beta(k, n + 1 - k): it falls below p or not,
        // which leaves one binomial on about half the trials.
        while n > 40 {
            let k = n / 2 + 1;
            let v = self.beta(k as f64, (n + 1 - k) as f64);
            if v < p {
                count += k;
                n -= k;
                p = (p - v) / (1.0 - v);
            } else {
                n = k - 1;
                p /= v;
            }
        }
        for _ in 0..n {
            if self.uniform() < p {
                count += 1;
            }
        }
        count
    }

    /// Poisson with mean mu ≥ 0.
    pub fn poisson(&mut self, mu: f64) -> u64 {
        let mut mu = mu;
        let mut count = 0u64;
        // Gamma splitting: the m-th arrival time of a unit-rate process is Gamma(m).
        while mu > 12.0 {
            let m = (0.875 * mu).floor() as u64;
            let g = self.gamma(m as f64);
            if g < mu {
                count += m;
                mu -= g;
            } else {
                return count + self.binomial(m - 1, mu / g);
            }
        }
        let limit = (-mu).exp();
        let mut prod = self.uniform();
        while prod >= limit {
            count += 1;
            prod *= self.uniform();
        }
        count
    }

    /// Inverse Gaussian with mean mu and shape lambda (Michael, Schucany and Haas).
    pub fn inverse_gaussian(&mut self, mu: f64, lambda: f64) -> f64 {
        let z = self.normal();
        let y = z * z;
        let x = mu + mu * mu * y / (2.0 * lambda) - mu / (2.0 * lambda) * (4.0 * mu * lambda * y + mu * mu * y * y).sqrt();
        if self.uniform() <= mu / (mu + x) {
            x
        } else {
            mu * mu / x
        }
    }

    /// Negative binomial with mean mu and size (shape) theta: Poisson(Gamma(θ, μ/θ)).
    pub fn negative_binomial(&mut self, mu: f64, theta: f64) -> u64 {
        if mu <= 0.0 {
            return 0;
        }
        let lambda = self.gamma(theta) * mu / theta;
        self.poisson(lambda)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn xoshiro_matches_the_reference_sequence() {
        // The reference implementation (xoshiro256plusplus.c) from the state s = {1, 2, 3, 4}.
        let mut r = Rng { s: [1, 2, 3, 4], spare_normal: None };
        for want in [41943041u64, 58720359, 3588806011781223, 3591011842654386] {
            assert_eq!(r.next_u64(), want);
        }
    }

    use super::*;

    fn moments(draws: impl Iterator<Item = f64>) -> (f64, f64, usize) {
        let v: Vec<f64> = draws.collect();
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        (m, var, v.len())
    }

    /// |mean - μ| within 5 standard errors, variance within 5 of its (normal-theory) SEs.
    fn check(name: &str, (m, v, n): (f64, f64, usize), mu: f64, var: f64) {
        let n = n as f64;
        assert!((m - mu).abs() < 5.0 * (var / n).sqrt(), "{name}: mean {m} vs {mu}");
        assert!((v - var).abs() < 5.0 * var * (2.0 / n).sqrt() * 2.0, "{name}: variance {v} vs {var}");
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::for_stream(7, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let b = Rng::for_stream(7, 4).next_u64();
        let c = Rng::for_stream(8, 3).next_u64();
        assert!(a[0] != b && a[0] != c && b != c);
    }

    #[test]
    fn samplers_have_their_means_and_variances() {
        let mut r = Rng::for_stream(1, 0);
        let n = 200_000;
        check("normal", moments((0..n).map(|_| r.normal())), 0.0, 1.0);
        check("uniform", moments((0..n).map(|_| r.uniform())), 0.5, 1.0 / 12.0);
        check("below", moments((0..n).map(|_| r.below(7) as f64)), 3.0, 4.0);
        for shape in [0.3, 1.0, 4.5] {
            check("gamma", moments((0..n).map(|_| r.gamma(shape))), shape, shape);
        }
        for (trials, p) in [(1u64, 0.3), (10, 0.7), (200, 0.05), (5000, 0.4)] {
            let (t, q) = (trials as f64, p);
            check("binomial", moments((0..n).map(|_| r.binomial(trials, p) as f64)), t * q, t * q * (1.0 - q));
        }
        for mu in [0.2, 3.0, 40.0, 900.0] {
            check("poisson", moments((0..n).map(|_| r.poisson(mu) as f64)), mu, mu);
        }
        check("inverse gaussian", moments((0..n).map(|_| r.inverse_gaussian(2.0, 3.0))), 2.0, 8.0 / 3.0);
        check("negative binomial", moments((0..n).map(|_| r.negative_binomial(4.0, 2.0) as f64)), 4.0, 4.0 + 16.0 / 2.0);
    }
}
