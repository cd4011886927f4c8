//! `serve --log-format json`: one JSON object per line, for log pipelines.
//! Every event (each decision, each audit event) carries `time` (RFC 3339,
//! UTC, microseconds), `level`, `target`, `message` and each of its fields
//! under its own name: strings as strings, numbers and booleans as such,
//! anything else as the text it displays.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Default)]
pub(crate) struct JsonFormat;

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"time\":\"")?;
        write_time(&mut writer)?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(meta.level().as_str())?;
        writer.write_str("\",\"target\":")?;
        write_string(&mut writer, meta.target())?;
        let mut fields = Fields {
            writer: writer.by_ref(),
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str("}\n")
    }
}

/// One line in this format written outside `tracing` (the line `serve`
/// prints on stdout once it listens): `message` and string `fields`.
pub(crate) fn line(level: &str, message: &str, fields: &[(&str, &str)]) -> String {
    let mut out = String::from("{\"time\":\"");
    let _ = write_time(&mut out);
    let _ = write!(out, "\",\"level\":\"{level}\",\"target\":\"scopegate\",\"message\":");
    let _ = write_string(&mut out, message);
    for (name, value) in fields {
        out.push(',');
        let _ = write_string(&mut out, name);
        out.push(':');
        let _ = write_string(&mut out, value);
    }
    out.push('}');
    out
}

/// `2026-12-01T23:05:01.123456Z`.
fn write_time(writer: &mut impl fmt::Write) -> fmt::Result {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let text = crate::audit_cmd::utc(seconds);
    let whole = text.strip_suffix('Z').unwrap_or(&text);
    write!(writer, "{whole}.{:06}Z", now.subsec_micros())
}

/// A JSON string (RFC 8259 section 7): quotes, backslashes and control
/// characters escaped, everything else as it is.
fn write_string(writer: &mut impl fmt::Write, value: &str) -> fmt::Result {
    writer.write_char('"')?;
    let mut plain_from = 0;
    for (i, b) in value.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        writer.write_str(&value[plain_from..i])?;
        if escaped.is_empty() {
            write!(writer, "\\u{b:04x}")?;
        } else {
            writer.write_str(escaped)?;
        }
        plain_from = i + 1;
    }
    writer.write_str(&value[plain_from..])?;
    writer.write_char('"')
}

struct Fields<'w> {
    writer: Writer<'w>,
    result: fmt::Result,
}

impl Fields<'_> {
    fn field(&mut self, field: &Field, write_value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // `r#type` is written `type`; a `log` record's own metadata fields
        // are already in `target` and `level`.
        if name.starts_with("log.") {
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = (|| {
            self.writer.write_char(',')?;
            write_string(&mut self.writer, name)?;
            self.writer.write_char(':')?;
            write_value(&mut self.writer)
        })();
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |w| write_string(w, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.field(field, |w| write!(w, "{value}"));
        } else {
            self.field(field, |w| write_string(w, &value.to_string()));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, |w| write_string(w, &value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here too, as their `Display`.
        self.field(field, |w| write_string(w, &format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::captured_log::Captured;

    use super::{JsonFormat, write_string};

    fn lines_of(log: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .event_format(JsonFormat)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let text = captured.text();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn json_log_lines_are_one_object_each_with_every_field_as_its_value() {
        let client: Option<&str> = Some("sgci_1");
        let nobody: Option<&str> = None;
        let lines = lines_of(|| {
            tracing::info!(event = "token_issued", client_id = client, subject = nobody, status = 200u16, allowed = true, detail = %"a \"quoted\"\nline", "audit");
            tracing::warn!(error = %std::io::Error::other("down"), "store failure");
        });
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["target"], "scopegate::log_json::tests");
        assert_eq!(first["message"], "audit");
        assert_eq!(first["event"], "token_issued");
        assert_eq!(first["client_id"], "sgci_1", "a value, not Some(\"…\")");
        assert!(first.get("subject").is_none(), "an absent value is left out");
        assert_eq!(first["status"], 200);
        assert_eq!(first["allowed"], true);
        assert_eq!(first["detail"], "a \"quoted\"\nline");
        let time = first["time"].as_str().unwrap();
        assert_eq!(time.len(), "2026-12-01T23:05:01.123456Z".len(), "{time}");
        assert!(time.ends_with('Z'));
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["error"], "down");
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut out = String::new();
        write_string(&mut out, "a\u{1}b\tc\u{7f}é").unwrap();
        assert_eq!(out, "\"a\\u0001b\\tc\u{7f}é\"");
        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), "a\u{1}b\tc\u{7f}é");
    }
}
