//! "Did you mean …?" for misspelled names.

/// The candidate closest to `wrong` by edit distance, if it is close enough to be a
/// plausible typo: at most a third of the name's length (and at least one edit), or one
/// of the two a prefix of the other (`lead` for `lead_id`). Ties go to the alphabetically
/// first candidate, so suggestions are deterministic.
pub(crate) fn closest<'a, I>(wrong: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (wrong.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != wrong)
        .map(|c| (strsim::damerau_levenshtein(wrong, c), c))
        .filter(|(d, c)| *d <= limit || is_prefix(wrong, c))
        .min()
        .map(|(_, c)| c)
}

fn is_prefix(a: &str, b: &str) -> bool {
    a.len().min(b.len()) >= 3 && (a.starts_with(b) || b.starts_with(a))
}

/// ` (did you mean "x"?)` or the empty string.
pub(crate) fn did_you_mean<'a, I>(wrong: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match closest(wrong, candidates) {
        Some(c) => format!(" (did you mean {c:?}?)"),
        None => String::new(),
    }
}

/// `a, b, c` — or the first `max` and `…` when there are more.
pub(crate) fn list<'a, I>(names: I, max: usize) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    let names: Vec<&str> = names.into_iter().collect();
    let mut out = names
        .iter()
        .take(max)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > max {
        out.push_str(", …");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_typos_are_suggested() {
        assert_eq!(closest("scrape", ["scraper", "icp"]), Some("scraper"));
        assert_eq!(closest("scrapper", ["scraper", "icp"]), Some("scraper"));
        assert_eq!(
            closest("depend_on", ["depends_on", "id"]),
            Some("depends_on")
        );
        assert_eq!(closest("lead", ["lead_id", "limit"]), Some("lead_id"));
        assert_eq!(closest("lead_identifier", ["lead_id"]), Some("lead_id"));
    }

    #[test]
    fn distant_names_are_not_suggested() {
        assert_eq!(closest("analytics", ["scraper", "icp"]), None);
        assert_eq!(closest("x", ["x"]), None);
        assert_eq!(closest("ab", ["abcdef"]), None);
    }

    #[test]
    fn ties_break_alphabetically() {
        assert_eq!(closest("ab", ["ac", "aa"]), Some("aa"));
    }

    #[test]
    fn long_lists_are_cut() {
        assert_eq!(list(["a", "b", "c"], 5), "a, b, c");
        assert_eq!(list(["a", "b", "c"], 2), "a, b, …");
    }
}
