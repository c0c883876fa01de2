//! The processes a scenario runs: pollpush-server nodes, a database of the
//! benchmark's own, and a private redis-server it can kill.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// One `pollpush-server` process.
pub struct Node {
    child: Child,
    pid: i32,
    addr: String,
    http: reqwest::Client,
    observations: u64,
    _dir: tempfile::TempDir,
}

impl Node {
    pub async fn spawn(exe: &Path, db: Option<&str>, broker: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("bench.db");
        let mut cmd = Command::new(exe);
        cmd.args(["--addr", "127.0.0.1:0", "--db"]);
        match db {
            Some(url) => cmd.arg(url),
            None => cmd.arg(&file),
        };
        if let Some(url) = broker {
            cmd.args(["--broker", url]);
        }
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let pid: i32 = child.id().context("the node exited at once")?.try_into()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .context("no `listening on` line within 20 s")??
            .context("the node closed its stdout")?;
        let Some(addr) = line.strip_prefix("listening on http://") else {
            bail!("unexpected first line: {line}");
        };
        Ok(Self {
            child,
            pid,
            addr: addr.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            observations: 1_000_000,
            _dir: dir,
        })
    }

    pub fn dial(&self) -> crate::dial::Dial {
        crate::dial::Dial {
            addr: self.addr.clone(),
            tls: None,
        }
    }

    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = procfs::process::Process::new(self.pid)?.stat()?;
        Ok((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
    }

    /// One write: species 1's observation count, set to a new value.
    pub async fn write(&mut self) -> anyhow::Result<()> {
        self.observations += 1;
        let response = self
            .http
            .put(format!("http://{}/species/1", self.addr))
            .json(&serde_json::json!({"name": "AThaliana", "observations": self.observations}))
            .send()
            .await
            .context("write request")?;
        anyhow::ensure!(
            response.status().is_success(),
            "write answered {}",
            response.status()
        );
        response.bytes().await?;
        Ok(())
    }

    /// The revision this node serves (`X-Revision` of `GET /species`).
    pub async fn revision(&self) -> anyhow::Result<u64> {
        let r = self
            .http
            .get(format!("http://{}/species", self.addr))
            .send()
            .await?;
        let value = r.headers().get("x-revision").context("no X-Revision")?;
        Ok(value.to_str()?.parse()?)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A PostgreSQL database made for one scenario and dropped after it.
pub struct Database {
    admin: String,
    name: String,
    pub url: String,
}

impl Database {
    pub async fn create(admin: &str) -> anyhow::Result<Self> {
        let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("PostgreSQL at {admin}"))?;
        tokio::spawn(conn);
        let name = format!("pollpush_bench_{}", std::process::id());
        // Two statements: DROP DATABASE cannot share an implicit transaction.
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let root = admin.rsplit_once('/').map_or(admin, |(r, _)| r);
        Ok(Self {
            admin: admin.to_owned(),
            url: format!("{root}/{name}"),
            name,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .arg(&self.admin)
            .args([
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A `redis-server` of the benchmark's own, on a free port.
pub struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    pub async fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut redis = Self { port, child: None };
        redis.restart().await?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
        }
    }

    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("redis-server is needed (apt-get install redis-server)")?;
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("redis-server did not start on port {}", self.port)
    }
}
