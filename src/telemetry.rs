//! Structured logs, each at the severity the Functions host will grade it with, and errors
//! written out whole for them.
//!
//! The host logs a custom handler's stdout lines at Information and grades its stderr lines:
//! Warning when the line contains "warn", Error otherwise. So INFO and DEBUG lines go to
//! stdout; a WARN line goes to stderr with `warning` as its level; an ERROR line goes to stderr
//! with any "warn" in it (quoted from an error, say) written `[w]arn`, so that it stays an Error.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Timelike, Utc};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use crate::digits;

/// Installs the global subscriber with the given `RUST_LOG`-style filter.
pub fn init(filter: &Targets) {
    STDOUT.start();
    tracing_subscriber::registry()
        .with(Lines)
        .with(filter.clone())
        .init();
}

/// Writes every event as one line, in tracing-subscriber's full format without colours:
/// `2026-11-30T03:04:27.123456Z  INFO target: Message. name="text" count=3`. It is written by
/// hand because a line is logged for every webhook: texts that need no escaping are copied
/// whole rather than quoted character by character, and the time is written digit by digit.
/// (A test holds it to tracing-subscriber's bytes.)
struct Lines;

impl<S: Subscriber> Layer<S> for Lines {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        thread_local! {
            static BUFFER: RefCell<String> = RefCell::new(String::with_capacity(1024));
        }
        let write = |line: &mut String| {
            line.clear();
            format_line(line, event, Utc::now());
            let _ = Line(*event.metadata().level()).write_all(line.as_bytes());
        };
        let reused = BUFFER.try_with(|buffer| {
            let Ok(mut line) = buffer.try_borrow_mut() else {
                return false;
            };
            write(&mut line);
            // A long line (an error quoting a big answer) does not stay allocated.
            line.clear();
            line.shrink_to(1024);
            true
        });
        // A field whose formatting logs finds the buffer taken, and a thread being torn down
        // finds it gone: either line gets a buffer of its own.
        if reused != Ok(true) {
            write(&mut String::new());
        }
    }
}

/// Appends `event` as one line, stamped `now`.
fn format_line(line: &mut String, event: &Event<'_>, now: DateTime<Utc>) {
    let meta = event.metadata();
    timestamp(line, now);
    line.push_str(match *meta.level() {
        Level::TRACE => " TRACE ",
        Level::DEBUG => " DEBUG ",
        Level::INFO => "  INFO ",
        Level::WARN => "  WARN ",
        Level::ERROR => " ERROR ",
    });
    line.push_str(meta.target());
    line.push_str(": ");
    event.record(&mut Fields { line, first: true });
    line.push('\n');
}

/// `2026-11-30T03:04:27.123456Z`: microseconds, always six digits.
fn timestamp(line: &mut String, now: DateTime<Utc>) {
    if !(0..=9999).contains(&now.year()) {
        let _ = write!(line, "{}", now.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
        return;
    }
    digits::push(line, now.year() as u32, 4, "-");
    digits::push(line, now.month(), 2, "-");
    digits::push(line, now.day(), 2, "T");
    digits::push(line, now.hour(), 2, ":");
    digits::push(line, now.minute(), 2, ":");
    digits::push(line, now.second(), 2, ".");
    // A leap second's nanoseconds run past 10⁹; tracing-subscriber's clock never shows one.
    digits::push(line, now.timestamp_subsec_micros().min(999_999), 6, "Z");
}

/// Writes an event's fields as tracing-subscriber's default visitor does: the message as it is
/// (terminal control characters escaped), every other field `name=value` with its value's
/// `Debug`, separated by spaces.
struct Fields<'a> {
    line: &'a mut String,
    first: bool,
}

impl Fields<'_> {
    /// Starts a field: the space before it, and `name=` unless it is the message.
    fn start(&mut self, field: &Field) {
        if !std::mem::take(&mut self.first) {
            self.line.push(' ');
        }
        if field.name() != "message" {
            let name = field.name();
            self.line.push_str(name.strip_prefix("r#").unwrap_or(name));
            self.line.push('=');
        }
    }

    fn message(&mut self, value: &dyn fmt::Debug) {
        let from = self.line.len();
        let _ = write!(self.line, "{value:?}");
        let written = &self.line.as_bytes()[from..];
        if written
            .iter()
            .any(|b| matches!(b, 0x07 | 0x08 | 0x0c | 0x1b | 0x7f | 0xc2))
        {
            let text = self.line.split_off(from);
            for c in text.chars() {
                match c {
                    '\x07' | '\x08' | '\x0c' | '\x1b' | '\x7f' => {
                        let _ = write!(self.line, "\\x{:02x}", c as u32);
                    }
                    '\u{80}'..='\u{9f}' => {
                        let _ = write!(self.line, "\\u{{{:x}}}", c as u32);
                    }
                    c => self.line.push(c),
                }
            }
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            return self.record_debug(field, &format_args!("{value}"));
        }
        self.start(field);
        // `Debug` of a text with only printable ASCII, no quote and no backslash is the text
        // between quotes.
        if value
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            self.line.push('"');
            self.line.push_str(value);
            self.line.push('"');
        } else {
            let _ = write!(self.line, "{value:?}");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.start(field);
        self.line.push_str(if value { "true" } else { "false" });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.start(field);
        if field.name() == "message" {
            self.message(value);
        } else {
            let _ = write!(self.line, "{value:?}");
        }
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
            _ => {
                STDOUT.write(line);
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        flush();
        io::stdout().flush()?;
        io::stderr().flush()
    }
}

/// INFO and DEBUG lines on their way to stdout: one `write` for every line costs a webhook as
/// much as any step of its own, so lines logged close together are gathered and written
/// together, at most [`GATHER`] after the first of them. A line after a quiet spell is written
/// at once, and WARN and ERROR lines (stderr) are never held. What a SIGKILL can take: the INFO
/// lines of the last [`GATHER`] under load.
static STDOUT: Gathered = Gathered::new(|lines| {
    let _ = io::stdout().lock().write_all(lines);
});

/// How long a line may wait for others to be written with it.
const GATHER: Duration = Duration::from_millis(2);

/// Lines held this long are written without waiting.
const MAX_GATHERED: usize = 64 * 1024;

/// Lines gathered for one writer, and the thread that writes them (see [`STDOUT`]).
struct Gathered {
    pending: Mutex<Pending>,
    wake: Condvar,
    out: fn(&[u8]),
}

struct Pending {
    lines: Vec<u8>,
    last_write: Option<Instant>,
    /// The writing thread runs (until then every line is written at once).
    started: bool,
    /// The writing thread has been told lines wait.
    armed: bool,
}

impl Gathered {
    const fn new(out: fn(&[u8])) -> Self {
        Gathered {
            pending: Mutex::new(Pending {
                lines: Vec::new(),
                last_write: None,
                started: false,
                armed: false,
            }),
            wake: Condvar::new(),
            out,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the thread that writes gathered lines; until then lines are written at once.
    fn start(&'static self) {
        let mut pending = self.lock();
        if std::mem::replace(&mut pending.started, true) {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("log-lines".into())
            .spawn(move || self.write_gathered());
        pending.started = spawned.is_ok();
    }

    /// Writes `line` now, after a quiet spell, or gathers it. Lines are written in the order
    /// they come: a line is only written at once when none waits, under the lock.
    fn write(&self, line: &[u8]) {
        let mut pending = self.lock();
        let now = Instant::now();
        let quiet = pending.lines.is_empty()
            && pending
                .last_write
                .is_none_or(|last| now.duration_since(last) >= GATHER);
        if quiet || !pending.started {
            pending.last_write = Some(now);
            (self.out)(line);
            return;
        }
        pending.lines.extend_from_slice(line);
        if pending.lines.len() >= MAX_GATHERED {
            self.flush_locked(&mut pending);
        } else if !std::mem::replace(&mut pending.armed, true) {
            self.wake.notify_one();
        }
    }

    /// The writing thread: waits until lines wait, lets more gather, writes them all.
    fn write_gathered(&self) {
        let mut pending = self.lock();
        loop {
            while !pending.armed {
                pending = self
                    .wake
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            drop(pending);
            std::thread::sleep(GATHER);
            pending = self.lock();
            pending.armed = false;
            self.flush_locked(&mut pending);
        }
    }

    fn flush_locked(&self, pending: &mut Pending) {
        if !pending.lines.is_empty() {
            (self.out)(&pending.lines);
            pending.lines.clear();
            pending.last_write = Some(Instant::now());
        }
    }
}

/// Writes the INFO lines still gathered: before the process exits.
pub fn flush() {
    STDOUT.flush_locked(&mut STDOUT.lock());
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
    use std::sync::{Arc, Mutex};

    /// Every kind of field the product logs, and some it might.
    fn emit() {
        let error = std::io::Error::other("disk \"full\"");
        tracing::info!(
            function = "webhook",
            rows = 3usize,
            status = 200u16,
            latency_ms = %format_args!("{}.{:03}", 1, 7),
            outcome = if true { "delivered" } else { "" },
            "Webhook accepted."
        );
        tracing::warn!(
            error = chain(&error),
            fix = "",
            "Delivery failed; rows spilled."
        );
        tracing::error!(
            text = "quote \" back\\ tab\t new\nline é \u{301} \u{1b}[31m \u{85}",
            "E"
        );
        tracing::info!(r#type = "t", negative = -5i64, flag = false, ratio = 0.25f64, debug = ?Some("x"), "{} {}", "formatted", 7);
        tracing::debug!("Message \u{1b}[2J bell \u{7} c1 \u{9b} © only.");
        tracing::trace!(message = "as a field \u{1b}", empty = "");
        tracing::info!(only = 1u64);
    }

    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    static WRITTEN: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    static GATHERED: Gathered = Gathered::new(|lines| WRITTEN.lock().unwrap().push(lines.to_vec()));

    /// Lines logged close together leave in one write, in order, soon; a line after a quiet
    /// spell leaves at once.
    #[test]
    fn lines_close_together_are_written_together_in_order() {
        let writes = || WRITTEN.lock().unwrap().clone();
        GATHERED.write(b"before the thread\n");
        assert_eq!(writes(), [b"before the thread\n".to_vec()]);
        GATHERED.start();
        std::thread::sleep(2 * GATHER);
        GATHERED.write(b"quiet\n");
        assert_eq!(
            writes().len(),
            2,
            "a line after a quiet spell is written at once"
        );
        for i in 0..100 {
            GATHERED.write(format!("{i}\n").as_bytes());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while writes().concat().len() < 10 + 6 + 190 && Instant::now() < deadline {
            std::thread::sleep(GATHER);
        }
        let written = writes();
        let burst: String = (0..100).map(|i| format!("{i}\n")).collect();
        assert_eq!(written[2..].concat(), burst.as_bytes());
        assert!(
            written.len() < 2 + 100,
            "{} writes for 100 lines",
            written.len() - 2
        );
        // Quiet again: the next line leaves at once.
        std::thread::sleep(2 * GATHER);
        let before = writes().len();
        GATHERED.write(b"after\n");
        assert_eq!(writes().len(), before + 1);
    }

    /// [`Lines`]' formatter, writing to a buffer.
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl<S: Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            let mut line = String::new();
            format_line(&mut line, event, Utc::now());
            self.0.lock().unwrap().extend_from_slice(line.as_bytes());
        }
    }

    /// The lines, each without its time (the first 27 characters), which differs between runs.
    fn untimed(bytes: &Arc<Mutex<Vec<u8>>>) -> Vec<String> {
        let text = String::from_utf8(bytes.lock().unwrap().clone()).unwrap();
        text.lines().map(|line| line[27..].to_string()).collect()
    }

    #[test]
    fn lines_are_written_byte_for_byte_as_tracing_subscriber_writes_them() {
        let theirs = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&theirs);
        let fmt = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || Shared(Arc::clone(&writer)));
        let subscriber = tracing_subscriber::registry()
            .with(fmt)
            .with(tracing_subscriber::filter::LevelFilter::TRACE);
        tracing::subscriber::with_default(subscriber, emit);

        let ours = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry()
            .with(Capture(Arc::clone(&ours)))
            .with(tracing_subscriber::filter::LevelFilter::TRACE);
        tracing::subscriber::with_default(subscriber, emit);

        let (theirs, ours) = (untimed(&theirs), untimed(&ours));
        assert_eq!(ours.len(), 7);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn times_have_six_digits_of_microseconds() {
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().to_utc();
        for (time, written) in [
            ("2026-11-30T03:04:27Z", "2026-11-30T03:04:27.000000Z"),
            (
                "2026-01-02T00:00:09.000123456Z",
                "2026-01-02T00:00:09.000123Z",
            ),
            (
                "0999-12-31T23:59:59.999999999Z",
                "0999-12-31T23:59:59.999999Z",
            ),
        ] {
            let mut line = String::new();
            timestamp(&mut line, at(time));
            assert_eq!(line, written);
        }
    }

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
