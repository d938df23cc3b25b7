//! The typed values of §11's parameters: sides, regions, edges, orientations, output
//! formats, resize filters, sharpening.

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

    pub(super) fn parse(v: &str) -> Option<Self> {
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
    pub(super) fn name(self) -> &'static str {
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
    /// Strength in hundredths, 0–1000 (`a1.5` is 150).
    pub amount: u16,
    /// Radius in tenths of a pixel (sigma of the blur), 1–1000.
    pub radius: u16,
    /// Differences up to this are left alone, 0–255.
    pub threshold: u8,
}

/// Four edges, CSS shorthand order: top, right, bottom, left.
pub type Edges = [u32; 4];
