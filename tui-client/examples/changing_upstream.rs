//! A REST API that changes once per interval, for trying and benchmarking
//! the gateway (`pollpush load --gateway`, `pollpush-server --feed`):
//! `cargo run --release -p pollpush-client --example changing_upstream -- 127.0.0.1:8088 1s 20`
//! serves 20 items at `/items` (any path), changing one every second, each
//! stamped with its change time in `updated_at` (Unix milliseconds).

#[path = "../tests/common/upstream.rs"]
mod upstream;

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8088".to_owned());
    let every = humantime::parse_duration(&args.next().unwrap_or_else(|| "1s".to_owned()))?;
    let items: u64 = args.next().map_or(Ok(20), |n| n.parse())?;
    let upstream = upstream::Upstream::start(&addr, items).await?;
    upstream.change_every(every);
    println!(
        "serving {items} items at {}, one change every {every:?}",
        upstream.url()
    );
    // A line a second: what the upstream sees, whoever polls it.
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let requests = upstream.requests.load(Relaxed);
        println!(
            "requests {requests} (+{}/s), 304s {}",
            requests - last,
            upstream.not_modified.load(Relaxed)
        );
        last = requests;
    }
}
