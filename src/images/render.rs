//! Rendering one rendition (§11): header check → decode → orient → crop/trim → resize →
//! adjustments → pad/canvas → encode. Pure and synchronous: bytes in, bytes out; the caller
//! runs it on a blocking thread under a concurrency limit and a time limit.
//!
//! Every size is checked before pixels are allocated: the input's dimensions come from its
//! header ([`imagesize`]), so a small file that declares 60,000 × 60,000 px is refused
//! without decoding it, and the output's from [`Geometry`], before resizing.

use std::io::Cursor;

use fast_image_resize as fr;
use image::metadata::Orientation as ExifOrientation;
use image::ImageDecoder as _;

use super::params::{Area, Fit, Format, Position, Region, Side, Transform, MAX_OUTPUT_SIDE};
use crate::error::{Error, Result};

/// Largest input file (§11).
pub const MAX_INPUT_BYTES: u64 = 50 * 1024 * 1024;
/// Largest input side (§11).
pub const MAX_INPUT_SIDE: u32 = 12_000;

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

/// Pixels, row-major, 3 (RGB) or 4 (RGBA) bytes each.
#[derive(Debug, Clone)]
struct Pixels {
    w: u32,
    h: u32,
    channels: usize,
    data: Vec<u8>,
}

impl Pixels {
    fn new(w: u32, h: u32, channels: usize, fill: &[u8]) -> Self {
        let mut data = Vec::with_capacity(w as usize * h as usize * channels);
        for _ in 0..(w as usize * h as usize) {
            data.extend_from_slice(&fill[..channels]);
        }
        Pixels {
            w,
            h,
            channels,
            data,
        }
    }

    fn pixel_type(&self) -> fr::PixelType {
        if self.channels == 4 {
            fr::PixelType::U8x4
        } else {
            fr::PixelType::U8x3
        }
    }

    fn with_alpha(self) -> Pixels {
        if self.channels == 4 {
            return self;
        }
        let mut data = Vec::with_capacity(self.data.len() / 3 * 4);
        for p in self.data.chunks_exact(3) {
            data.extend_from_slice(&[p[0], p[1], p[2], 255]);
        }
        Pixels {
            channels: 4,
            data,
            ..self
        }
    }

    /// Over an opaque background: RGB.
    fn flatten(self, bg: [u8; 4]) -> Pixels {
        if self.channels == 3 {
            return self;
        }
        let mut data = Vec::with_capacity(self.data.len() / 4 * 3);
        for p in self.data.chunks_exact(4) {
            let a = u32::from(p[3]);
            for c in 0..3 {
                let v = (u32::from(p[c]) * a + u32::from(bg[c]) * (255 - a) + 127) / 255;
                data.push(v as u8);
            }
        }
        Pixels {
            channels: 3,
            data,
            ..self
        }
    }
}

fn too_big(what: &str) -> Error {
    Error::field(
        "image",
        format!("is too large: {what} (limits: input {MAX_INPUT_SIDE} × {MAX_INPUT_SIDE} px and {} MB, output {MAX_OUTPUT_SIDE} × {MAX_OUTPUT_SIDE} px)", MAX_INPUT_BYTES >> 20),
    )
}

fn undecodable(e: impl std::fmt::Display) -> Error {
    Error::field("image", format!("could not be decoded: {e}"))
}

/// The input's dimensions from its header, checked against the limits before anything is
/// decoded.
pub fn check_input(input: &[u8]) -> Result<(u32, u32)> {
    if input.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_big("the file is larger than 50 MB"));
    }
    let size = imagesize::blob_size(input).map_err(undecodable)?;
    let (w, h) = (size.width, size.height);
    if w == 0 || h == 0 {
        return Err(undecodable("no pixels"));
    }
    if w > MAX_INPUT_SIDE as usize || h > MAX_INPUT_SIDE as usize {
        return Err(too_big(&format!("the image is {w} × {h} px")));
    }
    Ok((w as u32, h as u32))
}

/// A rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

/// Where the pixels go, decided from the dimensions alone (so limits are checked, and the
/// JPEG decoder can be told how far it may downscale, before decoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    /// The source region (after orientation) that crop and trim keep.
    region: Rect,
    /// Size the region is resized to.
    resized: (u32, u32),
    /// Then cropped to this (fit=crop), centred.
    fitted: (u32, u32),
}

fn rounded(v: f64) -> u32 {
    v.round().clamp(1.0, f64::from(u32::MAX)) as u32
}

/// Top-left corner of something placed in `room_x` × `room_y` free pixels (negative when it
/// is larger than its frame).
fn offset(position: Position, room_x: i64, room_y: i64) -> (i64, i64) {
    match position {
        Position::Centre => (room_x / 2, room_y / 2),
        Position::Px(x, y) => (i64::from(x), i64::from(y)),
        Position::Offset(px, py) => (
            room_x * i64::from(px) / 10_000,
            room_y * i64::from(py) / 10_000,
        ),
    }
}

fn crop_rect(c: Region, w: u32, h: u32) -> Result<Rect> {
    let (cw, ch) = match c.area {
        Area::Px(cw, ch) => (cw, ch),
        Area::Aspect(a, b) => {
            if u64::from(w) * u64::from(b) >= u64::from(h) * u64::from(a) {
                (
                    rounded(f64::from(h) * f64::from(a) / f64::from(b)).min(w),
                    h,
                )
            } else {
                (
                    w,
                    rounded(f64::from(w) * f64::from(b) / f64::from(a)).min(h),
                )
            }
        }
    };
    let (x, y) = offset(
        c.position,
        i64::from(w) - i64::from(cw),
        i64::from(h) - i64::from(ch),
    );
    let fits =
        x >= 0 && y >= 0 && x + i64::from(cw) <= i64::from(w) && y + i64::from(ch) <= i64::from(h);
    if fits {
        return Ok(Rect {
            x: x as u32,
            y: y as u32,
            w: cw,
            h: ch,
        });
    }
    if !c.safe {
        return Err(Error::field(
            "crop",
            format!("lies outside the {w} × {h} px image (add ,safe to clamp it to the image)"),
        ));
    }
    let (cw, ch) = (cw.min(w), ch.min(h));
    Ok(Rect {
        x: (x.max(0) as u32).min(w - cw),
        y: (y.max(0) as u32).min(h - ch),
        w: cw,
        h: ch,
    })
}

impl Geometry {
    /// For a source of `w` × `h` px (after orientation).
    fn plan(t: &Transform, w: u32, h: u32) -> Result<Geometry> {
        let mut region = Rect { x: 0, y: 0, w, h };
        if let Some(c) = t.crop {
            region = crop_rect(c, w, h)?;
        }
        if let Some([top, right, bottom, left]) = t.trim {
            if u64::from(left) + u64::from(right) >= u64::from(region.w)
                || u64::from(top) + u64::from(bottom) >= u64::from(region.h)
            {
                return Err(Error::field(
                    "trim",
                    format!("removes the whole {} × {} px image", region.w, region.h),
                ));
            }
            region = Rect {
                x: region.x + left,
                y: region.y + top,
                w: region.w - left - right,
                h: region.h - top - bottom,
            };
        }
        let (sw, sh) = (f64::from(region.w), f64::from(region.h));
        let dpr = f64::from(t.dpr.unwrap_or(100)) / 100.0;
        let target = |s: Option<Side>, source: f64| {
            s.map(|s| match s {
                Side::Px(n) => f64::from(n) * dpr,
                Side::Percent(p) => source * f64::from(p) / 10_000.0 * dpr,
            })
        };
        let (tw, th) = (target(t.width, sw), target(t.height, sh));
        let proportional = |k: f64| {
            let k = if t.no_upscale { k.min(1.0) } else { k };
            (rounded(sw * k), rounded(sh * k))
        };
        let (resized, fitted) = match (tw, th) {
            (None, None) => ((region.w, region.h), (region.w, region.h)),
            (Some(tw), None) => {
                let r = proportional(tw / sw);
                (r, r)
            }
            (None, Some(th)) => {
                let r = proportional(th / sh);
                (r, r)
            }
            (Some(tw), Some(th)) => match t.fit {
                Some(Fit::Bounds) => {
                    let r = proportional((tw / sw).min(th / sh));
                    (r, r)
                }
                Some(Fit::Crop) => {
                    let r = proportional((tw / sw).max(th / sh));
                    (r, (rounded(tw).min(r.0), rounded(th).min(r.1)))
                }
                None => {
                    let (mut w, mut h) = (rounded(tw), rounded(th));
                    if t.no_upscale {
                        (w, h) = (w.min(region.w), h.min(region.h));
                    }
                    ((w, h), (w, h))
                }
            },
        };
        for (w, h) in [resized, fitted] {
            if w > MAX_OUTPUT_SIDE || h > MAX_OUTPUT_SIDE {
                return Err(too_big(&format!("the output would be {w} × {h} px")));
            }
        }
        Ok(Geometry {
            region,
            resized,
            fitted,
        })
    }

    /// How much smaller than the source the result is (for decoding at a reduced scale).
    fn reduction(&self) -> f64 {
        let kx = f64::from(self.resized.0) / f64::from(self.region.w);
        let ky = f64::from(self.resized.1) / f64::from(self.region.h);
        kx.max(ky)
    }
}

/// Renders `input` (a file of format `source`) with `t` into `output`.
pub fn render(input: &[u8], source: Format, t: &Transform, output: Format) -> Result<Rendered> {
    let (w, h) = check_input(input)?;
    let (pixels, exif, full) = decode(input, source, t, w, h)?;
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
    let g = if (img.w, img.h) == (fw, fh) {
        full
    } else {
        scaled(full, f64::from(img.w) / f64::from(fw), img.w, img.h)
    };
    let mut img = resize(img, &g, t)?;
    adjust(&mut img, t);
    let bg = t.background();
    if let Some([top, right, bottom, left]) = t.pad {
        let (w, h) = (
            img.w as u64 + u64::from(left) + u64::from(right),
            img.h as u64 + u64::from(top) + u64::from(bottom),
        );
        check_output(w, h)?;
        img = compose(img, w as u32, h as u32, i64::from(left), i64::from(top), bg);
    }
    if let Some(c) = t.canvas {
        let (cw, ch) = match c.area {
            Area::Px(cw, ch) => (u64::from(cw), u64::from(ch)),
            Area::Aspect(a, b) => {
                let (w, h) = (f64::from(img.w), f64::from(img.h));
                if w * f64::from(b) >= h * f64::from(a) {
                    (
                        img.w as u64,
                        rounded(w * f64::from(b) / f64::from(a)) as u64,
                    )
                } else {
                    (
                        rounded(h * f64::from(a) / f64::from(b)) as u64,
                        img.h as u64,
                    )
                }
            }
        };
        check_output(cw, ch)?;
        let (x, y) = offset(
            c.position,
            cw as i64 - i64::from(img.w),
            ch as i64 - i64::from(img.h),
        );
        img = compose(img, cw as u32, ch as u32, x, y, bg);
    }
    encode(img, t, output)
}

fn check_output(w: u64, h: u64) -> Result<()> {
    if w > u64::from(MAX_OUTPUT_SIDE) || h > u64::from(MAX_OUTPUT_SIDE) {
        return Err(too_big(&format!("the output would be {w} × {h} px")));
    }
    Ok(())
}

fn swaps(exif: u8) -> bool {
    (5..=8).contains(&exif)
}

fn oriented(w: u32, h: u32, exif: u8) -> (u32, u32) {
    if swaps(exif) {
        (h, w)
    } else {
        (w, h)
    }
}

/// `full` (planned at full size) for pixels decoded at `scale`, `w` × `h`.
fn scaled(full: Geometry, scale: f64, w: u32, h: u32) -> Geometry {
    let s = |v: u32| (f64::from(v) * scale).round() as u32;
    let x = s(full.region.x).min(w - 1);
    let y = s(full.region.y).min(h - 1);
    Geometry {
        region: Rect {
            x,
            y,
            w: s(full.region.w).clamp(1, w - x),
            h: s(full.region.h).clamp(1, h - y),
        },
        ..full
    }
}

/// The geometry of `t` on a `w` × `h` source with EXIF orientation `exif`, planned from the
/// header before any pixel is decoded (so output limits are checked first).
fn plan_from_header(t: &Transform, w: u32, h: u32, exif: u8) -> Result<Geometry> {
    let (mut w, mut h) = oriented(w, h, exif);
    if t.orient.is_some_and(|o| swaps(o.0)) {
        (w, h) = (h, w);
    }
    Geometry::plan(t, w, h)
}

/// Decodes the first frame as RGB or RGBA, with the EXIF orientation (1 when none) and the
/// geometry planned from the header. JPEGs decode at the smallest DCT scale (1/8, 1/4,
/// 1/2) that still has the pixels the transform needs.
fn decode(
    input: &[u8],
    source: Format,
    t: &Transform,
    w: u32,
    h: u32,
) -> Result<(Pixels, u8, Geometry)> {
    if matches!(source, Format::Jpeg | Format::ProgressiveJpeg) {
        return decode_jpeg(input, t, w, h);
    }
    if source == Format::Png {
        return decode_png(input, t, w, h);
    }
    if source == Format::Webp {
        check_riff(input)?;
    }
    let format = match source {
        Format::Png => image::ImageFormat::Png,
        Format::Gif => image::ImageFormat::Gif,
        _ => image::ImageFormat::WebP,
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(input), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_INPUT_SIDE);
    limits.max_image_height = Some(MAX_INPUT_SIDE);
    limits.max_alloc = Some(u64::from(MAX_INPUT_SIDE) * u64::from(MAX_INPUT_SIDE) * 8);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    let (dw, dh) = decoder.dimensions();
    if (dw, dh) != (w, h) {
        return Err(undecodable(
            "its header and its data disagree about its size",
        ));
    }
    let exif = decoder
        .orientation()
        .map_or(1, |o: ExifOrientation| o.to_exif());
    let full = plan_from_header(t, w, h, exif)?;
    let img = image::DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    let pixels = if img.color().has_alpha() {
        let rgba = img.into_rgba8();
        Pixels {
            w: rgba.width(),
            h: rgba.height(),
            channels: 4,
            data: rgba.into_raw(),
        }
    } else {
        let rgb = img.into_rgb8();
        Pixels {
            w: rgb.width(),
            h: rgb.height(),
            channels: 3,
            data: rgb.into_raw(),
        }
    };
    Ok((pixels, exif, full))
}

/// Checks that every chunk of a WebP (RIFF) file fits in the file. The decoder allocates a
/// chunk's declared size before reading it, so a 100-byte file declaring a 3 GB EXIF chunk
/// would otherwise cost 3 GB (found by fuzzing).
fn check_riff(input: &[u8]) -> Result<()> {
    let le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if input.len() < 12 || &input[..4] != b"RIFF" || &input[8..12] != b"WEBP" {
        return Err(undecodable("not a RIFF WebP file"));
    }
    let mut at = 12;
    while at + 8 <= input.len() {
        let size = le(&input[at + 4..at + 8]);
        let end = at
            .checked_add(8)
            .and_then(|a| a.checked_add(size))
            .filter(|end| *end <= input.len())
            .ok_or_else(|| undecodable("a chunk is larger than the file"))?;
        at = end + (size & 1);
    }
    Ok(())
}

/// PNG through the `png` crate directly: checksums are not enforced, as browsers do not
/// enforce them (a file that displays everywhere must not fail here).
fn decode_png(input: &[u8], t: &Transform, w: u32, h: u32) -> Result<(Pixels, u8, Geometry)> {
    let limit = MAX_INPUT_SIDE as usize * MAX_INPUT_SIDE as usize * 8;
    let mut d = png::Decoder::new_with_limits(Cursor::new(input), png::Limits { bytes: limit });
    d.ignore_checksums(true);
    d.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = d.read_info().map_err(undecodable)?;
    let info = reader.info();
    if (info.width, info.height) != (w, h) {
        return Err(undecodable(
            "its header and its data disagree about its size",
        ));
    }
    let exif = info
        .exif_metadata
        .as_deref()
        .and_then(ExifOrientation::from_exif_chunk)
        .map_or(1, ExifOrientation::to_exif);
    let full = plan_from_header(t, w, h, exif)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| undecodable("too large to decode"))?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(undecodable)?;
    buf.truncate(frame.buffer_size());
    let n = w as usize * h as usize;
    let (channels, data) = match frame.color_type {
        png::ColorType::Rgb => (3, buf),
        png::ColorType::Rgba => (4, buf),
        png::ColorType::Grayscale => (3, buf.iter().flat_map(|&l| [l, l, l]).collect()),
        png::ColorType::GrayscaleAlpha => (
            4,
            buf.chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
        ),
        png::ColorType::Indexed => return Err(undecodable("palette not expanded")),
    };
    if data.len() != n * channels {
        return Err(undecodable("truncated pixel data"));
    }
    Ok((
        Pixels {
            w,
            h,
            channels,
            data,
        },
        exif,
        full,
    ))
}

fn decode_jpeg(input: &[u8], t: &Transform, w: u32, h: u32) -> Result<(Pixels, u8, Geometry)> {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(input));
    d.set_max_decoding_buffer_size(MAX_INPUT_SIDE as usize * MAX_INPUT_SIDE as usize * 4);
    d.read_info().map_err(undecodable)?;
    let exif = d
        .exif_data()
        .and_then(ExifOrientation::from_exif_chunk)
        .map_or(1, ExifOrientation::to_exif);
    let info = d.info().ok_or_else(|| undecodable("no frame header"))?;
    if (u32::from(info.width), u32::from(info.height)) != (w, h) {
        return Err(undecodable(
            "its header and its data disagree about its size",
        ));
    }
    // Only when the transform only ever shrinks: the planned reduction says how small the
    // decoder may go (it picks the smallest scale n/8 at least this large).
    let full = plan_from_header(t, w, h, exif)?;
    let k = full.reduction();
    if k < 0.5 {
        let want = |v: u32| ((f64::from(v) * k).ceil() as u32).clamp(1, u32::from(u16::MAX));
        let _ = d.scale(want(w) as u16, want(h) as u16);
    }
    let data = d.decode().map_err(undecodable)?;
    let info = d.info().ok_or_else(|| undecodable("no frame header"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let n = w as usize * h as usize;
    let rgb = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => data,
        jpeg_decoder::PixelFormat::L8 => data.iter().flat_map(|&l| [l, l, l]).collect(),
        jpeg_decoder::PixelFormat::L16 => data
            .chunks_exact(2)
            .flat_map(|l| [l[0], l[0], l[0]])
            .collect(),
        jpeg_decoder::PixelFormat::CMYK32 => data
            .chunks_exact(4)
            .flat_map(|p| {
                let k = u32::from(p[3]);
                let c = |v: u8| (u32::from(v) * k / 255) as u8;
                [c(p[0]), c(p[1]), c(p[2])]
            })
            .collect(),
    };
    if rgb.len() != n * 3 {
        return Err(undecodable("truncated pixel data"));
    }
    Ok((
        Pixels {
            w,
            h,
            channels: 3,
            data: rgb,
        },
        exif,
        full,
    ))
}

/// Applies an EXIF orientation (2–8; 1 changes nothing).
fn orient(p: Pixels, o: u8) -> Pixels {
    if !(2..=8).contains(&o) {
        return p;
    }
    let (w, h, c) = (p.w as usize, p.h as usize, p.channels);
    let (nw, nh) = if swaps(o) { (h, w) } else { (w, h) };
    let mut out = vec![0u8; p.data.len()];
    for y in 0..nh {
        for x in 0..nw {
            // The source pixel shown at (x, y) after the orientation is applied.
            let (sx, sy) = match o {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x), // 8
            };
            let s = (sy * w + sx) * c;
            let d = (y * nw + x) * c;
            out[d..d + c].copy_from_slice(&p.data[s..s + c]);
        }
    }
    Pixels {
        w: nw as u32,
        h: nh as u32,
        channels: c,
        data: out,
    }
}

fn lanczos2(x: f64) -> f64 {
    fn sinc(x: f64) -> f64 {
        if x == 0.0 {
            1.0
        } else {
            let x = x * std::f64::consts::PI;
            x.sin() / x
        }
    }
    if (-2.0..2.0).contains(&x) {
        sinc(x) * sinc(x / 2.0)
    } else {
        0.0
    }
}

/// Crops to the region and resizes in one pass, then crops centred for `fit=crop`.
fn resize(img: Pixels, g: &Geometry, t: &Transform) -> Result<Pixels> {
    use super::params::Filter;
    let r = g.region;
    let whole = r
        == Rect {
            x: 0,
            y: 0,
            w: img.w,
            h: img.h,
        };
    let mut img = if g.resized == (r.w, r.h) {
        if whole {
            img
        } else {
            cut(&img, r)
        }
    } else {
        let alg = match t.filter.unwrap_or_default() {
            Filter::Nearest => fr::ResizeAlg::Nearest,
            Filter::Bilinear => fr::ResizeAlg::Convolution(fr::FilterType::Bilinear),
            Filter::Bicubic => fr::ResizeAlg::Convolution(fr::FilterType::CatmullRom),
            Filter::Lanczos2 => fr::ResizeAlg::Convolution(fr::FilterType::Custom(
                fr::Filter::new("Lanczos2", lanczos2, 2.0).map_err(anyhow::Error::from)?,
            )),
            Filter::Lanczos3 => fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3),
        };
        let pt = img.pixel_type();
        let src = fr::images::ImageRef::new(img.w, img.h, &img.data, pt)
            .map_err(|e| anyhow::anyhow!("resize source: {e}"))?;
        let mut dst = fr::images::Image::new(g.resized.0, g.resized.1, pt);
        let options = fr::ResizeOptions::new().resize_alg(alg).crop(
            f64::from(r.x),
            f64::from(r.y),
            f64::from(r.w),
            f64::from(r.h),
        );
        fr::Resizer::new()
            .resize(&src, &mut dst, &options)
            .map_err(|e| anyhow::anyhow!("resize: {e}"))?;
        Pixels {
            w: g.resized.0,
            h: g.resized.1,
            channels: img.channels,
            data: dst.into_vec(),
        }
    };
    if g.fitted != g.resized {
        let (fw, fh) = g.fitted;
        img = cut(
            &img,
            Rect {
                x: (img.w - fw) / 2,
                y: (img.h - fh) / 2,
                w: fw,
                h: fh,
            },
        );
    }
    Ok(img)
}

fn cut(img: &Pixels, r: Rect) -> Pixels {
    let c = img.channels;
    let mut data = Vec::with_capacity(r.w as usize * r.h as usize * c);
    for y in r.y..r.y + r.h {
        let start = (y as usize * img.w as usize + r.x as usize) * c;
        data.extend_from_slice(&img.data[start..start + r.w as usize * c]);
    }
    Pixels {
        w: r.w,
        h: r.h,
        channels: c,
        data,
    }
}

/// Places `img` with its top-left corner at (`x`, `y`) on a `w` × `h` canvas of `bg` (parts
/// outside the canvas are cut off).
fn compose(img: Pixels, w: u32, h: u32, x: i64, y: i64, bg: [u8; 4]) -> Pixels {
    let img = if bg[3] < 255 { img.with_alpha() } else { img };
    let c = img.channels;
    let mut out = Pixels::new(w, h, c, &bg);
    for sy in 0..img.h as i64 {
        let dy = y + sy;
        if dy < 0 || dy >= i64::from(h) {
            continue;
        }
        let x0 = x.max(0);
        let x1 = (x + i64::from(img.w)).min(i64::from(w));
        if x1 <= x0 {
            continue;
        }
        let src = ((sy * i64::from(img.w) + (x0 - x)) as usize) * c;
        let dst = ((dy * i64::from(w) + x0) as usize) * c;
        let n = (x1 - x0) as usize * c;
        out.data[dst..dst + n].copy_from_slice(&img.data[src..src + n]);
    }
    out
}

/// Blur, sharpen, brightness, contrast and saturation, in that order.
fn adjust(img: &mut Pixels, t: &Transform) {
    if let Some(b) = t.blur {
        *img = blurred(img, f32::from(b) / 10.0);
    }
    if let Some(s) = t.sharpen {
        let soft = blurred(img, f32::from(s.radius) / 10.0);
        let amount = f32::from(s.amount);
        let c = img.channels;
        for (i, (v, b)) in img.data.iter_mut().zip(&soft.data).enumerate() {
            if c == 4 && i % 4 == 3 {
                continue;
            }
            let diff = f32::from(*v) - f32::from(*b);
            if diff.abs() > f32::from(s.threshold) {
                *v = (f32::from(*v) + amount * diff).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    let brightness = t.brightness.unwrap_or(0) as f32 / 10_000.0;
    let contrast = t.contrast.unwrap_or(0) as f32 / 10_000.0;
    let saturation = t.saturation.unwrap_or(0) as f32 / 10_000.0;
    if brightness == 0.0 && contrast == 0.0 && saturation == 0.0 {
        return;
    }
    // One table for brightness and contrast; saturation mixes with the pixel's luma.
    let mut table = [0u8; 256];
    for (i, out) in table.iter_mut().enumerate() {
        let mut v = i as f32 + brightness * 255.0;
        v = (v - 128.0) * (1.0 + contrast) + 128.0;
        *out = v.round().clamp(0.0, 255.0) as u8;
    }
    let c = img.channels;
    for p in img.data.chunks_exact_mut(c) {
        for v in &mut p[..3] {
            *v = table[usize::from(*v)];
        }
        if saturation != 0.0 {
            let luma = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            for v in &mut p[..3] {
                let s = luma + (f32::from(*v) - luma) * (1.0 + saturation);
                *v = s.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

fn blurred(img: &Pixels, sigma: f32) -> Pixels {
    let data = if img.channels == 4 {
        let buf = image::RgbaImage::from_raw(img.w, img.h, img.data.clone())
            .expect("buffer size matches");
        image::imageops::fast_blur(&buf, sigma).into_raw()
    } else {
        let buf =
            image::RgbImage::from_raw(img.w, img.h, img.data.clone()).expect("buffer size matches");
        image::imageops::fast_blur(&buf, sigma).into_raw()
    };
    Pixels {
        data,
        ..img.clone()
    }
}

fn encode(img: Pixels, t: &Transform, output: Format) -> Result<Rendered> {
    let (width, height) = (img.w, img.h);
    let q = t.quality(output);
    let failed = |e: &dyn std::fmt::Display| anyhow::anyhow!("encoding {}: {e}", output.name());
    let bytes = match output {
        Format::Jpeg | Format::ProgressiveJpeg => {
            let img = img.flatten(t.background());
            let mut out = Vec::new();
            let mut e = jpeg_encoder::Encoder::new(&mut out, q);
            e.set_progressive(output == Format::ProgressiveJpeg);
            let (w, h) = (u16::try_from(width), u16::try_from(height));
            let (Ok(w), Ok(h)) = (w, h) else {
                return Err(too_big("JPEG sides are at most 65,535 px"));
            };
            e.encode(&img.data, w, h, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| failed(&e))?;
            out
        }
        Format::Png => {
            let mut out = Vec::new();
            let enc = image::codecs::png::PngEncoder::new_with_quality(
                &mut out,
                image::codecs::png::CompressionType::Fast,
                image::codecs::png::FilterType::Adaptive,
            );
            let ct = if img.channels == 4 {
                image::ExtendedColorType::Rgba8
            } else {
                image::ExtendedColorType::Rgb8
            };
            image::ImageEncoder::write_image(enc, &img.data, width, height, ct)
                .map_err(|e| failed(&e))?;
            out
        }
        Format::Webp | Format::WebpLossless => {
            let enc = if img.channels == 4 {
                webp::Encoder::from_rgba(&img.data, width, height)
            } else {
                webp::Encoder::from_rgb(&img.data, width, height)
            };
            let mem = if output == Format::WebpLossless {
                enc.encode_lossless()
            } else {
                enc.encode(f32::from(q))
            };
            mem.to_vec()
        }
        Format::Avif => {
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            let enc = ravif::Encoder::new()
                .with_quality(f32::from(q))
                .with_alpha_quality(f32::from(q))
                .with_speed(AVIF_SPEED)
                .with_num_threads(Some(threads));
            let (w, h) = (width as usize, height as usize);
            let encoded = if img.channels == 4 {
                let px: Vec<ravif::RGBA8> = img
                    .data
                    .chunks_exact(4)
                    .map(|p| ravif::RGBA8::new(p[0], p[1], p[2], p[3]))
                    .collect();
                enc.encode_rgba(ravif::Img::new(&px[..], w, h))
            } else {
                let px: Vec<ravif::RGB8> = img
                    .data
                    .chunks_exact(3)
                    .map(|p| ravif::RGB8::new(p[0], p[1], p[2]))
                    .collect();
                enc.encode_rgb(ravif::Img::new(&px[..], w, h))
            };
            encoded.map_err(|e| failed(&e))?.avif_file
        }
        Format::Gif => {
            let img = img.with_alpha();
            let mut out = Vec::new();
            {
                let mut enc = image::codecs::gif::GifEncoder::new_with_speed(&mut out, 10);
                let buf = image::RgbaImage::from_raw(width, height, img.data)
                    .expect("buffer size matches");
                enc.encode(buf.as_raw(), width, height, image::ExtendedColorType::Rgba8)
                    .map_err(|e| failed(&e))?;
            }
            out
        }
    };
    Ok(Rendered {
        bytes,
        width,
        height,
    })
}

/// rav1e speed (1 slowest … 10 fastest): 8 keeps an 800 px AVIF well under a second on
/// two cores with little loss against slower settings at web sizes.
const AVIF_SPEED: u8 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn t(q: &str) -> Transform {
        Transform::parse(q).unwrap().unwrap()
    }

    #[test]
    fn geometry_of_each_resize_mode() {
        let g = |q: &str| Geometry::plan(&t(q), 400, 200).unwrap();
        assert_eq!(g("width=100").resized, (100, 50));
        assert_eq!(g("height=100").resized, (200, 100));
        assert_eq!(g("width=50p").resized, (200, 100));
        assert_eq!(g("width=100&height=100").resized, (100, 100));
        assert_eq!(g("width=100&height=100&fit=bounds").resized, (100, 50));
        let c = g("width=100&height=100&fit=crop");
        assert_eq!((c.resized, c.fitted), ((200, 100), (100, 100)));
        assert_eq!(g("width=800&disable=upscale").resized, (400, 200));
        assert_eq!(g("width=100&dpr=2").resized, (200, 100));
        let cr = g("crop=100,50,x10,y20");
        assert_eq!(
            cr.region,
            Rect {
                x: 10,
                y: 20,
                w: 100,
                h: 50
            }
        );
        assert_eq!(
            g("crop=1:1").region,
            Rect {
                x: 100,
                y: 0,
                w: 200,
                h: 200
            }
        );
        assert_eq!(
            g("crop=100,100,offset-x100,offset-y0").region,
            Rect {
                x: 300,
                y: 0,
                w: 100,
                h: 100
            }
        );
        assert_eq!(
            g("trim=10,20,30,40").region,
            Rect {
                x: 40,
                y: 10,
                w: 340,
                h: 160
            }
        );
        assert!(Geometry::plan(&t("crop=500,100"), 400, 200).is_err());
        assert_eq!(
            g("crop=500,100,safe").region,
            Rect {
                x: 0,
                y: 50,
                w: 400,
                h: 100
            }
        );
        assert_eq!(
            Geometry::plan(&t("trim=100,0,100,0"), 400, 200)
                .unwrap_err()
                .status(),
            422
        );
        assert_eq!(
            Geometry::plan(&t("width=8000&dpr=2"), 400, 200)
                .unwrap_err()
                .status(),
            422
        );
    }

    #[test]
    fn orientations_move_pixels() {
        // 2 × 1: red, green.
        let p = Pixels {
            w: 2,
            h: 1,
            channels: 3,
            data: vec![255, 0, 0, 0, 255, 0],
        };
        let r = orient(p.clone(), 6); // rotate 90° clockwise: red on top
        assert_eq!((r.w, r.h), (1, 2));
        assert_eq!(&r.data[..3], &[255, 0, 0]);
        let r = orient(p.clone(), 8); // counter-clockwise: green on top
        assert_eq!(&r.data[..3], &[0, 255, 0]);
        let r = orient(p, 2);
        assert_eq!(&r.data[..3], &[0, 255, 0]);
    }

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
}
