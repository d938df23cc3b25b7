//! perma — a self-hosted asset service whose headline feature is the permanent asset URL.
//!
//! The contract is `SPEC.md` (sections cited as §N throughout). The crate is one library
//! used by the `perma` binary and by the integration tests:
//!
//! * [`config`] and [`app`] build the running service ([`app::App::build`]);
//! * [`http`] is the only place that knows about axum: routes, extractors, handlers;
//! * [`assets`], [`identity`], [`ingest`], [`delivery`], [`query`] hold the domain rules;
//! * [`db`] holds every SQL statement, [`blob`] every byte on disk;
//! * [`cli`] and [`client`] are the command line and its typed HTTP client.

#![forbid(unsafe_code)]

pub mod app;
pub mod assets;
pub mod blob;
pub mod cli;
pub mod client;
pub mod config;
pub mod db;
pub mod delivery;
pub mod error;
pub mod filename;
pub mod http;
pub mod identity;
pub mod ids;
pub mod ingest;
pub mod maintenance;
pub mod query;
pub mod records;
pub mod slug;
pub mod stack_config;
pub mod startup;
pub mod time;
