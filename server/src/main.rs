//! `pollpush-server`: the command line around [`pollpush_server::run`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use clap::builder::TypedValueParser;
use pollpush_server::Config;
use pollpush_server::config::{DEFAULT_PUSH_SEND_BUFFER, HttpConfig};
use pollpush_server::gateway::{FeedSpec, GatewayConfig, spec};

/// The pollpush server: the species REST API and WebSocket push of every change.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "POLLPUSH_ADDR", default_value = "127.0.0.1:5000")]
    addr: SocketAddr,
    /// The store: a SQLite file, `:memory:`, or `postgres://user@host:port/db`
    /// (PostgreSQL, shared by every node of a cluster).
    #[arg(long, env = "POLLPUSH_DB", default_value = "pollpush.db")]
    db: String,
    /// `redis://host:port`: the broker that carries changes and room
    /// broadcasts between nodes (needs a PostgreSQL `--db`).
    #[arg(long, env = "POLLPUSH_BROKER")]
    broker: Option<String>,
    /// Prefix of the broker's channels and keys; nodes of one cluster share it.
    #[arg(long, env = "POLLPUSH_BROKER_PREFIX", default_value = "pollpush:")]
    broker_prefix: String,
    /// This node's id in the cluster view (default: hostname:port).
    #[arg(long, env = "POLLPUSH_NODE_ID")]
    node_id: Option<String>,
    /// Browser origin allowed to call the REST API (repeatable; default: any).
    #[arg(
        long = "cors-origin",
        env = "POLLPUSH_CORS_ORIGIN",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Browser origin allowed to open /ws (repeatable; default: any).
    #[arg(
        long = "allowed-origin",
        env = "POLLPUSH_ALLOWED_ORIGIN",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// Simulated changes per second (0: none).
    #[arg(long, env = "POLLPUSH_SIMULATE", default_value_t = 0.0)]
    simulate: f64,
    /// Seed of the simulator, for reproducible runs.
    #[arg(long, env = "POLLPUSH_SEED")]
    seed: Option<u64>,
    /// Messages per second a WebSocket client may send before it is throttled.
    #[arg(long, env = "POLLPUSH_WS_MAX_RATE", default_value_t = 100)]
    ws_max_rate: u32,
    /// Folder of your own pages and assets to serve at `/`.
    #[arg(long = "static", env = "POLLPUSH_STATIC")]
    static_dir: Option<PathBuf>,
    /// Bearer token that POST, PUT, DELETE and WebSocket/socket.io broadcasts
    /// must present; reads and subscriptions stay open. Unset: anyone may write.
    #[arg(long, env = "POLLPUSH_WRITE_TOKEN", hide_env_values = true)]
    write_token: Option<String>,
    /// Largest request header section in bytes (at least 8192); larger gets 431.
    #[arg(long, env = "POLLPUSH_MAX_HEADER_BYTES", default_value_t = HttpConfig::default().max_header_bytes)]
    max_header_bytes: usize,
    /// Time a client has to send a request's whole header section.
    #[arg(long, env = "POLLPUSH_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    header_timeout: Duration,
    /// Idle keep-alive connections (no request in flight) are closed after this.
    #[arg(long, env = "POLLPUSH_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// SO_SNDBUF of push connections (/ws, SSE, socket.io), in bytes; 0 leaves the
    /// kernel's autotuning. Bounds what a client that stops reading holds in the kernel.
    #[arg(long, env = "POLLPUSH_SEND_BUFFER", default_value_t = DEFAULT_PUSH_SEND_BUFFER)]
    send_buffer: usize,
    /// Worker threads of the async runtime. Default: the CPUs this process
    /// may use, which counts a cgroup CPU quota (`cpu.max`: a container
    /// allowed 1.5 CPUs gets 1), never fewer than one.
    #[arg(long, env = "POLLPUSH_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Log lines on stderr: `text` for people (coloured on a terminal, unless
    /// NO_COLOR is set), `json` (one object per line) for log collectors.
    #[arg(long, env = "POLLPUSH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Serve HTTPS with this certificate chain (PEM); HTTP/2 is then chosen by ALPN.
    #[arg(long, env = "POLLPUSH_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "POLLPUSH_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate for localhost and 127.0.0.1 made at
    /// start; its PEM is written to a file named on stdout, for clients to trust.
    #[arg(long, conflicts_with = "tls_cert")]
    tls_self_signed: bool,
    /// HTTP/2 streams one connection may have open at once.
    #[arg(long, env = "POLLPUSH_H2_MAX_STREAMS", default_value_t = HttpConfig::default().max_streams_per_connection)]
    h2_max_streams: u32,
    #[command(flatten)]
    gateway: GatewayFlags,
}

/// The gateway: push for a REST API this server polls (see `gateway.rs`).
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Gateway (push for an API you don't control)")]
struct GatewayFlags {
    /// Poll URL and push its changes at /feeds/NAME (repeatable; NAME is
    /// 1 to 64 of a-z, 0-9, '_', '-'). The env variable takes a comma-separated list.
    #[arg(long = "feed", env = "POLLPUSH_FEEDS", value_delimiter = ',', value_name = "NAME=URL", value_parser = spec::parse_feed)]
    feeds: Vec<FeedSpec>,
    /// One poll of each feed per interval (longer after upstream faults).
    #[arg(long, env = "POLLPUSH_FEED_EVERY", default_value = "1s", value_parser = parse_duration)]
    feed_every: Duration,
    /// An upstream request that takes longer (body included) is a fault.
    #[arg(long, env = "POLLPUSH_FEED_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    feed_timeout: Duration,
    /// JSON pointer of the id in each element of an upstream array.
    #[arg(long, env = "POLLPUSH_FEED_ID_FIELD", default_value = "/id", value_parser = spec::parse_id_field)]
    feed_id_field: String,
    /// A header sent with every upstream request, 'Name: value' (repeatable).
    #[arg(long = "feed-header", value_name = "NAME: VALUE", value_parser = spec::parse_header)]
    feed_headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// PEM certificates trusted for https:// upstreams, besides the system's.
    #[arg(long, env = "POLLPUSH_FEED_CA_CERT")]
    feed_ca_cert: Option<PathBuf>,
    /// An upstream list with more items is refused (the feed keeps its last good items).
    #[arg(long, env = "POLLPUSH_FEED_MAX_ITEMS", default_value_t = GatewayConfig::default().max_items, value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    feed_max_items: usize,
    /// An upstream body larger than this many bytes is refused, read no further.
    #[arg(long, env = "POLLPUSH_FEED_MAX_BYTES", default_value_t = GatewayConfig::default().max_bytes, value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    feed_max_bytes: usize,
}

impl GatewayFlags {
    fn config(self) -> (Vec<FeedSpec>, GatewayConfig) {
        let config = GatewayConfig {
            every: self.feed_every,
            timeout: self.feed_timeout,
            id_field: self.feed_id_field,
            headers: self.feed_headers,
            ca_cert: self.feed_ca_cert,
            max_items: self.feed_max_items,
            max_bytes: self.feed_max_bytes,
        };
        (self.feeds, config)
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). Colour escapes
/// only reach a terminal: in a file or a pipe they are noise, and `NO_COLOR`
/// (no-color.org: set and not empty) turns them off everywhere.
fn init_logs(format: LogFormat) {
    use std::io::IsTerminal;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.with_ansi(false).json().init(),
        LogFormat::Text => logs
            .with_ansi(std::io::stderr().is_terminal() && !no_color)
            .init(),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be longer than 0s".to_owned()),
        Err(e) => Err(format!("{e} (try 500ms, 10s, 2m)")),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    let threads = cli.threads.map_or_else(default_threads, usize::from);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("pollpush-server: cannot start {threads} runtime threads: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

/// The CPUs this process may use: std reads the affinity mask and the
/// cgroup's CPU quota, so a container limited to fewer CPUs than the host has
/// does not get a thread per host CPU that its quota then throttles.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

async fn run(cli: Cli) -> std::process::ExitCode {
    // A certificate or key that cannot serve is the operator's to fix: one
    // line naming the file, and exit code 2 (as for a bad flag).
    let tls = match tls_config(&cli) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("pollpush-server: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match serve(cli, tls).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever RUST_BACKTRACE says: "cannot listen on …: Address already in use".
            eprintln!("pollpush-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The TLS configuration the flags ask for, if any. A self-signed
/// certificate is written beside the system's temporary files.
fn tls_config(cli: &Cli) -> Result<Option<TlsSetup>, pollpush_server::tls::TlsError> {
    if cli.tls_self_signed {
        let path = std::env::temp_dir().join(format!("pollpush-{}-cert.pem", std::process::id()));
        let config = pollpush_server::tls::self_signed(&path)?;
        return Ok(Some(TlsSetup {
            config,
            self_signed: Some(path),
        }));
    }
    match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(TlsSetup {
            config: pollpush_server::tls::from_pem_files(cert, key)?,
            self_signed: None,
        })),
        _ => Ok(None),
    }
}

struct TlsSetup {
    config: std::sync::Arc<rustls::ServerConfig>,
    /// Where the self-signed certificate was written.
    self_signed: Option<PathBuf>,
}

async fn serve(cli: Cli, tls: Option<TlsSetup>) -> anyhow::Result<()> {
    anyhow::ensure!(
        cli.simulate.is_finite() && cli.simulate >= 0.0,
        "--simulate must be a number of changes per second, 0 or more"
    );
    anyhow::ensure!(
        cli.max_header_bytes >= 8192,
        "--max-header-bytes must be at least 8192 (hyper's smallest buffer)"
    );
    let (feeds, gateway) = cli.gateway.config();
    spec::check_unique(&feeds).map_err(|e| anyhow::anyhow!("--feed: {e}"))?;
    let write_token = cli.write_token.filter(|t| !t.is_empty());
    if write_token.is_none() && !cli.addr.ip().is_loopback() {
        tracing::warn!(
            "listening on {} without --write-token: anyone who reaches the port can write",
            cli.addr
        );
    }
    let listener = tokio::net::TcpListener::bind(cli.addr)
        .await
        .with_context(|| format!("cannot listen on {}", cli.addr))?;
    let addr = listener.local_addr()?;
    anyhow::ensure!(
        cli.broker.is_none() || cli.db.starts_with("postgres"),
        "--broker needs a shared store: give --db a postgres:// URL (a SQLite file is one node's own)"
    );
    let mut config = Config {
        db: cli.db,
        broker: cli.broker,
        broker_prefix: cli.broker_prefix,
        node_id: cli.node_id,
        cors_origins: cli.cors_origins,
        allowed_origins: cli.allowed_origins,
        simulate: cli.simulate,
        seed: cli.seed,
        static_dir: cli.static_dir,
        send_buffer_bytes: Some(cli.send_buffer).filter(|&b| b > 0),
        http: HttpConfig {
            max_header_bytes: cli.max_header_bytes,
            header_timeout: cli.header_timeout,
            idle_timeout: cli.idle_timeout,
            max_streams_per_connection: cli.h2_max_streams.max(1),
        },
        write_token,
        tls: tls.as_ref().map(|t| t.config.clone()),
        feeds,
        gateway,
        ..Config::default()
    };
    config.ws.max_messages_per_sec = cli.ws_max_rate;
    let db = redact(&config.db);
    let server = match pollpush_server::Server::start(listener, config).await {
        // Not the store's fault: the error names its flag.
        Err(e @ pollpush_server::ServerError::Feed(_)) => return Err(e.into()),
        started => started.with_context(|| format!("cannot open the store {db}"))?,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    if let Some(path) = tls.as_ref().and_then(|t| t.self_signed.as_ref()) {
        println!(
            "self-signed certificate for localhost and 127.0.0.1: {}",
            path.display()
        );
    }
    println!("listening on {scheme}://{addr}");
    // As the runtime counts them, not as asked; once bound, so a refusal
    // before that stays one line.
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    tracing::info!("{workers} runtime threads; store {db}; API docs at {scheme}://{addr}/docs");
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return ctrl_c.await.unwrap_or(());
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The store's location without its password, for messages.
fn redact(db: &str) -> String {
    match (db.find("://"), db.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &db[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &db[..scheme + 3], &db[at..]),
                None => db.to_owned(),
            }
        }
        _ => db.to_owned(),
    }
}
