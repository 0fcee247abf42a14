//! Structured logs, each at the severity the Functions host will grade it with, and errors
//! written out whole for them.
//!
//! The host logs a custom handler's stdout lines at Information and grades its stderr lines:
//! Warning when the line contains "warn", Error otherwise. So INFO and DEBUG lines go to
//! stdout; a WARN line goes to stderr with `warning` as its level; an ERROR line goes to stderr
//! with any "warn" in it (quoted from an error, say) written `[w]arn`, so that it stays an Error.

use std::io::{self, Write};

use tracing::{Level, Metadata};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// Installs the global subscriber with the given `RUST_LOG`-style filter.
pub fn init(filter: &Targets) {
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(BySeverity);
    tracing_subscriber::registry()
        .with(layer)
        .with(filter.clone())
        .init();
}

/// Picks each line's stream by its level.
struct BySeverity;

impl<'a> MakeWriter<'a> for BySeverity {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Level::INFO)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line(*meta.level())
    }
}

/// One formatted line of a given level, written whole to its stream.
struct Line(Level);

impl Write for Line {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.write_all(line)?;
        Ok(line.len())
    }

    fn write_all(&mut self, line: &[u8]) -> io::Result<()> {
        match self.0 {
            Level::WARN | Level::ERROR => io::stderr().lock().write_all(&graded(self.0, line)),
            _ => io::stdout().lock().write_all(line),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()?;
        io::stderr().flush()
    }
}

/// A WARN or ERROR line as the host should grade it: a warning names its level `warning`; an
/// error contains no "warn" in any case.
fn graded(level: Level, line: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(line);
    if level == Level::WARN {
        return text.replacen(" WARN ", " warning ", 1).into_bytes();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = &text[..];
    while let Some(at) = rest.to_ascii_lowercase().find("warn") {
        out.push_str(&rest[..at]);
        out.push('[');
        out.push_str(&rest[at..at + 1]);
        out.push(']');
        out.push_str(&rest[at + 1..at + 4]);
        rest = &rest[at + 4..];
    }
    out.push_str(rest);
    out.into_bytes()
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
    fn a_warning_says_warning_and_an_error_never_says_warn() {
        let warning = graded(
            Level::WARN,
            b"2026-11-29T21:00:00Z  WARN app: Webhook rejected.\n",
        );
        assert_eq!(
            String::from_utf8(warning).unwrap(),
            "2026-11-29T21:00:00Z  warning app: Webhook rejected.\n"
        );
        let error = graded(
            Level::ERROR,
            "ERROR x: é WARNING, Forewarned: warn\n".as_bytes(),
        );
        let error = String::from_utf8(error).unwrap();
        assert_eq!(error, "ERROR x: é [W]ARNING, Fore[w]arned: [w]arn\n");
        assert!(!error.to_ascii_lowercase().contains("warn"));
    }

    #[test]
    fn an_excerpt_keeps_whole_characters_and_marks_the_cut() {
        assert_eq!(excerpt("short", 64), "short");
        assert_eq!(excerpt("ééé", 5), "éé…");
        let long = std::io::Error::other("x".repeat(10_000));
        assert_eq!(chain(&long), format!("{}…", "x".repeat(MAX_CHAIN_BYTES)));
    }
}
