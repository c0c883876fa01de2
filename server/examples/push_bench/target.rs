//! A server under test: a separately spawned process, its address, its cost,
//! and how to make one write on it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::dial::{Client, Dial};

/// The binary `given` on the command line, or the one called `name` that this
/// bench was built beside (`name` may sit in the examples' folder or its parent);
/// an error that says how to build it when it is not there.
pub fn built_binary(given: Option<&PathBuf>, name: &str) -> anyhow::Result<PathBuf> {
    let here = std::env::current_exe().context("own path")?;
    let examples = here.parent().context("own folder")?;
    let exe = given.cloned().unwrap_or_else(|| {
        let beside = examples.join(name);
        if beside.exists() {
            beside
        } else {
            examples.with_file_name(name)
        }
    });
    anyhow::ensure!(
        exe.exists(),
        "{} is missing: cargo build --release -p pollpush-server --bins --examples",
        exe.display()
    );
    Ok(exe)
}

/// The Node.js baseline's script, run with `node`.
pub const NODE_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/node_ws_server.js");

/// Which server a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `pollpush-server` on a SQLite file: each write is fsynced before it is published.
    Pollpush,
    /// `pollpush-server --db :memory:`: the same fan-out without the fsync.
    PollpushMemory,
    /// `pollpush-server --db :memory: --tls-self-signed`: that fan-out, each
    /// change encrypted once per subscriber.
    PollpushTls,
    /// `stock_warp_ws`: stock `warp::ws()`, one `to_string` per client per change.
    Baseline,
    /// `bench/node_ws_server.js`: Node.js and the `ws` package, serialized once, `send()` each.
    Node,
}

impl Kind {
    /// A pollpush-server, which takes a write token and `PUT /species/1`.
    pub fn is_pollpush(self) -> bool {
        matches!(
            self,
            Kind::Pollpush | Kind::PollpushMemory | Kind::PollpushTls
        )
    }

    /// How `--servers` names it.
    pub fn flag(self) -> &'static str {
        match self {
            Kind::Pollpush => "file",
            Kind::PollpushMemory => "memory",
            Kind::PollpushTls => "tls",
            Kind::Baseline => "baseline",
            Kind::Node => "node",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Pollpush => "pollpush (file db)",
            Kind::PollpushMemory => "pollpush (:memory:)",
            Kind::PollpushTls => "pollpush (:memory:, TLS)",
            Kind::Baseline => "stock warp::ws",
            Kind::Node => "Node.js ws",
        }
    }
}

/// A running server process, killed when dropped.
pub struct Target {
    kind: Kind,
    child: Child,
    pid: i32,
    dial: Dial,
    http: Client,
    /// The server's write token, sent with each write.
    token: Option<String>,
    observations: u64,
    _dir: tempfile::TempDir,
}

impl Target {
    /// Starts `exe` on a free loopback port and waits for its `listening on` line.
    /// Starts the server; a pollpush server with `token` needs it on every write.
    pub async fn spawn(kind: Kind, exe: &Path, token: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("temporary directory for the store")?;
        let mut cmd = Command::new(exe);
        match kind {
            Kind::Pollpush => {
                let db = dir.path().join("bench.db");
                cmd.arg("--addr").arg("127.0.0.1:0").arg("--db").arg(db);
            }
            Kind::PollpushMemory => {
                cmd.args(["--addr", "127.0.0.1:0", "--db", ":memory:"]);
            }
            Kind::PollpushTls => {
                cmd.args(["--addr", "127.0.0.1:0", "--db", ":memory:"]);
                cmd.arg("--tls-self-signed").current_dir(dir.path());
            }
            Kind::Baseline => {
                cmd.arg("127.0.0.1:0");
            }
            Kind::Node => {
                cmd.arg(NODE_SERVER).arg("127.0.0.1:0");
            }
        }
        let token = token.filter(|_| kind.is_pollpush()).map(str::to_owned);
        if let Some(token) = &token {
            cmd.arg("--write-token").arg(token);
        }
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let pid: i32 = child
            .id()
            .context("the server exited at once")?
            .try_into()
            .context("pid out of range")?;
        // PUSH_BENCH_SERVER_CPUS=0 pins the server (all its threads) to CPU 0; run the bench
        // itself with `taskset -c 1` so clients and server stop competing for the same core.
        if let Ok(cpus) = std::env::var("PUSH_BENCH_SERVER_CPUS") {
            let status = std::process::Command::new("taskset")
                .args(["-a", "-p", "-c", &cpus, &pid.to_string()])
                .stdout(Stdio::null())
                .status()
                .context("taskset is needed for PUSH_BENCH_SERVER_CPUS")?;
            anyhow::ensure!(
                status.success(),
                "taskset could not pin the server to {cpus}"
            );
        }
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        // `--tls-self-signed` names its certificate's file before `listening on`.
        let mut tls = None;
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .context("no `listening on` line within 20 s")??
                .context("the server closed its stdout")?;
            if let Some(cert) =
                line.strip_prefix("self-signed certificate for localhost and 127.0.0.1: ")
            {
                tls = Some(crate::dial::trusting(Path::new(cert))?);
            } else if let Some(addr) = line
                .strip_prefix("listening on http://")
                .or_else(|| line.strip_prefix("listening on https://"))
            {
                break addr.to_owned();
            } else {
                bail!("unexpected line from {}: {line}", exe.display());
            }
        };
        let dial = Dial { addr, tls };
        Ok(Self {
            kind,
            child,
            pid,
            http: Client::new(dial.clone()),
            dial,
            token,
            observations: 0,
            _dir: dir,
        })
    }

    /// `host:port` of the server.
    pub fn addr(&self) -> &str {
        &self.dial.addr
    }

    /// How its clients connect.
    pub fn dial(&self) -> &Dial {
        &self.dial
    }

    /// The server's `/stats`, for conditions such as "every long-poll is held".
    pub async fn stats(&self) -> anyhow::Result<serde_json::Value> {
        let (status, body) = self
            .http
            .send(http::Method::GET, "/stats", &[], None)
            .await
            .context("GET /stats")?;
        anyhow::ensure!(status.is_success(), "GET /stats answered {status}");
        serde_json::from_slice(&body).context("/stats body")
    }

    /// One write first, so lazily built state is not counted as subscriber
    /// cost; then the RSS to count subscribers from.
    pub async fn warmed_up_rss(&mut self) -> anyhow::Result<u64> {
        self.write().await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.rss_bytes()
    }

    /// The RSS once `connect_s` of connecting is over and a second has let the
    /// allocator settle; logged against `before`.
    pub async fn settled_rss(&self, before: u64, connect_s: f64) -> anyhow::Result<u64> {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = self.rss_bytes()?;
        eprintln!(
            "   connected in {connect_s:.1} s; RSS {} → {} MB",
            before / 1_000_000,
            after / 1_000_000
        );
        Ok(after)
    }

    /// The server's resident set size, from `/proc/PID/status` (`VmRSS`).
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = procfs::process::Process::new(self.pid)?.status()?;
        Ok(status.vmrss.context("no VmRSS")? * 1024)
    }

    /// CPU seconds (user + system) the server has used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = procfs::process::Process::new(self.pid)?.stat()?;
        Ok((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
    }

    /// Makes one write, the way each server's clients would, and waits for its answer.
    pub async fn write(&mut self) -> anyhow::Result<()> {
        self.observations += 1;
        let headers: Vec<(&str, String)> = self
            .token
            .iter()
            .map(|token| ("authorization", format!("Bearer {token}")))
            .collect();
        let (status, _) = if self.kind.is_pollpush() {
            let species =
                serde_json::json!({"name": "AThaliana", "observations": self.observations});
            self.http
                .send(http::Method::PUT, "/species/1", &headers, Some(&species))
                .await
        } else {
            self.http
                .send(http::Method::POST, "/change", &headers, None)
                .await
        }
        .context("write request")?;
        anyhow::ensure!(status.is_success(), "write answered {status}");
        Ok(())
    }

    /// Kills the process and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Every client is a socket: lift the soft descriptor limit to the hard one,
/// and refuse to start below `need`.
pub fn raise_fd_limit(need: u64) -> anyhow::Result<()> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit).context("raising RLIMIT_NOFILE")?;
    }
    if let Some(soft) = limit.current {
        anyhow::ensure!(
            soft >= need,
            "RLIMIT_NOFILE is {soft}, {need} needed: raise `ulimit -n`"
        );
    }
    Ok(())
}
