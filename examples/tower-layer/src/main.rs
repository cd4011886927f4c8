//! An app-analytics API that enforces scopegate's policy in-process with
//! `scopegate-layer`: no gateway in front, the same decisions.
//!
//! ```sh
//! cargo run -p scopegate -- serve --config examples/app-analytics/scopegate.toml &   # the token server
//! # an app whose keys this API uses for introspection (any confidential app will do):
//! cargo run -q -p scopegate -- app create --config examples/app-analytics/scopegate.toml \
//!     --name analytics-api --env production --scopes account:read --resource-server
//! INTROSPECT_ID=sgci_… INTROSPECT_SECRET=sgcs_… cargo run -p scopegate-example-tower-layer
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9100/account/settings
//! ```

use std::process::ExitCode;

use axum::Extension;
use axum::routing::{get, put};
use scopegate_layer::{Identity, ScopegateLayer};

const POLICY: &str = "examples/app-analytics/scopegate.toml";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("analytics-api: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var("POLICY").unwrap_or_else(|_| POLICY.to_owned());
    let policy = scopegate_core::Policy::compile(&path, &std::fs::read_to_string(&path)?)?;
    let issuer = policy.settings.issuer.trim_end_matches('/').to_owned();
    let mut layer = ScopegateLayer::builder(policy).jwks(&format!("{issuer}/oauth2/jwks"))?;
    if let (Ok(id), Ok(secret)) = (std::env::var("INTROSPECT_ID"), std::env::var("INTROSPECT_SECRET")) {
        layer = layer.introspection(&format!("{issuer}/oauth2/introspect"), &id, &secret)?;
    }
    let app = router().layer(layer.build());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:9100".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("analytics-api listening on http://{listen}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// The API's own routes; which caller may reach which is the policy's business.
pub fn router() -> axum::Router {
    axum::Router::new()
        .route("/", get(|| async { "analytics API\n" }))
        .route("/account/{*rest}", get(account))
        .route("/products/{product_id}", put(product))
}

async fn account(Extension(who): Extension<Identity>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"account_of": who.client_id, "scopes": who.scopes}))
}

async fn product(
    Extension(who): Extension<Identity>,
    axum::extract::Path(product_id): axum::extract::Path<String>,
) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"product": product_id, "changed_by": who.client_id}))
}
