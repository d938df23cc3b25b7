//! Where the pixels go (§11 order: orient → crop/trim → resize → pad/canvas), decided from
//! the dimensions alone, so that every limit is checked, and the JPEG decoder told how far
//! it may downscale, before a pixel is decoded.

use super::params::{Area, Fit, Position, Region, Side, Transform, MAX_OUTPUT_SIDE};
use super::render::too_big;
use crate::error::{Error, Result};

/// A rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rect {
    pub(super) x: u32,
    pub(super) y: u32,
    pub(super) w: u32,
    pub(super) h: u32,
}

/// Where the pixels go, decided from the dimensions alone (so limits are checked, and the
/// JPEG decoder can be told how far it may downscale, before decoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Geometry {
    /// The source region (after orientation) that crop and trim keep.
    pub(super) region: Rect,
    /// Size the region is resized to.
    pub(super) resized: (u32, u32),
    /// Then cropped to this (fit=crop), centred.
    pub(super) fitted: (u32, u32),
}

pub(super) fn rounded(v: f64) -> u32 {
    v.round().clamp(1.0, f64::from(u32::MAX)) as u32
}

/// Top-left corner of something placed in `room_x` × `room_y` free pixels (negative when it
/// is larger than its frame).
pub(super) fn offset(position: Position, room_x: i64, room_y: i64) -> (i64, i64) {
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
    pub(super) fn plan(t: &Transform, w: u32, h: u32) -> Result<Geometry> {
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
    pub(super) fn reduction(&self) -> f64 {
        let kx = f64::from(self.resized.0) / f64::from(self.region.w);
        let ky = f64::from(self.resized.1) / f64::from(self.region.h);
        kx.max(ky)
    }
}

pub(super) fn check_output(w: u64, h: u64) -> Result<()> {
    if w > u64::from(MAX_OUTPUT_SIDE) || h > u64::from(MAX_OUTPUT_SIDE) {
        return Err(too_big(&format!("the output would be {w} × {h} px")));
    }
    Ok(())
}

pub(super) fn swaps(exif: u8) -> bool {
    (5..=8).contains(&exif)
}

pub(super) fn oriented(w: u32, h: u32, exif: u8) -> (u32, u32) {
    if swaps(exif) {
        (h, w)
    } else {
        (w, h)
    }
}

/// `full` (planned at full size) for pixels decoded at `scale`, `w` × `h`.
pub(super) fn scaled(full: Geometry, scale: f64, w: u32, h: u32) -> Geometry {
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
pub(super) fn plan_from_header(t: &Transform, w: u32, h: u32, exif: u8) -> Result<Geometry> {
    let (mut w, mut h) = oriented(w, h, exif);
    if t.orient.is_some_and(|o| swaps(o.0)) {
        (w, h) = (h, w);
    }
    Geometry::plan(t, w, h)
}

/// A frame an image is placed in by `pad` or `canvas`: its size, and the image's top-left
/// corner in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Frame {
    pub(super) w: u32,
    pub(super) h: u32,
    pub(super) x: i64,
    pub(super) y: i64,
}

/// The frame `pad` puts a `w` × `h` image in, if any.
pub(super) fn pad_frame(t: &Transform, w: u32, h: u32) -> Result<Option<Frame>> {
    let Some([top, right, bottom, left]) = t.pad else {
        return Ok(None);
    };
    let (fw, fh) = (
        u64::from(w) + u64::from(left) + u64::from(right),
        u64::from(h) + u64::from(top) + u64::from(bottom),
    );
    check_output(fw, fh)?;
    Ok(Some(Frame {
        w: fw as u32,
        h: fh as u32,
        x: i64::from(left),
        y: i64::from(top),
    }))
}

/// The frame `canvas` puts a `w` × `h` image in, if any.
pub(super) fn canvas_frame(t: &Transform, w: u32, h: u32) -> Result<Option<Frame>> {
    let Some(c) = t.canvas else {
        return Ok(None);
    };
    let (cw, ch) = match c.area {
        Area::Px(cw, ch) => (u64::from(cw), u64::from(ch)),
        Area::Aspect(a, b) => {
            let (fw, fh) = (f64::from(w), f64::from(h));
            if fw * f64::from(b) >= fh * f64::from(a) {
                (
                    u64::from(w),
                    u64::from(rounded(fw * f64::from(b) / f64::from(a))),
                )
            } else {
                (
                    u64::from(rounded(fh * f64::from(a) / f64::from(b))),
                    u64::from(h),
                )
            }
        }
    };
    check_output(cw, ch)?;
    let (x, y) = offset(
        c.position,
        cw as i64 - i64::from(w),
        ch as i64 - i64::from(h),
    );
    Ok(Some(Frame {
        w: cw as u32,
        h: ch as u32,
        x,
        y,
    }))
}

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
}
