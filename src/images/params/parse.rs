//! One parser per kind of parameter value: numbers (whole, hundredths, signed percent),
//! sides, edges, colours, regions (crop and canvas), orientations, sharpening. Each
//! refuses a bad value with the 400 that names the parameter.

use super::values::{Area, Edges, Orientation, Position, Region, Sharpen, Side};
use super::MAX_OUTPUT_SIDE;
use crate::error::{Error, Result};

pub(super) fn bad(name: &str, value: &str, expected: &str) -> Error {
    Error::Malformed(format!(
        "The value {value:?} of the image parameter {name} is not valid: expected {expected}."
    ))
}

/// A non-negative decimal with at most two fraction digits, in hundredths.
pub(super) fn hundredths(v: &str) -> Option<u32> {
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
pub(super) fn signed_percent(name: &str, v: &str) -> Result<i32> {
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
pub(super) fn int(v: &str) -> Option<u32> {
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// A side: pixels (`400`), a percentage (`60p`, `12.5p`), or a fraction below one (`0.6`,
/// the Image Delivery API's other way to write 60 %).
pub(super) fn side(name: &str, v: &str) -> Result<Side> {
    let expected = "pixels (1-8192) or a percentage such as 50p or 0.5";
    if let Some(p) = v.strip_suffix('p') {
        let h = hundredths(p)
            .filter(|h| *h > 0)
            .ok_or_else(|| bad(name, v, expected))?;
        return Ok(Side::Percent(h));
    }
    if let Some(frac) = v.strip_prefix("0.") {
        // Up to four places: hundredths of a percent.
        let ok = !frac.is_empty() && frac.len() <= 4 && frac.bytes().all(|b| b.is_ascii_digit());
        let h = ok
            .then(|| format!("{frac:0<4}").parse::<u32>().ok())
            .flatten()
            .filter(|h| *h > 0)
            .ok_or_else(|| bad(name, v, expected))?;
        return Ok(Side::Percent(h));
    }
    let px = int(v)
        .filter(|n| *n > 0)
        .ok_or_else(|| bad(name, v, expected))?;
    if px > MAX_OUTPUT_SIDE {
        return Err(Error::field(
            name,
            format!("may be at most {MAX_OUTPUT_SIDE} pixels"),
        ));
    }
    Ok(Side::Px(px))
}

/// CSS shorthand: 1–4 pixel values → top, right, bottom, left.
pub(super) fn edges(name: &str, v: &str) -> Result<Edges> {
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

pub(super) fn colour(v: &str) -> Result<[u8; 4]> {
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
pub(super) fn region(name: &str, v: &str) -> Result<Region> {
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

pub(super) fn orientation(v: &str) -> Result<Orientation> {
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

pub(super) fn sharpen(v: &str) -> Result<Sharpen> {
    let err = || bad("sharpen", v, "a{0-10, decimals allowed},r{1-1000},t{0-255}");
    let mut s = Sharpen {
        amount: 0,
        radius: 0,
        threshold: 0,
    };
    let (mut a, mut r, mut t) = (false, false, false);
    for part in v.split(',').map(str::trim) {
        let (key, n) = part.split_at_checked(1).ok_or_else(err)?;
        if key == "a" {
            let h = hundredths(n).filter(|h| *h <= 1000).ok_or_else(err)?;
            if a {
                return Err(err());
            }
            (s.amount, a) = (h as u16, true);
            continue;
        }
        let n = int(n).ok_or_else(err)?;
        match key {
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
