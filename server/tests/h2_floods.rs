//! HTTP/2 abuse that no well-behaved client library will send (issue 20),
//! written as raw frames on a TCP socket: an endless header block (a
//! CONTINUATION flood) and SETTINGS frames sent without reading their ACKs
//! (a SETTINGS flood). Each must end its connection without the server holding
//! more than a bound for it, while other clients are answered. The 16 KiB
//! header rule holds on h2 as on HTTP/1.1.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::h2::raw::{
    CONTINUATION, END_STREAM, ENHANCE_YOUR_CALM, GET_ROOT, HEADERS, SETTINGS, frame, goaway,
    opening,
};
use http_body_util::BodyExt;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pollpush_server::config::HttpConfig;
use pollpush_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Whether the server closed `tcp`: reads (and drops) until the end.
async fn closed(tcp: &mut TcpStream) -> bool {
    let drain = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(common::DEADLINE, drain)
        .await
        .unwrap_or(false)
}

/// The species list over another connection: other clients are answered.
async fn another_client_is_answered(server: &Server) {
    let r = tokio::time::timeout(common::DEADLINE, common::get(server, "/species/"))
        .await
        .expect("another client's poll was not answered");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_header_block_gets_goaway_after_a_few_continuations() {
    let server = common::spawn_server().await;
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    // GET / with no END_HEADERS: a header block that CONTINUATION frames
    // extend, each with one more small field.
    let mut flood = opening();
    flood.extend(frame(HEADERS, END_STREAM, 1, &GET_ROOT));
    let field = [0x00, 3, b'x', b'-', b'a', 1, b'b'];
    for _ in 0..64 {
        flood.extend(frame(CONTINUATION, 0, 1, &field));
    }
    tcp.write_all(&flood).await.unwrap();
    // h2 allows as many CONTINUATIONs as the 16 KiB header list needs (at
    // least 5), then ends the connection: the block is never buffered whole.
    assert_eq!(goaway(&mut tcp).await, Some(ENHANCE_YOUR_CALM));
    assert!(closed(&mut tcp).await, "the connection stayed open");
    another_client_is_answered(&server).await;
    server.shutdown().await;
}

/// One h2c connection (prior knowledge), driven in the background.
async fn h2c(server: &Server) -> http2::SendRequest<String> {
    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .handshake::<_, String>(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

/// `GET /species/` on `sender` with one extra header of `bytes` bytes.
async fn get_with_header(sender: &mut http2::SendRequest<String>, bytes: usize) -> u16 {
    let request = http::Request::get("http://localhost/species/")
        .header("x-padding", "a".repeat(bytes))
        .body(String::new())
        .unwrap();
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_list_over_16_kib_on_h2_gets_431_and_the_connection_lives_on() {
    let server = common::spawn_server().await;
    let mut sender = h2c(&server).await;
    assert_eq!(get_with_header(&mut sender, 12 * 1024).await, 200);
    // Sent as HEADERS and CONTINUATION frames (larger than one frame).
    assert_eq!(get_with_header(&mut sender, 20 * 1024).await, 431);
    // A stream error, not a connection error: the next request is served.
    assert_eq!(get_with_header(&mut sender, 0).await, 200);
    server.shutdown().await;
}

/// How much a flood of `SETTINGS` may be read ahead of its ACKs being written:
/// h2's read buffer and its write buffer, with room to spare.
const SETTINGS_SLACK: u64 = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settings_flood_that_never_reads_its_acks_is_held_to_what_the_socket_takes() {
    // A short header deadline: a connection that sends frames and no request is cut by it.
    let server = common::spawn_server_with(Config {
        http: HttpConfig {
            header_timeout: Duration::from_secs(2),
            ..HttpConfig::default()
        },
        ..Config::default()
    })
    .await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    // A small receive window: the server's ACKs fill it (and its own send buffer) soon.
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(server.local_addr()).await.unwrap();
    tcp.write_all(&opening()).await.unwrap();
    let batch = frame(SETTINGS, 0, 0, &[]).repeat(4096);
    let (reader, mut writer) = tcp.into_split();
    let flood = tokio::spawn(async move {
        let mut sent = 0u64;
        // 64 MiB: far more than the kernel buffers on both ends hold.
        while sent < 64 << 20 {
            if writer.write_all(&batch).await.is_err() {
                return (sent, true);
            }
            sent += batch.len() as u64;
        }
        (sent, false)
    });
    another_client_is_answered(&server).await;
    // The server answers each SETTINGS before it reads the next, so once the
    // ACKs stop leaving it stops reading, until the header deadline ends the connection.
    let (sent, refused) = tokio::time::timeout(common::DEADLINE, flood)
        .await
        .expect("the flood neither stalled and ended nor finished")
        .unwrap();
    assert!(refused, "the server read all of {sent} B of SETTINGS");
    let rest = server.stats().rest;
    // The other client's poll is a few hundred bytes of each.
    assert!(
        rest.bytes_in <= rest.bytes_out + SETTINGS_SLACK,
        "read {} B but wrote {} B: ACKs were queued in memory",
        rest.bytes_in,
        rest.bytes_out
    );
    drop(reader);
    another_client_is_answered(&server).await;
    server.shutdown().await;
}
