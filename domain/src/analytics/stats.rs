//! The normal distribution and the two-proportion z-test, written out (no stats crate).
//!
//! `erfc` uses the series `erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1))`
//! (all terms positive, no cancellation) for |x| < 3, and the continued fraction
//! `erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + 3/2/(x + …))))` evaluated with Lentz's
//! method for x ≥ 3. Both are accurate far beyond the 1e-7 the tests ask for.

use serde::{Deserialize, Serialize};

const FRAC_1_SQRT_PI: f64 = 0.564_189_583_547_756_3;

fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    for n in 1..200 {
        term *= 2.0 * x2 / f64::from(2 * n + 1);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    2.0 * FRAC_1_SQRT_PI * (-x2).exp() * sum
}

fn erfc_continued_fraction(x: f64) -> f64 {
    // erfc(x) = e^(-x²)/√π · 1/(x + a1/(x + a2/(x + …))), a_k = k/2.
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for k in 1..500 {
        let a = f64::from(k) / 2.0;
        d = x + a * d;
        d = if d.abs() < tiny { tiny } else { d };
        c = x + a / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() * FRAC_1_SQRT_PI / f
}

/// The complementary error function; `NaN` in, `NaN` out.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 3.0 {
        1.0 - erf_series(x)
    } else {
        erfc_continued_fraction(x)
    }
}

/// The standard normal CDF Φ(z).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// A z-test result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZTest {
    /// Positive when the first proportion is larger.
    pub z: f64,
    /// Two-sided.
    pub p_value: f64,
}

/// Pooled two-proportion z-test of `x1/n1` against `x2/n2`. `None` when a sample is
/// empty, a count exceeds its sample, or both proportions are 0 or both 1 (no variance).
pub fn two_proportion_z_test(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<ZTest> {
    if n1 == 0 || n2 == 0 || x1 > n1 || x2 > n2 {
        return None;
    }
    let (x1, n1, x2, n2) = (x1 as f64, n1 as f64, x2 as f64, n2 as f64);
    let pooled = (x1 + x2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se <= 0.0 || !se.is_finite() {
        return None;
    }
    let z = (x1 / n1 - x2 / n2) / se;
    Some(ZTest {
        z,
        p_value: erfc(z.abs() / std::f64::consts::SQRT_2).clamp(0.0, 1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn erfc_matches_reference_values() {
        // Reference values from high-precision tables (Abramowitz & Stegun, mpmath).
        let cases = [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 0.004_677_734_981_047_266),
            (2.9, 4.109_787_809_945_886e-5),
            (3.0, 2.209_049_699_858_544e-5),
            (4.0, 1.541_725_790_028_002e-8),
            (-1.0, 1.842_700_792_949_715),
        ];
        for (x, want) in cases {
            assert!(
                close(erfc(x), want, 1e-13),
                "erfc({x}) = {} want {want}",
                erfc(x)
            );
        }
    }

    #[test]
    fn normal_cdf_matches_reference_values_to_1e_7() {
        let cases = [
            (0.0, 0.5),
            (1.0, 0.841_344_746_068_542_9),
            (1.644_853_626_951_472_2, 0.95),
            (1.959_963_984_540_054, 0.975),
            (-1.959_963_984_540_054, 0.025),
            (2.575_829_303_548_901, 0.995),
            (-3.0, 0.001_349_898_031_630_094_6),
            (-6.0, 9.865_876_450_377_012e-10),
            (8.0, 1.0),
        ];
        for (z, want) in cases {
            assert!(
                close(normal_cdf(z), want, 1e-10),
                "Φ({z}) = {} want {want}",
                normal_cdf(z)
            );
        }
    }

    #[test]
    fn z_test_matches_a_worked_example() {
        // 60/1000 vs 40/1000: pooled 0.05, se = sqrt(0.05·0.95·0.002) = 0.0097468; z = 2.0520.
        let t = two_proportion_z_test(60, 1000, 40, 1000).unwrap();
        assert!(close(t.z, 2.051_956_704_170_308, 1e-9), "{}", t.z);
        assert!(
            close(t.p_value, 0.040_173_870_288_512_13, 1e-9),
            "{}",
            t.p_value
        );
    }

    #[test]
    fn degenerate_samples_have_no_test() {
        assert_eq!(two_proportion_z_test(0, 0, 1, 10), None);
        assert_eq!(two_proportion_z_test(0, 10, 0, 10), None);
        assert_eq!(two_proportion_z_test(10, 10, 10, 10), None);
        assert_eq!(two_proportion_z_test(11, 10, 1, 10), None);
    }

    proptest! {
        #[test]
        fn cdf_is_monotone_and_bounded(a in -40.0f64..40.0, d in 0.0f64..5.0) {
            let (lo, hi) = (normal_cdf(a), normal_cdf(a + d));
            prop_assert!((0.0..=1.0).contains(&lo));
            prop_assert!(lo <= hi + 1e-15);
            prop_assert!(close(normal_cdf(a) + normal_cdf(-a), 1.0, 1e-14));
        }

        #[test]
        fn p_values_are_probabilities_and_symmetric(
            n1 in 1u64..5000, n2 in 1u64..5000, f1 in 0.0f64..=1.0, f2 in 0.0f64..=1.0
        ) {
            let (x1, x2) = ((n1 as f64 * f1) as u64, (n2 as f64 * f2) as u64);
            if let Some(t) = two_proportion_z_test(x1, n1, x2, n2) {
                prop_assert!((0.0..=1.0).contains(&t.p_value));
                let back = two_proportion_z_test(x2, n2, x1, n1).unwrap();
                prop_assert!(close(back.z, -t.z, 1e-9));
                prop_assert!(close(back.p_value, t.p_value, 1e-12));
            }
        }
    }
}
