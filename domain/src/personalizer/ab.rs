//! Deterministic A/B assignment.
//!
//! A lead's variant is `fnv1a64(experiment ‖ 0x1F ‖ lead_id)`, mixed with the SplitMix64
//! finalizer, modulo the number of variants (chosen: FNV-1a is tiny and stable across
//! Rust versions, unlike `std`'s `DefaultHasher`; the finalizer spreads similar ids). The
//! same lead always gets the same variant of the same experiment, on any worker, and the
//! experiment name salts the hash so experiments are independent.

use crate::error::DomainError;

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The bucket `0..n` of a lead in an experiment (`n` ≥ 1).
pub fn bucket(lead_id: &str, experiment: &str, n: usize) -> usize {
    let mut bytes = Vec::with_capacity(experiment.len() + lead_id.len() + 1);
    bytes.extend_from_slice(experiment.as_bytes());
    bytes.push(0x1f);
    bytes.extend_from_slice(lead_id.as_bytes());
    let n = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
    usize::try_from(mix(fnv1a64(&bytes)) % n).unwrap_or(0)
}

/// The variant a lead sees in an experiment.
pub fn assign_variant<'a>(
    lead_id: &str,
    experiment: &str,
    variants: &'a [String],
) -> Result<&'a str, DomainError> {
    if variants.is_empty() {
        return Err(DomainError::NoVariants {
            experiment: experiment.into(),
        });
    }
    Ok(&variants[bucket(lead_id, experiment, variants.len())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn variants(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("v{i}")).collect()
    }

    #[test]
    fn fnv_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn assignment_is_roughly_even() {
        let v = variants(2);
        let a = (0..10_000)
            .filter(|i| assign_variant(&format!("lead-{i}"), "subject-test", &v) == Ok("v0"))
            .count();
        assert!((4_800..=5_200).contains(&a), "{a}");
    }

    #[test]
    fn experiments_are_independent() {
        let v = variants(2);
        let same = (0..10_000)
            .filter(|i| {
                let lead = format!("lead-{i}");
                assign_variant(&lead, "exp-a", &v) == assign_variant(&lead, "exp-b", &v)
            })
            .count();
        assert!((4_800..=5_200).contains(&same), "{same}");
    }

    #[test]
    fn no_variants_is_an_error() {
        assert_eq!(
            assign_variant("l", "e", &[]).unwrap_err().to_string(),
            "experiment \"e\" has no variants"
        );
    }

    proptest! {
        #[test]
        fn the_same_lead_always_gets_the_same_variant(lead in ".*", exp in ".*", n in 1usize..10) {
            let v = variants(n);
            let first = assign_variant(&lead, &exp, &v).unwrap();
            prop_assert_eq!(first, assign_variant(&lead, &exp, &v).unwrap());
            prop_assert!(v.iter().any(|x| x == first));
        }
    }
}
