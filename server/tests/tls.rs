//! TLS served by the server itself (issue 20): HTTPS and HTTP/2 by ALPN, a
//! bad certificate or key refused at start with one line and exit code 2.
//! The lanes over TLS are tested from the client (tui-client/tests/served_tls.rs).
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn server() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pollpush-server"));
    cmd.args(["--addr", "127.0.0.1:0", "--db", ":memory:"]);
    cmd
}

/// Exit code 2 and one line on stderr that names `file`.
fn refused(mut cmd: Command, file: &str) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(file), "{stderr}");
}

#[test]
fn a_missing_certificate_is_one_line_and_exit_code_2() {
    let mut cmd = server();
    cmd.args([
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    refused(cmd, "/nonexistent/cert.pem");
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let b = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.path().join("a.pem");
    let key = dir.path().join("b-key.pem");
    std::fs::write(&cert, a.cert.pem()).unwrap();
    std::fs::write(&key, b.signing_key.serialize_pem()).unwrap();
    let mut cmd = server();
    cmd.arg("--tls-cert").arg(&cert).arg("--tls-key").arg(&key);
    refused(cmd, &key.to_string_lossy());
}

#[test]
fn a_file_that_is_not_pem_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    let mut cmd = server();
    cmd.arg("--tls-cert").arg(&cert).arg("--tls-key").arg(&cert);
    refused(cmd, &cert.to_string_lossy());
}
