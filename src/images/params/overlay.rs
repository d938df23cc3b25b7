//! `overlay` and its companions (§11): another image of the same stack drawn over the
//! rendition after resize and adjustments, before `pad` and `canvas`. The overlay is named
//! by a relative delivery URL; which file that is (and whether the request may read it) is
//! delivery's to decide. Nothing here, and nothing in perma, fetches a URL to render.

use super::parse::{bad, edges, side};
use super::values::{Edges, Side};
use crate::error::{Error, Result};

/// Where the overlay sits on one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    /// Top or left.
    Start,
    /// Middle or center (the default).
    #[default]
    Middle,
    /// Bottom or right.
    End,
}

/// `overlay-repeat`: the overlay tiled along an axis from its aligned position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Across the width.
    X,
    /// Down the height.
    Y,
    /// Over the whole image.
    Both,
}

/// An overlay request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// The relative delivery URL (`/v3/assets/{api_key}/{asset_uid}/{slug}` or a version
    /// URL), as given, without query.
    pub path: String,
    /// `overlay-align`, vertical part.
    pub vertical: Align,
    /// `overlay-align`, horizontal part.
    pub horizontal: Align,
    /// `overlay-repeat`.
    pub repeat: Option<Repeat>,
    /// `overlay-width`: pixels, or a percentage of the image it is drawn on.
    pub width: Option<Side>,
    /// `overlay-height`, as `width`.
    pub height: Option<Side>,
    /// `overlay-pad`: transparent room around the overlay (and between tiles).
    pub pad: Edges,
}

/// The `overlay*` parameters of one query, collected in any order.
#[derive(Debug, Default)]
pub(super) struct Draft {
    path: Option<String>,
    align: Option<(Align, Align)>,
    repeat: Option<Repeat>,
    width: Option<Side>,
    height: Option<Side>,
    pad: Option<Edges>,
    /// The first companion parameter seen (for the error when `overlay` is missing).
    companion: Option<&'static str>,
}

/// The names this module reads.
pub(super) const NAMES: &[&str] = &[
    "overlay",
    "overlay-align",
    "overlay-repeat",
    "overlay-width",
    "overlay-height",
    "overlay-pad",
];

impl Draft {
    /// Reads one parameter (one of [`NAMES`]).
    pub(super) fn set(&mut self, name: &str, v: &str) -> Result<()> {
        let known = NAMES.iter().find(|n| **n == name).copied();
        if name != "overlay" && self.companion.is_none() {
            self.companion = known;
        }
        match name {
            "overlay" => self.path = Some(path(v)?),
            "overlay-align" => self.align = Some(align(v)?),
            "overlay-repeat" => {
                self.repeat = Some(match v {
                    "x" => Repeat::X,
                    "y" => Repeat::Y,
                    "both" => Repeat::Both,
                    _ => return Err(bad(name, v, "x, y or both")),
                })
            }
            "overlay-width" => self.width = Some(side(name, v)?),
            "overlay-height" => self.height = Some(side(name, v)?),
            "overlay-pad" => self.pad = Some(edges(name, v)?),
            _ => {}
        }
        Ok(())
    }

    /// The overlay, if `overlay` was given; companions without it are a 400.
    pub(super) fn finish(self) -> Result<Option<Overlay>> {
        let Some(path) = self.path else {
            return match self.companion {
                Some(name) => Err(Error::Malformed(format!(
                    "The image parameter {name} needs overlay (the relative URL of an image \
                     in this stack)."
                ))),
                None => Ok(None),
            };
        };
        let (vertical, horizontal) = self.align.unwrap_or_default();
        Ok(Some(Overlay {
            path,
            vertical,
            horizontal,
            repeat: self.repeat,
            width: self.width,
            height: self.height,
            pad: self.pad.unwrap_or([0; 4]),
        }))
    }
}

/// A relative delivery URL: `/v3/assets/` then three or four non-empty segments, no query,
/// no scheme or host.
fn path(v: &str) -> Result<String> {
    let err = || {
        bad(
            "overlay",
            v,
            "the relative URL of an image asset in this stack (/v3/assets/{api_key}/{asset_uid}/{slug} or a version URL); perma fetches no outside URL",
        )
    };
    let rest = v.strip_prefix("/v3/assets/").ok_or_else(err)?;
    if v.contains(['?', '#', '\\']) || v.chars().any(char::is_control) {
        return Err(err());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    if !(3..=4).contains(&parts.len()) || parts.iter().any(|p| p.is_empty() || *p == "..") {
        return Err(err());
    }
    Ok(v.to_owned())
}

/// `top`, `bottom`, `left`, `right`, `middle`, `center`, or one vertical and one horizontal
/// word joined by a comma in either order (`bottom,right`).
fn align(v: &str) -> Result<(Align, Align)> {
    let err = || {
        bad(
            "overlay-align",
            v,
            "top, bottom, left, right, middle, center or a pair such as bottom,right",
        )
    };
    let (mut vertical, mut horizontal) = (None, None);
    for word in v.split(',').map(str::trim) {
        let (slot, a) = match word {
            "top" => (&mut vertical, Align::Start),
            "middle" => (&mut vertical, Align::Middle),
            "bottom" => (&mut vertical, Align::End),
            "left" => (&mut horizontal, Align::Start),
            "center" | "centre" => (&mut horizontal, Align::Middle),
            "right" => (&mut horizontal, Align::End),
            _ => return Err(err()),
        };
        if slot.replace(a).is_some() {
            return Err(err());
        }
    }
    Ok((vertical.unwrap_or_default(), horizontal.unwrap_or_default()))
}

impl Overlay {
    /// The canonical text (part of the rendition's identity, with the overlay file's hash).
    pub(super) fn canonical(&self) -> String {
        let name = |a: Align, start: &str, end: &str| match a {
            Align::Start => start.to_owned(),
            Align::Middle => "mid".to_owned(),
            Align::End => end.to_owned(),
        };
        let mut s = format!(
            "overlay={},{}-{}",
            self.path.replace('%', "%25").replace(';', "%3B"),
            name(self.vertical, "top", "bottom"),
            name(self.horizontal, "left", "right"),
        );
        if let Some(r) = self.repeat {
            s.push_str(match r {
                Repeat::X => ",repeat-x",
                Repeat::Y => ",repeat-y",
                Repeat::Both => ",repeat-both",
            });
        }
        for (key, v) in [("w", self.width), ("h", self.height)] {
            match v {
                Some(Side::Px(n)) => s.push_str(&format!(",{key}{n}")),
                Some(Side::Percent(p)) => s.push_str(&format!(",{key}{p}ph")),
                None => {}
            }
        }
        if self.pad != [0; 4] {
            let [t, r, b, l] = self.pad;
            s.push_str(&format!(",pad{t}-{r}-{b}-{l}"));
        }
        s
    }
}
