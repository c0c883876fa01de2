//! The `n` key against a server with `--write-token`: refused with a clear
//! message without `--token`, applied with it.
#![allow(clippy::unwrap_used)]

use pollpush_client::net::{Endpoints, control};
use pollpush_server::{Config, Server};

const TOKEN: &str = "s3cret-t0ken";

#[tokio::test]
async fn the_n_key_sends_the_token_it_was_given() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::start(
        listener,
        Config {
            write_token: Some(TOKEN.into()),
            ..Config::default()
        },
    )
    .await
    .unwrap();
    let endpoints = Endpoints::new(&format!("http://{}", server.local_addr()), None).unwrap();

    let refused = control::write_now(&control::writer(None), &endpoints)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("401") && refused.contains("--token"),
        "{refused}"
    );
    assert_eq!(server.stats().revision, 0);

    let done = control::write_now(&control::writer(Some(TOKEN)), &endpoints)
        .await
        .unwrap();
    assert!(done.contains("revision 1"), "{done}");
    server.shutdown().await;
}
