//! One integration test binary: every test starts a real perma on 127.0.0.1:0 and talks
//! HTTP to it (STYLE rule 8).

mod abuse;
mod assets;
mod bad_input;
mod branch;
mod cda;
mod cli;
mod connection;
mod copy;
mod counts;
mod delivery;
mod durability;
mod events;
mod events_durability;
mod faults;
mod fuzz_corpus;
mod hardening;
mod identity;
mod images;
mod import;
mod import_links;
mod index;
mod layering;
mod listing;
mod management;
mod metadata;
mod metadata_query;
mod multiprocess;
mod overlays;
mod permanent_url;
mod purge;
mod renditions;
mod sdk_suites;
mod signed;
mod support;
mod sync;
