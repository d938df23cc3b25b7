//! The canonical string of a transform: every setting that changes the pixels or the
//! bytes, in one order and one notation, so that equal requests share one rendition.

use std::fmt::Write as _;

use super::values::{Area, Filter, Fit, Format, Position, Region, Side};
use super::Transform;

impl Transform {
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
                decimal(u32::from(sh.amount)),
                sh.radius,
                sh.threshold
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
        if let Some(o) = &self.overlay {
            let _ = write!(s, "{};", o.canonical());
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
