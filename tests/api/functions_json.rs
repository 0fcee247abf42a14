//! The seam with the Functions host: every function folder is served with the methods it declares.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use webhook_ingest::delivery::spill::DEFAULT_QUEUE;
use webhook_ingest::drain::BINDING;
use webhook_ingest::server::{DRAIN_FUNCTION, HEALTH_FUNCTION, ROUTE_PREFIX, WEBHOOK_FUNCTIONS};
use webhook_ingest::sources::Gate;

use crate::helpers::{answer, spawn_app, spawn_app_with};

/// A function folder, and the path and methods the host uses to reach the handler for it.
struct Function {
    name: String,
    /// HTTP functions are forwarded to `/api/<route>`; others are invoked at `/<name>`.
    path: String,
    methods: Vec<String>,
    auth_level: Option<String>,
    bindings: Vec<Value>,
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn functions() -> Vec<Function> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut functions = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path().join("function.json");
        if !path.exists() {
            continue;
        }
        let name = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let bindings = read_json(&path)["bindings"].as_array().unwrap().clone();
        let function = match bindings.iter().find(|b| b["type"] == "httpTrigger") {
            Some(trigger) => {
                // Forwarding applies only to exactly one httpTrigger in and one http out.
                assert_eq!(
                    bindings.len(),
                    2,
                    "{name}: forwarding needs exactly two bindings"
                );
                assert!(
                    bindings
                        .iter()
                        .any(|b| b["type"] == "http" && b["direction"] == "out"),
                    "{name}: an http output"
                );
                let route = trigger["route"].as_str().unwrap_or(&name).to_owned();
                Function {
                    path: format!("{ROUTE_PREFIX}/{route}"),
                    methods: trigger["methods"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| m.as_str().unwrap().to_uppercase())
                        .collect(),
                    auth_level: Some(
                        trigger["authLevel"]
                            .as_str()
                            .unwrap_or("function")
                            .to_owned(),
                    ),
                    name: name.clone(),
                    bindings,
                }
            }
            // Every other trigger runs in invocation mode: the host POSTs to /<function name>.
            None => Function {
                path: format!("/{name}"),
                methods: vec!["POST".into()],
                auth_level: None,
                name: name.clone(),
                bindings,
            },
        };
        functions.push(function);
    }
    functions
}

#[test]
fn host_json_starts_the_handler_binary_proxied_or_forwarded() {
    let host = read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("host.json"));
    assert_eq!(host["version"], "2.0");
    assert_eq!(
        host["customHandler"]["description"]["defaultExecutablePath"],
        "handler"
    );
    // Proxying where the host has it; an older host ignores the key and forwards.
    assert_eq!(host["customHandler"]["enableProxyingHttpRequest"], true);
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], true);
    // The handler's stdout (INFO lines) stays out of Application Insights; its stderr
    // (warnings and errors) is kept, and traces are never sampled away.
    let logging = &host["logging"];
    assert_eq!(logging["logLevel"]["Host.Function.Console"], "Warning");
    let excluded = logging["applicationInsights"]["samplingSettings"]["excludedTypes"]
        .as_str()
        .unwrap();
    assert!(excluded.split(';').any(|t| t == "Trace"), "{excluded}");
    assert_eq!(host["extensionBundle"]["version"], "[4.*, 5.0.0)");
    assert_eq!(
        format!(
            "/{}",
            host["extensions"]["http"]["routePrefix"].as_str().unwrap()
        ),
        ROUTE_PREFIX
    );
    // Spilled messages are base64 text already: the host must pass them through untouched.
    assert_eq!(host["extensions"]["queues"]["messageEncoding"], "none");
    // `drain` holds a message on the try the host would otherwise poison it after.
    assert_eq!(
        host["extensions"]["queues"]["maxDequeueCount"],
        webhook_ingest::drain::MAX_DEQUEUE_COUNT
    );
    // Cargo builds the binary the host starts under the name host.json gives.
    assert!(Path::new(env!("CARGO_BIN_EXE_handler")).ends_with("handler"));
}

#[test]
fn the_function_folders_and_the_route_table_name_the_same_functions() {
    let folders: BTreeSet<String> = functions().into_iter().map(|f| f.name).collect();
    let mut served: BTreeSet<String> = WEBHOOK_FUNCTIONS
        .iter()
        .map(|(n, _, _)| n.to_string())
        .collect();
    served.extend([HEALTH_FUNCTION.to_owned(), DRAIN_FUNCTION.to_owned()]);
    assert_eq!(folders, served);
    for function in functions() {
        // Only a function whose request proves itself without a function key is anonymous.
        let entra_only = WEBHOOK_FUNCTIONS
            .iter()
            .any(|(name, _, gate)| *name == function.name && *gate == Gate::EntraToken);
        let expected = match function.name.as_str() {
            HEALTH_FUNCTION => Some("anonymous"),
            DRAIN_FUNCTION => None,
            _ if entra_only => Some("anonymous"),
            _ => Some("function"),
        };
        assert_eq!(
            function.auth_level.as_deref(),
            expected,
            "{}",
            function.name
        );
    }
}

#[test]
fn drain_listens_on_the_spill_queue_of_the_host_storage() {
    let drain = functions()
        .into_iter()
        .find(|f| f.name == DRAIN_FUNCTION)
        .unwrap();
    let trigger = &drain.bindings[0];
    assert_eq!(drain.bindings.len(), 1);
    assert_eq!(trigger["type"], "queueTrigger");
    assert_eq!(trigger["name"], BINDING);
    assert_eq!(trigger["queueName"], DEFAULT_QUEUE);
    assert_eq!(trigger["connection"], "AzureWebJobsStorage");
}

#[actix_web::test]
async fn every_declared_route_is_served_with_its_methods_and_only_those() {
    let app = spawn_app().await;
    for function in functions() {
        let url = format!("{}{}", app.address, function.path);
        for method in ["GET", "HEAD", "POST", "PUT", "DELETE"] {
            let request = app.client.request(method.parse().unwrap(), &url).body("{}");
            let answer = answer(request.send().await.unwrap()).await;
            if function.methods.iter().any(|m| m == method) {
                assert!(
                    ![404, 405].contains(&answer.status),
                    "{method} {url}: {}",
                    answer.status
                );
                // A HEAD answer has headers only.
                assert!(
                    method == "HEAD" || answer.json.is_object(),
                    "{method} {url} answers JSON"
                );
            } else {
                assert_eq!(answer.status, 405, "{method} {url}");
            }
        }
    }
}

#[actix_web::test]
async fn health_answers_with_the_destination_and_unknown_paths_are_404_json() {
    let app = spawn_app().await;
    let health = app.get("/api/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json["destination"], "data_collector");
    assert_eq!(health.json["version"], env!("CARGO_PKG_VERSION"));
    let probe = app
        .client
        .head(format!("{}/api/health", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200, "uptime probes use HEAD");
    let missing = app.get("/api/nothing").await;
    assert_eq!(missing.status, 404);
    let error = missing.json["error"].as_str().unwrap();
    assert!(error.contains("/api/nothing"), "{error}");
    // Every HTTP function (the queue-triggered drain is not one a sender can call).
    for function in functions()
        .iter()
        .filter(|f| f.path.starts_with(ROUTE_PREFIX))
    {
        assert!(
            error.contains(&function.path),
            "{error} lacks {}",
            function.path
        );
    }
}

#[actix_web::test]
async fn paths_match_without_regard_to_case_as_behind_the_host_and_the_query_keeps_its_case() {
    let app = spawn_app_with(&[("AZURE_MONITOR_TOKENS", "Token-With-Case")]).await;
    let health = app.get("/API/Health").await;
    assert_eq!(health.status, 200);
    let body = crate::helpers::fixture("stackstate-open.json");
    let token = crate::helpers::STACKSTATE_TOKEN;
    let answer = app
        .post(
            "/api/StackState",
            &body,
            &[("X-StackState-Webhook-Token", token)],
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    let azure = crate::helpers::fixture("azure-common-alert-metric.json");
    let right = app
        .post("/api/AzureMonitor?tokenid=Token-With-Case", &azure, &[])
        .await;
    assert_eq!(right.status, 200, "{:?}", right.json);
    let lowered = app
        .post("/api/AzureMonitor?tokenid=token-with-case", &azure, &[])
        .await;
    assert_eq!(
        lowered.status, 401,
        "the query keeps its case: {:?}",
        lowered.json
    );
}
