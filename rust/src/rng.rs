//! A small, self-contained pseudo-random generator: xoshiro256++ (Blackman and Vigna 2019)
//! seeded through SplitMix64, with uniform and standard normal variates.
//!
//! A generator is identified by a seed and a stream number: `Rng::new(seed, stream)` for
//! different streams gives independent-looking sequences, so a computation can give each
//! unit of work (a row, a level, a parameter vector) its own stream and produce the same
//! numbers whatever the order, chunking or threading of the work.

/// xoshiro256++ state with a cached second normal variate of the polar method.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
    spare_normal: Option<f64>,
}

/// SplitMix64's step: the state advances by the golden-ratio increment and the output is
/// its finaliser (Steele, Lea and Flood 2014), the seeding xoshiro's authors recommend.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// The generator of stream `stream` under `seed`. The stream number is mixed through
    /// SplitMix64 before it enters the seed, so neighbouring streams (rows 0, 1, 2, ...)
    /// start from unrelated states.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut mix = stream;
        let mut state = seed ^ splitmix64(&mut mix);
        let mut s = [0u64; 4];
        for v in &mut s {
            *v = splitmix64(&mut state);
        }
        if s == [0; 4] {
            s[0] = 1; // the one state xoshiro cannot leave
        }
        Rng { s, spare_normal: None }
    }

    /// The next 64 random bits.
    #[inline]
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

    /// A uniform variate on the open interval (0, 1): the top 53 bits, centred in their cell,
    /// so that neither 0 nor 1 occurs (logarithms of it are finite).
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal variate by Marsaglia's polar method (two per accepted pair; the
    /// second is kept for the next call).
    #[inline]
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s < 1.0 && s > 0.0 {
                let f = (-2.0 * s.ln() / s).sqrt();
                self.spare_normal = Some(v * f);
                return u * f;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_stream_repeat_and_streams_differ() {
        let a: Vec<u64> = (0..8).scan(Rng::new(7, 3), |r, _| Some(r.next_u64())).collect();
        let b: Vec<u64> = (0..8).scan(Rng::new(7, 3), |r, _| Some(r.next_u64())).collect();
        let c: Vec<u64> = (0..8).scan(Rng::new(7, 4), |r, _| Some(r.next_u64())).collect();
        let d: Vec<u64> = (0..8).scan(Rng::new(8, 3), |r, _| Some(r.next_u64())).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn xoshiro_matches_the_reference_sequence() {
        // The reference implementation (xoshiro256plusplus.c) from the state s = {1, 2, 3, 4}.
        let mut r = Rng { s: [1, 2, 3, 4], spare_normal: None };
        let want = [41943041u64, 58720359, 3588806011781223, 3591011842654386];
        for w in want {
            assert_eq!(r.next_u64(), w);
        }
    }

    #[test]
    fn uniform_and_normal_moments() {
        let mut r = Rng::new(2024, 0);
        let n = 200_000;
        let u: Vec<f64> = (0..n).map(|_| r.uniform()).collect();
        assert!(u.iter().all(|&x| x > 0.0 && x < 1.0));
        let mu = u.iter().sum::<f64>() / n as f64;
        assert!((mu - 0.5).abs() < 4.0 * (1.0 / 12.0f64).sqrt() / (n as f64).sqrt());
        let z: Vec<f64> = (0..n).map(|_| r.standard_normal()).collect();
        let m = z.iter().sum::<f64>() / n as f64;
        let v = z.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64;
        let k4 = z.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n as f64;
        // standard errors: mean 1/√n, variance √(2/n), fourth moment √(96/n)
        assert!(m.abs() < 4.0 / (n as f64).sqrt());
        assert!((v - 1.0).abs() < 4.0 * (2.0 / n as f64).sqrt());
        assert!((k4 - 3.0).abs() < 4.0 * (96.0 / n as f64).sqrt());
        let tail = z.iter().filter(|&&x| x > 1.6448536269514722).count() as f64 / n as f64;
        assert!((tail - 0.05).abs() < 4.0 * (0.05 * 0.95 / n as f64).sqrt());
    }
}
