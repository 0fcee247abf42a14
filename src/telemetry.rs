//! Structured logs to stdout (the Functions host treats stderr lines as errors), and errors
//! written out whole for them.

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

/// The whole cause chain of an error, for the log.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
