//! Best-effort line numbers for problems found after parsing.
//!
//! serde hands us plain structs without positions, so instead of a position-tracking
//! parser we scan the source text: a step starts at its `id: <step>` (YAML) or
//! `"id": "<step>"` (JSON) key, and a field of that step is the first line holding the
//! field's key before the next step. Good enough to point an editor at the right place;
//! when the scan finds nothing the problem simply has no line.

/// The lines of a definition and where each step starts.
pub(crate) struct SourceMap<'a> {
    lines: Vec<&'a str>,
    json: bool,
    /// 0-based line of each step's `id` key, aligned with `RawDefinition::steps`.
    step_lines: Vec<Option<usize>>,
}

impl<'a> SourceMap<'a> {
    pub(crate) fn new<'i>(
        text: &'a str,
        json: bool,
        step_ids: impl Iterator<Item = &'i str>,
    ) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let mut ids: Vec<(usize, &str)> = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            ids.extend(find_keys(line, "id").into_iter().map(|(_, rest)| (n, rest)));
        }
        // Steps appear in document order, so each is searched after the previous one;
        // a duplicate id thus maps to its own occurrence.
        let mut cursor = 0;
        let step_lines = step_ids
            .map(|id| {
                let found = ids[cursor..]
                    .iter()
                    .position(|(_, rest)| value_is(rest, id))?;
                let line = ids[cursor + found].0;
                cursor += found + 1;
                Some(line)
            })
            .collect();
        Self {
            lines,
            json,
            step_lines,
        }
    }

    /// 1-based line of step `i`'s id.
    pub(crate) fn step_line(&self, i: usize) -> Option<usize> {
        self.step_lines.get(i).copied().flatten().map(|l| l + 1)
    }

    /// 0-based line range from step `i`'s id to the next step's.
    fn step_range(&self, i: usize) -> Option<(usize, usize)> {
        let start = self.step_lines.get(i).copied().flatten()?;
        let next = self.step_lines[i + 1..].iter().flatten().next().copied();
        let end = next.unwrap_or(self.lines.len()).max(start + 1);
        Some((start, end))
    }

    /// 1-based line of `key` inside step `i`, else the step's own line.
    pub(crate) fn step_field_line(&self, i: usize, key: &str) -> Option<usize> {
        self.search_step(i, |line| !find_keys(line, key).is_empty())
            .or_else(|| self.step_line(i))
    }

    /// 1-based line inside step `i` that contains `needle`, else the step's own line.
    pub(crate) fn step_text_line(&self, i: usize, needle: &str) -> Option<usize> {
        self.search_step(i, |line| line.contains(needle))
            .or_else(|| self.step_line(i))
    }

    fn search_step(&self, i: usize, matches: impl Fn(&str) -> bool) -> Option<usize> {
        let (start, end) = self.step_range(i)?;
        (start..end.min(self.lines.len()))
            .find(|&n| matches(self.lines[n]))
            .map(|n| n + 1)
    }

    /// 1-based line of a top-level key (`name`, `version`, `steps`, `inputs`).
    pub(crate) fn top_line(&self, key: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|line| {
                let keys = find_keys(line, key);
                if self.json {
                    !keys.is_empty()
                } else {
                    keys.first().is_some_and(|(col, _)| *col == 0)
                }
            })
            .map(|n| n + 1)
    }

    /// 1-based line of input `name` under the top-level `inputs` key.
    pub(crate) fn input_line(&self, name: &str) -> Option<usize> {
        let inputs = self.top_line("inputs")?;
        // `inputs: {a: …}` on one line, or the key on a later line.
        (inputs - 1..self.lines.len())
            .find(|&n| !find_keys(self.lines[n], name).is_empty())
            .map(|n| n + 1)
            .or(Some(inputs))
    }
}

/// Every `key: value` / `"key": "value"` occurrence in a line: the key's column and the
/// text after the colon (empty when the value is on the next lines).
fn find_keys<'l>(line: &'l str, key: &str) -> Vec<(usize, &'l str)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = line[from..].find(key) {
        let start = from + pos;
        from = start + key.len();
        let before = if start == 0 {
            None
        } else {
            Some(bytes[start - 1])
        };
        let quote = match before {
            None | Some(b' ' | b'\t' | b'{' | b',') => None,
            Some(q @ (b'"' | b'\'')) => Some(q as char),
            Some(_) => continue,
        };
        let mut rest = &line[from..];
        if let Some(q) = quote {
            match rest.strip_prefix(q) {
                Some(r) => rest = r,
                None => continue,
            }
        }
        let Some(value) = rest.trim_start().strip_prefix(':') else {
            continue;
        };
        let column = if quote.is_some() { start - 1 } else { start };
        out.push((column, value.trim_start()));
    }
    out
}

/// Whether the text after a key's colon starts with the scalar `value`, quoted or not.
fn value_is(rest: &str, value: &str) -> bool {
    let (body, ends) = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => (&rest[1..], vec![q]),
        _ => (rest, vec![' ', '\t', ',', '}', ']', '#']),
    };
    match body.strip_prefix(value) {
        Some(after) => after.chars().next().is_none_or(|c| ends.contains(&c)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_in_yaml_and_json_forms() {
        assert_eq!(find_keys("  - id: scrape", "id"), vec![(4, "scrape")]);
        assert_eq!(
            find_keys("- {id: 'a', agent: b}", "id"),
            vec![(3, "'a', agent: b}")]
        );
        let json = find_keys(r#"{"id":"a"},{"id": "b"}"#, "id");
        assert_eq!(json.iter().map(|k| k.0).collect::<Vec<_>>(), vec![1, 12]);
        assert!(find_keys("  lead_id: x", "id").is_empty());
        assert!(find_keys("  idx: x", "id").is_empty());
        assert!(find_keys("  lead-id: x", "id").is_empty());
        assert!(find_keys("  \"id\" is a word", "id").is_empty());
    }

    #[test]
    fn values_match_quoted_or_not() {
        assert!(value_is("scrape", "scrape"));
        assert!(value_is("scrape # the first", "scrape"));
        assert!(value_is("'a', agent: b}", "a"));
        assert!(value_is("a, agent: b}", "a"));
        assert!(value_is("\"a\"},{", "a"));
        assert!(value_is("Send Email", "Send Email"));
        assert!(!value_is("scraper", "scrape"));
        assert!(!value_is("\"ab\"", "a"));
    }

    #[test]
    fn steps_and_their_fields_get_lines() {
        let text = "name: x\nversion: 1\nsteps:\n  - id: a\n    agent: noop\n  - id: b\n    \
                    agent: noop\n    timeout: 5x\n  - id: a\n    agent: echo\n";
        let map = SourceMap::new(text, false, ["a", "b", "a", "zz"].into_iter());
        assert_eq!(map.step_line(0), Some(4));
        assert_eq!(map.step_line(1), Some(6));
        assert_eq!(map.step_line(2), Some(9));
        assert_eq!(map.step_line(3), None);
        assert_eq!(map.step_field_line(1, "timeout"), Some(8));
        assert_eq!(map.step_field_line(0, "timeout"), Some(4));
        assert_eq!(map.step_field_line(2, "agent"), Some(10));
        assert_eq!(map.top_line("version"), Some(2));
    }

    #[test]
    fn inputs_are_found_under_their_key() {
        let text = "name: x\ninputs:\n  name: {type: string}\n  limit:\n    type: integer\n";
        let map = SourceMap::new(text, false, std::iter::empty());
        assert_eq!(map.top_line("name"), Some(1));
        assert_eq!(map.input_line("limit"), Some(4));
        assert_eq!(map.input_line("name"), Some(3));
    }
}
