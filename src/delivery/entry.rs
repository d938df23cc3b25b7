//! Index entries (§4): what the URLs of one asset resolve to, in as few bytes as the
//! answer allows (STYLE rule 14: a million of them must fit a modest budget). Ids and
//! hashes are kept as bits, text (slug, content types, file names, master locale) in one
//! allocation per asset, and header values that derive from them (ETag, `Last-Modified`,
//! purge keys, `Content-Disposition`) are formatted when an answer is written, into stack
//! buffers: no allocation per request.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::db::DeliveryEntry;
use crate::ids;
use crate::records::FileMeta;

/// Text formatted on the stack; longer text is cut (callers size `N` for the longest).
pub struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackStr<N> {
    /// Formats `args`.
    pub fn format(args: fmt::Arguments<'_>) -> Self {
        let mut s = StackStr {
            buf: [0; N],
            len: 0,
        };
        let _ = s.write_fmt(args);
        s
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in (see `write_str`).
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > N {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl<const N: usize> std::ops::Deref for StackStr<N> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// RFC 8187 `attr-char`s stay as they are; everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// A `Content-Disposition` value: file names are at most 255 bytes, so 3 × 255 for the
/// encoded form, 255 for the ASCII one, and room for the rest.
pub type Disposition = StackStr<1100>;

/// `inline|attachment; filename="ascii"; filename*=UTF-8''…` (RFC 6266).
fn disposition(kind: &str, filename: &str) -> Disposition {
    let mut out = Disposition::format(format_args!("{kind}; filename=\""));
    for c in filename.chars() {
        let c = if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
            c
        } else {
            '_'
        };
        let _ = out.write_char(c);
    }
    let _ = write!(
        out,
        "\"; filename*=UTF-8''{}",
        utf8_percent_encode(filename, ATTR_CHAR)
    );
    out
}

/// Lowercase hex of `bytes` (`N` = twice their length). A table, not `fmt`: this runs a
/// few times per delivery request.
fn hex<const N: usize>(bytes: &[u8]) -> StackStr<N> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = StackStr {
        buf: [0; N],
        len: 0,
    };
    for (i, b) in bytes.iter().take(N / 2).enumerate() {
        s.buf[2 * i] = DIGITS[usize::from(b >> 4)];
        s.buf[2 * i + 1] = DIGITS[usize::from(b & 15)];
        s.len = 2 * i + 2;
    }
    s
}

/// One file of an asset: 72 bytes, plus its content type and name in the asset's text.
#[derive(Debug, Clone)]
pub struct Prepared {
    sha: [u8; 32],
    /// File uid bits ([`ids::file_uid_bits`]).
    key: [u8; 12],
    /// Bytes.
    pub size: u64,
    /// Upload time, whole seconds: HTTP dates have no finer resolution, and comparisons
    /// with `If-Modified-Since` must agree with what was sent.
    modified_secs: u32,
    /// Where this file's content type starts, and it and the name end, in the asset's text.
    text_start: u32,
    type_end: u32,
    name_end: u32,
    /// Gets the sandbox CSP (§4).
    pub active: bool,
}

impl Prepared {
    /// The blob's SHA-256.
    pub fn sha(&self) -> &[u8; 32] {
        &self.sha
    }

    /// The blob's SHA-256 in hex.
    pub fn sha256(&self) -> StackStr<64> {
        hex(&self.sha)
    }

    /// Strong ETag: the SHA-256 in quotes, so equal bytes ⇔ equal tag.
    pub fn etag(&self) -> StackStr<66> {
        let mut s = StackStr {
            buf: [b'"'; 66],
            len: 66,
        };
        s.buf[1..65].copy_from_slice(&hex::<64>(&self.sha).buf);
        s
    }

    /// `Last-Modified` as an instant, for comparisons.
    pub fn modified(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::from(self.modified_secs))
    }

    /// `Last-Modified` as an HTTP date.
    pub fn last_modified(&self) -> StackStr<32> {
        // Formatted once per thread for each time seen last (hot files repeat).
        thread_local! {
            static LAST: std::cell::Cell<(u32, [u8; 32], usize)> =
                const { std::cell::Cell::new((u32::MAX, [0; 32], 0)) };
        }
        let (secs, buf, len) = LAST.with(std::cell::Cell::get);
        if secs == self.modified_secs {
            return StackStr { buf, len };
        }
        let s: StackStr<32> = StackStr::format(format_args!(
            "{}",
            httpdate::HttpDate::from(self.modified())
        ));
        LAST.with(|c| c.set((self.modified_secs, s.buf, s.len)));
        s
    }

    /// The file uid.
    pub fn uid(&self) -> StackStr<24> {
        hex(&self.key)
    }

    fn key_bits(&self) -> u128 {
        let mut wide = [0u8; 16];
        wide[4..].copy_from_slice(&self.key);
        u128::from_be_bytes(wide)
    }
}

/// `f` (whose uid has these bits) as a [`Prepared`], its content type and name appended
/// to `text`.
fn prepare(text: &mut String, key: u128, f: &FileMeta) -> Prepared {
    let text_start = text.len() as u32;
    text.push_str(&f.content_type);
    let type_end = text.len() as u32;
    text.push_str(&f.filename);
    let name_end = text.len() as u32;
    let mut sha = [0u8; 32];
    let _ = hex::decode_to_slice(&f.sha256, &mut sha);
    let mut key12 = [0u8; 12];
    key12.copy_from_slice(&key.to_be_bytes()[4..]);
    Prepared {
        sha,
        key: key12,
        size: f.size.max(0) as u64,
        modified_secs: u32::try_from(f.created_at.max(0) / 1000).unwrap_or(u32::MAX),
        text_start,
        type_end,
        name_end,
        active: super::is_active_content(&f.content_type),
    }
}

/// What the URLs of one asset resolve to.
#[derive(Debug)]
pub struct HotAsset {
    /// Stack ([`ids::blt_bits`] of its api key).
    pub stack: u64,
    /// The asset ([`ids::blt_bits`] of its uid).
    key: u64,
    /// Stack's `secure_asset_urls`.
    pub secured: bool,
    /// Tombstoned (§4: 410).
    pub deleted: bool,
    /// Stack's `permanent_url_mode` is `redirect` (§13).
    pub redirect: bool,
    has_slug: bool,
    /// Index of the current file in `files`.
    current: Option<u16>,
    /// End of the slug and of the master locale in `text`.
    slug_end: u32,
    locale_end: u32,
    /// Slug, master locale, then each file's content type and name.
    text: Box<str>,
    /// The asset's current and newest files, sorted by file uid (version URLs).
    files: Box<[Prepared]>,
    /// `files` is every file of the asset: a file uid not among them is not the asset's.
    /// Otherwise older files are read when asked for ([`HotAsset::with_file`]).
    pub complete: bool,
    /// Asked for since the index's clock hand last passed (see `index.rs`).
    referenced: AtomicBool,
}

impl HotAsset {
    /// The entry of what the database read for delivery ([`DeliveryEntry`]): complete
    /// when the read held every file of the asset.
    pub fn new(e: &DeliveryEntry) -> Self {
        let DeliveryEntry {
            files,
            permanent_slug,
            master_locale,
            ..
        } = e;
        let mut files: Vec<(u128, &FileMeta)> = files
            .iter()
            .filter_map(|f| Some((ids::file_uid_bits(&f.uid)?, f)))
            .collect();
        files.sort_unstable_by_key(|(k, _)| *k);
        files.truncate(usize::from(u16::MAX));
        let mut text = String::new();
        text.push_str(permanent_slug.as_deref().unwrap_or(""));
        let slug_end = text.len() as u32;
        text.push_str(master_locale);
        let locale_end = text.len() as u32;
        let prepared: Vec<Prepared> = files
            .iter()
            .map(|(key, f)| prepare(&mut text, *key, f))
            .collect();
        let current = e.file_uid.as_deref().and_then(|uid| {
            let key = ids::file_uid_bits(uid)?;
            let i = prepared
                .binary_search_by_key(&key, Prepared::key_bits)
                .ok()?;
            u16::try_from(i).ok()
        });
        HotAsset {
            stack: ids::blt_bits(&e.api_key).unwrap_or_default(),
            key: ids::blt_bits(&e.uid).unwrap_or_default(),
            secured: e.secured,
            redirect: e.redirect,
            deleted: e.deleted,
            has_slug: permanent_slug.is_some(),
            current,
            slug_end,
            locale_end,
            text: text.into_boxed_str(),
            files: prepared.into_boxed_slice(),
            complete: e.complete(),
            referenced: AtomicBool::new(false),
        }
    }

    /// This entry with one more file (an older version's, read on demand), for one
    /// answer: it is not stored in the index. `None` when the uid is not a file uid.
    pub fn with_file(&self, f: &FileMeta) -> Option<HotAsset> {
        let key = ids::file_uid_bits(&f.uid)?;
        let at = match self.files.binary_search_by_key(&key, Prepared::key_bits) {
            Ok(_) => return None,
            Err(at) => at,
        };
        let mut text = String::from(&*self.text);
        let mut files = self.files.to_vec();
        files.insert(at, prepare(&mut text, key, f));
        Some(HotAsset {
            stack: self.stack,
            key: self.key,
            secured: self.secured,
            deleted: self.deleted,
            redirect: self.redirect,
            has_slug: self.has_slug,
            current: self
                .current
                .map(|c| if usize::from(c) >= at { c + 1 } else { c }),
            slug_end: self.slug_end,
            locale_end: self.locale_end,
            text: text.into_boxed_str(),
            files: files.into_boxed_slice(),
            complete: self.complete,
            referenced: AtomicBool::new(false),
        })
    }

    /// Marks the entry as recently used. Written only when the clock hand has cleared the
    /// mark since, so a hot entry costs no shared-memory write per request.
    pub fn touch(&self) {
        if !self.referenced.load(Ordering::Relaxed) {
            self.referenced.store(true, Ordering::Relaxed);
        }
    }

    /// Clears the mark; returns whether it was set (the clock's second chance).
    pub(super) fn take_reference(&self) -> bool {
        self.referenced.swap(false, Ordering::Relaxed)
    }

    fn span(&self, start: u32, end: u32) -> &str {
        self.text.get(start as usize..end as usize).unwrap_or("")
    }

    /// `Surrogate-Key` value: `asset-{uid} stack-{api_key}`.
    pub fn surrogate_key(&self) -> StackStr<64> {
        self.purge_keys(' ')
    }

    /// `Cache-Tag` value: `asset-{uid},stack-{api_key}`.
    pub fn cache_tag(&self) -> StackStr<64> {
        self.purge_keys(',')
    }

    /// The stack's api key (`blt…`).
    pub fn api_key(&self) -> StackStr<19> {
        let mut s = StackStr {
            buf: [0; 19],
            len: 0,
        };
        let _ = s.write_str("blt");
        let _ = s.write_str(&hex::<16>(&self.stack.to_be_bytes()));
        s
    }

    /// The asset's uid (`blt…`).
    pub fn asset_uid(&self) -> StackStr<19> {
        let mut s = StackStr {
            buf: [0; 19],
            len: 0,
        };
        let _ = s.write_str("blt");
        let _ = s.write_str(&hex::<16>(&self.key.to_be_bytes()));
        s
    }

    /// `asset-{uid}{sep}stack-{api_key}`, without `fmt` (every answer carries two).
    fn purge_keys(&self, sep: char) -> StackStr<64> {
        let mut s = StackStr {
            buf: [0; 64],
            len: 0,
        };
        let asset = hex::<16>(&self.key.to_be_bytes());
        let stack = hex::<16>(&self.stack.to_be_bytes());
        for part in [
            "asset-blt",
            &asset,
            if sep == ' ' { " " } else { "," },
            "stack-blt",
            &stack,
        ] {
            let _ = s.write_str(part);
        }
        s
    }

    /// Permanent-URL slug, if generated.
    pub fn slug(&self) -> Option<&str> {
        self.has_slug.then(|| self.span(0, self.slug_end))
    }

    /// Stack's master locale.
    pub fn master_locale(&self) -> &str {
        self.span(self.slug_end, self.locale_end)
    }

    /// Index of a file of the asset by uid.
    pub fn file_index(&self, file_uid: &str) -> Option<u16> {
        let key = ids::file_uid_bits(file_uid)?;
        let i = self
            .files
            .binary_search_by_key(&key, Prepared::key_bits)
            .ok()?;
        u16::try_from(i).ok()
    }

    /// Index of the current file.
    pub fn current(&self) -> Option<u16> {
        self.current
    }

    /// The file at an index.
    pub fn file_at(&self, i: u16) -> &Prepared {
        &self.files[usize::from(i)]
    }

    /// The content type of a file of this asset.
    pub fn content_type(&self, f: &Prepared) -> &str {
        self.span(f.text_start, f.type_end)
    }

    /// The stored name of a file of this asset.
    pub fn filename(&self, f: &Prepared) -> &str {
        self.span(f.type_end, f.name_end)
    }

    /// `Content-Disposition: inline; …` of a file.
    pub fn inline(&self, f: &Prepared) -> Disposition {
        disposition("inline", self.filename(f))
    }

    /// `Content-Disposition: attachment; …` of a file.
    pub fn attachment(&self, f: &Prepared) -> Disposition {
        disposition("attachment", self.filename(f))
    }

    /// `Content-Disposition` of a rendition of a file: the file's name with the output
    /// format's extension (`photo.jpg` as WebP is `photo.webp`).
    pub fn rendition_disposition(
        &self,
        f: &Prepared,
        attachment: bool,
        extension: &str,
    ) -> Disposition {
        let name = self.filename(f);
        let stem = match name.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem,
            _ => name,
        };
        let renamed = format!("{stem}.{extension}");
        disposition(if attachment { "attachment" } else { "inline" }, &renamed)
    }

    /// Approximate bytes this entry holds, for the index's budget.
    pub fn heap_bytes(&self) -> usize {
        // The entry sits in an `Arc` (two counters); each allocation as the allocator
        // rounds it.
        allocated(std::mem::size_of::<Self>() + 16)
            + allocated(self.text.len())
            + allocated(self.files.len() * std::mem::size_of::<Prepared>())
    }
}

/// What an allocation of `n` bytes takes from the allocator: size classes round it up
/// by at most an eighth, to 16 bytes.
fn allocated(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    (n + n / 8).next_multiple_of(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(uid: &str, name: &str, ctype: &str, sha: &str) -> FileMeta {
        FileMeta {
            uid: uid.into(),
            sha256: sha.into(),
            size: 5,
            content_type: ctype.into(),
            filename: name.into(),
            width: None,
            height: None,
            created_at: 1_700_000_000_123,
        }
    }

    #[test]
    fn an_entry_gives_back_what_it_was_made_of() {
        let a = file(
            "00000000000000000000000a",
            "b é\".svg",
            "image/svg+xml",
            &"ab".repeat(32),
        );
        let b = file(
            "ffffffffffffffffffffffff",
            "new.png",
            "image/png",
            &"01".repeat(32),
        );
        let e = HotAsset::new(&DeliveryEntry {
            uid: "blt00000000000000ff".into(),
            api_key: "blt0123456789abcdef".into(),
            permanent_slug: Some("logo".into()),
            deleted: false,
            file_uid: Some(b.uid.clone()),
            secured: false,
            redirect: false,
            master_locale: "en-us".into(),
            files: vec![b.clone(), a.clone()],
        });
        assert_eq!(e.slug(), Some("logo"));
        assert_eq!(e.master_locale(), "en-us");
        assert_eq!(
            &*e.surrogate_key(),
            "asset-blt00000000000000ff stack-blt0123456789abcdef"
        );
        assert_eq!(
            &*e.cache_tag(),
            "asset-blt00000000000000ff,stack-blt0123456789abcdef"
        );
        let cur = e.file_at(e.current().unwrap());
        assert_eq!(
            (&*cur.uid(), e.filename(cur), e.content_type(cur)),
            (b.uid.as_str(), "new.png", "image/png")
        );
        assert_eq!(&*cur.sha256(), b.sha256);
        assert!(!cur.active);
        let old = e.file_at(e.file_index(&a.uid).unwrap());
        assert_eq!(
            (e.filename(old), e.content_type(old)),
            ("b é\".svg", "image/svg+xml")
        );
        assert_eq!(&*old.etag(), format!("\"{}\"", a.sha256));
        assert!(old.active);
        assert_eq!(&*old.last_modified(), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(
            &*e.inline(old),
            "inline; filename=\"b __.svg\"; filename*=UTF-8''b%20%C3%A9%22.svg"
        );
        assert!(e.attachment(old).starts_with("attachment; "));
        assert_eq!(e.file_index("000000000000000000000000"), None);
        assert!(e.heap_bytes() < 400, "{}", e.heap_bytes());
    }
}
