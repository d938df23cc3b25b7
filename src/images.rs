//! Image transforms (§11): the parameters of Contentstack's Image Delivery API, parsed into
//! one canonical value ([`Transform`]), and the pixel pipeline that renders a rendition
//! ([`render`]). Pure code: bytes in, bytes out. Storing, caching and serving renditions
//! is delivery's (`delivery::renditions`).

mod decode;
mod encode;
mod geometry;
mod overlay;
mod params;
mod pixels;
mod render;

pub use encode::MAX_AVIF_PIXELS;
pub use overlay::OverlayFile;
pub use params::{
    accepts, is_transform_name, Align, Area, Edges, Filter, Fit, Format, Orientation, Overlay,
    Position, Region, Repeat, Sharpen, Side, Transform, MAX_OUTPUT_SIDE, NAMES,
};
pub use render::{
    check_input, cost, cost_with_overlay, render, render_with_overlay, source_format, too_slow,
    Cost, Deadline, Rendered, MAX_DECODED_PIXELS, MAX_INPUT_BYTES, MAX_INPUT_SIDE,
};
