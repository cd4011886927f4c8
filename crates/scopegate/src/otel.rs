//! `serve --otlp-endpoint URL`: OpenTelemetry traces over OTLP/HTTP
//! (protobuf), batched on a thread of their own, flushed at shutdown. Only
//! with the `otel` cargo feature; without it the flag is refused with the
//! way to get it.

/// What shuts the exporter down (flushing what it holds).
#[derive(Debug)]
pub(crate) struct Traces {
    #[cfg(feature = "otel")]
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

#[cfg(feature = "otel")]
pub(crate) fn start(endpoint: &str) -> anyhow::Result<Traces> {
    use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
    let url = if endpoint.ends_with("/v1/traces") {
        endpoint.to_owned()
    } else {
        format!("{}/v1/traces", endpoint.trim_end_matches('/'))
    };
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.as_str())
        .build()
        .map_err(|e| anyhow::anyhow!("--otlp-endpoint {endpoint}: {e}"))?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("scopegate")
                .build(),
        )
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    scopegate_server::http::traces::enable();
    tracing::info!(endpoint = %url, "sending a span per decision over OTLP");
    Ok(Traces { provider })
}

#[cfg(not(feature = "otel"))]
pub(crate) fn start(_endpoint: &str) -> anyhow::Result<Traces> {
    anyhow::bail!(
        "--otlp-endpoint: this scopegate was built without OpenTelemetry; build it with `cargo build --release -p scopegate --features otel`"
    )
}

impl Traces {
    /// Sends what is still batched.
    pub(crate) fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "the last spans could not be sent");
        }
    }
}
