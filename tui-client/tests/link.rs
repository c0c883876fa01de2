//! `--link`: the emulated link under a connection adds its delay to a round
//! trip, and stalls about the share of writes its loss says, delivering
//! every byte in order. Bounds are wide: these pin behaviour, not speed.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use pollpush_client::net::link::LinkSpec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// A TCP echo server on a free port; a connection to it.
async fn echo() -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let (mut read, mut write) = socket.split();
        let _ = tokio::io::copy(&mut read, &mut write).await;
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_trip_through_a_100ms_link_takes_100ms() {
    let link = LinkSpec::parse("delay 100ms").unwrap();
    let mut stream = link.wrap(echo().await);
    let mut trips = Vec::new();
    for i in 0..7u8 {
        let started = Instant::now();
        stream.write_all(&[i; 32]).await.unwrap();
        let mut back = [0u8; 32];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(back, [i; 32]);
        trips.push(started.elapsed());
    }
    trips.sort();
    // The median, so that one late wake-up on a busy machine does not decide.
    let median = trips[trips.len() / 2];
    assert!(
        (Duration::from_millis(80)..=Duration::from_millis(120)).contains(&median),
        "{trips:?}"
    );
    assert!(
        trips[0] >= Duration::from_millis(95),
        "never faster: {trips:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_10_percent_loss_about_a_tenth_of_the_writes_stall_and_all_arrive_in_order() {
    let link = LinkSpec::parse("loss 10%").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    const WRITES: u32 = 1000;
    let reader = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut all = Vec::new();
        socket.read_to_end(&mut all).await.unwrap();
        (all, Instant::now())
    });
    let mut stream = link.wrap(TcpStream::connect(addr).await.unwrap());
    let started = Instant::now();
    for i in 0..WRITES {
        // Each write is one small segment: lost with probability 10%.
        stream.write_all(&i.to_be_bytes()).await.unwrap();
    }
    stream.shutdown().await.unwrap();
    let stats = stream.stats();
    let (writes, stalled) = (
        stats.writes.load(Relaxed),
        stats.writes_stalled.load(Relaxed),
    );
    let (all, ended) = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .unwrap()
        .unwrap();
    drop(stream);
    assert_eq!(writes, u64::from(WRITES));
    assert!(
        (50..=180).contains(&stalled),
        "{stalled} of {writes} stalled"
    );
    let received: Vec<u32> = all
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(
        received,
        (0..WRITES).collect::<Vec<_>>(),
        "every write, in order"
    );
    assert!(
        ended - started >= link.rto(),
        "a stalled write holds what follows for a retransmission timeout"
    );
}
