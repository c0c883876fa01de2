//! The talk's Flask servers (/work/shared/peers), run from the peers'
//! virtualenv when this machine has one.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const VENV_PYTHON: &str = "/tmp/peers-venv/bin/python";
const PEERS: &str = "/work/shared/peers";

/// A running peer; killed when dropped.
pub struct Peer {
    pub port: u16,
    _child: Child,
}

/// Starts `script` on port 0; `None`, with one line saying why, when the
/// virtualenv or the script is missing.
pub async fn start(script: &str) -> Option<Peer> {
    let path = Path::new(PEERS).join(script);
    if !Path::new(VENV_PYTHON).exists() || !path.exists() {
        eprintln!(
            "skipped: no {VENV_PYTHON} or {} (run {PEERS}/setup.sh)",
            path.display()
        );
        return None;
    }
    let mut child = Command::new(VENV_PYTHON)
        .arg(&path)
        .env("PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the peer");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let port = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(port) = line
                .split("Running on http://127.0.0.1:")
                .nth(1)
                .and_then(|p| p.trim().parse::<u16>().ok())
            {
                return Some(port);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("the peer says where it listens");
    // Keep reading its log so the pipe never fills up.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(Peer {
        port,
        _child: child,
    })
}

/// The size of one whole answer (head and body) to `GET path`, read from a
/// socket of our own: what the peer writes per poll.
pub async fn answer_size(port: u16, path: &str) -> u64 {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.expect("read");
    // Werkzeug closes after each answer, so a poll's answer is this one, byte for byte
    // but for the Date's value, which has a fixed width.
    answer.len() as u64
}
