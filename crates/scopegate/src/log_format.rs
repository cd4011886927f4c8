//! The format of `serve`'s log lines: byte for byte tracing-subscriber's
//! default ("full") format, written without `core::fmt` for the common line
//! (every decision is one): no colours, no span, string fields of plain
//! characters. Through the default formatter that line took one sixth of a
//! proxied request's instructions, most of them quoting strings one `char`
//! at a time and painting names with empty styles. Any other line (colours
//! at a terminal, spans, a `log` record, a message) goes to the default
//! formatter, and so does any field that is not a plain string.

use std::cell::RefCell;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::VisitOutput;
use tracing_subscriber::fmt::format::{DefaultVisitor, Format, Full, Writer};
use tracing_subscriber::fmt::time::SystemTime as DefaultTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Default)]
pub(crate) struct LineFormat {
    full: Format<Full, DefaultTime>,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        // A `log` record's real target is in its fields: the default
        // formatter knows how to read it.
        if writer.has_ansi_escapes() || meta.name() == "log event" || ctx.event_scope().is_some() {
            return self.full.format_event(ctx, writer, event);
        }
        write_timestamp(&mut writer)?;
        writer.write_str(match *meta.level() {
            Level::TRACE => "TRACE ",
            Level::DEBUG => "DEBUG ",
            Level::INFO => " INFO ",
            Level::WARN => " WARN ",
            Level::ERROR => "ERROR ",
        })?;
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        let mut fields = Fields {
            writer: writer.by_ref(),
            is_empty: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// `2026-11-24T01:06:08.775312Z `, as the default timer writes it; the part
/// up to the second is formatted once a second per thread.
fn write_timestamp(writer: &mut Writer<'_>) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return write_default_timestamp(writer);
    };
    let secs = now.as_secs();
    let micros = now.subsec_micros();
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != secs {
            let Ok(unix) = i64::try_from(secs) else {
                return write_default_timestamp(writer);
            };
            let mut text = crate::audit_cmd::utc(unix);
            // Years past 9999 print otherwise; the default timer knows how.
            if text.len() != "2026-11-24T01:06:08Z".len() {
                return write_default_timestamp(writer);
            }
            text.pop(); // the `Z`, which follows the fraction
            *second = (secs, text);
        }
        writer.write_str(&second.1)?;
        let mut digits = *b".000000Z ";
        let mut rest = micros;
        for digit in digits[1..7].iter_mut().rev() {
            // `rest % 10` is a single decimal digit.
            *digit = b'0' + u8::try_from(rest % 10).unwrap_or(0);
            rest /= 10;
        }
        // Only ASCII digits and punctuation were written above.
        writer.write_str(std::str::from_utf8(&digits).unwrap_or(".000000Z "))
    })
}

/// The default timer's own output, for the times the fast path leaves to it.
fn write_default_timestamp(writer: &mut Writer<'_>) -> fmt::Result {
    use tracing_subscriber::fmt::time::FormatTime;
    if DefaultTime.format_time(writer).is_err() {
        writer.write_str("<unknown time>")?;
    }
    writer.write_char(' ')
}

/// Writes `name="value"` for plain strings itself and hands every other
/// field to the default visitor, which writes it as it always has.
struct Fields<'w> {
    writer: Writer<'w>,
    is_empty: bool,
    result: fmt::Result,
}

impl Fields<'_> {
    fn default_visitor(&mut self) -> DefaultVisitor<'_> {
        let visitor = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        self.is_empty = false;
        visitor
    }

    fn plain(&mut self, name: &str, value: &str) -> fmt::Result {
        if !self.is_empty {
            self.writer.write_char(' ')?;
        }
        self.is_empty = false;
        self.writer.write_str(name)?;
        self.writer.write_str("=\"")?;
        self.writer.write_str(value)?;
        self.writer.write_char('"')
    }
}

/// Characters `str`'s `Debug` writes as they are, as a table (a decision
/// line has six string fields).
static PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = b' ';
    while b <= b'~' {
        table[b as usize] = b != b'"' && b != b'\\';
        b += 1;
    }
    table
};

fn is_plain(value: &str) -> bool {
    value.bytes().all(|b| PLAIN[usize::from(b)])
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // The default visitor treats these names specially.
        if name != "message" && !name.starts_with("r#") && !name.starts_with("log.") && is_plain(value) {
            self.result = self.plain(name, value);
        } else {
            let mut visitor = self.default_visitor();
            visitor.record_str(field, value);
            self.result = visitor.finish();
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() {
            return;
        }
        let mut visitor = self.default_visitor();
        visitor.record_error(field, value);
        self.result = visitor.finish();
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let mut visitor = self.default_visitor();
        visitor.record_debug(field, value);
        self.result = visitor.finish();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io;

    use crate::captured_log::Captured;

    use super::LineFormat;

    /// Every kind of line `serve` writes, through `subscriber`.
    fn lines(subscriber: impl tracing::Subscriber + Send + Sync) {
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                target: "scopegate::decision",
                method = "GET",
                path = "/data.json",
                route = "GET /data.json",
                outcome = "allow",
                client_id = "sgci_abc",
                reason = "account:read"
            );
            tracing::info!(target: "scopegate::decision", path = "/caf\u{e9}/\"quoted\"\\ \t", outcome = "deny");
            tracing::warn!(error = %io::Error::other("boom"), upstream = "http://127.0.0.1:1", "upstream request failed");
            tracing::error!(count = 3, ok = true, ratio = 0.5, "numbers");
            tracing::info!("a message only");
            tracing::debug!(r#type = "raw", "raw identifier");
            tracing::info!(empty = "");
        });
    }

    fn strip_times(text: &str) -> Vec<String> {
        // Timestamps differ by the microsecond between the two runs.
        text.lines().map(|l| l.split_once(' ').unwrap().1.to_owned()).collect()
    }

    #[test]
    fn log_lines_are_the_default_format_byte_for_byte() {
        let ours = Captured::default();
        let theirs = Captured::default();
        lines(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(ours.clone())
                .event_format(LineFormat::default())
                .finish(),
        );
        lines(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(theirs.clone())
                .finish(),
        );
        let ours = ours.text();
        let theirs = theirs.text();
        assert_eq!(strip_times(&ours), strip_times(&theirs));
        assert_eq!(ours.lines().count(), 7, "{ours}");
        // Same shape of timestamp: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
        for (a, b) in ours.lines().zip(theirs.lines()) {
            let (a, b) = (a.split_once(' ').unwrap().0, b.split_once(' ').unwrap().0);
            assert_eq!(a.len(), 27, "{a}");
            assert_eq!(a.len(), b.len());
            let shape = |t: &str| {
                t.bytes()
                    .map(|c| if c.is_ascii_digit() { b'0' } else { c })
                    .collect::<Vec<_>>()
            };
            assert_eq!(shape(a), b"0000-00-00T00:00:00.000000Z", "{a}");
            assert_eq!(shape(b), shape(a), "{b}");
        }
    }
}
