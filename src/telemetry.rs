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

/// The most bytes of an error chain a log line carries, so no line grows with what a sender
/// (or a destination) wrote: a log line stays under 4 KiB.
pub const MAX_CHAIN_BYTES: usize = 2_000;

/// The whole cause chain of an error, for the log, at most [`MAX_CHAIN_BYTES`] bytes.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    excerpt(&text, MAX_CHAIN_BYTES).into_owned()
}

/// At most `max_bytes` bytes of `text` (whole characters), with `…` when cut: how anything
/// from outside is quoted in answers and logs.
pub fn excerpt(text: &str, max_bytes: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max_bytes {
        return text.into();
    }
    format!("{}…", &text[..text.floor_char_boundary(max_bytes)]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_keeps_whole_characters_and_marks_the_cut() {
        assert_eq!(excerpt("short", 64), "short");
        assert_eq!(excerpt("ééé", 5), "éé…");
        let long = std::io::Error::other("x".repeat(10_000));
        assert_eq!(chain(&long), format!("{}…", "x".repeat(MAX_CHAIN_BYTES)));
    }
}
