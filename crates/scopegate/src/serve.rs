//! `scopegate serve`: the authorization server, gateway and forward-auth
//! endpoint on `listen`, with policy hot reload.

use scopegate_service::AuditKind;
use scopegate_store::Store;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use std::net::SocketAddr;

use scopegate_core::LogFormat;
use scopegate_server::{AppState, router, state::system_clock};
use tracing_subscriber::EnvFilter;

use crate::policy_file::load_or_report;
use crate::reload;
use crate::scheduling::{self, CpuScheduling};
use crate::store_cmd::open;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The policy file.
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    /// Listen here instead of the policy's `listen` (e.g. 127.0.0.1:0 for any free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Worker threads, each serving its own connections (default: one per CPU).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// How the log is written: `text` lines for people or `json` objects,
    /// one per line, for log pipelines (default: the policy's `log_format`,
    /// else `text`).
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Send a span per gateway and forward-auth decision to this OTLP/HTTP
    /// collector (e.g. http://127.0.0.1:4318); needs a build with `--features otel`.
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// How Linux schedules the worker threads: `batch` (SCHED_BATCH: a woken
    /// worker does not preempt the task running, so a busy box wakes it less
    /// often) or `other` (the kernel's default).
    #[arg(long, value_name = "POLICY", value_enum, default_value_t)]
    cpu_scheduling: CpuScheduling,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    // Read first, for its `log_format`; its problems go to stderr as they
    // do for every command.
    let policy = Arc::new(load_or_report(&args.config)?);
    let format = match args.log_format.as_deref() {
        Some(flag) => LogFormat::parse(flag).unwrap_or_default(),
        None => policy.settings.log_format,
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(crate::log_writer::Stderr);
    match format {
        LogFormat::Json => logs.with_ansi(false).event_format(crate::log_json::JsonFormat).init(),
        LogFormat::Text => logs
            // Colours for a person at a terminal only: escape codes in a log
            // file are noise to whoever reads it, and cost 2% of a decision.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            // The same lines, written faster (see log_format).
            .event_format(crate::log_format::LineFormat::default())
            .init(),
    }
    let traces = args.otlp_endpoint.as_deref().map(crate::otel::start).transpose()?;
    let threads = args.threads.map_or_else(default_workers, usize::from);
    // The control runtime owns the store, the writer, reload and signals; each
    // worker thread serves its own listener on its own runtime (below).
    let served = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let addr = args.listen.unwrap_or(policy.settings.listen);
            let listeners = bind(addr, threads).with_context(|| format!("cannot listen on {addr}"))?;
            let local = listeners[0].local_addr()?;
            {
                let store = open(&policy).await?;
                let clock = system_clock();
                let kek = scopegate_service::credentials::sealing::KeyEncryptionKey::from_env()?.map(Arc::new);
                let keys = scopegate_service::credentials::keys::Keys::load_or_create(
                    &store,
                    clock(),
                    policy.settings.tokens.algorithm,
                    kek,
                )
                .await?;
                let schema = store.schema_version().await?;
                let state = AppState::new(Arc::clone(&policy), store, clock, Arc::new(keys));
                state.audit(
                    AuditKind::ServerStarted,
                    None,
                    None,
                    format!(
                        "version {}, database schema {schema}, listening on {local}",
                        env!("CARGO_PKG_VERSION")
                    ),
                );
                let (notices, notices_rx) = tokio::sync::mpsc::unbounded_channel();
                scopegate_server::background::changes::follow(state.clone(), Some(notices)).await?;
                reload::spawn(args.config.clone(), state.clone(), notices_rx);
                scopegate_server::background::retention::spawn(state.clone());
                // One line that scripts (and the tests) wait for; a JSON
                // object like every other line under `--log-format json`.
                let database = scopegate_store::redacted(&policy.settings.database);
                let listening = format!(
                    "scopegate listening on http://{local} (issuer {}, database {database})",
                    policy.settings.issuer,
                );
                match format {
                    LogFormat::Text => println!("{listening}"),
                    LogFormat::Json => println!(
                        "{}",
                        crate::log_json::line(
                            "INFO",
                            &listening,
                            &[
                                ("address", &format!("http://{local}")),
                                ("issuer", &policy.settings.issuer),
                                ("database", &database),
                            ],
                        )
                    ),
                }
                serve_workers(state, listeners, args.cpu_scheduling).await?;
            };
            Ok(ExitCode::SUCCESS)
        });
    // Outside the runtime: the exporter's HTTP client blocks.
    if let Some(traces) = traces {
        traces.shutdown();
    }
    served
}

/// One worker per CPU, as nginx's `worker_processes auto`. A worker owns its
/// connections (no work stealing), and the store's and control threads are
/// mostly idle on the request path, so a CPU left to them sits idle instead:
/// on a 2-CPU box two workers proxied 8 to 11% more requests than one,
/// against nginx's `proxy_pass` in the same runs (medians of 12 and 9 runs),
/// with a p99 still below nginx's (interleaved runs of `bench/gateway/run.sh`).
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// One listening socket per worker, all on the same address (`SO_REUSEPORT`),
/// so the kernel spreads connections and a connection never changes thread.
fn bind(addr: SocketAddr, workers: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut listeners = Vec::with_capacity(workers);
    let mut at = addr;
    for _ in 0..workers {
        let socket = if at.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        #[cfg(unix)]
        socket.set_reuseport(workers > 1)?;
        socket.set_nodelay(true)?;
        socket.bind(at)?;
        let listener = socket.listen(4096)?;
        // With port 0, every further socket joins the port the first one got.
        at = listener.local_addr()?;
        listeners.push(listener.into_std()?);
    }
    Ok(listeners)
}

/// Thread-per-core serving: each worker runs a single-threaded runtime with
/// its own listener and its own upstream connection pool, so a proxied
/// request is handled start to end on one thread with no cross-thread
/// wake-ups. Shared state (policy generation, caches, store) is `Arc`ed.
async fn serve_workers(
    state: AppState,
    listeners: Vec<std::net::TcpListener>,
    cpu_scheduling: CpuScheduling,
) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::with_capacity(listeners.len());
    for (index, listener) in listeners.into_iter().enumerate() {
        let state = state.clone();
        let mut stopped = stopped.clone();
        let worker = std::thread::Builder::new()
            .name(format!("scopegate-worker-{index}"))
            .spawn(move || -> anyhow::Result<()> {
                scopegate_service::worker::set(index);
                if let Err(why) = scheduling::apply_to_this_thread(cpu_scheduling)
                    && index == 0
                {
                    tracing::warn!(%why, "the worker threads keep the system's CPU scheduling");
                }
                crate::log_writer::gather_on_this_thread();
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .on_thread_park(crate::log_writer::flush_this_thread_when_due)
                    .build()?
                    .block_on(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        let flusher = tokio::spawn(crate::log_writer::flush_periodically());
                        let idle_timeout = state.policy.settings.gateway.idle_timeout;
                        let stop = async move {
                            let _ = stopped.wait_for(|stop| *stop).await;
                        };
                        scopegate_server::listener::serve(listener, state.clone(), router(state), idle_timeout, stop)
                            .await;
                        flusher.abort();
                        Ok::<_, anyhow::Error>(())
                    });
                crate::log_writer::flush_this_thread();
                served
            })?;
        workers.push(worker);
    }
    shutdown().await;
    let _ = stop.send(true);
    // Let workers finish their requests without blocking this runtime, which
    // still drives the store and the writer they may be waiting on.
    let joined = tokio::task::spawn_blocking(move || {
        for worker in workers {
            match worker.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "a worker stopped with an error"),
                Err(_) => tracing::error!("a worker panicked"),
            }
        }
    });
    if tokio::time::timeout(SHUTDOWN_GRACE, joined).await.is_err() {
        tracing::warn!(
            seconds = SHUTDOWN_GRACE.as_secs(),
            "requests still in flight after the shutdown grace period are cut off"
        );
    }
    if !state
        .writer
        .flush(state.audit_event(AuditKind::ServerStopped, None, None, String::new()))
        .await
    {
        tracing::error!("the last audit events could not be written before exit");
    }
    tracing::info!("stopped");
    Ok(())
}

/// How long a stopping server lets requests in flight finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

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
