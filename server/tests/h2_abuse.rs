//! HTTP/2 abuse (issue 20): a rapid-reset flood (CVE-2023-44487), streams
//! opened and cancelled as fast as a raw client can, ends its connection with
//! GOAWAY, while another client's polls keep being answered.
#![allow(clippy::unwrap_used)]

mod common;

/// Streams the flood may open before the server must have ended it: far
/// more than the server's bounds on resets (20 pending, 1,024 local).
const FLOOD: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_flood_gets_goaway_and_other_clients_are_answered() {
    let server = common::spawn_server().await;
    let addr = server.local_addr();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
    let connection = tokio::spawn(connection);
    let mut sent = 0;
    let mut refused = None;
    while sent < FLOOD {
        client = match client.ready().await {
            Ok(client) => client,
            Err(e) => {
                refused = Some(e);
                break;
            }
        };
        let request = http::Request::get(format!("http://{addr}/species/"))
            .body(())
            .unwrap();
        match client.send_request(request, true) {
            // Dropped unanswered: h2 resets the stream (CANCEL).
            Ok((response, _)) => drop(response),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
        sent += 1;
    }
    let ended = tokio::time::timeout(common::DEADLINE, connection)
        .await
        .expect("the flooded connection did not end")
        .unwrap();
    let error = refused
        .or(ended.err())
        .unwrap_or_else(|| panic!("{sent} reset streams and no GOAWAY"));
    assert!(
        error.is_go_away(),
        "ended without GOAWAY after {sent} streams: {error}"
    );
    // Another client is served as ever.
    let r = common::get(&server, "/species/").await;
    assert_eq!(r.status(), 200);
    server.shutdown().await;
}
