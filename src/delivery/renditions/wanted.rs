//! What a request with §11 parameters asks for: the original file, or a rendition named
//! by its key (the source file, the canonical transform and the overlay's file).

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::images::{self, Format, Transform};

/// What a request with transform parameters is answered with.
#[derive(Debug)]
pub enum Decision {
    /// The file itself: not a decodable image, or a transform that changes nothing.
    Original {
        /// The answer depends on `Accept` (`auto=` was considered).
        vary_accept: bool,
    },
    /// A rendition.
    Rendition(Box<Wanted>),
}

/// A rendition a request asks for.
#[derive(Debug)]
pub struct Wanted {
    /// Its key.
    pub key: String,
    pub(super) transform: Transform,
    pub(super) canonical: String,
    pub(super) source: Format,
    source_sha256: String,
    pub(super) output: Format,
    /// The answer depends on `Accept`.
    pub vary_accept: bool,
    /// The overlay's file, once delivery has resolved the `overlay` URL.
    pub(super) overlay: Option<OverlaySource>,
}

/// The file an `overlay` parameter named (§11), as delivery resolved it.
#[derive(Debug, Clone)]
pub(super) struct OverlaySource {
    pub(super) sha256: String,
    pub(super) size: u64,
    pub(super) format: Format,
}

impl Wanted {
    /// The relative URL of the overlay the transform asks for, if any: delivery resolves
    /// it and [`Wanted::bind_overlay`]s the file before the rendition can be found.
    pub fn overlay_path(&self) -> Option<&str> {
        self.transform.overlay.as_ref().map(|o| o.path.as_str())
    }

    /// Binds the overlay's file: the key then covers its bytes (their SHA-256), so a new
    /// file behind the overlay's permanent URL makes new renditions. A file that is not an
    /// image perma can decode is a 400 naming `overlay`.
    pub fn bind_overlay(&mut self, file: Source<'_>) -> Result<()> {
        let format = images::source_format(file.content_type).ok_or_else(|| {
            Error::Malformed(format!(
                "The image parameter overlay must name an image (JPEG, PNG, GIF or WebP);                  the file it names is {}.",
                file.content_type
            ))
        })?;
        self.key = key_of(&self.source_sha256, &self.canonical, Some(file.sha256));
        self.overlay = Some(OverlaySource {
            sha256: file.sha256.to_owned(),
            size: file.size,
            format,
        });
        Ok(())
    }
}

/// A rendition's key: the SHA-256 of the source's SHA-256, the canonical transform and the
/// overlay file's SHA-256 if any.
fn key_of(source: &str, canonical: &str, overlay: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    if let Some(o) = overlay {
        h.update(b"\n");
        h.update(o.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The file a rendition is made from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Its blob.
    pub sha256: &'a str,
    /// Its size.
    pub size: u64,
    /// Its media type.
    pub content_type: &'a str,
}

/// Decides what a request with the query `query` (which has §11 parameters) and the
/// `Accept` header `accept` is answered with, for the file `source`. Errors are the 400s
/// and 422s of bad or oversized parameters.
pub fn decide(query: &str, accept: Option<&str>, source: Source<'_>) -> Result<Decision> {
    let Some(input) = images::source_format(source.content_type) else {
        return Ok(Decision::Original { vary_accept: false });
    };
    let Some(transform) = Transform::parse(query)? else {
        return Ok(Decision::Original { vary_accept: false });
    };
    let vary_accept = transform.varies_on_accept();
    let output = transform.output_format(accept, input);
    if transform.is_identity(output, input) {
        return Ok(Decision::Original { vary_accept });
    }
    let canonical = transform.canonical(output);
    Ok(Decision::Rendition(Box::new(Wanted {
        key: key_of(source.sha256, &canonical, None),
        transform,
        canonical,
        source: input,
        source_sha256: source.sha256.to_owned(),
        output,
        vary_accept,
        overlay: None,
    })))
}
