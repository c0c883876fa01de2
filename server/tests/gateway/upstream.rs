//! A REST upstream made in the test: it answers every GET with what the test
//! last set, and remembers each request's head, so a test can change the
//! upstream's data or break it mid-run and see what the gateway sent.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the upstream answers next.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `200` with this JSON, and `304` to a request that names `etag`.
    Json { body: String, etag: Option<String> },
    /// This status and an empty body.
    Status(u16),
    /// Headers never come: the gateway's timeout must.
    Hang,
    /// `200` with a body that is not JSON.
    Garbage,
    /// `200` with this many bytes and no `Content-Length`: only reading tells the size.
    Endless(usize),
}

#[derive(Debug, Clone)]
pub struct Upstream {
    pub url: String,
    answer: Arc<Mutex<Answer>>,
    /// Every request: when it came, and its head, lowercased.
    requests: Arc<Mutex<Vec<(std::time::Instant, String)>>>,
}

impl Upstream {
    pub async fn start(first: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/items", listener.local_addr().unwrap());
        let upstream = Self {
            url,
            answer: Arc::new(Mutex::new(first)),
            requests: Arc::default(),
        };
        let serving = upstream.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serving.clone().answer_one(socket));
            }
        });
        upstream
    }

    pub fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = answer;
    }

    /// `200` with `body` and no validators.
    pub fn set_json(&self, body: serde_json::Value) {
        self.set(Answer::Json {
            body: body.to_string(),
            etag: None,
        });
    }

    /// Every request head received so far, lowercased.
    pub fn heads(&self) -> Vec<String> {
        self.requests().into_iter().map(|(_, head)| head).collect()
    }

    /// Every request so far: when it came, and its head, lowercased.
    pub fn requests(&self) -> Vec<(std::time::Instant, String)> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// One request, one answer, and the connection closed.
    async fn answer_one(self, mut socket: tokio::net::TcpStream) {
        let mut head = Vec::new();
        let mut buf = [0_u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((std::time::Instant::now(), head.clone()));
        let answer = self
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let reply = match answer {
            Answer::Json { body, etag } => match etag {
                Some(etag) if head.contains(&format!("if-none-match: {}", etag.to_lowercase())) => {
                    format!(
                        "HTTP/1.1 304 Not Modified\r\netag: {etag}\r\ncontent-length: 0\r\n\r\n"
                    )
                }
                etag => {
                    let etag = etag.map(|e| format!("etag: {e}\r\n")).unwrap_or_default();
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{etag}content-length: {}\r\n\r\n{body}",
                        body.len()
                    )
                }
            },
            Answer::Status(status) => {
                format!("HTTP/1.1 {status} Oops\r\ncontent-length: 0\r\n\r\n")
            }
            Answer::Hang => {
                tokio::time::sleep(std::time::Duration::from_hours(1)).await;
                return;
            }
            Answer::Garbage => "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!".to_owned(),
            Answer::Endless(bytes) => {
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
                    .await;
                let chunk = vec![b' '; 4096];
                let mut sent = 0;
                while sent < bytes {
                    if socket.write_all(&chunk).await.is_err() {
                        return;
                    }
                    sent += chunk.len();
                }
                return;
            }
        };
        let _ = socket.write_all(reply.as_bytes()).await;
        let _ = socket.shutdown().await;
    }
}
