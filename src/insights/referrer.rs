//! The referring page of a request, as stored (§17): the `Referer` cut to scheme, host
//! (with port) and path. No query, no fragment, no user information: nothing that names
//! the visitor.

/// Longest page kept; a longer one is not counted as a page.
pub const MAX_PAGE: usize = 512;

/// The page of a `Referer` value: `http(s)://host[:port]/path`, a slice of the value
/// (no allocation). `None` for another scheme, user information in the address, an empty
/// host, control characters, or more than [`MAX_PAGE`] bytes.
pub fn page(referer: &str) -> Option<&str> {
    let rest = referer
        .strip_prefix("https://")
        .or_else(|| referer.strip_prefix("http://"))?;
    let scheme = referer.len() - rest.len();
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let cut = &rest[..end];
    let host_end = cut.find('/').unwrap_or(cut.len());
    let host = &cut[..host_end];
    if host.is_empty() || host.contains('@') {
        return None;
    }
    let page = &referer[..scheme + end];
    if page.len() > MAX_PAGE || page.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return None;
    }
    Some(page)
}

/// The site of a page: `scheme://host[:port]`.
pub fn site(page: &str) -> &str {
    let after = page.find("://").map_or(0, |i| i + 3);
    match page[after..].find('/') {
        Some(i) => &page[..after + i],
        None => page,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        assert_eq!(
            page("https://news.example.com/2026/launch?utm=x#top"),
            Some("https://news.example.com/2026/launch")
        );
        assert_eq!(page("http://a.example:8080"), Some("http://a.example:8080"));
        assert_eq!(page("https://user:pw@a.example/x"), None);
        assert_eq!(page("ftp://a.example/x"), None);
        assert_eq!(page("https:///x"), None);
        assert_eq!(page("android-app://com.example"), None);
        assert_eq!(page("https://a.example/a b"), None);
        assert_eq!(site("https://a.example/x/y"), "https://a.example");
        assert_eq!(site("https://a.example"), "https://a.example");
    }
}
