//! Encoding pixels into the output format, with an effort that shrinks as the output
//! grows (so the time limit is rarely reached) and the deadline checked as output is
//! written.

use std::io::Write;

use super::params::{Format, Transform};
use super::pixels::Pixels;
use super::render::{too_big, Deadline, Rendered};
use crate::error::Result;

/// Largest AVIF output in pixels: AV1 encoding costs far more per pixel than the other
/// formats (4.2 MP at quality 99 take about 3 s on two cores at the fastest speed, and
/// about 700 MB, which the default render memory budget refuses too).
pub const MAX_AVIF_PIXELS: u64 = 4_200_000;

/// rav1e speed (1 slowest … 10 fastest) for an output of `pixels`: 8 keeps an 800 px AVIF
/// well under a second on two cores with little loss against slower settings at web
/// sizes; larger outputs go faster so that their time grows less than their area.
pub(super) fn avif_speed(pixels: u64) -> u8 {
    match pixels {
        0..=1_000_000 => 8,
        1_000_001..=2_000_000 => 9,
        _ => 10,
    }
}

/// libwebp's `method` (0 fastest … 6 slowest; its default is 4) for an output of `pixels`.
pub(super) fn webp_method(pixels: u64, lossless: bool) -> i32 {
    match (pixels, lossless) {
        (0..=1_000_000, false) => 4,
        (_, false) => 2,
        (0..=1_000_000, true) => 3,
        (_, true) => 1,
    }
}

/// A writer that fails once the deadline has passed: encoders that write as they go stop
/// at their next write.
struct Checked<'a> {
    out: &'a mut Vec<u8>,
    deadline: &'a Deadline,
}

impl Write for Checked<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.deadline.passed() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(super) fn encode(
    img: Pixels,
    t: &Transform,
    output: Format,
    deadline: &Deadline,
) -> Result<Rendered> {
    let (width, height) = (img.w, img.h);
    let pixels = u64::from(width) * u64::from(height);
    let q = t.quality(output);
    let failed = |e: &dyn std::fmt::Display| -> crate::error::Error {
        match deadline.check() {
            Err(too_slow) => too_slow,
            Ok(()) => anyhow::anyhow!("encoding {}: {e}", output.name()).into(),
        }
    };
    let mut out = Vec::new();
    let sink = Checked {
        out: &mut out,
        deadline,
    };
    match output {
        Format::Jpeg | Format::ProgressiveJpeg => {
            let img = img.flatten(t.background());
            let mut e = jpeg_encoder::Encoder::new(sink, q);
            e.set_progressive(output == Format::ProgressiveJpeg);
            let (w, h) = (u16::try_from(width), u16::try_from(height));
            let (Ok(w), Ok(h)) = (w, h) else {
                return Err(too_big("JPEG sides are at most 65,535 px"));
            };
            e.encode(&img.data, w, h, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| failed(&e))?;
        }
        Format::Png => {
            let enc = image::codecs::png::PngEncoder::new_with_quality(
                sink,
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
        }
        Format::Webp | Format::WebpLossless => {
            let enc = if img.channels == 4 {
                webp::Encoder::from_rgba(&img.data, width, height)
            } else {
                webp::Encoder::from_rgb(&img.data, width, height)
            };
            let lossless = output == Format::WebpLossless;
            let mut config = webp::WebPConfig::new().map_err(|()| failed(&"no WebP config"))?;
            config.lossless = i32::from(lossless);
            config.alpha_compression = i32::from(!lossless);
            config.quality = if lossless { 75.0 } else { f32::from(q) };
            config.method = webp_method(pixels, lossless);
            let mem = enc
                .encode_advanced(&config)
                .map_err(|e| failed(&format!("{e:?}")))?;
            out.extend_from_slice(&mem);
        }
        Format::Avif => {
            if pixels > MAX_AVIF_PIXELS {
                return Err(too_big(&format!("an AVIF of {width} × {height} px")));
            }
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            let enc = ravif::Encoder::new()
                .with_quality(f32::from(q))
                .with_alpha_quality(f32::from(q))
                .with_speed(avif_speed(pixels))
                .with_num_threads(Some(threads));
            let (w, h) = (width as usize, height as usize);
            let encoded = if img.channels == 4 {
                let px: Vec<ravif::RGBA8> = img
                    .data
                    .chunks_exact(4)
                    .map(|p| ravif::RGBA8::new(p[0], p[1], p[2], p[3]))
                    .collect();
                drop(img);
                enc.encode_rgba(ravif::Img::new(&px[..], w, h))
            } else {
                let px: Vec<ravif::RGB8> = img
                    .data
                    .chunks_exact(3)
                    .map(|p| ravif::RGB8::new(p[0], p[1], p[2]))
                    .collect();
                drop(img);
                enc.encode_rgb(ravif::Img::new(&px[..], w, h))
            };
            out = encoded.map_err(|e| failed(&e))?.avif_file;
        }
        Format::Gif => {
            let img = img.with_alpha();
            {
                let mut enc = image::codecs::gif::GifEncoder::new_with_speed(sink, 10);
                enc.encode(&img.data, width, height, image::ExtendedColorType::Rgba8)
                    .map_err(|e| failed(&e))?;
            }
        }
    };
    // AVIF and WebP encode in one call that cannot be interrupted: a result that came too
    // late is still too late.
    deadline.check()?;
    Ok(Rendered {
        bytes: out,
        width,
        height,
    })
}
