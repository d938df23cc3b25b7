//! Pixels in memory and what the pipeline does to them: orient, crop and resize, place on
//! a canvas, adjust.

use fast_image_resize as fr;

use super::geometry::{swaps, Geometry, Rect};
use super::params::Transform;
use crate::error::Result;

/// Pixels, row-major, 3 (RGB) or 4 (RGBA) bytes each.
#[derive(Debug, Clone)]
pub(super) struct Pixels {
    pub(super) w: u32,
    pub(super) h: u32,
    pub(super) channels: usize,
    pub(super) data: Vec<u8>,
}

impl Pixels {
    pub(super) fn new(w: u32, h: u32, channels: usize, fill: &[u8]) -> Self {
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

    pub(super) fn pixel_type(&self) -> fr::PixelType {
        if self.channels == 4 {
            fr::PixelType::U8x4
        } else {
            fr::PixelType::U8x3
        }
    }

    pub(super) fn with_alpha(self) -> Pixels {
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
    pub(super) fn flatten(self, bg: [u8; 4]) -> Pixels {
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

/// Applies an EXIF orientation (2–8; 1 changes nothing).
pub(super) fn orient(p: Pixels, o: u8) -> Pixels {
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
pub(super) fn resize(img: Pixels, g: &Geometry, t: &Transform) -> Result<Pixels> {
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

pub(super) fn cut(img: &Pixels, r: Rect) -> Pixels {
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
pub(super) fn compose(img: Pixels, w: u32, h: u32, x: i64, y: i64, bg: [u8; 4]) -> Pixels {
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
pub(super) fn adjust(img: &mut Pixels, t: &Transform) {
    if let Some(b) = t.blur {
        *img = blurred(img, f32::from(b) / 10.0);
    }
    if let Some(s) = t.sharpen {
        let soft = blurred(img, f32::from(s.radius) / 10.0);
        let amount = f32::from(s.amount) / 100.0;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
