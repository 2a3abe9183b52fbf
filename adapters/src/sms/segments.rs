//! SMS segment counting (pure). A message fits one segment at 160 GSM-7
//! septets or 70 UCS-2 code units; longer ones are split into 153 / 67 unit
//! parts (the rest is the concatenation header). GSM-7 extension characters
//! take two septets and are never split across parts, nor are UTF-16
//! surrogate pairs, which is why counting is done by packing, not dividing.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SegmentInfo {
    pub encoding: Encoding,
    /// Septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
    pub segments: u32,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{0C}";

fn gsm7_width(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts the segments `body` takes.
pub fn count_segments(body: &str) -> SegmentInfo {
    let gsm: Option<Vec<usize>> = body.chars().map(gsm7_width).collect();
    match gsm {
        Some(widths) => pack(Encoding::Gsm7, &widths, 160, 153),
        None => {
            let widths: Vec<usize> = body.chars().map(char::len_utf16).collect();
            pack(Encoding::Ucs2, &widths, 70, 67)
        }
    }
}

fn pack(encoding: Encoding, widths: &[usize], single: usize, part: usize) -> SegmentInfo {
    let units: usize = widths.iter().sum();
    let segments = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        let mut segments = 1u32;
        let mut used = 0usize;
        for &w in widths {
            if used + w > part {
                segments += 1;
                used = 0;
            }
            used += w;
        }
        segments
    };
    SegmentInfo {
        encoding,
        units,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gsm7_fits_160_in_one_segment_then_153_per_part() {
        assert_eq!(count_segments(&"a".repeat(160)).segments, 1);
        assert_eq!(count_segments(&"a".repeat(161)).segments, 2);
        assert_eq!(count_segments(&"a".repeat(306)).segments, 2);
        assert_eq!(count_segments(&"a".repeat(307)).segments, 3);
        assert_eq!(count_segments("").segments, 0);
    }

    #[test]
    fn extension_characters_count_twice_and_do_not_straddle_parts() {
        let info = count_segments("{}");
        assert_eq!(
            (info.encoding, info.units, info.segments),
            (Encoding::Gsm7, 4, 1)
        );
        assert_eq!(count_segments(&"€".repeat(80)).segments, 1);
        assert_eq!(count_segments(&"€".repeat(81)).segments, 2);
        // 152 plain septets, then a 2-septet '€' that must open part two.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        let info = count_segments(&text);
        assert_eq!(info.units, 164);
        assert_eq!(info.segments, 2);
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(count_segments(&text).segments, 3);
    }

    #[test]
    fn any_non_gsm_character_switches_to_ucs2() {
        let info = count_segments("Hello ✓");
        assert_eq!(info.encoding, Encoding::Ucs2);
        assert_eq!(count_segments(&"ж".repeat(70)).segments, 1);
        assert_eq!(count_segments(&"ж".repeat(71)).segments, 2);
        assert_eq!(count_segments(&"ж".repeat(134)).segments, 2);
        assert_eq!(count_segments(&"ж".repeat(135)).segments, 3);
    }

    #[test]
    fn emoji_take_two_units_and_stay_whole() {
        let info = count_segments("😀");
        assert_eq!((info.units, info.segments), (2, 1));
        // 66 units, then an emoji pair that cannot be split at 67.
        let text = format!("{}😀", "ж".repeat(66));
        assert_eq!(count_segments(&text).segments, 1);
        let text = format!("{}😀x", "ж".repeat(66));
        let info = count_segments(&text);
        assert_eq!(info.units, 69);
        assert_eq!(info.segments, 1);
        let text = format!("{}😀{}", "ж".repeat(66), "ж".repeat(3));
        assert_eq!(count_segments(&text).segments, 2);
    }

    proptest! {
        #[test]
        fn segments_hold_every_unit(body in ".{0,400}") {
            let info = count_segments(&body);
            let (single, part) = match info.encoding {
                Encoding::Gsm7 => (160, 153),
                Encoding::Ucs2 => (70, 67),
            };
            match info.segments {
                0 => prop_assert_eq!(info.units, 0),
                1 => prop_assert!(info.units <= single),
                n => {
                    prop_assert!(info.units > single);
                    prop_assert!(n as usize >= info.units.div_ceil(part));
                    // Packing wastes at most one unit per part.
                    prop_assert!(n as usize <= info.units.div_ceil(part - 1));
                }
            }
        }
    }
}
