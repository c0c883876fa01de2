//! The server under load, and how its own cost is measured.
//!
//! `/stats` reports the CPU and RSS of the whole server process. That is the
//! server's cost when it runs elsewhere (`--server`) or as a child process
//! (`--spawn-server`). When it is embedded, the process also holds the load
//! clients, so the server gets its own tokio runtime with named threads and its
//! CPU is read from those threads alone; RSS cannot be split and is reported
//! as the whole process's.
//!
//! Against several nodes (`--server A,B,C`), each node's `/stats` is read at
//! once and CPU and RSS are summed over the nodes' processes; each node's own
//! figures are kept too. The broker's and the database's cost is in neither.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use pollpush_shared::ServerStats;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::runtime::Runtime;
use tokio::time::Instant;

use crate::net::tls::Tls;
use crate::net::{Endpoints, Nodes, control};
use crate::target::Target;

/// The name of the embedded server's threads (at most 15 bytes: Linux truncates `comm`).
const SERVER_THREAD: &str = "pollpush-server";

/// Where the server runs, which decides how its cost is read.
enum Place {
    /// In this process, on its own runtime.
    Embedded {
        target: Target,
        runtime: ServerRuntime,
    },
    /// A `pollpush-server` child process.
    Child(Child),
    /// Somewhere else: only `/stats` is known.
    Remote,
}

/// The embedded server's runtime, shut down without blocking when dropped
/// (a plain `Runtime` panics when dropped inside async code, e.g. on an error path).
struct ServerRuntime(Option<Runtime>);

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The server's cost at one moment.
#[derive(Debug, Clone)]
pub struct Cost {
    pub at: Instant,
    /// Summed over the nodes, when there are several.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    /// The first node's counters.
    pub stats: ServerStats,
    /// Each node's own, in `--server` order, when there are several.
    pub nodes: Vec<NodeSample>,
}

/// One node's `/stats` at one moment.
#[derive(Debug, Clone)]
pub struct NodeSample {
    pub node: String,
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    pub ws_subscribers: u64,
    /// Its `/stats` did not answer (a node killed mid-run): the figures are zero.
    pub down: bool,
}

/// The server (or the cluster's nodes) the load runs against.
pub struct ServerUnderTest {
    pub nodes: Nodes,
    place: Place,
    /// The write token, sent with every call to a remote server.
    token: Option<String>,
}

impl ServerUnderTest {
    /// Starts an embedded server on its own runtime, simulator at `simulate` changes/s.
    pub async fn embedded(simulate: f64, seed: Option<u64>, tls: bool) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(SERVER_THREAD)
            // Blocking threads (SQLite) must outlive the run, or their CPU time is lost.
            .thread_keep_alive(Duration::from_hours(24))
            .enable_all()
            .build()
            .context("cannot start the embedded server's runtime")?;
        let target = runtime
            .spawn(Target::embedded(simulate, seed, tls))
            .await
            .context("the embedded server's runtime failed")??;
        Ok(Self {
            nodes: target.nodes.clone(),
            place: Place::Embedded {
                target,
                runtime: ServerRuntime(Some(runtime)),
            },
            token: None,
        })
    }

    /// Starts `pollpush-server` (found next to this executable) on a free
    /// loopback port; with `tls`, over HTTPS with `--tls-self-signed`, whose
    /// certificate the clients then trust; `extra` are more of its flags
    /// (`--feed g=URL` for `load --gateway`).
    pub async fn child(
        simulate: f64,
        seed: Option<u64>,
        tls: bool,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let program = server_binary()?;
        let mut command = Command::new(&program);
        command
            .args(["--addr", "127.0.0.1:0", "--db", ":memory:"])
            .args(["--simulate", &simulate.to_string()])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if let Some(seed) = seed {
            command.args(["--seed", &seed.to_string()]);
        }
        if tls {
            command.arg("--tls-self-signed");
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let stdout = child.stdout.take().context("no stdout from the server")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut cert = None;
        let url = loop {
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .context("pollpush-server did not say where it listens within 10 s")??
                .context("pollpush-server exited before listening")?;
            if let Some((_, path)) =
                line.split_once("self-signed certificate for localhost and 127.0.0.1: ")
            {
                cert = Some(std::path::PathBuf::from(path));
                continue;
            }
            break line
                .strip_prefix("listening on ")
                .with_context(|| format!("unexpected line from pollpush-server: {line:?}"))?
                .to_owned();
        };
        let mut nodes = Nodes::one(Endpoints::new(&url, None)?);
        if let Some(cert) = cert {
            let trust = Tls::new(&crate::net::tls::TlsOptions {
                ca_certs: vec![cert],
                insecure: false,
            })?;
            nodes = nodes.with_tls(&trust);
        }
        Ok(Self {
            nodes,
            place: Place::Child(child),
            token: None,
        })
    }

    /// A running server, or the nodes of a cluster (`urls` is a comma-separated
    /// list); fails when a node's `/stats` does not answer. `token` (the write
    /// token) goes with every call made to it.
    pub async fn remote(
        urls: &str,
        ws: Option<&str>,
        token: Option<&str>,
        tls: &Tls,
    ) -> anyhow::Result<Self> {
        let server = Self {
            nodes: Nodes::parse(urls, ws)?.with_tls(tls),
            place: Place::Remote,
            token: token.map(str::to_owned),
        };
        server.cost().await?;
        Ok(server)
    }

    /// What the report says about how the cost was measured.
    pub fn measured(&self) -> &'static str {
        match self.place {
            Place::Embedded { .. } => {
                "embedded: CPU of the server's own threads; RSS of the whole process, load clients included"
            }
            Place::Child(_) => "child process: CPU and RSS of the server process alone",
            Place::Remote if self.nodes.len() > 1 => {
                "remote cluster: CPU and RSS summed over the nodes' processes, each from its own /stats (per node in `nodes`)"
            }
            Place::Remote => "remote: CPU and RSS of the server process, from its /stats",
        }
    }

    /// Whether the server's sockets are in this process too (two descriptors per client).
    pub fn is_embedded(&self) -> bool {
        matches!(self.place, Place::Embedded { .. })
    }

    /// Sets the embedded server's simulator rate; other servers keep theirs.
    pub fn set_simulator_rate(&self, rate: f64) {
        if let Place::Embedded { target, .. } = &self.place {
            target.set_simulator_rate(rate);
        }
    }

    /// The server's CPU, RSS and counters now: every node read at once, summed.
    /// A node of several that does not answer is marked down (its clients
    /// fail over, and the run goes on); it fails only when none answers.
    pub async fn cost(&self) -> anyhow::Result<Cost> {
        let reads = self.nodes.all().iter().map(|node| async move {
            control::stats(node, self.token.as_deref())
                .await
                .with_context(|| format!("cannot reach the server at {}", node.http))
        });
        let all = futures_util::future::join_all(reads).await;
        if !all.iter().any(Result::is_ok) {
            let error = all.into_iter().find_map(Result::err);
            return Err(error.unwrap_or_else(|| anyhow::anyhow!("no server node to measure")));
        }
        let mut nodes: Vec<NodeSample> = all
            .iter()
            .zip(self.nodes.all())
            .map(|(stats, node)| match stats {
                Ok(stats) => NodeSample {
                    node: node.label().to_owned(),
                    cpu_seconds: stats.process.cpu_seconds,
                    rss_bytes: stats.process.rss_bytes,
                    ws_subscribers: stats.ws.subscribers,
                    down: false,
                },
                Err(_) => NodeSample {
                    node: node.label().to_owned(),
                    cpu_seconds: 0.0,
                    rss_bytes: 0,
                    ws_subscribers: 0,
                    down: true,
                },
            })
            .collect();
        let mut cpu_seconds = nodes.iter().map(|n| n.cpu_seconds).sum();
        if let Place::Embedded { .. } = self.place {
            cpu_seconds = threads_cpu_seconds(SERVER_THREAD)?;
        }
        let rss_bytes = nodes.iter().map(|n| n.rss_bytes).sum();
        if nodes.len() == 1 {
            nodes.clear();
        }
        let stats = all.into_iter().find_map(Result::ok).unwrap_or_default();
        Ok(Cost {
            at: Instant::now(),
            cpu_seconds,
            rss_bytes,
            stats,
            nodes,
        })
    }

    /// Stops a server this run started.
    pub async fn stop(self) {
        match self.place {
            Place::Embedded { target, runtime } => {
                if let Some(rt) = &runtime.0 {
                    let _ = rt.spawn(target.shutdown()).await;
                }
            }
            Place::Child(mut child) => {
                let _ = child.kill().await;
            }
            Place::Remote => {}
        }
    }
}

/// `pollpush-server` beside this executable (as cargo builds them), else on `PATH`.
fn server_binary() -> anyhow::Result<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("pollpush-server")));
    if let Some(path) = beside.filter(|p| p.is_file()) {
        return Ok(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("pollpush-server"))
            .find(|p| p.is_file())
    });
    match on_path {
        Some(path) => Ok(path),
        None => bail!(
            "--spawn-server needs the pollpush-server binary next to pollpush or on PATH \
             (build it with `cargo build --release -p pollpush-server`)"
        ),
    }
}

/// User + system CPU seconds of this process's threads named `name`.
fn threads_cpu_seconds(name: &str) -> anyhow::Result<f64> {
    let me = procfs::process::Process::myself().context("cannot read /proc/self")?;
    let ticks = procfs::ticks_per_second().max(1) as f64;
    let mut total = 0;
    for task in me.tasks().context("cannot list /proc/self/task")?.flatten() {
        if let Ok(stat) = task.stat()
            && stat.comm == name
        {
            total += stat.utime + stat.stime;
        }
    }
    Ok(total as f64 / ticks)
}
