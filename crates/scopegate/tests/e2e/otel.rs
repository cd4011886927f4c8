//! `serve --otlp-endpoint`: a span per decision, with its route and outcome,
//! reaches an OTLP/HTTP collector (here a stand-in that keeps what it is
//! sent). Built only with `--features otel`; without it the flag is refused
//! with the way to get it.

fn policy_dir(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("scopegate-otel-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source =
        std::fs::read_to_string(crate::workspace_root().join("examples/app-analytics/scopegate.toml")).unwrap();
    let config = dir.join("scopegate.toml");
    std::fs::write(
        &config,
        source.replace(
            "sqlite://scopegate.db",
            &format!("sqlite://{}/scopegate.db", dir.display()),
        ),
    )
    .unwrap();
    (dir, config)
}

#[cfg(not(feature = "otel"))]
#[test]
fn otlp_endpoint_without_the_otel_feature_says_how_to_get_it() {
    let (dir, config) = policy_dir("off");
    let o = crate::scopegate(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--otlp-endpoint",
        "http://127.0.0.1:4318",
    ]);
    assert!(!o.status.success());
    assert!(crate::stderr(&o).contains("--features otel"), "{}", crate::stderr(&o));
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(feature = "otel")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_decision_is_a_span_with_its_route_and_outcome_sent_over_otlp() {
    use std::process::Stdio;
    use std::sync::{Arc, Mutex};

    use crate::server::http;
    let received: Arc<Mutex<Vec<u8>>> = Arc::default();
    let keep = Arc::clone(&received);
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let keep = Arc::clone(&keep);
            async move {
                keep.lock().unwrap().extend_from_slice(&body);
                ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let (dir, config) = policy_dir("on");
    let (mut child, base) = crate::server::serve_with(&config, &["--otlp-endpoint", &endpoint], "warn", Stdio::null());
    let (id, secret) = crate::server::create_app(&config, "Traced", "account:read");
    let (id, secret) = (id.as_str(), secret.as_str());
    let allowed = http()
        .get(format!("{base}/account/x"))
        .basic_auth(id, Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let refused = http()
        .put(format!("{base}/products/1"))
        .basic_auth(id, Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    // SIGTERM flushes the batch.
    crate::terminate(child.id());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    // Protobuf keeps strings as they are: the attributes can be read in the bytes.
    let bytes = received.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&bytes);
    for expected in [
        "scopegate",
        "http.route",
        "GET /account/*",
        "PUT /products/{product_id}",
        "scopegate.outcome",
        "allow",
        "insufficient_scope",
        id,
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not in what the collector got ({} bytes)",
            bytes.len()
        );
    }
    assert!(!text.contains(secret), "no secret in a span");
    let _ = std::fs::remove_dir_all(dir);
}
