//! The `perma` binary: parse the command line, dispatch, return an exit code.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: perma_alloc::Split = perma_alloc::Split;

fn main() -> ExitCode {
    let cli = perma::cli::Cli::parse();
    perma::cli::run(cli)
}
