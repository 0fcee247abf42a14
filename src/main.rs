//! The `handler` binary: settings → telemetry → serve.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use actix_web::web;
use webhook_ingest::app::AppState;
use webhook_ingest::cli::{Command, USAGE, VERSION};
use webhook_ingest::delivery::spill;
use webhook_ingest::schema;
use webhook_ingest::server;
use webhook_ingest::settings::{Settings, Vars, LOCAL_SETTINGS_FILE};
use webhook_ingest::storage_queue::StorageQueue;
use webhook_ingest::telemetry;

#[actix_web::main]
async fn main() -> ExitCode {
    let command = Command::parse(std::env::args().skip(1));
    match &command {
        Command::Help => return print(USAGE),
        Command::Version => return print(&format!("handler {VERSION}\n")),
        Command::Unknown(args) => {
            eprintln!("Unknown arguments: {args}\n\n{USAGE}");
            return ExitCode::from(2);
        }
        Command::Serve | Command::Schema | Command::ReplayHeld => {}
    }
    let settings = match Vars::from_env_and_file(Path::new(LOCAL_SETTINGS_FILE))
        .and_then(|vars| Settings::from_vars(&vars))
    {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("Invalid configuration: {error}.");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Schema => return print_schema(&settings),
        Command::ReplayHeld => return replay_held(&settings).await,
        _ => {}
    }
    telemetry::init(&settings.log_filter);
    for notice in &settings.notices {
        tracing::warn!(notice = notice.as_str(), "Settings notice.");
    }
    let code = match serve(&settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, port = settings.port, "The server stopped.");
            ExitCode::FAILURE
        }
    };
    telemetry::flush();
    code
}

/// Prints to stdout; a closed pipe (`handler schema | head`) is not worth a panic.
fn print(text: &str) -> ExitCode {
    let _ = write!(std::io::stdout(), "{text}");
    ExitCode::SUCCESS
}

/// `handler schema`: the tables, DCR streams and data flows for the configured table names.
fn print_schema(settings: &Settings) -> ExitCode {
    let declarations = schema::declarations(|table| settings.tables.name(table).to_string());
    let text = serde_json::to_string_pretty(&declarations).expect("JSON values serialise");
    print(&format!("{text}\n"))
}

/// `handler replay-held`: moves held messages, then any the host poisoned, back to the spill
/// queue, for `drain` to deliver once the cause is fixed.
async fn replay_held(settings: &Settings) -> ExitCode {
    let Some(config) = &settings.spill else {
        eprintln!("No spill queue: set AzureWebJobsStorage (and SPILL_QUEUE if not the default).");
        return ExitCode::FAILURE;
    };
    let timeouts = &settings.timeouts;
    let queue = StorageQueue::new(&config.service, &config.queue, timeouts);
    for suffix in [spill::HELD_SUFFIX, spill::POISON_SUFFIX] {
        let from = StorageQueue::new(
            &config.service,
            &format!("{}{suffix}", config.queue),
            timeouts,
        );
        match spill::replay(&queue, &from, timeouts).await {
            Ok(moved) => println!(
                "Moved {moved} messages from {} to {}.",
                from.name(),
                queue.name()
            ),
            Err(error) => {
                eprintln!(
                    "Replay from {} stopped: {}.",
                    from.name(),
                    telemetry::chain(&error)
                );
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

async fn serve(settings: &Settings) -> std::io::Result<()> {
    let listener = server::bind(settings.port)?;
    let state = web::Data::new(AppState::new(settings));
    tracing::info!(
        version = VERSION,
        address = %listener.local_addr()?,
        destination = state.delivery.destination().name(),
        "Listening."
    );
    server::run(listener, state.clone())?.await?;
    // Attempts already sent are never abandoned: their outcomes settle what the senders retry.
    let timeouts = &settings.timeouts;
    if !state.delivery.settled(timeouts.attempt).await {
        tracing::error!("Stopped with delivery attempts still in flight.");
    }
    tracing::info!("Stopped.");
    Ok(())
}
