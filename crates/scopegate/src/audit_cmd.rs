//! `scopegate audit`: the newest entries of the audit trail (issuance,
//! refresh, reuse, revocation, refusal, sign-in, consent), oldest first.

use std::path::PathBuf;
use std::process::ExitCode;

use scopegate_store::{AuditEvent, Store};

use crate::policy_file::load_or_report;
use crate::store_cmd::{open, runtime};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    /// How many of the newest entries to show.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    limit: i64,
    /// One JSON array instead of lines.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(&args.config)?;
    let mut events = runtime()?.block_on(async {
        {
            let store = open(&policy).await?;
            Ok::<_, anyhow::Error>(store.audit_log(args.limit).await?)
        }
    })?;
    events.reverse();
    if args.json {
        let rows: Vec<_> = events
            .iter()
            .map(|e| {
                serde_json::json!({
                    "at": e.at,
                    "time": utc(e.at),
                    "event": e.event,
                    "client_id": e.client_id,
                    "subject": e.subject,
                    "detail": e.detail,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        for e in &events {
            println!("{}", line(e));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn line(e: &AuditEvent) -> String {
    let mut out = format!("{}  {:<9}", utc(e.at), e.event);
    if let Some(client) = &e.client_id {
        out.push_str(&format!("  client={client}"));
    }
    if let Some(subject) = &e.subject {
        out.push_str(&format!("  subject={subject}"));
    }
    if !e.detail.is_empty() {
        out.push_str(&format!("  {}", e.detail));
    }
    out
}

/// `unix` seconds as RFC 3339 UTC (`2026-11-23T22:47:15Z`).
pub(crate) fn utc(unix: i64) -> String {
    let t = scopegate_core::timestamp::Utc::from_unix(unix);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn unix_seconds_print_as_rfc3339_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_800_000_000), "2027-01-15T08:00:00Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59Z");
    }
}
