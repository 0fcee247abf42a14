//! The command line: what `handler` was asked to do, read before any setting.

/// The version users see in `--version`, the startup log line and `/api/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `handler --help`.
pub const USAGE: &str = "\
handler: an Azure Functions custom handler that verifies Skytap, AuditWolf, Azure Monitor and
StackState webhooks and delivers them to Azure Log Analytics (or to local JSON Lines files).

Usage:
  handler                  serve the functions on FUNCTIONS_CUSTOMHANDLER_PORT (7071 by default)
  handler schema           print the tables, DCR stream declarations and data flows as JSON
  handler replay-held      move held and poisoned spill messages back to the spill queue
                           (`replay-poison`, its earlier name, does the same)
  handler --help, -h       print this help
  handler --version, -V    print the version

Settings are read from the environment and local.settings.json; the README lists them all.
";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve,
    Schema,
    /// `replay-held`, or `replay-poison` as earlier releases named it.
    ReplayHeld,
    Help,
    Version,
    /// Anything else: the usage goes to stderr and the exit code is 2.
    Unknown(String),
}

impl Command {
    /// Reads the arguments after the program name.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Command {
        let args: Vec<String> = args.into_iter().collect();
        match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            [] => Command::Serve,
            ["schema"] => Command::Schema,
            ["replay-held" | "replay-poison"] => Command::ReplayHeld,
            ["--help" | "-h" | "help"] => Command::Help,
            ["--version" | "-V" | "version"] => Command::Version,
            _ => Command::Unknown(args.join(" ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        Command::parse(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn every_subcommand_and_flag_is_recognised_and_anything_else_is_unknown() {
        assert_eq!(parse(&[]), Command::Serve);
        assert_eq!(parse(&["schema"]), Command::Schema);
        assert_eq!(parse(&["replay-held"]), Command::ReplayHeld);
        assert_eq!(parse(&["replay-poison"]), Command::ReplayHeld);
        assert_eq!(parse(&["--help"]), Command::Help);
        assert_eq!(parse(&["-V"]), Command::Version);
        assert_eq!(parse(&["shema"]), Command::Unknown("shema".into()));
        assert_eq!(
            parse(&["schema", "extra"]),
            Command::Unknown("schema extra".into())
        );
    }

    #[test]
    fn the_usage_names_every_subcommand() {
        for word in ["schema", "replay-held", "--help", "--version"] {
            assert!(USAGE.contains(word), "{word}");
        }
    }
}
