//! Structured logs to stdout (the Functions host treats stderr lines as errors).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Installs the global subscriber with the given `RUST_LOG`-style filter.
pub fn init(filter: &Targets) {
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::io::stdout);
    tracing_subscriber::registry()
        .with(layer)
        .with(filter.clone())
        .init();
}
