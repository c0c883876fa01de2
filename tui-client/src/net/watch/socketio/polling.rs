//! The Engine.IO long-polling transport, for socket.io servers that do not
//! offer WebSocket (`transports: ['polling']`, or a proxy without upgrades).
//!
//! Like a browser, it holds two HTTP/1.1 connections: one whose `GET` the
//! server holds until it has packets, one for the `POST`s the client sends.
//! The `GET` loop runs in a task of its own feeding a channel, so waiting
//! for a packet can be cancelled (by the ping timer) without losing a reply.
//! Both connections count their bytes, TLS included.

use std::sync::Arc;

use ::http::header;
use hyper::client::conn::http1::SendRequest;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::super::WatchConfig;
use crate::net::counting::Traffic;
use crate::net::http;
use crate::net::origin::Origin;

/// Why the transport could not be opened.
pub enum OpenError {
    /// The server answered the handshake with an error status: try another version.
    Refused(String),
    /// Anything else (no connection, TLS), reported as is.
    Failed(String),
}

/// An open polling session: packets in through [`Polling::next`], out through [`Polling::send`].
pub struct Polling {
    config: Arc<WatchConfig>,
    origin: Origin,
    /// `/socket.io/?EIO=…&transport=polling&sid=…`.
    path: String,
    eio: u8,
    poster: SendRequest<String>,
    packets: mpsc::Receiver<Result<String, String>>,
    getter: JoinHandle<()>,
}

impl Drop for Polling {
    fn drop(&mut self) {
        self.getter.abort();
    }
}

impl Polling {
    /// The handshake `GET`; the open packet comes first out of [`Polling::next`].
    pub async fn open(
        config: Arc<WatchConfig>,
        origin: Origin,
        eio: u8,
        traffic: Arc<Traffic>,
    ) -> Result<Self, OpenError> {
        let failed = |e: crate::net::NetError| OpenError::Failed(e.to_string());
        // b64: a socket.io 2.x server would otherwise answer in its binary framing.
        let base = format!("/socket.io/?EIO={eio}&transport=polling&b64=1");
        let dial = origin.dial(&config.tls, traffic.clone());
        let mut getter = http::handshake(dial.await.map_err(failed)?)
            .await
            .map_err(failed)?;
        let (status, body) = exchange(&mut getter, get(&config, &origin, &base))
            .await
            .map_err(OpenError::Failed)?;
        if !status.is_success() {
            return Err(OpenError::Refused(format!("HTTP {status}")));
        }
        let packets = decode(&body, eio);
        let sid = packets
            .first()
            .and_then(|open| open.strip_prefix('0'))
            .and_then(|open| serde_json::from_str::<serde_json::Value>(open).ok())
            .and_then(|open| open.get("sid")?.as_str().map(str::to_owned))
            .ok_or_else(|| OpenError::Failed(format!("not a socket.io open packet: {body}")))?;
        let path = format!("{base}&sid={sid}");
        let dial = origin.dial(&config.tls, traffic);
        let poster = http::handshake(dial.await.map_err(failed)?)
            .await
            .map_err(failed)?;
        let (sender, receiver) = mpsc::channel(64);
        for packet in packets {
            // The channel is new and larger than one answer's packets.
            let _ = sender.try_send(Ok(packet));
        }
        let request = {
            let (config, origin, path) = (config.clone(), origin.clone(), path.clone());
            move || get(&config, &origin, &path)
        };
        let getter = tokio::spawn(receive(getter, request, eio, sender));
        Ok(Self {
            config,
            origin,
            path,
            eio,
            poster,
            packets: receiver,
            getter,
        })
    }

    /// The next packet; `None` once the receiving loop ended.
    pub async fn next(&mut self) -> Option<Result<String, String>> {
        self.packets.recv().await
    }

    /// Sends one packet in a `POST`.
    pub async fn send(&mut self, packet: String) -> Result<(), String> {
        let body = match self.eio {
            3 => format!("{}:{packet}", packet.encode_utf16().count()),
            _ => packet,
        };
        let mut request = ::http::Request::post(&self.path)
            .header(header::HOST, self.origin.host_header())
            .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8");
        for (name, value) in &self.config.headers {
            request = request.header(name, value);
        }
        let request = request.body(body).map_err(|e| e.to_string())?;
        let (status, answer) = exchange(&mut self.poster, Ok(request)).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("socket.io polling POST: HTTP {status}: {answer}"))
        }
    }
}

/// A `GET` of `path` with the `-H` headers.
fn get(
    config: &WatchConfig,
    origin: &Origin,
    path: &str,
) -> Result<::http::Request<String>, String> {
    let headers: Vec<_> = config
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.to_str().unwrap_or_default().to_owned()))
        .collect();
    http::get_from(&origin.host_header(), path, &headers).map_err(|e| e.to_string())
}

/// Sends `request` and reads the whole answer.
async fn exchange(
    sender: &mut SendRequest<String>,
    request: Result<::http::Request<String>, String>,
) -> Result<(::http::StatusCode, String), String> {
    let request = request?;
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = http::read_body(response.into_body())
        .await
        .map_err(|e| e.to_string())?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Asks for packets until the connection fails or the session is dropped.
async fn receive(
    mut getter: SendRequest<String>,
    request: impl Fn() -> Result<::http::Request<String>, String>,
    eio: u8,
    packets: mpsc::Sender<Result<String, String>>,
) {
    loop {
        let answer = match exchange(&mut getter, request()).await {
            Ok((status, body)) if status.is_success() => Ok(decode(&body, eio)),
            Ok((status, body)) => Err(format!("socket.io polling GET: HTTP {status}: {body}")),
            Err(error) => Err(error),
        };
        match answer {
            Ok(decoded) => {
                for packet in decoded {
                    if packets.send(Ok(packet)).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => {
                let _ = packets.send(Err(error)).await;
                return;
            }
        }
    }
}

/// The packets of one answer: separated by U+001E (Engine.IO 4), or each
/// prefixed with its length in UTF-16 units and a colon (Engine.IO 3).
fn decode(payload: &str, eio: u8) -> Vec<String> {
    if eio != 3 {
        return payload
            .split('\u{1e}')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let mut packets = Vec::new();
    let mut rest = payload;
    while let Some((length, tail)) = rest.split_once(':') {
        let Ok(length) = length.parse::<usize>() else {
            break;
        };
        let mut units = 0;
        let end = tail
            .char_indices()
            .find(|(_, c)| {
                units += c.len_utf16();
                units > length
            })
            .map_or(tail.len(), |(at, _)| at);
        packets.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    packets
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn payloads_split_into_packets_by_version() {
        assert_eq!(decode("40\u{1e}42[\"a\"]", 4), ["40", "42[\"a\"]"]);
        assert_eq!(decode("2:409:42[\"é\",1]", 3), ["40", "42[\"é\",1]"]);
        assert_eq!(decode("1:3", 3), ["3"]);
        assert!(decode("", 4).is_empty());
    }
}
