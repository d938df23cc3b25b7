//! The transform parameters of §11, parsed into one typed value with a canonical form.
//!
//! Names are those of Contentstack's Image Delivery API. Unknown parameters are ignored; a
//! bad value of a known one is a 400 naming the parameter ([`Error::Malformed`]); a value
//! that is well-formed but over a limit (an output side past 8,192 px) is a 422. Two
//! requests that mean the same thing (`width=0300&format=webp` and `format=webp&width=300`)
//! have the same [`Transform::canonical`] string, so they share one rendition.

use std::fmt::Write as _;

use crate::error::{Error, Result};

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

/// Whether a query parameter name is one of §11's.
pub fn is_transform_name(name: &str) -> bool {
    NAMES.contains(&name)
}

/// A side length: pixels, or a percentage of the source (`50p`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Pixels.
    Px(u32),
    /// Percent of the source side, in hundredths of a percent (`12.5p` → 1250).
    Percent(u32),
}

/// `fit=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Fit inside both sides, keeping the aspect ratio.
    Bounds,
    /// Fill both sides, keeping the aspect ratio, then crop centred.
    Crop,
}

/// Where a crop region or the image on a canvas is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Centred.
    Centre,
    /// Top-left corner at `x{n},y{n}` pixels.
    Px(u32, u32),
    /// `offset-x{pct},offset-y{pct}`: percent of the free room, in hundredths.
    Offset(u32, u32),
}

/// The size part of `crop=` and `canvas=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// `w,h` in pixels.
    Px(u32, u32),
    /// `w:h`: the largest (crop) or smallest (canvas) region of that aspect ratio.
    Aspect(u32, u32),
}

/// `crop=` or `canvas=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Size.
    pub area: Area,
    /// Placement.
    pub position: Position,
    /// `,safe`: a crop that leaves the image is clamped to it instead of refused.
    pub safe: bool,
}

/// An orientation change, as EXIF orientation values (2–8; 1 is no change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Orientation(pub u8);

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Baseline JPEG.
    Jpeg,
    /// Progressive JPEG (`pjpg`).
    ProgressiveJpeg,
    /// PNG.
    Png,
    /// Lossy WebP.
    Webp,
    /// Lossless WebP (`webpll`).
    WebpLossless,
    /// AVIF.
    Avif,
    /// GIF.
    Gif,
}

impl Format {
    /// The value of `format=`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::ProgressiveJpeg => "pjpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::WebpLossless => "webpll",
            Format::Avif => "avif",
            Format::Gif => "gif",
        }
    }

    fn parse(v: &str) -> Option<Self> {
        Some(match v {
            "jpg" | "jpeg" => Format::Jpeg,
            "pjpg" => Format::ProgressiveJpeg,
            "png" => Format::Png,
            "webp" => Format::Webp,
            "webpll" => Format::WebpLossless,
            "avif" => Format::Avif,
            "gif" => Format::Gif,
            _ => return None,
        })
    }

    /// The media type of the output.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg | Format::ProgressiveJpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp | Format::WebpLossless => "image/webp",
            Format::Avif => "image/avif",
            Format::Gif => "image/gif",
        }
    }

    /// The file name extension of the output.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg | Format::ProgressiveJpeg => "jpg",
            Format::Png => "png",
            Format::Webp | Format::WebpLossless => "webp",
            Format::Avif => "avif",
            Format::Gif => "gif",
        }
    }

    /// Whether `quality` applies.
    pub fn lossy(self) -> bool {
        matches!(
            self,
            Format::Jpeg | Format::ProgressiveJpeg | Format::Webp | Format::Avif
        )
    }

    /// Quality when none is asked for.
    pub fn default_quality(self) -> u8 {
        match self {
            Format::Jpeg | Format::ProgressiveJpeg => 85,
            Format::Webp => 80,
            Format::Avif => 60,
            _ => 100,
        }
    }
}

/// `resize-filter=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    /// Nearest neighbour.
    Nearest,
    /// Bilinear.
    Bilinear,
    /// Catmull-Rom bicubic.
    Bicubic,
    /// Lanczos, radius 2.
    Lanczos2,
    /// Lanczos, radius 3 (the default).
    #[default]
    Lanczos3,
}

impl Filter {
    fn name(self) -> &'static str {
        match self {
            Filter::Nearest => "nearest",
            Filter::Bilinear => "bilinear",
            Filter::Bicubic => "bicubic",
            Filter::Lanczos2 => "lanczos2",
            Filter::Lanczos3 => "lanczos3",
        }
    }
}

/// `sharpen=a{amount},r{radius},t{threshold}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sharpen {
    /// Strength, 0–10.
    pub amount: u8,
    /// Radius in tenths of a pixel (sigma of the blur), 1–1000.
    pub radius: u16,
    /// Differences up to this are left alone, 0–255.
    pub threshold: u8,
}

/// Four edges, CSS shorthand order: top, right, bottom, left.
pub type Edges = [u32; 4];

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
}

fn bad(name: &str, value: &str, expected: &str) -> Error {
    Error::Malformed(format!(
        "The value {value:?} of the image parameter {name} is not valid: expected {expected}."
    ))
}

/// A non-negative decimal with at most two fraction digits, in hundredths.
fn hundredths(v: &str) -> Option<u32> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 2 || int.len() > 7 {
        return None;
    }
    let int: u32 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f = 0;
    for (i, b) in frac.bytes().enumerate() {
        f += u32::from(b - b'0') * if i == 0 { 10 } else { 1 };
    }
    Some(int * 100 + f)
}

/// A signed decimal in −100…100, in hundredths.
fn signed_percent(name: &str, v: &str) -> Result<i32> {
    let (neg, digits) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let h = hundredths(digits)
        .filter(|h| *h <= 10_000)
        .ok_or_else(|| bad(name, v, "a number from -100 to 100"))?;
    let h = h as i32;
    Ok(if neg { -h } else { h })
}

/// An integer without sign, at most 9 digits (leading zeros allowed: `0300` is 300).
fn int(v: &str) -> Option<u32> {
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn side(name: &str, v: &str) -> Result<Side> {
    if let Some(p) = v.strip_suffix('p') {
        let h = hundredths(p)
            .filter(|h| *h > 0)
            .ok_or_else(|| bad(name, v, "pixels (1-8192) or a percentage such as 50p"))?;
        return Ok(Side::Percent(h));
    }
    let px = int(v)
        .filter(|n| *n > 0)
        .ok_or_else(|| bad(name, v, "pixels (1-8192) or a percentage such as 50p"))?;
    if px > MAX_OUTPUT_SIDE {
        return Err(Error::field(
            name,
            format!("may be at most {MAX_OUTPUT_SIDE} pixels"),
        ));
    }
    Ok(Side::Px(px))
}

/// CSS shorthand: 1–4 pixel values → top, right, bottom, left.
fn edges(name: &str, v: &str) -> Result<Edges> {
    let parts: Vec<&str> = v.split(',').collect();
    let n: Option<Vec<u32>> = parts
        .iter()
        .map(|p| int(p.trim()).filter(|n| *n <= MAX_OUTPUT_SIDE))
        .collect();
    let expected = "1 to 4 comma-separated pixel values (top,right,bottom,left)";
    let n = n.ok_or_else(|| bad(name, v, expected))?;
    Ok(match n.as_slice() {
        [a] => [*a; 4],
        [v, h] => [*v, *h, *v, *h],
        [t, h, b] => [*t, *h, *b, *h],
        [t, r, b, l] => [*t, *r, *b, *l],
        _ => return Err(bad(name, v, expected)),
    })
}

fn colour(v: &str) -> Result<[u8; 4]> {
    let expected = "rrggbb, rgb, r,g,b or r,g,b,a (a from 0 to 1)";
    let err = || bad("bg-color", v, expected);
    if v.contains(',') {
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        if !(3..=4).contains(&parts.len()) {
            return Err(err());
        }
        let mut c = [0u8, 0, 0, 255];
        for (i, p) in parts[..3].iter().enumerate() {
            c[i] = int(p)
                .filter(|n| *n <= 255)
                .ok_or_else(err)?
                .try_into()
                .map_err(|_| err())?;
        }
        if let Some(a) = parts.get(3) {
            let h = hundredths(a).filter(|h| *h <= 100).ok_or_else(err)?;
            c[3] = ((h * 255 + 50) / 100) as u8;
        }
        return Ok(c);
    }
    let hex = v.strip_prefix('#').unwrap_or(v);
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err());
    }
    let digit = |i: usize| u8::from_str_radix(&hex[i..=i], 16).unwrap_or(0);
    match hex.len() {
        3 => Ok([digit(0) * 17, digit(1) * 17, digit(2) * 17, 255]),
        6 => Ok([
            digit(0) * 16 + digit(1),
            digit(2) * 16 + digit(3),
            digit(4) * 16 + digit(5),
            255,
        ]),
        _ => Err(err()),
    }
}

/// `crop=` / `canvas=`: `w,h` · `w:h` · `w,h,x{n},y{n}` · `w,h,offset-x{p},offset-y{p}`,
/// then optionally `safe` or `smart`.
fn region(name: &str, v: &str) -> Result<Region> {
    let expected = "w,h or w:h, optionally followed by x{n},y{n} or offset-x{p},offset-y{p}, and safe or smart";
    let err = || bad(name, v, expected);
    let mut parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let mut safe = false;
    while let Some(last) = parts.last() {
        match *last {
            "safe" if name == "crop" => safe = true,
            // §11: smart cropping may fall back to the centre, which is what it does here.
            "smart" if name == "crop" => {}
            _ => break,
        }
        parts.pop();
    }
    let positive = |s: &str| int(s).filter(|n| *n > 0 && *n <= 100_000);
    let (area, rest) = match parts.as_slice() {
        [aspect, rest @ ..] if aspect.contains(':') => {
            let (w, h) = aspect.split_once(':').ok_or_else(err)?;
            (
                Area::Aspect(positive(w).ok_or_else(err)?, positive(h).ok_or_else(err)?),
                rest,
            )
        }
        [w, h, rest @ ..] => {
            let (w, h) = (positive(w).ok_or_else(err)?, positive(h).ok_or_else(err)?);
            if w > MAX_OUTPUT_SIDE || h > MAX_OUTPUT_SIDE {
                return Err(Error::field(
                    name,
                    format!("sides may be at most {MAX_OUTPUT_SIDE} pixels"),
                ));
            }
            (Area::Px(w, h), rest)
        }
        _ => return Err(err()),
    };
    let position = match rest {
        [] => Position::Centre,
        [x, y] => {
            if let (Some(x), Some(y)) = (x.strip_prefix("offset-x"), y.strip_prefix("offset-y")) {
                let x = hundredths(x).filter(|p| *p <= 10_000).ok_or_else(err)?;
                let y = hundredths(y).filter(|p| *p <= 10_000).ok_or_else(err)?;
                Position::Offset(x, y)
            } else if let (Some(x), Some(y)) = (x.strip_prefix('x'), y.strip_prefix('y')) {
                Position::Px(int(x).ok_or_else(err)?, int(y).ok_or_else(err)?)
            } else {
                return Err(err());
            }
        }
        _ => return Err(err()),
    };
    Ok(Region {
        area,
        position,
        safe,
    })
}

fn orientation(v: &str) -> Result<Orientation> {
    Ok(Orientation(match v {
        "toggle" => 3,
        "vertical" => 4,
        "horizontal" => 2,
        _ => int(v)
            .filter(|n| (1..=8).contains(n))
            .ok_or_else(|| bad("orient", v, "1-8, toggle, vertical or horizontal"))?
            as u8,
    }))
}

fn sharpen(v: &str) -> Result<Sharpen> {
    let err = || bad("sharpen", v, "a{0-10},r{1-1000},t{0-255}");
    let mut s = Sharpen {
        amount: 0,
        radius: 0,
        threshold: 0,
    };
    let (mut a, mut r, mut t) = (false, false, false);
    for part in v.split(',').map(str::trim) {
        let (key, n) = part.split_at_checked(1).ok_or_else(err)?;
        let n = int(n).ok_or_else(err)?;
        match key {
            "a" if !a && n <= 10 => (s.amount, a) = (n as u8, true),
            "r" if !r && (1..=1000).contains(&n) => (s.radius, r) = (n as u16, true),
            "t" if !t && n <= 255 => (s.threshold, t) = (n as u8, true),
            _ => return Err(err()),
        }
    }
    if !(a && r && t) {
        return Err(err());
    }
    Ok(s)
}

impl Transform {
    /// Parses the §11 parameters of a query string; `Ok(None)` when it has none. When a
    /// parameter repeats, the last value counts (as for every delivery parameter).
    pub fn parse(query: &str) -> Result<Option<Transform>> {
        let mut t = Transform::default();
        let mut any = false;
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if !is_transform_name(&k) {
                continue;
            }
            any = true;
            t.set(&k, v.trim())?;
        }
        if !any {
            return Ok(None);
        }
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

    /// The canonical string for `output`: every setting that changes the pixels or the
    /// bytes, in one order and one notation. Settings without effect are left out (`fit`
    /// without both sides, `bg-color` with neither `pad` nor `canvas`), so requests that
    /// render the same image share a rendition.
    pub fn canonical(&self, output: Format) -> String {
        let mut s = String::with_capacity(64);
        let side = |s: &mut String, key: &str, v: Side| {
            let _ = match v {
                Side::Px(n) => write!(s, "{key}={n};"),
                Side::Percent(h) => write!(s, "{key}={}p;", decimal(h)),
            };
        };
        if let Some(o) = self.orient.filter(|o| o.0 != 1) {
            let _ = write!(s, "orient={};", o.0);
        }
        if let Some(c) = self.crop {
            let _ = write!(s, "crop={};", region_text(c));
        }
        if let Some(t) = self.trim.filter(|t| *t != [0; 4]) {
            let _ = write!(s, "trim={},{},{},{};", t[0], t[1], t[2], t[3]);
        }
        if let Some(w) = self.width {
            side(&mut s, "w", w);
        }
        if let Some(h) = self.height {
            side(&mut s, "h", h);
        }
        if self.width.is_some() || self.height.is_some() {
            if let Some(d) = self.dpr.filter(|d| *d != 100) {
                let _ = write!(s, "dpr={};", decimal(d));
            }
            if self.no_upscale {
                s.push_str("noup;");
            }
            if self.width.is_some() && self.height.is_some() {
                if let Some(f) = self.fit {
                    s.push_str(match f {
                        Fit::Bounds => "fit=bounds;",
                        Fit::Crop => "fit=crop;",
                    });
                }
            }
            let f = self.filter.unwrap_or_default();
            if f != Filter::Lanczos3 {
                let _ = write!(s, "filter={};", f.name());
            }
        }
        if let Some(b) = self.blur {
            let _ = write!(s, "blur={b};");
        }
        if let Some(sh) = self.sharpen {
            let _ = write!(
                s,
                "sharpen=a{},r{},t{};",
                sh.amount, sh.radius, sh.threshold
            );
        }
        for (key, v) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
        ] {
            if let Some(v) = v.filter(|v| *v != 0) {
                let sign = if v < 0 { "-" } else { "" };
                let _ = write!(s, "{key}={sign}{};", decimal(v.unsigned_abs()));
            }
        }
        if let Some(p) = self.pad.filter(|p| *p != [0; 4]) {
            let _ = write!(s, "pad={},{},{},{};", p[0], p[1], p[2], p[3]);
        }
        if let Some(c) = self.canvas {
            let _ = write!(s, "canvas={};", region_text(c));
        }
        if self.pad.is_some() || self.canvas.is_some() {
            let [r, g, b, a] = self.background();
            let _ = write!(s, "bg={r:02x}{g:02x}{b:02x}{a:02x};");
        }
        let _ = write!(s, "format={}", output.name());
        if output.lossy() {
            let _ = write!(s, ";q={}", self.quality(output));
        }
        s
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

/// `12.5`, `12`, `0.05` from hundredths.
fn decimal(h: u32) -> String {
    match h % 100 {
        0 => format!("{}", h / 100),
        f if f % 10 == 0 => format!("{}.{}", h / 100, f / 10),
        f => format!("{}.{f:02}", h / 100),
    }
}

fn region_text(r: Region) -> String {
    let mut s = match r.area {
        Area::Px(w, h) => format!("{w},{h}"),
        Area::Aspect(w, h) => format!("{w}:{h}"),
    };
    match r.position {
        Position::Centre => {}
        Position::Px(x, y) => {
            let _ = write!(s, ",x{x},y{y}");
        }
        Position::Offset(x, y) => {
            let _ = write!(s, ",offset-x{},offset-y{}", decimal(x), decimal(y));
        }
    }
    if r.safe {
        s.push_str(",safe");
    }
    s
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
    fn identity_transforms_are_detected() {
        assert!(parse("frame=1").is_identity(Format::Jpeg, Format::Jpeg));
        assert!(!parse("frame=1&format=png").is_identity(Format::Png, Format::Jpeg));
        assert!(!parse("width=10").is_identity(Format::Jpeg, Format::Jpeg));
    }
}
