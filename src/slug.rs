//! Permanent-URL slugs (§3): 1–255 characters from `A–Z a–z 0–9 - _ . ~`, not `.` or `..`,
//! at least one letter or digit, case-sensitive.

use std::fmt;

/// Longest slug accepted (§3).
pub const MAX_LEN: usize = 255;

/// A slug that satisfies the §3 grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

/// Which rule of the grammar a candidate slug broke; the message is what the client sees
/// in `errors.permanent_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlugError {
    /// The slug is empty.
    Empty,
    /// Longer than [`MAX_LEN`].
    TooLong(usize),
    /// Contains a character outside the allowed set.
    BadChar(char),
    /// `.` or `..`.
    DotSegment,
    /// Only punctuation.
    NoAlphanumeric,
}

impl fmt::Display for SlugError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlugError::Empty => write!(f, "slug can't be blank"),
            SlugError::TooLong(n) => {
                write!(f, "slug is too long ({n} characters; maximum is {MAX_LEN})")
            }
            SlugError::BadChar(c) => write!(
                f,
                "slug contains {c:?}; only letters, digits, '-', '_', '.' and '~' are allowed"
            ),
            SlugError::DotSegment => write!(f, "slug can't be '.' or '..'"),
            SlugError::NoAlphanumeric => {
                write!(f, "slug must contain at least one letter or digit")
            }
        }
    }
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~')
}

impl Slug {
    /// Parses a slug against the §3 grammar.
    pub fn parse(s: &str) -> Result<Self, SlugError> {
        if s.is_empty() {
            return Err(SlugError::Empty);
        }
        let n = s.chars().count();
        if n > MAX_LEN {
            return Err(SlugError::TooLong(n));
        }
        if let Some(c) = s.chars().find(|c| !allowed(*c)) {
            return Err(SlugError::BadChar(c));
        }
        if s == "." || s == ".." {
            return Err(SlugError::DotSegment);
        }
        if !s.chars().any(|c| c.is_ascii_alphanumeric()) {
            return Err(SlugError::NoAlphanumeric);
        }
        Ok(Self(s.to_owned()))
    }

    /// Proposes a valid slug from a file name: `Sample Logo (1).PNG` → `sample-logo-1.png`.
    pub fn suggest(filename: &str) -> Self {
        let mut out = String::new();
        for c in filename.to_lowercase().chars() {
            // `_` is what stored file names have for spaces, so it separates words too.
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '~') {
                out.push(c);
            } else if !out.ends_with('-') {
                out.push('-');
            }
        }
        let trimmed: String = out
            .trim_matches(|c| c == '-' || c == '.')
            .replace("-.", ".")
            .chars()
            .take(MAX_LEN)
            .collect();
        Self::parse(&trimmed).unwrap_or_else(|_| Self("asset".to_owned()))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert!(Slug::parse("a").is_ok());
        assert!(Slug::parse("Logo-2024_v1.final~x").is_ok());
        assert_eq!(Slug::parse(""), Err(SlugError::Empty));
        assert_eq!(Slug::parse("."), Err(SlugError::DotSegment));
        assert_eq!(Slug::parse(".."), Err(SlugError::DotSegment));
        assert_eq!(Slug::parse("-_~"), Err(SlugError::NoAlphanumeric));
        assert_eq!(Slug::parse("a b"), Err(SlugError::BadChar(' ')));
        assert_eq!(Slug::parse("a/b"), Err(SlugError::BadChar('/')));
        assert_eq!(Slug::parse("é"), Err(SlugError::BadChar('é')));
        assert!(Slug::parse(&"a".repeat(255)).is_ok());
        assert_eq!(Slug::parse(&"a".repeat(256)), Err(SlugError::TooLong(256)));
    }

    #[test]
    fn suggestion() {
        assert_eq!(
            Slug::suggest("Sample Logo (1).PNG").as_str(),
            "sample-logo-1.png"
        );
        assert_eq!(Slug::suggest("***").as_str(), "asset");
        assert_eq!(Slug::suggest(&"x".repeat(400)).as_str().len(), 255);
    }
}
