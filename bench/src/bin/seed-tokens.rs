//! Fills a scopegate database with live access tokens of one client, as the
//! token endpoint stores them, for the growth curves of `bench/run`:
//! `seed-tokens DATABASE_URL CLIENT_ID COUNT SAMPLE_FILE SAMPLE` stores COUNT
//! tokens and writes SAMPLE of them (spread over the whole set) to SAMPLE_FILE.

// A benchmark fixture that cannot be made should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use scopegate_service::credentials::secrets::{self, SecretKind};
use scopegate_store::{PgStore, SqliteStore, Store, TokenKind, TokenRecord};

const BATCH: usize = 1_000;

async fn seed<S: Store>(store: S, client_id: &str, count: usize, sample: usize) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let every = (count / sample.max(1)).max(1);
    let mut kept = Vec::with_capacity(sample);
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        let mut batch = Vec::with_capacity(n);
        for i in 0..n {
            let token = secrets::generate(SecretKind::AccessToken);
            batch.push(TokenRecord {
                hash: secrets::hash(&token),
                kind: TokenKind::Access,
                grant_id: secrets::generate(SecretKind::GrantId),
                client_id: client_id.to_owned(),
                subject: None,
                grant_kind: "client_credentials".into(),
                scope: "account:read".into(),
                grant_scope: "account:read".into(),
                environment: "production".into(),
                granted_at: now,
                issued_at: now,
                expires_at: Some(now + 3_600),
                used: false,
                revoked: false,
                resource: None,
            });
            if (done + i) % every == 0 && kept.len() < sample {
                kept.push(token);
            }
        }
        store.insert_tokens(&batch).await.expect("insert tokens");
        done += n;
    }
    kept
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, client_id, count, out, sample] = args.as_slice() else {
        eprintln!("usage: seed-tokens DATABASE_URL CLIENT_ID COUNT SAMPLE_FILE SAMPLE");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("COUNT");
    let sample: usize = sample.parse().expect("SAMPLE");
    let kept = if url.starts_with("postgres") {
        seed(PgStore::connect(url).await.expect("connect"), client_id, count, sample).await
    } else {
        seed(SqliteStore::connect(url).await.expect("open"), client_id, count, sample).await
    };
    std::fs::write(out, kept.join("\n") + "\n").expect("write the sample");
}
