//! The literal prefix of an anchored `$regex`, with which the database narrows a scan on an
//! index (§6).

use serde_json::Value;

/// A literal prefix that every match of a regex has, for the database to narrow a scan
/// with an index (§6: anchored regexes use an index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    pub(super) text: String,
    /// Case-insensitive: `text` is lowercase ASCII, compared with `lower(column)`.
    pub(super) fold: bool,
    /// The pattern is nothing but `^` and this text: the prefix condition is the regex.
    pub(super) exact: bool,
}

/// The literal text every match of `pattern` starts with: `^`, then literal characters up
/// to the first metacharacter. `None` when there is no such text, or when the pattern or
/// options could make a match start otherwise (`|` anywhere, multi-line `^`, `x` mode).
/// Case-insensitively, only ASCII characters count, and not `k` or `s`, which also match
/// non-ASCII letters (KELVIN SIGN, LONG S) that `lower()` in SQL leaves alone. The result
/// is always a necessary condition, never a sufficient one: rows are still matched with
/// the regex.
pub(super) fn literal_prefix(pattern: &str, options: Option<&Value>) -> Option<Prefix> {
    let flags = options.and_then(Value::as_str).unwrap_or("");
    if flags.contains(['m', 'x']) || pattern.contains('|') {
        return None;
    }
    let fold = flags.contains('i');
    let mut chars = pattern.strip_prefix('^')?.chars().peekable();
    let mut text = String::new();
    while let Some(&c) = chars.peek() {
        let literal = match c {
            '\\' => {
                chars.next();
                match chars.peek() {
                    Some(&e) if e.is_ascii_punctuation() => e,
                    _ => break,
                }
            }
            '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '$' | '|' => break,
            c => c,
        };
        if fold && (!literal.is_ascii() || matches!(literal.to_ascii_lowercase(), 'k' | 's')) {
            break;
        }
        chars.next();
        text.push(if fold {
            literal.to_ascii_lowercase()
        } else {
            literal
        });
    }
    // A quantifier that allows zero repetitions makes the last literal optional.
    if matches!(chars.peek(), Some('?' | '*' | '{')) {
        text.pop();
    }
    let exact = chars.peek().is_none();
    (!text.is_empty()).then_some(Prefix { text, fold, exact })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes_are_necessary_conditions() {
        let p = |pat: &str, opts: Option<&str>| {
            literal_prefix(pat, opts.map(|o| Value::String(o.into())).as_ref())
                .map(|p| (p.text, p.fold, p.exact))
        };
        let some = |t: &str, fold: bool, exact: bool| Some((t.to_owned(), fold, exact));
        assert_eq!(p("^b-99", None), some("b-99", false, true));
        assert_eq!(p("^b-99.*x", None), some("b-99", false, false));
        assert_eq!(p("^ab?c", None), some("a", false, false));
        assert_eq!(p("^ab*", None), some("a", false, false));
        assert_eq!(p("^ab{0,2}", None), some("a", false, false));
        assert_eq!(p("^ab+", None), some("ab", false, false));
        assert_eq!(p(r"^a\.b", None), some("a.b", false, true));
        assert_eq!(p(r"^a\d", None), some("a", false, false));
        assert_eq!(p("^Ab-9", Some("i")), some("ab-9", true, true));
        // k and s also match non-ASCII letters case-insensitively (KELVIN SIGN, LONG S).
        assert_eq!(p("^ask", Some("i")), some("a", true, false));
        assert_eq!(p("^ask", None), some("ask", false, true));
        assert_eq!(p("^é", Some("i")), None);
        for none in [
            ("b-99", None),
            ("^a|b", None),
            ("^(?i)a", None),
            ("^abc", Some("m")),
            ("^abc", Some("x")),
            ("^", None),
            ("^?", None),
        ] {
            assert_eq!(p(none.0, none.1), None, "{none:?}");
        }
    }
}
