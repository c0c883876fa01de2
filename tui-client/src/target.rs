//! What the panes connect to: a server started in this process (the demo), or
//! a running one. The TUI and the headless run both start here.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::Mode;
use crate::net::watch::{Feed, WatchConfig};
use crate::net::{Endpoints, NetError, Nodes};

/// Why the client could not start.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("cannot bind a local port for the embedded server: {0}")]
    Bind(std::io::Error),
    #[error("cannot start the embedded server: {0}")]
    Server(#[from] pollpush_server::ServerError),
    #[error(transparent)]
    Tls(#[from] crate::net::tls::TlsError),
    #[error("cannot serve TLS from the embedded server: {0}")]
    ServerTls(pollpush_server::tls::TlsError),
    #[error("--http takes one version here (a list such as 1.1,2 is for load --map)")]
    SeveralHttp,
    #[error("--ws-url needs --server (the embedded server has its own)")]
    WsUrlWithoutServer,
    #[error(
        "--feed NAME needs --server: a pollpush-server started with --feed NAME=URL \
         (the embedded server has no upstream)"
    )]
    FeedWithoutServer,
}

/// The server (or the cluster's nodes) the panes talk to.
pub struct Target {
    pub nodes: Nodes,
    pub mode: Mode,
    /// For the header: `embedded · http://127.0.0.1:40123`, the remote URL, or
    /// the first of a cluster's and how many more.
    pub label: String,
    /// A service that is not a pollpush server, watched with `--poll` / `--push`.
    pub watch: Option<Arc<WatchConfig>>,
    embedded: Option<pollpush_server::Server>,
}

impl Target {
    /// Attaches to a running server, or to the nodes of a cluster (`server` is
    /// a comma-separated list); nothing is contacted yet.
    pub fn remote(server: &str, ws: Option<&str>) -> Result<Self, TargetError> {
        let nodes = Nodes::parse(server, ws)?;
        let first = nodes.poll().http.clone();
        let label = match nodes.len() {
            1 => first,
            n => format!("{first} + {} more", n - 1),
        };
        Ok(Self {
            label,
            nodes,
            mode: Mode::Remote,
            watch: None,
            embedded: None,
        })
    }

    /// Watches any service: the `--poll` URL and the `--push` feed.
    pub fn watched(config: WatchConfig) -> Self {
        let origins = [config.poll.as_ref(), config.push.as_ref().map(Feed::origin)];
        let label = origins
            .iter()
            .flatten()
            .map(|origin| origin.url.clone())
            .collect::<Vec<_>>()
            .join(" + ");
        // The push lane's "node" is its feed, named in the pane.
        let feed = config
            .push
            .as_ref()
            .map_or(config.poll.as_ref(), |f| Some(f.origin()));
        let endpoints = feed.map_or_else(
            || Endpoints::local(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            |origin| Endpoints {
                http: origin.url.clone(),
                authority: origin.label(),
                ws: origin.url.clone(),
                tls: Some(config.tls.clone()),
                version: crate::net::HttpChoice::Auto,
                profile: crate::net::profile::Profile::default(),
                link: None,
                source: None,
                feed: None,
            },
        );
        Self {
            nodes: Nodes::one(endpoints),
            mode: Mode::Remote,
            label,
            watch: Some(Arc::new(config)),
            embedded: None,
        }
    }

    /// Starts a server in this process on an ephemeral loopback port, in memory,
    /// with the simulator making `simulate` changes per second; over HTTPS
    /// with a certificate made now when `tls` (written to a temporary file the
    /// lanes trust).
    pub async fn embedded(
        simulate: f64,
        seed: Option<u64>,
        tls: bool,
    ) -> Result<Self, TargetError> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .map_err(TargetError::Bind)?;
        let cert =
            std::env::temp_dir().join(format!("pollpush-embedded-{}.pem", std::process::id()));
        let server_tls = if tls {
            Some(pollpush_server::tls::self_signed(&cert).map_err(TargetError::ServerTls)?)
        } else {
            None
        };
        let config = pollpush_server::Config {
            db: ":memory:".to_owned(),
            simulate,
            seed,
            tls: server_tls,
            ..Default::default()
        };
        let server = pollpush_server::Server::start(listener, config).await?;
        let nodes = if tls {
            let url = format!("https://localhost:{}", server.local_addr().port());
            let trust = crate::net::tls::Tls::new(&crate::net::tls::TlsOptions {
                ca_certs: vec![cert],
                insecure: false,
            })?;
            Self::remote(&url, None)?.nodes.with_tls(&trust)
        } else {
            Nodes::one(Endpoints::local(server.local_addr()))
        };
        Ok(Self {
            label: format!("embedded · {}", nodes.poll().http),
            nodes,
            mode: Mode::Embedded { simulate },
            watch: None,
            embedded: Some(server),
        })
    }

    /// Changes the embedded simulator's rate; no-op against a remote server.
    pub fn set_simulator_rate(&self, rate: f64) {
        if let Some(server) = &self.embedded {
            server.simulator().set_rate(rate);
        }
    }

    /// Stops the embedded server, if any, closing its WebSockets cleanly.
    pub async fn shutdown(self) {
        if let Some(server) = self.embedded {
            server.shutdown().await;
        }
    }
}
