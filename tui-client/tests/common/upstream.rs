//! A REST API the gateway does not control, for tests and the benchmark:
//! `GET` any path answers a JSON array of items (`id`, `name`, `count`,
//! `updated_at` in Unix milliseconds) with an `ETag`, `304` to a matching
//! `If-None-Match`, over keep-alive HTTP/1.1. It counts every request, and
//! changes one item per `every` when asked to (or when a test says so).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The items and their version (the `ETag`).
#[derive(Debug, Default)]
struct Items {
    version: u64,
    body: Arc<Vec<u8>>,
    list: Vec<Value>,
}

/// A running upstream; its tasks end with the runtime.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    /// Requests answered (200 and 304).
    pub requests: Arc<AtomicU64>,
    pub not_modified: Arc<AtomicU64>,
    items: Arc<Mutex<Items>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Upstream {
    /// Serves `count` items on `addr` (port 0 for any).
    pub async fn start(addr: &str, count: u64) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let list = (1..=count)
            .map(|id| json!({"id": id, "name": format!("item {id}"), "count": 0, "updated_at": now_ms()}))
            .collect();
        let upstream = Self {
            addr: listener.local_addr()?,
            requests: Arc::default(),
            not_modified: Arc::default(),
            items: Arc::default(),
        };
        upstream.set(list);
        let serving = upstream.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                tokio::spawn(serving.clone().serve(socket));
            }
        });
        Ok(upstream)
    }

    pub fn url(&self) -> String {
        format!("http://{}/items", self.addr)
    }

    /// Replaces the items (a new version, even if equal).
    pub fn set(&self, list: Vec<Value>) {
        let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        items.version += 1;
        items.body = Arc::new(serde_json::to_vec(&list).unwrap_or_default());
        items.list = list;
    }

    /// The items now.
    pub fn list(&self) -> Vec<Value> {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .list
            .clone()
    }

    /// Changes item `n` (by position, wrapping): one more `count`, stamped now.
    pub fn bump(&self, n: usize) {
        let mut list = self.list();
        if list.is_empty() {
            return;
        }
        let at = n % list.len();
        let count = list[at]["count"].as_u64().unwrap_or(0) + 1;
        list[at]["count"] = json!(count);
        list[at]["updated_at"] = json!(now_ms());
        self.set(list);
    }

    /// Changes one item every `every`, round the list.
    pub fn change_every(&self, every: Duration) {
        let upstream = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            for n in 0.. {
                ticks.tick().await;
                upstream.bump(n);
            }
        });
    }

    async fn serve(self, mut socket: TcpStream) {
        let mut buffer = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            let Some(end) = find(&buffer, b"\r\n\r\n") else {
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
                continue;
            };
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            buffer.drain(..end + 4);
            let known = head
                .lines()
                .find_map(|line| line.strip_prefix("if-none-match:"))
                .map(|v| v.trim().to_owned());
            let (version, body) = {
                let items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
                (items.version, items.body.clone())
            };
            let etag = format!("\"v{version}\"");
            self.requests.fetch_add(1, Relaxed);
            let answer = if known.as_deref() == Some(etag.as_str()) {
                self.not_modified.fetch_add(1, Relaxed);
                format!("HTTP/1.1 304 Not Modified\r\netag: {etag}\r\n\r\n").into_bytes()
            } else {
                let mut answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\netag: {etag}\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                answer.extend_from_slice(&body);
                answer
            };
            if socket.write_all(&answer).await.is_err() {
                return;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
