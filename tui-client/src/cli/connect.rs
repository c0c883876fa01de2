//! The connection flags every mode shares: which server (or watched service),
//! which lanes, how they poll, in which HTTP, with which profile and link.

use std::path::PathBuf;
use std::time::Duration;

use crate::app::settings::PollSettings;
use crate::lane::{FeedProtocol, LaneKind, Lanes};
use crate::net::link::LinkSpec;
use crate::net::origin::Origin;
use crate::net::profile::Profile;
use crate::net::tls::{Tls, TlsOptions};
use crate::net::watch::{self, Feed, Fields, WatchConfig};
use crate::net::{HttpChoice, Nodes};
use crate::target::{Target, TargetError};

use super::parse::{
    parse_duration, parse_interval, parse_lanes, parse_link, parse_profile, parse_rate, parse_wait,
};

/// Where the panes connect and how they poll: shared by the UI and every mode.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// A running pollpush-server to attach to, e.g. http://host:5000; or a
    /// cluster's nodes, comma-separated: the request lanes (poll, longpoll) stay
    /// on the first, the streaming lanes (sse, ws) start on the second and fail
    /// over to the next, resuming where they were; `load` spreads its clients
    /// over all of them. `https://` reaches a server behind a TLS-terminating
    /// proxy (every lane over TLS; --ca-cert and --insecure apply).
    #[arg(
        long,
        global = true,
        env = "POLLPUSH_SERVER",
        value_name = "URL[,URL…]"
    )]
    pub server: Option<String>,

    /// The WebSocket URL, when it is not <server>/ws (a single --server only).
    #[arg(long, global = true, env = "POLLPUSH_WS_URL", value_name = "URL")]
    pub ws_url: Option<String>,

    /// The lanes to run, comma-separated, or `all`: poll (GET on a timer),
    /// longpoll (GET held until the list changes), sse (Server-Sent Events),
    /// ws (WebSocket push); `all` is those four; socketio (socket.io push
    /// from /socket.io/) is named on its own.
    #[arg(long, global = true, env = "POLLPUSH_LANES", default_value = "poll,ws", value_parser = parse_lanes, value_name = "LANE[,LANE…]")]
    pub lanes: LaneList,

    /// How long the server may hold a long-poll (`Prefer: wait`, 1s … 60s).
    #[arg(long, global = true, env = "POLLPUSH_LONG_POLL_WAIT", default_value = "30s", value_parser = parse_wait)]
    pub long_poll_wait: Duration,

    /// How often the REST pane polls (100ms … 60s).
    #[arg(long, global = true, env = "POLLPUSH_INTERVAL", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,

    /// Changes per second the embedded server's simulator makes.
    #[arg(long, global = true, env = "POLLPUSH_SIMULATE", default_value_t = 2.0, value_parser = parse_rate)]
    pub simulate: f64,

    /// The embedded server serves HTTPS (and HTTP/2 by ALPN) with a
    /// certificate made at start, which the lanes trust.
    #[arg(long, global = true, env = "POLLPUSH_TLS")]
    pub tls: bool,

    /// Seed of the embedded simulator, for repeatable runs.
    #[arg(long, global = true, env = "POLLPUSH_SEED")]
    pub seed: Option<u64>,

    /// Start with If-None-Match off (toggle with `e`).
    #[arg(long, global = true, env = "POLLPUSH_NO_ETAG")]
    pub no_etag: bool,

    /// Poll any HTTP(S) URL instead of a pollpush server: GET every --interval,
    /// with If-None-Match / If-Modified-Since when the server sent ETag /
    /// Last-Modified; an update is a body that differs from the last one.
    #[arg(
        long,
        global = true,
        env = "POLLPUSH_POLL",
        value_name = "URL",
        conflicts_with = "server"
    )]
    pub poll: Option<String>,

    /// Watch any push feed instead of a pollpush server, by scheme: ws:// or
    /// wss:// (each message is an update), sse+http:// or sse+https:// (each
    /// event), socketio://host:port/namespace#event or socketios:// (each such
    /// event; #* for all).
    #[arg(
        long,
        global = true,
        env = "POLLPUSH_PUSH",
        value_name = "URL",
        conflicts_with = "server"
    )]
    pub push: Option<String>,

    /// Watch the upstream feed NAME of the --server (its `--feed NAME=URL`)
    /// instead of the species: poll and longpoll GET /feeds/NAME, sse reads
    /// /feeds/NAME/events, ws subscribes to the room NAME.
    #[arg(
        long,
        global = true,
        env = "POLLPUSH_FEED",
        value_name = "NAME",
        conflicts_with_all = ["poll", "push"]
    )]
    pub feed: Option<String>,

    /// A header sent with every request and handshake of --poll and --push
    /// (repeatable), e.g. -H 'Authorization: Bearer …'.
    #[arg(short = 'H', long = "header", global = true, value_name = "NAME: VALUE", value_parser = watch::parse_header)]
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,

    /// A WebSocket text message to send after connecting (repeatable; ws:// and wss:// feeds).
    #[arg(long, global = true, value_name = "TEXT")]
    pub send: Vec<String>,

    /// A socket.io event to emit after connecting, with a JSON argument
    /// (`null` when none is given; repeatable), e.g. --emit hi! or
    /// --emit 'join={"room":1}'.
    #[arg(long, global = true, value_name = "EVENT[=JSON]", value_parser = watch::parse_emit)]
    pub emit: Vec<(String, serde_json::Value)>,

    /// How long a request or a handshake of --poll / --push may take.
    #[arg(long, global = true, env = "POLLPUSH_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// A JSON pointer to a timestamp in each update (RFC 3339, or Unix seconds
    /// or milliseconds), e.g. /updated_at. With it the panes show each update's
    /// delay on arrival, corrected for clock offset with the HTTP Date header;
    /// without it there is nothing to measure staleness against: n/a. With
    /// --feed, where each of the feed's items says when it changed upstream:
    /// staleness then counts the gateway's poll too.
    #[arg(long, global = true, value_name = "/JSON/POINTER")]
    pub time_field: Option<String>,

    /// With --version-field, for two lanes over the same data: a JSON pointer
    /// to each item's id (in the update, or in each element of a list), so the
    /// panes can match items between lanes and show how far the later lane
    /// (usually polling) lags behind the other, per item.
    #[arg(
        long,
        global = true,
        value_name = "/JSON/POINTER",
        requires = "version_field"
    )]
    pub id_field: Option<String>,

    /// With --id-field: a JSON pointer to each item's version (a revision, a
    /// counter, an update time): the same id and version is the same change.
    #[arg(
        long,
        global = true,
        value_name = "/JSON/POINTER",
        requires = "id_field"
    )]
    pub version_field: Option<String>,

    /// Also trust the certificate(s) in this PEM file (repeatable), besides the
    /// system's roots. Bytes are counted on the TCP socket, under TLS, so the
    /// traffic shown includes the TLS handshake and record overhead.
    #[arg(long, global = true, env = "POLLPUSH_CA_CERT", value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,

    /// The HTTP every lane speaks: 1.1, or 2 (h2c with prior knowledge on
    /// http://). By default ALPN's choice on https:// and 1.1 on http://. The ws
    /// lane runs over HTTP/2 (RFC 8441) only with 2, as it needs the server's
    /// consent. `load --map` takes a list (1.1,2): a map panel per version.
    #[arg(
        long,
        global = true,
        env = "POLLPUSH_HTTP",
        value_enum,
        value_delimiter = ',',
        value_name = "1.1|2"
    )]
    pub http: Vec<HttpChoice>,

    /// The headers every lane's requests carry besides its protocol's:
    /// minimal (none), browser (a desktop Chromium fetch with a session
    /// cookie, listed in docs/conditions.md), or a FILE of `Name: value` lines.
    #[arg(long, global = true, env = "POLLPUSH_PROFILE", value_name = "minimal|browser|FILE", value_parser = parse_profile)]
    pub profile: Option<Profile>,

    /// Every lane's connection goes through an emulated link, e.g.
    /// "delay 150ms jitter 20ms loss 1% rate 2mbit": delay adds to the round
    /// trip, loss stalls a packet for a retransmission timeout, rate caps each
    /// direction (what it models: docs/conditions.md).
    #[arg(long, global = true, env = "POLLPUSH_LINK", value_name = "\"delay D jitter J loss P% rate R\"", value_parser = parse_link)]
    pub link: Option<LinkSpec>,

    /// The poll lane opens a new connection for every poll, as many real
    /// clients do, so that the TCP and TLS handshakes show in its bytes.
    #[arg(long, global = true, env = "POLLPUSH_NEW_CONNECTION")]
    pub new_connection: bool,

    /// Skip certificate verification (shown in red in the header while active).
    #[arg(long, global = true, env = "POLLPUSH_INSECURE")]
    pub insecure: bool,

    /// The server's write token (its --write-token), sent as a bearer token
    /// with the `n` key's write and the load's calls to a --server.
    #[arg(long, global = true, env = "POLLPUSH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl ConnectArgs {
    /// The server to talk to: the one named, the watched service, or a new embedded one.
    pub async fn target(&self) -> Result<Target, TargetError> {
        self.one_http()?;
        if let Some(config) = self.watch_config()? {
            return Ok(Target::watched(config));
        }
        match &self.server {
            Some(server) => {
                let mut target = Target::remote(server, self.ws_url.as_deref())?;
                if target.nodes.any_tls() {
                    target.nodes = target.nodes.with_tls(&self.tls()?);
                }
                target.nodes = self.lane_nodes(target.nodes);
                Ok(target)
            }
            None if self.ws_url.is_some() => Err(TargetError::WsUrlWithoutServer),
            None if self.feed.is_some() => Err(TargetError::FeedWithoutServer),
            None => {
                let mut target = Target::embedded(self.simulate, self.seed, self.tls).await?;
                target.nodes = self.lane_nodes(target.nodes);
                Ok(target)
            }
        }
    }

    /// `nodes` as the lanes reach them: in the `--http` asked, with the
    /// `--profile`'s headers, through the `--link`.
    pub fn lane_nodes(&self, nodes: Nodes) -> Nodes {
        nodes
            .with_http(self.http_choice())
            .with_conditions(&self.profile(), self.link)
            .with_feed(self.feed.as_deref())
    }

    /// `--profile`, `minimal` when not given.
    pub fn profile(&self) -> Profile {
        self.profile.clone().unwrap_or_default()
    }

    /// `--http`, or ALPN's choice when it is not given (the first of a
    /// list, which only `load --map` accepts: [`ConnectArgs::one_http`]).
    pub fn http_choice(&self) -> HttpChoice {
        self.http.first().copied().unwrap_or_default()
    }

    /// Refuses a list of HTTP versions where one connection setting is meant.
    pub fn one_http(&self) -> Result<(), TargetError> {
        if self.http.len() > 1 {
            return Err(TargetError::SeveralHttp);
        }
        Ok(())
    }

    /// Whether --poll or --push names a service to watch.
    pub fn watching(&self) -> bool {
        self.poll.is_some() || self.push.is_some()
    }

    /// The watch lanes' configuration, when --poll or --push is given.
    pub fn watch_config(&self) -> Result<Option<WatchConfig>, TargetError> {
        if !self.watching() {
            return Ok(None);
        }
        let tls = self.tls()?;
        let poll = self
            .poll
            .as_deref()
            .map(|url| Origin::parse(url, "http", "https"))
            .transpose()?;
        let push = self.push.as_deref().map(Feed::parse).transpose()?;
        Ok(Some(WatchConfig {
            poll,
            push,
            headers: self.headers.clone(),
            sends: self.send.clone(),
            emits: self.emit.clone(),
            timeout: self.timeout,
            tls,
            fields: Fields {
                time: self.time_field.clone(),
                item: self.id_field.clone().zip(self.version_field.clone()),
            },
        }))
    }

    /// The TLS settings of `--ca-cert` and `--insecure`.
    pub fn tls(&self) -> Result<Tls, crate::net::tls::TlsError> {
        Tls::new(&TlsOptions {
            ca_certs: self.ca_cert.clone(),
            insecure: self.insecure,
        })
    }

    pub fn lanes(&self) -> Lanes {
        if self.watching() {
            let push = self.push.as_deref().map(|url| {
                Feed::parse(url).map_or(LaneKind::Feed(FeedProtocol::Ws), |f| {
                    LaneKind::Feed(f.protocol())
                })
            });
            let poll = self.poll.as_ref().map(|_| LaneKind::UrlPoll);
            return Lanes {
                kinds: poll.into_iter().chain(push).collect(),
                long_poll_wait: self.long_poll_wait,
            };
        }
        Lanes {
            kinds: self.lanes.0.clone(),
            long_poll_wait: self.long_poll_wait,
        }
    }

    pub fn poll_settings(&self) -> PollSettings {
        PollSettings {
            interval: self.interval,
            paused: false,
            etag: !self.no_etag,
            new_connection: self.new_connection,
        }
    }
}

/// The lanes `--lanes` named, in canonical order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneList(pub Vec<LaneKind>);
