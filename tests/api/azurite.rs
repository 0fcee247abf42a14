//! Azurite, the official Azure Storage emulator, started once for the whole test binary.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The running emulator's queue and table endpoints (`http://127.0.0.1:<port>/devstoreaccount1`).
pub struct Azurite {
    pub queue_endpoint: String,
    pub table_endpoint: String,
    // Azurite runs under a shell that kills it when this pipe closes, i.e. when the tests end.
    _lifeline: Mutex<ChildStdin>,
    _shell: Mutex<Child>,
}

static AZURITE: OnceLock<Azurite> = OnceLock::new();

/// The shared emulator, started on first use. Installed by `scripts/test.sh` (`npm ci`).
pub fn azurite() -> &'static Azurite {
    AZURITE.get_or_init(start)
}

/// A connection string for the emulator, as `AzureWebJobsStorage` holds it.
pub fn connection_string() -> String {
    let Azurite {
        queue_endpoint,
        table_endpoint,
        ..
    } = azurite();
    format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
         AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;\
         QueueEndpoint={queue_endpoint};TableEndpoint={table_endpoint}"
    )
}

fn start() -> Azurite {
    let root = env!("CARGO_MANIFEST_DIR");
    let bin = format!("{root}/node_modules/.bin");
    assert!(
        std::path::Path::new(&format!("{bin}/azurite-queue")).exists(),
        "Azurite is not installed: run `bash scripts/test.sh` (it runs `npm ci`)"
    );
    let free_port = || {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, table_port) = (free_port(), free_port());
    let script = format!(
        "'{bin}/azurite-queue' --queueHost 127.0.0.1 --queuePort {port} --inMemoryPersistence \
         --disableTelemetry --silent & queue=$!; \
         '{bin}/azurite-table' --tableHost 127.0.0.1 --tablePort {table_port} --inMemoryPersistence \
         --disableTelemetry --silent & table=$!; cat >/dev/null; kill $queue $table"
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("sh starts Azurite");
    let lifeline = child.stdin.take().unwrap();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err()
        || TcpStream::connect(("127.0.0.1", table_port)).is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "Azurite did not start listening"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "Azurite exited at startup"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut lifeline = lifeline;
    let _ = lifeline.flush();
    Azurite {
        queue_endpoint: format!("http://127.0.0.1:{port}/devstoreaccount1"),
        table_endpoint: format!("http://127.0.0.1:{table_port}/devstoreaccount1"),
        _lifeline: Mutex::new(lifeline),
        _shell: Mutex::new(child),
    }
}
