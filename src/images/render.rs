//! Rendering one rendition (§11): header check → decode → orient → crop/trim → resize →
//! adjustments → pad/canvas → encode. Pure and synchronous: bytes in, bytes out; the caller
//! runs it on a blocking thread under a concurrency limit, a memory budget and a
//! [`Deadline`].
//!
//! Every size is checked before pixels are allocated: the input's dimensions come from its
//! header ([`imagesize`]), so a small file that declares 60,000 × 60,000 px is refused
//! without decoding it; the pixels the decoder will produce (the first frame, at the JPEG
//! decoder's reduced scale) are limited as a whole ([`MAX_DECODED_PIXELS`]), and
//! [`cost`] estimates a render's peak memory from the header alone so that the caller can
//! reserve it first. Output sizes come from the planned geometry, before resizing.

use std::time::{Duration, Instant};

use super::decode::decode;
use super::encode::{encode, MAX_AVIF_PIXELS};
use super::geometry::{
    canvas_frame, oriented, pad_frame, plan_from_header, scaled, swaps, Geometry,
};
use super::overlay::{self, OverlayFile};
use super::params::{Format, Transform, MAX_OUTPUT_SIDE};
use super::pixels::{adjust, compose, orient, resize};
use crate::error::{Error, Result};

/// Largest input file (§11).
pub const MAX_INPUT_BYTES: u64 = 50 * 1024 * 1024;
/// Largest input side (§11).
pub const MAX_INPUT_SIDE: u32 = 12_000;
/// Most pixels one render decodes: the first frame (on a GIF's logical screen), at the
/// scale the decoder is asked for. A 12,000 × 12,000 JPEG shown at 800 px decodes at 1/8
/// scale and passes; a GIF declaring a 12,000 × 12,000 screen does not.
pub const MAX_DECODED_PIXELS: u64 = 50_000_000;

/// The input format of a stored file, from its content type; `None` when it is not an image
/// perma can decode (AVIF, SVG, anything else: transform parameters are then ignored).
pub fn source_format(content_type: &str) -> Option<Format> {
    let base = content_type.split(';').next().unwrap_or("").trim();
    Some(match base.to_ascii_lowercase().as_str() {
        "image/jpeg" | "image/jpg" | "image/pjpeg" => Format::Jpeg,
        "image/png" => Format::Png,
        "image/gif" => Format::Gif,
        "image/webp" => Format::Webp,
        _ => return None,
    })
}

/// An encoded rendition.
#[derive(Debug)]
pub struct Rendered {
    /// The encoded bytes.
    pub bytes: Vec<u8>,
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
}

/// When a render must give up. Checked between the pipeline's stages and whenever an
/// encoder writes output; a render past it stops there with a 422, its partial work
/// dropped.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Option<Instant>,
    limit: Duration,
}

impl Deadline {
    /// No time limit (tools, fuzzing).
    pub fn none() -> Self {
        Deadline {
            at: None,
            limit: Duration::ZERO,
        }
    }

    /// `limit` from now.
    pub fn after(limit: Duration) -> Self {
        Deadline {
            at: Instant::now().checked_add(limit),
            limit,
        }
    }

    /// Whether the time is up.
    pub fn passed(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// `Err` (422) once the time is up.
    pub fn check(&self) -> Result<()> {
        if self.passed() {
            Err(too_slow(self.limit))
        } else {
            Ok(())
        }
    }
}

/// The 422 of a render that did not finish within `limit`.
pub fn too_slow(limit: Duration) -> Error {
    Error::field(
        "image",
        format!(
            "could not be rendered within the time limit of {} s: ask for a smaller size, a \
             lower quality or a faster format (jpg, webp)",
            limit.as_secs().max(1)
        ),
    )
}

pub(super) fn too_big(what: &str) -> Error {
    Error::field(
        "image",
        format!("is too large: {what} (limits: input {MAX_INPUT_SIDE} × {MAX_INPUT_SIDE} px, {} MP decoded and {} MB, output {MAX_OUTPUT_SIDE} × {MAX_OUTPUT_SIDE} px, AVIF output {} MP)", MAX_DECODED_PIXELS / 1_000_000, MAX_INPUT_BYTES >> 20, MAX_AVIF_PIXELS / 1_000_000),
    )
}

pub(super) fn undecodable(e: impl std::fmt::Display) -> Error {
    Error::field("image", format!("could not be decoded: {e}"))
}

/// The input's dimensions from its header, checked against the limits before anything is
/// decoded.
pub fn check_input(input: &[u8]) -> Result<(u32, u32)> {
    check_header(input, input.len() as u64)
}

/// [`check_input`] for a file of `len` bytes of which `head` is the beginning (enough of it
/// to hold the header).
pub(super) fn check_header(head: &[u8], len: u64) -> Result<(u32, u32)> {
    if len > MAX_INPUT_BYTES {
        return Err(too_big("the file is larger than 50 MB"));
    }
    let size = imagesize::blob_size(head).map_err(undecodable)?;
    let (w, h) = (size.width, size.height);
    if w == 0 || h == 0 {
        return Err(undecodable("no pixels"));
    }
    if w > MAX_INPUT_SIDE as usize || h > MAX_INPUT_SIDE as usize {
        return Err(too_big(&format!("the image is {w} × {h} px")));
    }
    Ok((w as u32, h as u32))
}

/// The scale (in eighths) the JPEG decoder is asked for when the result is `k` times the
/// source's size: the smallest of 1/8, 1/4, 1/2 that still has the pixels, else 8/8.
pub(super) fn jpeg_eighths(k: f64) -> u32 {
    if k >= 0.5 {
        return 8;
    }
    [1, 2, 4]
        .into_iter()
        .find(|n| f64::from(*n) / 8.0 >= k)
        .unwrap_or(8)
}

/// What a render will cost, known from the header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Pixels the decoder produces.
    pub decoded_pixels: u64,
    /// Pixels of the encoded output.
    pub output_pixels: u64,
    /// Peak bytes of memory the render holds at once (input, pixels, copies, encoder).
    pub memory: u64,
}

/// The cost of rendering a file of `len` bytes that begins with `head` (format `source`)
/// with `t` into `output`, checked against every limit, without decoding anything: the
/// header is enough, so a caller can reserve the memory before reading the whole file. The
/// memory estimate follows the pipeline's stages and takes the largest: decoding (the
/// decoder's buffers), orienting (two copies), resizing (source and result), adjusting,
/// framing, encoding (the pixels and the encoder's own planes); the file itself is held
/// throughout.
pub fn cost(head: &[u8], len: u64, source: Format, t: &Transform, output: Format) -> Result<Cost> {
    cost_with_overlay(head, len, source, t, output, None)
}

/// [`cost`] of a render with an overlay (§11 `overlay`), whose file begins with
/// `overlay.0` and has `overlay.1` bytes: its decoded pixels count toward the same limit,
/// and its memory is held while the base image's pixels are.
pub fn cost_with_overlay(
    head: &[u8],
    len: u64,
    source: Format,
    t: &Transform,
    output: Format,
    overlay: Option<(&[u8], u64)>,
) -> Result<Cost> {
    let (w, h) = check_header(head, len)?;
    // The EXIF orientation is not in the header's size; either way round has the same
    // areas, and a crop that fits neither fails the render too.
    let g =
        plan_from_header(t, w, h, 1).or_else(|e| plan_from_header(t, w, h, 6).map_err(|_| e))?;
    let mut decoded = match source {
        Format::Jpeg | Format::ProgressiveJpeg => {
            let n = jpeg_eighths(g.reduction());
            (u64::from(w) * u64::from(n)).div_ceil(8) * (u64::from(h) * u64::from(n)).div_ceil(8)
        }
        _ => u64::from(w) * u64::from(h),
    };
    let mut overlaying = 0;
    if let (Some(o), Some((head, len))) = (&t.overlay, overlay) {
        let (pixels, memory) = overlay::cost(o, head, len, g.fitted)?;
        decoded += pixels;
        overlaying = u64::from(g.fitted.0) * u64::from(g.fitted.1) * 4 + memory;
    }
    if decoded > MAX_DECODED_PIXELS {
        return Err(too_big(&format!(
            "decoding it takes {:.1} MP (the image is {w} × {h} px)",
            decoded as f64 / 1e6
        )));
    }
    let area = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
    let (resized, fitted) = (area(g.resized), area(g.fitted));
    let mut framed = g.fitted;
    let mut frames = 0;
    for frame in [
        pad_frame(t, framed.0, framed.1)?,
        canvas_frame(t, framed.0, framed.1).ok().flatten(),
    ]
    .into_iter()
    .flatten()
    {
        frames = frames.max(area(framed) + area((frame.w, frame.h)));
        framed = (frame.w, frame.h);
    }
    let out = area(framed);
    if output == Format::Avif && out > MAX_AVIF_PIXELS {
        return Err(too_big(&format!(
            "an AVIF of {} × {} px is {:.1} MP",
            framed.0,
            framed.1,
            out as f64 / 1e6
        )));
    }
    let decoding = decoded * 8;
    let orienting = decoded * 8;
    let resizing = decoded * 4 + resized * 4 + fitted * 4;
    let adjusting =
        fitted * 4 * (1 + u64::from(t.blur.is_some()) + 2 * u64::from(t.sharpen.is_some()));
    let encoding = out * (4 + encoder_bytes_per_pixel(output));
    let peak = [
        decoding,
        orienting,
        resizing,
        adjusting,
        overlaying,
        frames * 4,
        encoding,
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    Ok(Cost {
        decoded_pixels: decoded,
        output_pixels: out,
        memory: len + peak,
    })
}

/// Bytes per output pixel an encoder holds besides the pixels (its planes, its output
/// buffer), measured with bench/render_attack.sh's images: rav1e keeps several frames of
/// planes and its coefficients (about 160 bytes a pixel at quality 99), libwebp's lossless
/// mode about 30, a PNG of noise grows its buffer to twice its 3 bytes a pixel.
fn encoder_bytes_per_pixel(output: Format) -> u64 {
    match output {
        Format::Jpeg | Format::ProgressiveJpeg => 4,
        Format::Png => 8,
        Format::Gif => 12,
        Format::Webp => 14,
        Format::WebpLossless => 32,
        Format::Avif => 166,
    }
}

/// Renders `input` (a file of format `source`) with `t` into `output`, giving up at
/// `deadline`.
pub fn render(
    input: &[u8],
    source: Format,
    t: &Transform,
    output: Format,
    deadline: &Deadline,
) -> Result<Rendered> {
    render_with_overlay(input, source, t, output, None, deadline)
}

/// [`render`] with the file of the transform's overlay (§11 `overlay`); without one the
/// overlay parameters are ignored.
pub fn render_with_overlay(
    input: &[u8],
    source: Format,
    t: &Transform,
    output: Format,
    overlay_file: Option<OverlayFile<'_>>,
    deadline: &Deadline,
) -> Result<Rendered> {
    let ov_head = overlay_file.map(|f| (f.bytes, f.bytes.len() as u64));
    let cost = cost_with_overlay(input, input.len() as u64, source, t, output, ov_head)?;
    debug_assert!(cost.decoded_pixels <= MAX_DECODED_PIXELS);
    let (w, h) = check_input(input)?;
    let (pixels, exif, full) = decode(input, source, t, w, h)?;
    deadline.check()?;
    let mut img = orient(pixels, exif);
    if let Some(o) = t.orient {
        img = orient(img, o.0);
    }
    // The geometry was planned at full size from the header; a JPEG may have decoded
    // smaller (DCT scaling), and pixel-valued crop and trim scale with it.
    let (fw, fh) = oriented(w, h, exif);
    let (fw, fh) = match t.orient {
        Some(o) if swaps(o.0) => (fh, fw),
        _ => (fw, fh),
    };
    let g: Geometry = if (img.w, img.h) == (fw, fh) {
        full
    } else {
        scaled(full, f64::from(img.w) / f64::from(fw), img.w, img.h)
    };
    deadline.check()?;
    let mut img = resize(img, &g, t)?;
    deadline.check()?;
    adjust(&mut img, t);
    deadline.check()?;
    if let (Some(o), Some(file)) = (&t.overlay, overlay_file) {
        let ov = overlay::prepare(o, file, (img.w, img.h))?;
        deadline.check()?;
        overlay::draw(&mut img, &ov, o);
        deadline.check()?;
    }
    let bg = t.background();
    if let Some(f) = pad_frame(t, img.w, img.h)? {
        img = compose(img, f.w, f.h, f.x, f.y, bg);
    }
    if let Some(f) = canvas_frame(t, img.w, img.h)? {
        img = compose(img, f.w, f.h, f.x, f.y, bg);
    }
    deadline.check()?;
    encode(img, t, output, deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_bomb_is_refused_from_its_header() {
        // A PNG header declaring 60,000 × 60,000 px, with no pixel data at all.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&60_000u32.to_be_bytes());
        png.extend_from_slice(&60_000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        let e = check_input(&png).unwrap_err();
        assert_eq!(e.status(), 422);
    }

    #[test]
    fn decoded_pixels_are_limited_before_decoding() {
        // A 43-byte GIF whose logical screen is 12,000 × 12,000 px (within the per-side
        // limit) and whose only frame is 1 × 1: its screen would be decoded.
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&12_000u16.to_le_bytes());
        gif.extend_from_slice(&12_000u16.to_le_bytes());
        gif.extend_from_slice(&[0, 0, 0]);
        gif.extend_from_slice(&[0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b]);
        let t = Transform::parse("width=100").unwrap().unwrap();
        let e = render(&gif, Format::Gif, &t, Format::Png, &Deadline::none()).unwrap_err();
        assert_eq!(e.status(), 422);
        assert!(e.to_string().contains("144.0 MP"), "{e}");
        // A large JPEG shown small decodes at 1/8 scale: 1,500 × 1,500 px.
        let jpeg = jpeg_header(12_000, 12_000);
        let c = cost(&jpeg, 1 << 20, Format::Jpeg, &t, Format::Jpeg).unwrap();
        assert!(c.memory > 1 << 20, "the whole file counts, not the header");
        assert_eq!(c.decoded_pixels, 1500 * 1500);
        // The same JPEG at full size is over the limit.
        let full = Transform::parse("width=8000").unwrap().unwrap();
        assert!(cost(&jpeg, 1 << 20, Format::Jpeg, &full, Format::Jpeg).is_err());
        // AVIF output is limited in area; memory grows with the output.
        let big = Transform::parse("width=5000").unwrap().unwrap();
        let png = png_header(5000, 5000);
        let len = png.len() as u64;
        assert!(cost(&png, len, Format::Png, &big, Format::Avif).is_err());
        let webp = cost(&png, len, Format::Png, &big, Format::Webp).unwrap();
        let small = cost(&png, len, Format::Png, &t, Format::Webp).unwrap();
        assert!(webp.memory > small.memory);
        assert!(small.memory >= 5000 * 5000 * 4);
    }

    #[test]
    fn an_overlay_counts_toward_the_decoded_pixels_and_the_memory() {
        let t = Transform::parse("width=1000&overlay=/v3/assets/k/a/s")
            .unwrap()
            .unwrap();
        let base = png_header(2000, 2000);
        let alone = cost(&base, 1000, Format::Png, &t, Format::Png).unwrap();
        let small = png_header(100, 100);
        let with = |head: &[u8], len| {
            cost_with_overlay(&base, 1000, Format::Png, &t, Format::Png, Some((head, len)))
        };
        let c = with(&small, 500).unwrap();
        assert_eq!(c.decoded_pixels, alone.decoded_pixels + 100 * 100);
        assert!(c.memory >= alone.memory);
        // A large overlay drawn large costs more than the base alone.
        let big = png_header(8000, 4000);
        let c = with(&big, 5000).unwrap();
        assert!(
            c.memory > alone.memory + 8000 * 4000 * 8,
            "{c:?} vs {alone:?}"
        );
        // Together past the decoded-pixel limit: refused before decoding anything.
        let t = Transform::parse("overlay=/v3/assets/k/a/s")
            .unwrap()
            .unwrap();
        let base = png_header(8000, 4000);
        let e = cost_with_overlay(
            &base,
            1000,
            Format::Png,
            &t,
            Format::Png,
            Some((&big, 5000)),
        )
        .unwrap_err();
        assert_eq!(e.status(), 422);
    }

    #[test]
    fn a_passed_deadline_stops_the_render() {
        let png = {
            let mut out = Vec::new();
            let img = image::RgbImage::from_pixel(64, 64, image::Rgb([200, 10, 10]));
            img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
                .unwrap();
            out
        };
        let t = Transform::parse("width=32").unwrap().unwrap();
        let ok = render(
            &png,
            Format::Png,
            &t,
            Format::Png,
            &Deadline::after(Duration::from_secs(60)),
        );
        assert_eq!(ok.unwrap().width, 32);
        let gone = Deadline::after(Duration::ZERO);
        assert!(gone.passed());
        let e = render(&png, Format::Png, &t, Format::Png, &gone).unwrap_err();
        assert!(e.to_string().contains("time limit"), "{e}");
    }

    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&w.to_be_bytes());
        png.extend_from_slice(&h.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        png
    }

    fn jpeg_header(w: u16, h: u16) -> Vec<u8> {
        let mut j = vec![0xff, 0xd8, 0xff, 0xc0, 0, 17, 8];
        j.extend_from_slice(&h.to_be_bytes());
        j.extend_from_slice(&w.to_be_bytes());
        j.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        j.extend_from_slice(&[0xff, 0xd9]);
        j
    }
}
