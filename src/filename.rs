//! File names (§5 "Filenames"): path components stripped; each of
//! `# % ^ + \ / ? * : | " ' < > { } = ,`, whitespace, control characters and bidirectional
//! formatting characters becomes `_`;
//! never empty; at most 255 bytes.

/// Longest stored file name, in bytes.
pub const MAX_BYTES: usize = 255;

const RESTRICTED: &[char] = &[
    '#', '%', '^', '+', '\\', '/', '?', '*', ':', '|', '"', '\'', '<', '>', '{', '}', '=', ',',
];

/// Unicode bidirectional formatting characters: they make a name read differently from
/// what it is (`evil\u{202E}gpj.exe` shows as `evilexe.jpg`).
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A file name that is safe in a URL path segment, a header and a download dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filename(String);

impl Filename {
    /// Sanitises what a client claimed. Never fails: hostile input becomes harmless.
    pub fn sanitize(raw: &str) -> Self {
        // Strip path components (both separators: clients on Windows send backslashes).
        let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
        let mut out: String = base
            .chars()
            .map(|c| {
                if RESTRICTED.contains(&c) || c.is_whitespace() || c.is_control() || is_bidi(c) {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        if out.len() > MAX_BYTES {
            // Keep the extension when it is short, cut on a char boundary.
            let ext = out
                .rfind('.')
                .map(|i| out[i..].to_owned())
                .filter(|e| e.len() <= 16)
                .unwrap_or_default();
            let mut cut = MAX_BYTES - ext.len();
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out = format!("{}{ext}", &out[..cut]);
        }
        // After the cut, which can leave only dots: "", "." and ".." are not names.
        if out.chars().all(|c| c == '.') {
            out = "file".to_owned();
        }
        Self(out)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lowercased extension without the dot, if any.
    pub fn extension(&self) -> Option<String> {
        self.0
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .filter(|e| !e.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names() {
        assert_eq!(Filename::sanitize("../../etc/passwd").as_str(), "passwd");
        assert_eq!(Filename::sanitize("..\\..\\boot.ini").as_str(), "boot.ini");
        assert_eq!(Filename::sanitize("a b#c%d.png").as_str(), "a_b_c_d.png");
        assert_eq!(Filename::sanitize("x\u{0}y\nz").as_str(), "x_y_z");
        assert_eq!(Filename::sanitize("..").as_str(), "file");
        assert_eq!(Filename::sanitize("").as_str(), "file");
        assert_eq!(Filename::sanitize("dir/").as_str(), "file");
        let long = format!("{}.jpeg", "é".repeat(300));
        let f = Filename::sanitize(&long);
        assert!(f.as_str().len() <= MAX_BYTES && f.as_str().ends_with(".jpeg"));
        // Only dots once cut to length (found by the `filename` fuzz target): not a name,
        // and cleaning the result again leaves it alone.
        let dots = format!("{}\u{FFFD}.", ".".repeat(277));
        assert_eq!(Filename::sanitize(&dots).as_str(), "file");
    }
}
