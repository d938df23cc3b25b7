//! Decoding the first frame of a JPEG, PNG, GIF or WebP into [`Pixels`], within the
//! limits checked from the header.

use std::io::Cursor;

use image::metadata::Orientation as ExifOrientation;
use image::ImageDecoder as _;

use super::geometry::{plan_from_header, Geometry};
use super::params::{Format, Transform};
use super::pixels::Pixels;
use super::render::{undecodable, MAX_INPUT_SIDE};
use crate::error::Result;

/// Decodes the first frame as RGB or RGBA, with the EXIF orientation (1 when none) and the
/// geometry planned from the header. JPEGs decode at the smallest DCT scale (1/8, 1/4,
/// 1/2) that still has the pixels the transform needs.
pub(super) fn decode(
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
