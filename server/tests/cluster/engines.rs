//! The real engines the cluster tests run against: a PostgreSQL database and
//! a Redis key prefix of their own, a private `redis-server` to kill, and a
//! TCP proxy in front of PostgreSQL to cut.
//!
//! Without the engines a test prints one line saying why it is skipped; with
//! `CI` set (as `.ci/run` does) a missing engine fails it instead.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use rand::Rng;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::common::DEADLINE;

fn skip_or_fail(what: &str, reason: &str) {
    let line = format!("{what} unavailable ({reason})");
    assert!(std::env::var_os("CI").is_none(), "{line}: CI requires it");
    // Straight to stderr: libtest would swallow `eprintln!` of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {line}; set POLLPUSH_TEST_POSTGRES / POLLPUSH_TEST_REDIS to run this test"
    );
}

fn random_suffix() -> String {
    format!("{:012x}", rand::rng().random::<u64>() & 0xffff_ffff_ffff)
}

/// A database of this test's own, dropped when the test ends.
pub struct TestDb {
    admin: String,
    name: String,
    pub url: String,
}

impl TestDb {
    /// `None` (after one line on stderr) where PostgreSQL is not reachable.
    pub async fn create() -> Option<Self> {
        let admin = std::env::var("POLLPUSH_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let connected = tokio::time::timeout(
            Duration::from_secs(3),
            tokio_postgres::connect(&admin, tokio_postgres::NoTls),
        )
        .await;
        let (client, conn) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                skip_or_fail(&format!("PostgreSQL at {admin}"), &e.to_string());
                return None;
            }
            Err(_) => {
                skip_or_fail(&format!("PostgreSQL at {admin}"), "no answer in 3 s");
                return None;
            }
        };
        tokio::spawn(conn);
        let name = format!("pollpush_test_{}", random_suffix());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let url = with_database(&admin, &name);
        Some(Self { admin, name, url })
    }

    /// A SQL connection to the test database, for checks behind the server's back.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(conn);
        client
    }
}

impl TestDb {
    /// Every species name in the database, read behind the server's back.
    pub async fn species_names(&self) -> std::collections::HashSet<String> {
        self.client()
            .await
            .query("SELECT name FROM species", &[])
            .await
            .expect("read the species table")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs outside any runtime guarantee: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let root = base.rfind('/').map_or(base, |slash| &base[..slash]);
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// The machine's Redis and a key prefix of this test's own, or `None` (after
/// one line on stderr) where Redis is not reachable.
pub async fn shared_redis() -> Option<(String, String)> {
    let url = std::env::var("POLLPUSH_TEST_REDIS")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    match ping(&url).await {
        Ok(()) => Some((url, format!("pollpush-test-{}:", random_suffix()))),
        Err(e) => {
            skip_or_fail(&format!("Redis at {url}"), &e);
            None
        }
    }
}

async fn ping(url: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer in 2 s".to_owned()),
    }
}

/// A `redis-server` of this test's own, on a free port, to kill and restart.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// `None` (after one line on stderr) where `redis-server` is not installed.
    pub async fn start() -> Option<Self> {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("its address").port()
        };
        let mut redis = Self { port, child: None };
        if let Err(e) = redis.spawn() {
            skip_or_fail("redis-server", &e.to_string());
            return None;
        }
        redis.wait_up().await;
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait_up(&self) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while ping(&self.url()).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no goodbye to its clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port, empty (it keeps nothing on disk).
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().expect("restart redis-server");
        self.wait_up().await;
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy in front of PostgreSQL that a test can cut (every connection
/// closed, new ones refused) and restore: the database "goes away".
pub struct Proxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("its address");
        let open = Arc::new(AtomicBool::new(true));
        let (cut, cuts) = watch::channel(0_u64);
        let up = open.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up.load(SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let mut cuts = cuts.clone();
                cuts.borrow_and_update(); // only cuts from now on end this one
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Self { addr, open, cut }
    }

    /// `url` pointed at this proxy instead of the database's own address.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let (auth, path) = rest.split_once('/').unwrap_or((rest, ""));
        let user = auth
            .rsplit_once('@')
            .map_or(String::new(), |(u, _)| format!("{u}@"));
        format!("{scheme}://{user}{}/{path}", self.addr)
    }

    pub fn cut(&self) {
        self.open.store(false, SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.open.store(true, SeqCst);
    }
}

/// Where `url`'s database listens.
pub async fn database_addr(url: &str) -> SocketAddr {
    let rest = url.split_once("://").expect("a URL").1;
    let auth = rest.split('/').next().unwrap_or(rest);
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    tokio::net::lookup_host(host)
        .await
        .expect("resolve the database host")
        .next()
        .expect("an address")
}
