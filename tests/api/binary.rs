//! The `handler` binary run as a user runs it: settings from `local.settings.json`, rows in `.jsonl` files.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use serde_json::Value;
use webhook_ingest::settings::SETTING_NAMES;
use webhook_ingest::sources::sign_auditwolf;

use crate::helpers::fixture;

pub fn handler(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_handler"));
    command
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in SETTING_NAMES {
        command.env_remove(name);
    }
    command
}

/// The running binary; killed and reaped when dropped, even when an assertion fails.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stops the binary and returns what it wrote to stdout (after the address line) and stderr.
fn stop_and_read(mut child: Running, mut stdout: BufReader<ChildStdout>) -> (String, String) {
    let mut stderr = child.0.stderr.take().unwrap();
    drop(child);
    let (mut out, mut err) = (String::new(), String::new());
    stdout.read_to_string(&mut out).unwrap();
    stderr.read_to_string(&mut err).unwrap();
    (out, err)
}

/// Starts the binary on port 0 and reads the address it logs.
fn start(dir: &Path) -> (Running, String) {
    let mut command = handler(dir);
    command.env("FUNCTIONS_CUSTOMHANDLER_PORT", "0");
    start_with(command)
}

/// Starts a prepared command and reads the address it logs.
pub fn start_with(command: Command) -> (Running, String) {
    let (child, address, _) = start_logging(command);
    (child, address)
}

/// Starts a prepared command, reads the address it logs, and hands over the rest of its log.
pub fn start_logging(mut command: Command) -> (Running, String, BufReader<ChildStdout>) {
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let child = Running(child);
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.split("address=").nth(1) {
            let address = rest.split_whitespace().next().unwrap().to_owned();
            return (child, format!("http://{address}"), stdout);
        }
        line.clear();
    }
    panic!("the handler exited without listening");
}

#[actix_web::test]
async fn the_binary_reads_local_settings_and_appends_rows_to_json_lines_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("local.settings.json"),
        r#"{"IsEncrypted": false, "Values": {"AUDITWOLF_SECRETS": "local-secret", "LOCAL_SINK_DIR": "./rows", "LOG_ANALYTICS_WORKSPACE_ID": ""}}"#,
    )
    .unwrap();
    let (child, address) = start(dir.path());
    let client = reqwest::Client::new();

    let skytap = client
        .post(format!("{address}/api/skytap"))
        .body(fixture("skytap-audit.json"))
        .send()
        .await
        .unwrap();
    let body = fixture("auditwolf-task-create.json");
    let auditwolf = client
        .post(format!("{address}/api/webhook"))
        .header(
            "x-auditwolf-webhook-sig",
            sign_auditwolf("local-secret", &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let (skytap, auditwolf) = (skytap.status(), auditwolf.status());
    drop(child);

    assert_eq!((skytap.as_u16(), auditwolf.as_u16()), (200, 200));
    let audit = std::fs::read_to_string(dir.path().join("rows/SkytapAudit.jsonl")).unwrap();
    let rows: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["TypeCode"], "FailedUserLoginHistory");
    assert_eq!(rows[0]["TimeGenerated"], "2019-06-07T23:41:31Z");
    let wolf = std::fs::read_to_string(dir.path().join("rows/AuditWolf.jsonl")).unwrap();
    assert_eq!(wolf.lines().count(), 1);
}

#[test]
fn the_binary_stops_at_startup_naming_an_invalid_setting_without_printing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let output = handler(dir.path())
        .env(
            "LOG_ANALYTICS_WORKSPACE_ID",
            "11111111-2222-3333-4444-555555555555",
        )
        .env("LOG_ANALYTICS_SHARED_KEY", "my-secret-key!")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("LOG_ANALYTICS_SHARED_KEY"), "{stderr}");
    assert!(!stderr.contains("my-secret-key"), "{stderr}");
}

#[test]
fn help_and_version_answer_without_settings_and_an_unknown_argument_exits_2_with_the_usage() {
    let dir = tempfile::tempdir().unwrap();
    // Invalid settings: these commands must not read them, let alone start the server.
    let run = |arg: &str| {
        handler(dir.path())
            .arg(arg)
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", "not-a-port")
            .output()
            .unwrap()
    };
    let help = run("--help");
    assert!(help.status.success());
    let usage = String::from_utf8(help.stdout).unwrap();
    for command in ["schema", "replay-poison", "--version"] {
        assert!(usage.contains(command), "{usage}");
    }
    let version = run("--version");
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        format!("handler {}", env!("CARGO_PKG_VERSION"))
    );
    let unknown = run("shema");
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8(unknown.stderr).unwrap();
    assert!(
        stderr.contains("shema") && stderr.contains(&usage),
        "{stderr}"
    );
}

#[test]
fn the_schema_command_prints_tables_and_dcr_streams_under_the_configured_names() {
    let dir = tempfile::tempdir().unwrap();
    let output = handler(dir.path())
        .arg("schema")
        .env("SKYTAP_AUDIT_TABLE", "SkytapAudit2")
        .output()
        .unwrap();
    assert!(output.status.success());
    let schema: Value = serde_json::from_slice(&output.stdout).unwrap();
    let columns = schema["streamDeclarations"]["Custom-SkytapAudit2_CL"]["columns"]
        .as_array()
        .unwrap();
    assert!(columns.contains(&serde_json::json!({"name": "TypeCode", "type": "string"})));
    assert_eq!(schema["tables"].as_object().unwrap().len(), 5);
}

#[actix_web::test]
async fn sigterm_lets_requests_in_flight_finish_before_exiting() {
    a_stop_signal_lets_requests_in_flight_finish("-TERM").await;
}

#[actix_web::test]
async fn sigint_lets_requests_in_flight_finish_before_exiting_too() {
    a_stop_signal_lets_requests_in_flight_finish("-INT").await;
}

async fn a_stop_signal_lets_requests_in_flight_finish(signal: &str) {
    let azure = crate::helpers::FakeDataCollector::start();
    azure.delay_with(std::time::Duration::from_millis(2500));
    let dir = tempfile::tempdir().unwrap();
    let mut command = handler(dir.path());
    command
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
        .env("LOG_ANALYTICS_WORKSPACE_ID", crate::helpers::WORKSPACE_ID)
        .env("LOG_ANALYTICS_SHARED_KEY", crate::helpers::SHARED_KEY)
        .env("LOG_ANALYTICS_ENDPOINT", &azure.url);
    let (mut child, address) = start_with(command);
    let client = reqwest::Client::new();
    let bodies: Vec<Vec<u8>> = (0..5)
        .map(|i| crate::helpers::fixture_with_id("skytap-usage.json", &format!("m{i}")))
        .collect();
    let requests = bodies.iter().map(|body| {
        client
            .post(format!("{address}/api/skytap"))
            .body(body.clone())
            .send()
    });
    let in_flight = futures_util::future::join_all(requests);
    let terminate = async {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
        let pid = child.0.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
    };
    let (answers, ()) = futures_util::future::join(in_flight, terminate).await;
    for answer in answers {
        assert_eq!(answer.unwrap().status(), 200);
    }
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let rows: usize = azure.accepted().iter().map(|post| post.rows.len()).sum();
    assert_eq!(rows, 10, "every request answered 200 was delivered");
}

#[actix_web::test]
async fn bearer_tokens_never_reach_the_log_even_at_debug() {
    use crate::fake_issuer::{bearer, kid, token, v1_claims, valid, FakeIssuer};
    let issuer = FakeIssuer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut command = handler(dir.path());
    command
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
        .env("LOCAL_SINK_DIR", "./rows")
        .env("RUST_LOG", "debug");
    for (name, value) in issuer.settings() {
        command.env(name, value);
    }
    let (child, address, log) = start_logging(command);
    let mut claims = v1_claims();
    let good = valid(&claims);
    let forged = token(&claims, 2, &kid(0));
    claims["aud"] = "api://someone-else".into();
    let misaddressed = valid(&claims);
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for token in [&good, &forged, &misaddressed] {
        let answer = client
            .post(format!("{address}/api/azuremonitor-secure"))
            .header("Authorization", bearer(token))
            .body(fixture("azure-common-alert-metric.json"))
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    // Both streams: warnings and errors are on stderr.
    let (out, err) = stop_and_read(child, log);
    let text = out + &err;
    assert_eq!(statuses, [200, 401, 401], "{text}");
    assert!(text.contains("Webhook rejected."), "{text}");
    for token in [&good, &forged, &misaddressed] {
        for part in token.split('.').filter(|p| p.len() > 16) {
            assert!(
                !text.contains(part),
                "a token's part is in the log:\n{text}"
            );
        }
    }
}

#[actix_web::test]
async fn no_answer_or_log_line_grows_with_what_a_sender_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = handler(dir.path());
    command
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
        .env("LOCAL_SINK_DIR", "./rows")
        .env(
            "AZURE_MONITOR_SUBSCRIPTIONS",
            "00000000-0000-0000-0000-000000000001",
        );
    let (child, address, log) = start_logging(command);
    let huge = "é".repeat(500_000);
    let skytap = |field: &str, value: Value| {
        let mut message: Value = serde_json::from_slice(&fixture("skytap-audit.json")).unwrap();
        message[field] = value;
        serde_json::to_vec(&message).unwrap()
    };
    let mut alert: Value =
        serde_json::from_slice(&fixture("azure-common-alert-metric.json")).unwrap();
    alert["data"]["essentials"]["alertTargetIDs"] =
        serde_json::json!([format!("/subscriptions/{huge}/resourceGroups/x")]);
    let hostile = [
        (
            "/api/skytap",
            skytap("timestamp", Value::String(huge.clone())),
        ),
        (
            "/api/skytap",
            skytap("category", Value::String(huge.clone())),
        ),
        (
            "/api/skytap",
            skytap("category", serde_json::json!(vec![huge.as_str(); 2])),
        ),
        (
            "/api/skytap",
            skytap("payload", serde_json::json!([huge.as_str()])),
        ),
        ("/api/azuremonitor", serde_json::to_vec(&alert).unwrap()),
    ];
    let client = reqwest::Client::new();
    for (path, body) in hostile {
        let answer = client
            .post(format!("{address}{path}"))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        assert!((400..500).contains(&status), "{status}: {text}");
        assert!(text.len() <= 1024, "{path}: a {}-byte answer", text.len());
    }
    let (text, errors) = stop_and_read(child, log);
    assert!(errors.contains("Webhook rejected."), "{errors}");
    assert!(!errors.contains("panicked at"), "{errors}");
    for line in text.lines().chain(errors.lines()) {
        assert!(line.len() <= 4096, "a {}-byte log line", line.len());
    }
}

#[actix_web::test]
async fn info_lines_go_to_stdout_and_warnings_and_errors_to_stderr_graded_as_the_host_grades() {
    let azure = crate::helpers::FakeDataCollector::start();
    // The destination refuses (403): an ERROR line, "an operator must act".
    azure.answer_with(403);
    let dir = tempfile::tempdir().unwrap();
    let mut command = handler(dir.path());
    command
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
        .env("LOG_ANALYTICS_WORKSPACE_ID", crate::helpers::WORKSPACE_ID)
        .env("LOG_ANALYTICS_SHARED_KEY", crate::helpers::SHARED_KEY)
        .env("LOG_ANALYTICS_ENDPOINT", &azure.url)
        .env("STACKSTATE_TOKENS", "warning-token");
    let (child, address, stdout) = start_logging(command);
    let client = reqwest::Client::new();
    // Refused for its token: a WARN line, which quotes nothing of the token.
    let refused = client
        .post(format!("{address}/api/stackstate"))
        .header("X-StackState-Webhook-Token", "wrong")
        .body(fixture("stackstate-open.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let failed = client
        .post(format!("{address}/api/skytap"))
        .body(fixture("skytap-audit.json"))
        .send()
        .await
        .unwrap();
    assert!(failed.status().is_server_error() || failed.status() == 502);
    let (out, err) = stop_and_read(child, stdout);

    assert!(out.contains(" INFO "), "{out}");
    assert!(!out.contains("WARN") && !out.contains("ERROR"), "{out}");
    let warning = err.lines().find(|l| l.contains("Webhook rejected."));
    let warning = warning.unwrap_or_else(|| panic!("no warning on stderr: {err}"));
    assert!(
        warning.contains("warn"),
        "the host grades it Warning: {warning}"
    );
    let error = err.lines().find(|l| l.contains("an operator must act"));
    let error = error.unwrap_or_else(|| panic!("no error on stderr: {err}"));
    assert!(
        !error.to_ascii_lowercase().contains("warn"),
        "the host would grade it Warning: {error}"
    );
    for line in err.lines() {
        assert!(
            line.contains(" warning ") || line.contains(" ERROR "),
            "only warnings and errors on stderr: {line}"
        );
    }
}
