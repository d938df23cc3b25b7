//! The transform parameters of §11, parsed into one typed value with a canonical form.
//!
//! Names are those of Contentstack's Image Delivery API. Unknown parameters are ignored; a
//! bad value of a known one is a 400 naming the parameter ([`Error::Malformed`]); a value
//! that is well-formed but over a limit (an output side past 8,192 px) is a 422. Two
//! requests that mean the same thing (`width=0300&format=webp` and `format=webp&width=300`)
//! have the same [`Transform::canonical`] string, so they share one rendition.

mod canonical;
mod overlay;
mod parse;
mod values;

pub use overlay::{Align, Overlay, Repeat};
pub use values::{Area, Edges, Filter, Fit, Format, Orientation, Position, Region, Sharpen, Side};

use crate::error::{Error, Result};
use parse::{
    bad, colour, edges, hundredths, int, orientation, region, sharpen, side, signed_percent,
};

/// Largest output side (§11).
pub const MAX_OUTPUT_SIDE: u32 = 8192;

/// The parameter names of §11: a query with none of them is not a transform request.
pub const NAMES: &[&str] = &[
    "width",
    "height",
    "disable",
    "fit",
    "crop",
    "trim",
    "pad",
    "bg-color",
    "canvas",
    "orient",
    "dpr",
    "format",
    "auto",
    "quality",
    "blur",
    "sharpen",
    "brightness",
    "contrast",
    "saturation",
    "resize-filter",
    "frame",
];

/// Whether a query parameter name is one of §11's (with the `overlay` family).
pub fn is_transform_name(name: &str) -> bool {
    NAMES.contains(&name) || overlay::NAMES.contains(&name)
}
/// Everything a transform request asks for (§11), parsed and checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transform {
    /// `width`.
    pub width: Option<Side>,
    /// `height`.
    pub height: Option<Side>,
    /// `disable=upscale`.
    pub no_upscale: bool,
    /// `fit`.
    pub fit: Option<Fit>,
    /// `crop`.
    pub crop: Option<Region>,
    /// `trim`.
    pub trim: Option<Edges>,
    /// `pad`.
    pub pad: Option<Edges>,
    /// `bg-color`, RGBA.
    pub background: Option<[u8; 4]>,
    /// `canvas`.
    pub canvas: Option<Region>,
    /// `orient`.
    pub orient: Option<Orientation>,
    /// `dpr` in hundredths (100–1000).
    pub dpr: Option<u32>,
    /// `format`.
    pub format: Option<Format>,
    /// `auto=webp|avif`.
    pub auto: Option<Format>,
    /// `quality`.
    pub quality: Option<u8>,
    /// `blur`, 1–1000 (tenths of a pixel of Gaussian sigma).
    pub blur: Option<u16>,
    /// `sharpen`.
    pub sharpen: Option<Sharpen>,
    /// `brightness`, `contrast`, `saturation`: −100…100 in hundredths.
    pub brightness: Option<i32>,
    /// See `brightness`.
    pub contrast: Option<i32>,
    /// See `brightness`.
    pub saturation: Option<i32>,
    /// `resize-filter`.
    pub filter: Option<Filter>,
    /// `overlay` and its companions.
    pub overlay: Option<Overlay>,
}

impl Transform {
    /// Parses the §11 parameters of a query string; `Ok(None)` when it has none. When a
    /// parameter repeats, the last value counts (as for every delivery parameter).
    pub fn parse(query: &str) -> Result<Option<Transform>> {
        let mut t = Transform::default();
        let mut any = false;
        let mut overlay = overlay::Draft::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if overlay::NAMES.contains(&&*k) {
                overlay.set(&k, v.trim())?;
            } else if NAMES.contains(&&*k) {
                t.set(&k, v.trim())?;
            } else {
                continue;
            }
            any = true;
        }
        if !any {
            return Ok(None);
        }
        t.overlay = overlay.finish()?;
        if t.dpr.is_some() && t.width.is_none() && t.height.is_none() {
            return Err(Error::Malformed(
                "The image parameter dpr needs width or height.".into(),
            ));
        }
        Ok(Some(t))
    }

    fn set(&mut self, name: &str, v: &str) -> Result<()> {
        match name {
            "width" => self.width = Some(side(name, v)?),
            "height" => self.height = Some(side(name, v)?),
            "disable" => match v {
                "upscale" => self.no_upscale = true,
                _ => return Err(bad(name, v, "upscale")),
            },
            "fit" => {
                self.fit = Some(match v {
                    "bounds" => Fit::Bounds,
                    "crop" => Fit::Crop,
                    _ => return Err(bad(name, v, "bounds or crop")),
                })
            }
            "crop" => self.crop = Some(region(name, v)?),
            "canvas" => self.canvas = Some(region(name, v)?),
            "trim" => self.trim = Some(edges(name, v)?),
            "pad" => self.pad = Some(edges(name, v)?),
            "bg-color" => self.background = Some(colour(v)?),
            "orient" => self.orient = Some(orientation(v)?),
            "dpr" => {
                self.dpr = Some(
                    hundredths(v)
                        .filter(|d| (100..=1000).contains(d))
                        .ok_or_else(|| bad(name, v, "a number from 1 to 10"))?,
                )
            }
            "format" => {
                self.format = Some(
                    Format::parse(v)
                        .ok_or_else(|| bad(name, v, "jpg, pjpg, png, webp, webpll, avif or gif"))?,
                )
            }
            "auto" => {
                self.auto = Some(match v {
                    "webp" => Format::Webp,
                    "avif" => Format::Avif,
                    _ => return Err(bad(name, v, "webp or avif")),
                })
            }
            "quality" => {
                self.quality = Some(
                    int(v)
                        .filter(|q| (1..=100).contains(q))
                        .ok_or_else(|| bad(name, v, "1-100"))? as u8,
                )
            }
            "blur" => {
                self.blur = Some(
                    int(v)
                        .filter(|b| (1..=1000).contains(b))
                        .ok_or_else(|| bad(name, v, "1-1000"))? as u16,
                )
            }
            "sharpen" => self.sharpen = Some(sharpen(v)?),
            "brightness" => self.brightness = Some(signed_percent(name, v)?),
            "contrast" => self.contrast = Some(signed_percent(name, v)?),
            "saturation" => self.saturation = Some(signed_percent(name, v)?),
            "resize-filter" => {
                self.filter = Some(match v {
                    "nearest" => Filter::Nearest,
                    "bilinear" => Filter::Bilinear,
                    "bicubic" => Filter::Bicubic,
                    "lanczos2" => Filter::Lanczos2,
                    "lanczos3" => Filter::Lanczos3,
                    _ => {
                        return Err(bad(
                            name,
                            v,
                            "nearest, bilinear, bicubic, lanczos2 or lanczos3",
                        ))
                    }
                })
            }
            "frame" if v != "1" => return Err(bad(name, v, "1")),
            _ => {}
        }
        Ok(())
    }

    /// The output format: `format` if given, else the `auto` format when `accept` allows it,
    /// else `source` (the input's own format).
    pub fn output_format(&self, accept: Option<&str>, source: Format) -> Format {
        if let Some(f) = self.format {
            return f;
        }
        if let Some(auto) = self.auto {
            if accepts(accept.unwrap_or(""), auto.content_type()) {
                return auto;
            }
        }
        source
    }

    /// Whether the answer depends on `Accept` (`Vary: Accept`): `auto` without `format`.
    pub fn varies_on_accept(&self) -> bool {
        self.auto.is_some() && self.format.is_none()
    }

    /// Whether the rendition would be the source file itself: nothing to change and the
    /// same format (`frame=1` on a JPEG, `disable=upscale` alone). Such requests are served
    /// the original.
    pub fn is_identity(&self, output: Format, source: Format) -> bool {
        let plain = Transform {
            no_upscale: self.no_upscale,
            auto: self.auto,
            format: self.format,
            ..Transform::default()
        };
        *self == plain && output == source
    }

    /// The quality for `output`.
    pub fn quality(&self, output: Format) -> u8 {
        self.quality.unwrap_or(output.default_quality())
    }

    /// `bg-color`, white when not given.
    pub fn background(&self) -> [u8; 4] {
        self.background.unwrap_or([255, 255, 255, 255])
    }
}

/// Whether an `Accept` header allows `media_type` (an explicit entry with q > 0, or
/// `image/*`; `*/*` alone does not count, as browsers send it for every image).
pub fn accepts(accept: &str, media_type: &str) -> bool {
    let subtype_wild = media_type.split('/').next().map(|t| format!("{t}/*"));
    accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let ty = parts.next().unwrap_or("");
        let matches = ty.eq_ignore_ascii_case(media_type) || subtype_wild.as_deref() == Some(ty);
        let q_zero = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        matches && !q_zero
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Transform {
        Transform::parse(q).unwrap().unwrap()
    }

    #[test]
    fn no_transform_parameters_is_none() {
        assert_eq!(Transform::parse("").unwrap(), None);
        assert_eq!(Transform::parse("dl=1&environment=x").unwrap(), None);
    }

    #[test]
    fn equal_requests_have_one_canonical_form() {
        let a = parse("width=0300&format=webp&quality=80");
        let b = parse("quality=80&format=webp&width=300&unknown=1");
        assert_eq!(a.canonical(Format::Webp), b.canonical(Format::Webp));
        assert_eq!(a.canonical(Format::Webp), "w=300;format=webp;q=80");
        // Defaults spelled out mean the same as defaults left out.
        let c = parse("width=300&format=webp&resize-filter=lanczos3&dpr=1");
        assert_eq!(c.canonical(Format::Webp), "w=300;format=webp;q=80");
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (q, name) in [
            ("width=0", "width"),
            ("width=abc", "width"),
            ("width=0.0", "width"),
            ("width=0.12345", "width"),
            ("width=1.5", "width"),
            ("width=0.5x", "width"),
            ("height=-5", "height"),
            ("fit=cover", "fit"),
            ("format=bmp", "format"),
            ("quality=101", "quality"),
            ("auto=jpg", "auto"),
            ("orient=9", "orient"),
            ("dpr=11&width=10", "dpr"),
            ("dpr=2", "dpr"),
            ("crop=10", "crop"),
            ("trim=1,2,3,4,5", "trim"),
            ("bg-color=ggg", "bg-color"),
            ("blur=0", "blur"),
            ("sharpen=a11,r1,t1", "sharpen"),
            ("brightness=101", "brightness"),
            ("resize-filter=cubic", "resize-filter"),
            ("frame=2", "frame"),
            ("disable=downscale", "disable"),
            ("overlay=https://elsewhere.example/logo.png", "overlay"),
            ("overlay=//elsewhere.example/v3/assets/a/b/c", "overlay"),
            ("overlay=/v3/assets/a/b/c?width=10", "overlay"),
            ("overlay=/v3/assets/a/b", "overlay"),
            (
                "overlay=/v3/assets/a/b/c&overlay-align=top,bottom",
                "overlay-align",
            ),
            (
                "overlay=/v3/assets/a/b/c&overlay-repeat=z",
                "overlay-repeat",
            ),
            (
                "overlay=/v3/assets/a/b/c&overlay-pad=1,2,3,4,5",
                "overlay-pad",
            ),
            ("overlay-width=10", "overlay-width"),
        ] {
            let e = Transform::parse(q).unwrap_err();
            assert_eq!(e.status(), 400, "{q}");
            assert!(e.to_string().contains(name), "{q}: {e}");
        }
        let e = Transform::parse("width=9000").unwrap_err();
        assert_eq!(e.status(), 422);
    }

    #[test]
    fn regions_edges_and_colours() {
        let t = parse("crop=300,400,offset-x10.5,offset-y20,safe&pad=10,20&bg-color=f00");
        assert_eq!(
            t.crop,
            Some(Region {
                area: Area::Px(300, 400),
                position: Position::Offset(1050, 2000),
                safe: true
            })
        );
        assert_eq!(t.pad, Some([10, 20, 10, 20]));
        assert_eq!(t.background, Some([255, 0, 0, 255]));
        assert_eq!(
            parse("bg-color=10,20,30,0.5").background,
            Some([10, 20, 30, 128])
        );
        assert_eq!(parse("trim=1,2,3").trim, Some([1, 2, 3, 2]));
        assert_eq!(
            parse("canvas=3:2,x5,y6").canvas.unwrap().position,
            Position::Px(5, 6)
        );
        assert_eq!(
            parse("crop=2:3,smart").crop.unwrap().area,
            Area::Aspect(2, 3)
        );
    }

    #[test]
    fn auto_follows_accept_and_format_wins() {
        let t = parse("auto=webp");
        let chrome = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8";
        assert_eq!(t.output_format(Some(chrome), Format::Jpeg), Format::Webp);
        assert_eq!(t.output_format(Some("*/*"), Format::Jpeg), Format::Jpeg);
        assert_eq!(
            t.output_format(Some("image/webp;q=0"), Format::Jpeg),
            Format::Jpeg
        );
        assert!(t.varies_on_accept());
        let t = parse("auto=webp&format=png");
        assert_eq!(t.output_format(Some(chrome), Format::Jpeg), Format::Png);
        assert!(!t.varies_on_accept());
    }

    #[test]
    fn a_fraction_below_one_is_a_percentage() {
        // The Image Delivery API writes 60 % as 60p or 0.6: one rendition either way.
        for (a, b) in [
            ("width=0.6", "width=60p"),
            ("width=0.125&height=0.5", "width=12.5p&height=50p"),
        ] {
            assert_eq!(
                parse(a).canonical(Format::Png),
                parse(b).canonical(Format::Png),
                "{a}"
            );
        }
        let o = parse("overlay=/v3/assets/a/b/c&overlay-width=0.5");
        assert_eq!(o.overlay.and_then(|o| o.width), Some(Side::Percent(5000)));
    }

    #[test]
    fn sharpen_takes_a_decimal_amount() {
        let t = parse("sharpen=a1.5,r10,t0");
        assert_eq!(t.sharpen.map(|s| s.amount), Some(150));
        assert!(t.canonical(Format::Png).contains("sharpen=a1.5,r10,t0;"));
        // Whole amounts keep the canonical form they always had.
        assert!(parse("sharpen=a2,r10,t0")
            .canonical(Format::Png)
            .contains("sharpen=a2,r10,t0;"));
        for bad in ["a10.01,r1,t1", "a1.5.5,r1,t1", "a1.5,a1,r1,t1", "a.,r1,t1"] {
            assert!(
                Transform::parse(&format!("sharpen={bad}")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn identity_transforms_are_detected() {
        assert!(parse("frame=1").is_identity(Format::Jpeg, Format::Jpeg));
        assert!(!parse("frame=1&format=png").is_identity(Format::Png, Format::Jpeg));
        assert!(!parse("width=10").is_identity(Format::Jpeg, Format::Jpeg));
    }
}
