//! perma — a self-hosted asset service whose headline feature is the permanent asset URL.
//!
//! The contract is the product specification, `docs/spec.md` (sections cited as §N
//! throughout). The crate is one library used by the `perma` binary and by the
//! integration tests. Imports run one way, from the top of this list to the bottom
//! (`tests/integration/layering.rs` fails on one that does not):
//!
//! * leaf types: [`ids`], [`time`], [`slug`], [`filename`], [`error`] (the boundary error,
//!   without HTTP), then [`records`] (what is stored, as plain values) and [`metrics`]
//!   (counters and the access log), [`images`] (the §11 pixel pipeline, pure), [`wire`]
//!   (records as the CMA's JSON);
//! * storage: [`db`] holds every SQL statement, [`blob`] every byte; [`config`] says where;
//! * domain: [`identity`], [`query`], [`ingest`], [`throttle`], [`signing`], then
//!   [`delivery`], then [`assets`], [`stack_config`], [`maintenance`], [`webhooks`]; they take the parts they use (a `Db`, a
//!   `BlobStore`, a [`delivery::Changes`] notifier), never the whole app;
//! * wiring: [`app`] builds the parts ([`app::App::build`]);
//! * edges: [`http`] is the only place that knows about axum and hyper (routes, the
//!   delivery writers); [`events`] sends what happened out (webhooks, CDN purges);
//!   [`client`] is the typed HTTP client; [`startup`] is the one start-up used by
//!   `perma serve` and the tests; [`cli`] is the command line.

#![forbid(unsafe_code)]

pub mod app;
pub mod assets;
pub mod audit;
pub mod blob;
pub mod build_info;
pub mod cli;
pub mod client;
pub mod config;
pub mod db;
pub mod delivery;
pub mod digest;
pub mod error;
pub mod events;
pub mod filename;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod identity;
pub mod ids;
pub mod images;
pub mod ingest;
pub mod insights;
pub mod locale_codes;
pub mod maintenance;
pub mod metrics;
pub mod permissions;
pub mod query;
pub mod records;
pub mod signing;
pub mod slug;
pub mod stack_config;
pub mod startup;
pub mod throttle;
pub mod time;
pub mod uploads;
pub mod webhooks;
pub mod wire;
