//! The checks behind the fuzz targets in `fuzz/` (`cargo +nightly fuzz run TARGET`), one
//! function per target, each taking arbitrary bytes: they must never panic, and each
//! asserts the invariants of what it parses. `tests/integration/fuzz_corpus.rs` replays
//! every file of `fuzz/corpus/` through them on the stable toolchain, so a crash found once
//! (its input saved there) stays a regression test. Not part of perma's API.

use crate::delivery::{byte_range, Outcome};
use crate::filename::Filename;
use crate::query::Query;
use crate::records::{Asset, FileMeta};
use crate::slug::Slug;

/// The check of one target: arbitrary bytes in, a panic on a broken invariant.
pub type Check = fn(&[u8]);

/// Every target, by name, as `fuzz/` and the corpus test know them.
pub const TARGETS: &[(&str, Check)] = &[
    ("head", head),
    ("range", range),
    ("slug", slug),
    ("filename", filename),
    ("query", query),
    ("sync_token", sync_token),
    ("transform", transform),
    ("image", image),
    ("agreement", agreement),
    ("upload", upload),
    ("export", export),
    ("memento", memento),
    ("id_token", id_token),
    ("tus_headers", tus_headers),
    ("referer", referer),
];

/// The delivery fast path's request-head parser and classifier: a head it takes is a public
/// GET or HEAD of an asset path with exactly one Host.
pub fn head(data: &[u8]) {
    crate::http::fuzzing::fast_path_head(data);
}

/// `Range` (RFC 9110 §14): the first 8 bytes are the representation's length, the rest the
/// header; the answer is a 200, a 416, or a 206 inside the representation.
pub fn range(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&data[..8]);
    let len = u64::from_le_bytes(n) % (1 << 40);
    let header = String::from_utf8_lossy(&data[8..]);
    match byte_range(&header, len) {
        Outcome::Partial { start, end } => {
            assert!(
                start <= end && end < len,
                "{header:?} {len} -> {start}..={end}"
            );
        }
        Outcome::Full | Outcome::RangeNotSatisfiable => {}
        other => panic!("a Range header alone gave {other:?}"),
    }
}

/// Slugs and permanent-URL values (§3): a slug that parses keeps the rules and parses back
/// to itself.
pub fn slug(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(slug) = Slug::parse(&text) {
        let s = slug.as_str();
        assert!(!s.is_empty() && s.len() <= 255, "{s:?}");
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)),
            "{s:?}"
        );
        assert!(s != "." && s != ".." && s.bytes().any(|b| b.is_ascii_alphanumeric()));
        assert_eq!(Slug::parse(s).ok().as_ref().map(Slug::as_str), Some(s));
    }
    let _ = Slug::suggest(&text);
    let _ =
        crate::assets::parse_permanent_value(&text, "blt0123456789abcdef", "blt00112233445566ff");
}

/// File-name cleaning (§5): non-empty, at most 255 bytes, none of the reserved, whitespace,
/// control or bidirectional formatting characters, and cleaning it again changes nothing.
pub fn filename(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let name = Filename::sanitize(&raw);
    let s = name.as_str();
    assert!(!s.is_empty() && s.len() <= 255, "{s:?}");
    for c in s.chars() {
        assert!(!"#%^+\\/?*:|\"'<>{}=,".contains(c), "{c:?} in {s:?}");
        assert!(!c.is_whitespace() && !c.is_control(), "{c:?} in {s:?}");
        assert!(
            !matches!(
                c,
                '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            ),
            "{c:?} in {s:?}"
        );
    }
    assert_eq!(Filename::sanitize(s).as_str(), s);
}

/// The §6 query language: any text is a query or an error (never a panic), and a query
/// becomes SQL filters and matches assets.
pub fn query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(q) = Query::parse(&text) else { return };
    let _ = q.filter();
    let asset = Asset {
        uid: "blt00112233445566ff".into(),
        api_key: "blt0123456789abcdef".into(),
        is_dir: false,
        parent_uid: None,
        title: "Brand guide".into(),
        description: String::new(),
        tags: vec!["brand".into(), "2024".into()],
        version: 3,
        permanent_slug: Some("guide".into()),
        created_by: "u".into(),
        updated_by: "u".into(),
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_100_000,
        deleted_at: None,
        file: Some(FileMeta {
            uid: "f".into(),
            sha256: "0".repeat(64),
            size: 4096,
            content_type: "application/pdf".into(),
            filename: "guide.pdf".into(),
            width: None,
            height: None,
            created_at: 1_700_000_100_000,
        }),
    };
    let _ = q.matches(&asset, &[]);
}

/// Sync and pagination tokens (§12): refused, or a window that encodes back to the token.
pub fn sync_token(data: &[u8]) {
    crate::assets::fuzzing::sync_token(&String::from_utf8_lossy(data));
}

/// A permanent URL as of a date (RFC 7089): any `?at=` value and any `Accept-Datetime`
/// header is an instant or a 400, never a panic; an instant written back in ISO-8601
/// reads as itself.
pub fn memento(data: &[u8]) {
    use crate::delivery::memento::{instant, parse_accept_datetime, parse_at};
    use crate::delivery::{Classified, DeliveryHeaders, DeliveryPath, DeliveryQuery, Method};
    let text = String::from_utf8_lossy(data);
    if let Some(t) = parse_at(&text) {
        assert_eq!(parse_at(&crate::time::iso8601(t)), Some(t), "{text:?}");
    }
    let _ = parse_accept_datetime(&text);
    let query = format!(
        "at={}",
        percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
    );
    let path = DeliveryPath::parse("/v3/assets/blt0123456789abcdef/blt0123456789abcdef/s")
        .expect("a permanent URL path");
    let mut headers = DeliveryHeaders::default();
    headers.add("accept-datetime", data);
    for (query, headers) in [
        (Some(query.as_str()), DeliveryHeaders::default()),
        (None, headers),
    ] {
        let req = Classified {
            method: Method::Get,
            path: path.clone(),
            query: DeliveryQuery::parse(query),
            headers,
        };
        match instant(&req) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.status(), 400, "{e}"),
        }
    }
}

/// A 16 × 12 PNG with four coloured quadrants, made once.
fn small_png() -> &'static [u8] {
    static PNG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PNG.get_or_init(|| {
        let img = image::RgbImage::from_fn(16, 12, |x, y| {
            image::Rgb([
                if x < 8 { 255 } else { 0 },
                if y < 6 { 255 } else { 0 },
                128,
            ])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("encoding a PNG in memory");
        out.into_inner()
    })
}

/// Whether rendering `t` stays small enough for a fuzzing iteration (outputs of up to
/// 8,192 px a side are valid, but too slow to encode thousands of times a second).
fn small(t: &crate::images::Transform) -> bool {
    use crate::images::{Area, Side};
    let side = |s: Option<Side>| match s {
        None => true,
        Some(Side::Px(n)) => n <= 256,
        Some(Side::Percent(p)) => p <= 40_000,
    };
    let area = |r: Option<crate::images::Region>| match r.map(|r| r.area) {
        Some(Area::Px(w, h)) => w <= 256 && h <= 256,
        Some(Area::Aspect(w, h)) => w <= 16 * h && h <= 16 * w,
        None => true,
    };
    side(t.width)
        && side(t.height)
        && t.dpr.is_none_or(|d| d <= 200)
        && area(t.crop)
        && area(t.canvas)
        && t.pad.is_none_or(|p| p.iter().all(|e| *e <= 64))
        && t.format != Some(crate::images::Format::Avif)
        && t.auto.is_none()
}

/// §11 parameters: any query parses to a transform or a 400/422, never a panic; the
/// canonical form names the output format; and rendering a small image with it either
/// succeeds with an output inside the limits or is refused with a 4xx.
pub fn transform(data: &[u8]) {
    use crate::images::{self, Format, Transform};
    let text = String::from_utf8_lossy(data);
    let t = match Transform::parse(&text) {
        Ok(Some(t)) => t,
        Ok(None) => return,
        Err(e) => {
            assert!(matches!(e.status(), 400 | 422), "{e}");
            return;
        }
    };
    let output = t.output_format(Some("image/webp"), Format::Png);
    let canonical = t.canonical(output);
    assert!(
        canonical.contains(&format!("format={}", output.name())),
        "{canonical}"
    );
    assert_eq!(canonical, t.clone().canonical(output));
    if !small(&t) {
        return;
    }
    match images::render(
        small_png(),
        Format::Png,
        &t,
        Format::Png,
        &images::Deadline::none(),
    ) {
        Ok(r) => {
            assert!(r.width >= 1 && r.height >= 1);
            assert!(r.width <= images::MAX_OUTPUT_SIDE && r.height <= images::MAX_OUTPUT_SIDE);
        }
        Err(e) => assert_eq!(e.status(), 422, "{e}"),
    }
}

/// §11 decoding: arbitrary bytes as a JPEG, PNG, GIF or WebP file (first byte picks which)
/// are rendered to a 16 px wide PNG or refused with a 422, never a panic; a declared size
/// over the limits is refused from the header.
pub fn image(data: &[u8]) {
    use crate::images::{self, Format, Transform};
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let source = [Format::Jpeg, Format::Png, Format::Gif, Format::Webp][usize::from(pick % 4)];
    // Keep iterations fast: large declared images are for the header check alone.
    if let Ok((w, h)) = images::check_input(file) {
        if u64::from(w) * u64::from(h) > 1 << 20 {
            return;
        }
    }
    let t = Transform::parse("width=16&format=png")
        .expect("a valid query")
        .expect("a transform");
    match images::render(file, source, &t, Format::Png, &images::Deadline::none()) {
        Ok(r) => assert_eq!(r.width, 16),
        Err(e) => assert_eq!(e.status(), 422, "{e}"),
    }
}

/// The fast path and the router agree (differential): one request head, with `{K}`, `{A}`,
/// `{S}`, `{F}`, `{B}` and `{G}` standing for a real api_key, asset uid, slug, file uid and
/// a large asset's uid and file uid, is sent over TCP to a running perma (the fast path
/// answers it or hands it to hyper) and also given to the router directly. Status, the
/// entity headers and the body must be the same.
pub fn agreement(data: &[u8]) {
    agreement::check(data);
}

/// `perma import contentstack`'s export reader: arbitrary bytes as the JSON files of an
/// export that also holds links to files outside it (`assets::import::export_fuzz`).
pub fn export(data: &[u8]) {
    crate::assets::fuzzing::export(data);
}

/// Uploads and replaces: arbitrary bytes as the `multipart/form-data` body (boundary `B`)
/// of `POST /v3/assets` (first byte even) or of a replace, `PUT /v3/assets/{uid}` (odd),
/// through the router of a running perma. Never a 5xx; a refused request leaves no blob
/// and no staged file behind (§5); an accepted one adds at most one blob.
pub fn upload(data: &[u8]) {
    upload::check(data);
}

/// ID tokens of single sign-on (§14): any text is parsed, its signature checked against a
/// key set whose private keys nobody has, and its claims checked, without a panic; nothing
/// verifies.
pub fn id_token(data: &[u8]) {
    crate::identity::fuzzing::id_token(&String::from_utf8_lossy(data));
}

/// The tus request headers of resumable uploads (§16): the input's lines are taken as
/// `Upload-Offset`, `Upload-Length`, `Upload-Metadata`, `Upload-Checksum` and
/// `Tus-Resumable`. A count is taken only when it is all digits and within `i64`;
/// metadata taken comes back the same through its encoding; a checksum taken is a sha256.
/// The whole input is also hashed with the resumable SHA-256, saved and taken up again at
/// a cut chosen by its first byte, which must agree with `sha2`.
pub fn tus_headers(data: &[u8]) {
    use crate::uploads::{sha::ResumableSha256, tus};
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    for name in ["Upload-Offset", "Upload-Length"] {
        let v = lines.next();
        if let Ok(n) = tus::parse_count(name, v) {
            let v = v.unwrap_or_default();
            assert!(v.bytes().all(|b| b.is_ascii_digit()), "{name} {v:?}");
            assert!(n <= i64::MAX as u64);
            assert_eq!(
                n.to_string(),
                v.trim_start_matches('0').to_owned().max("0".into())
            );
        }
    }
    if let Ok(pairs) = tus::parse_metadata(lines.next()) {
        let again = tus::parse_metadata(Some(&tus::encode_metadata(&pairs)));
        assert_eq!(again.ok().as_ref(), Some(&pairs), "metadata round trip");
    }
    let checksum = lines.next();
    if let Ok(Some(_)) = tus::parse_checksum(checksum) {
        let v = checksum.unwrap_or_default().trim().to_ascii_lowercase();
        assert!(v.starts_with("sha256 "), "{v:?}");
    }
    let version = lines.next();
    assert_eq!(
        tus::check_version(version).is_ok(),
        version.map(str::trim) == Some("1.0.0")
    );

    use sha2::Digest as _;
    let cut = data.first().map_or(0, |b| *b as usize).min(data.len());
    let mut h = ResumableSha256::default();
    h.update(&data[..cut]);
    let mut h = ResumableSha256::load(&h.save()).expect("a saved state loads");
    h.update(&data[cut..]);
    assert_eq!(h.finish_hex(), hex::encode(sha2::Sha256::digest(data)));
}

/// The referring page of link insights (§17): what is kept of a `Referer` is a prefix of
/// it, `http(s)://` and a non-empty host without user information, with no query,
/// fragment, space or control character, at most `MAX_PAGE` bytes; taking the page of a
/// page gives it back, and its site is a prefix of it.
pub fn referer(data: &[u8]) {
    use crate::insights::referrer::{page, site, MAX_PAGE};
    let text = String::from_utf8_lossy(data);
    let Some(p) = page(&text) else { return };
    assert!(text.starts_with(p), "{text:?} -> {p:?}");
    let rest = p
        .strip_prefix("https://")
        .or_else(|| p.strip_prefix("http://"))
        .expect("an http(s) page");
    let host = rest.split('/').next().unwrap_or_default();
    assert!(!host.is_empty() && !host.contains('@'), "{p:?}");
    assert!(p.len() <= MAX_PAGE, "{} bytes", p.len());
    assert!(
        !p.bytes()
            .any(|b| b <= b' ' || b == 0x7f || b == b'?' || b == b'#'),
        "{p:?}"
    );
    assert_eq!(page(p), Some(p));
    assert!(p.starts_with(site(p)), "{p:?}");
}

mod agreement;
mod upload;
