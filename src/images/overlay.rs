//! Drawing an overlay (§11 `overlay`): the overlay file decoded, oriented, sized
//! (`overlay-width`/`overlay-height`, pixels or a percentage of the image it is drawn on,
//! the other side keeping its aspect ratio), then alpha-blended at its alignment, with
//! `overlay-pad` as transparent room around it, once or tiled (`overlay-repeat`).
//!
//! Its cost is known from its header like the base image's: its decoded pixels count
//! toward the same decoded-pixel limit, and its memory toward the render's reservation.

use super::decode::decode;
use super::geometry::{oriented, Geometry, Rect};
use super::params::{Align, Format, Overlay, Repeat, Side, Transform, MAX_OUTPUT_SIDE};
use super::pixels::{orient, resize, Pixels};
use super::render::{check_input, too_big};
use crate::error::Result;

/// The overlay's file, as a render is given it.
#[derive(Debug, Clone, Copy)]
pub struct OverlayFile<'a> {
    /// Its bytes.
    pub bytes: &'a [u8],
    /// Its format.
    pub format: Format,
}

/// The size the overlay is drawn at on a `base`-sized image, from its `natural` size.
pub(super) fn drawn_size(o: &Overlay, base: (u32, u32), natural: (u32, u32)) -> Result<(u32, u32)> {
    let length = |s: Side, of: u32| -> u64 {
        match s {
            Side::Px(n) => u64::from(n),
            Side::Percent(h) => (u64::from(of) * u64::from(h)).div_ceil(10_000).max(1),
        }
    };
    let (nw, nh) = (u64::from(natural.0), u64::from(natural.1));
    let (w, h) = match (o.width, o.height) {
        (None, None) => (nw, nh),
        (Some(w), Some(h)) => (length(w, base.0), length(h, base.1)),
        (Some(w), None) => {
            let w = length(w, base.0);
            (w, (w * nh).div_ceil(nw).max(1))
        }
        (None, Some(h)) => {
            let h = length(h, base.1);
            ((h * nw).div_ceil(nh).max(1), h)
        }
    };
    let max = u64::from(MAX_OUTPUT_SIDE);
    if w > max || h > max {
        return Err(too_big(&format!("an overlay of {w} × {h} px")));
    }
    Ok((w as u32, h as u32))
}

/// Decoded pixels and peak bytes the overlay adds to a render whose image is `base` when
/// the overlay is drawn; `head` is the overlay file's beginning, `len` its size.
pub(super) fn cost(o: &Overlay, head: &[u8], len: u64, base: (u32, u32)) -> Result<(u64, u64)> {
    let (w, h) = super::render::check_header(head, len)?;
    let decoded = u64::from(w) * u64::from(h);
    // Either orientation: the EXIF tag is not in the header's size.
    let drawn = [(w, h), (h, w)]
        .into_iter()
        .map(|n| drawn_size(o, base, n).map(|(a, b)| u64::from(a) * u64::from(b)))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    // The file, the decoded pixels and an oriented copy (RGBA), the sized result.
    Ok((decoded, len + decoded * 8 + drawn * 4))
}

/// Decodes, orients and sizes the overlay for a `base`-sized image: RGBA pixels.
pub(super) fn prepare(o: &Overlay, file: OverlayFile<'_>, base: (u32, u32)) -> Result<Pixels> {
    let (w, h) = check_input(file.bytes)?;
    let (pixels, exif, _) = decode(file.bytes, file.format, &Transform::default(), w, h)?;
    let natural = oriented(w, h, exif);
    let img = orient(pixels, exif).with_alpha();
    let size = drawn_size(o, base, natural)?;
    if size == (img.w, img.h) {
        return Ok(img);
    }
    let whole = Rect {
        x: 0,
        y: 0,
        w: img.w,
        h: img.h,
    };
    let g = Geometry {
        region: whole,
        resized: size,
        fitted: size,
    };
    resize(img, &g, &Transform::default())
}

/// Where tiles of `tile` pixels start on an axis of `room` pixels: the aligned position,
/// and every position a tile's width apart when repeated.
fn starts(align: Align, tile: u32, room: u32, repeat: bool) -> Vec<i64> {
    let (tile, room) = (i64::from(tile), i64::from(room));
    let at = match align {
        Align::Start => 0,
        Align::Middle => (room - tile) / 2,
        Align::End => room - tile,
    };
    if !repeat {
        return vec![at];
    }
    let first = at - (at + tile - 1).div_euclid(tile) * tile;
    (0..)
        .map(|i| first + i * tile)
        .take_while(|x| *x < room)
        .collect()
}

/// Blends `ov` (RGBA) over `base` as `o` places it.
pub(super) fn draw(base: &mut Pixels, ov: &Pixels, o: &Overlay) {
    let [top, right, bottom, left] = o.pad;
    let tile_w = ov.w.saturating_add(left).saturating_add(right).max(1);
    let tile_h = ov.h.saturating_add(top).saturating_add(bottom).max(1);
    let across = matches!(o.repeat, Some(Repeat::X | Repeat::Both));
    let down = matches!(o.repeat, Some(Repeat::Y | Repeat::Both));
    let xs = starts(o.horizontal, tile_w, base.w, across);
    let ys = starts(o.vertical, tile_h, base.h, down);
    for &ty in &ys {
        for &tx in &xs {
            blend(base, ov, tx + i64::from(left), ty + i64::from(top));
        }
    }
}

/// Source-over blending of `ov` with its top-left corner at (`x`, `y`) of `base`.
fn blend(base: &mut Pixels, ov: &Pixels, x: i64, y: i64) {
    let c = base.channels;
    let (bw, bh) = (i64::from(base.w), i64::from(base.h));
    let x0 = x.max(0);
    let x1 = (x + i64::from(ov.w)).min(bw);
    if x1 <= x0 {
        return;
    }
    for sy in 0..i64::from(ov.h) {
        let dy = y + sy;
        if dy < 0 || dy >= bh {
            continue;
        }
        let src = ((sy * i64::from(ov.w) + (x0 - x)) as usize) * 4;
        let dst = ((dy * bw + x0) as usize) * c;
        let n = (x1 - x0) as usize;
        let src = &ov.data[src..src + n * 4];
        let dst = &mut base.data[dst..dst + n * c];
        for (s, d) in src.chunks_exact(4).zip(dst.chunks_exact_mut(c)) {
            let a = u32::from(s[3]);
            if a == 0 {
                continue;
            }
            for k in 0..3 {
                d[k] = ((u32::from(s[k]) * a + u32::from(d[k]) * (255 - a) + 127) / 255) as u8;
            }
            if c == 4 {
                d[3] = (a + (u32::from(d[3]) * (255 - a) + 127) / 255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(q: &str) -> Overlay {
        let query = format!("overlay=/v3/assets/bltk/blta/logo.png&{q}");
        Transform::parse(&query).unwrap().unwrap().overlay.unwrap()
    }

    #[test]
    fn sizes_follow_pixels_percentages_and_the_aspect_ratio() {
        assert_eq!(
            drawn_size(&overlay(""), (400, 300), (40, 20)).unwrap(),
            (40, 20)
        );
        let o = overlay("overlay-width=100");
        assert_eq!(drawn_size(&o, (400, 300), (40, 20)).unwrap(), (100, 50));
        let o = overlay("overlay-width=50p");
        assert_eq!(drawn_size(&o, (400, 300), (40, 20)).unwrap(), (200, 100));
        let o = overlay("overlay-height=10p&overlay-width=25p");
        assert_eq!(drawn_size(&o, (400, 300), (40, 20)).unwrap(), (100, 30));
        let o = overlay("overlay-width=5000p");
        assert_eq!(
            drawn_size(&o, (400, 300), (40, 20)).unwrap_err().status(),
            422
        );
    }

    #[test]
    fn tiles_cover_the_axis_from_the_aligned_position() {
        assert_eq!(starts(Align::End, 30, 100, false), vec![70]);
        assert_eq!(starts(Align::Middle, 30, 100, false), vec![35]);
        assert_eq!(
            starts(Align::Middle, 30, 100, true),
            vec![-25, 5, 35, 65, 95]
        );
        assert_eq!(starts(Align::Start, 50, 100, true), vec![0, 50]);
    }

    #[test]
    fn blending_respects_alpha_and_placement() {
        let mut base = Pixels::new(4, 2, 3, &[0, 0, 0, 255]);
        let mut ov = Pixels::new(2, 1, 4, &[255, 255, 255, 255]);
        ov.data[4..8].copy_from_slice(&[255, 0, 0, 0]);
        let o = overlay("overlay-align=bottom,right");
        draw(&mut base, &ov, &o);
        // Bottom row, the two rightmost pixels: white, then untouched (transparent).
        assert_eq!(&base.data[18..21], &[255, 255, 255]);
        assert!(base.data[21..].iter().all(|b| *b == 0));
        assert!(
            base.data[..18].iter().all(|b| *b == 0),
            "the rest untouched"
        );
    }
}
