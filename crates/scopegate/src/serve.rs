//! `scopegate serve`: the authorization server, gateway and forward-auth
//! endpoint on `listen`, with policy hot reload.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use scopegate_server::{AppState, router, state::system_clock};
use tracing_subscriber::EnvFilter;

use crate::policy_file::load_or_report;
use crate::reload;
use crate::store_cmd::with_store;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The policy file.
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    /// Listen here instead of the policy's `listen` (e.g. 127.0.0.1:0 for any free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Worker threads for request handling (default: one per CPU).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let policy = Arc::new(load_or_report(&args.config)?);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        builder.worker_threads(usize::from(n));
    }
    builder.enable_all().build()?.block_on(async {
        let addr = args.listen.unwrap_or(policy.settings.listen);
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        with_store!(policy, store => {
            let clock = system_clock();
            let keys = scopegate_server::keys::Keys::load_or_create(&store, clock()).await?;
            let state = AppState::new(Arc::clone(&policy), store, clock, Arc::new(keys));
            reload::spawn(args.config.clone(), state.clone());
            let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
            // One line that scripts (and the tests) wait for.
            println!("scopegate listening on http://{local} (issuer {}, database {})", policy.settings.issuer, policy.settings.database);
            axum::serve(listener, app).with_graceful_shutdown(shutdown()).await?;
        });
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
