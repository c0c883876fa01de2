//! The server binary's log lines, as an operator sees them on stderr.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The binary's first log line that mentions `needle`, with `args` and `env`;
/// stderr is a pipe, as under a service manager or `2>server.log`.
pub async fn log_line(args: &[&str], env: &[(&str, &str)], needle: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pollpush-server"))
        .args(["--addr", "127.0.0.1:0", "--db", ":memory:"])
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .env_remove("POLLPUSH_LOG_FORMAT")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let found = tokio::time::timeout(super::DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("the server ended without logging {needle:?}")
    })
    .await
    .unwrap_or_else(|_| panic!("no log line with {needle:?} within {:?}", super::DEADLINE));
    child.kill().await.unwrap();
    found
}
