use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use super::Wire;
use crate::stats::{ConnCounter, ConnTag, Stats};

/// A wire over a real loopback connection, and the peer's end of it.
async fn pair() -> (Wire, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (peer, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (tcp, _) = accepted.unwrap();
    let wire = Wire::new(tcp, ConnCounter(ConnTag::new(Arc::new(Stats::default()))));
    wire.cap_send_buffer(4096);
    (wire, peer.unwrap())
}

/// Two tasks write to a wire whose peer does not read yet: both wait for the
/// socket. Once the peer reads, both must finish, though tokio wakes only the
/// last task that polled the socket's write readiness.
#[tokio::test]
async fn every_waiting_writer_finishes_once_the_peer_reads() {
    let (wire, mut peer) = pair().await;
    let frame = vec![b'x'; 256 * 1024];
    let (a, b) = (wire.clone(), wire.clone());
    let (fa, fb) = (frame.clone(), frame.clone());
    let first = tokio::spawn(async move { a.write_frame(&fa).await });
    let second = tokio::spawn(async move { b.write_frame(&fb).await });
    let expected = 2 * frame.len();
    let reader = tokio::spawn(async move {
        let mut got = 0;
        let mut buf = vec![0; 64 * 1024];
        while got < expected {
            match peer.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        got
    });
    let both = async {
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
    };
    tokio::time::timeout(Duration::from_secs(20), both)
        .await
        .expect("a writer was never woken");
    let got = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("the peer did not get every byte")
        .unwrap();
    assert_eq!(got, expected);
}
