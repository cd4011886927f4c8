//! OpenTelemetry spans, one per gateway and forward-auth decision, with the
//! route and the outcome as attributes. Compiled in with the `otel` feature
//! and sent only once `serve --otlp-endpoint` has installed an exporter
//! ([`enable`]); otherwise a decision pays one relaxed atomic load.

#[cfg(feature = "otel")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[cfg(feature = "otel")]
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Starts making spans (the global tracer provider is installed).
#[cfg(feature = "otel")]
pub fn enable() {
    ENABLED.store(true, Ordering::Release);
}

/// One decision as a span from `started` to now: `http.request.method`,
/// `url.path` (never the query), `http.route`, `scopegate.outcome`, and the
/// client id and reason when there are.
#[cfg(feature = "otel")]
pub fn decision(
    method: &str,
    path: &str,
    route: &str,
    outcome: &str,
    client_id: Option<&str>,
    why: Option<&str>,
    started: Instant,
) {
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{Span, SpanKind, Tracer};
    if !ENABLED.load(Ordering::Acquire) {
        return;
    }
    let start = std::time::SystemTime::now()
        .checked_sub(started.elapsed())
        .unwrap_or_else(std::time::SystemTime::now);
    let mut attributes = vec![
        KeyValue::new("http.request.method", method.to_owned()),
        KeyValue::new("url.path", path.to_owned()),
        KeyValue::new("http.route", route.to_owned()),
        KeyValue::new("scopegate.outcome", outcome.to_owned()),
    ];
    if let Some(client_id) = client_id {
        attributes.push(KeyValue::new("scopegate.client_id", client_id.to_owned()));
    }
    if let Some(why) = why {
        attributes.push(KeyValue::new("scopegate.reason", why.to_owned()));
    }
    let tracer = opentelemetry::global::tracer("scopegate");
    let mut span = tracer
        .span_builder(format!("{method} {route}"))
        .with_kind(SpanKind::Server)
        .with_start_time(start)
        .with_attributes(attributes)
        .start(&tracer);
    span.end();
}

#[cfg(not(feature = "otel"))]
#[inline(always)]
pub fn decision(_: &str, _: &str, _: &str, _: &str, _: Option<&str>, _: Option<&str>, _: Instant) {}
