//! schemathesis, the OpenAPI conformance fuzzer (`--checks all`, every phase),
//! against the real binary: without a write token, and with `--write-token`
//! and given the token. No failure means `/openapi.json` says what the server
//! does, for writers with and without a token alike.
//!
//! schemathesis is a Python package: the test installs the version pinned in
//! `tests/schemathesis/requirements.txt` into a virtualenv under the target
//! folder on first use. Without python3 the test says it skipped and passes,
//! so `cargo test` works with only Rust; `.ci/run` sets
//! `POLLPUSH_REQUIRE_PYTHON=1`, which turns the skip into a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, Once, PoisonError};

/// Set by `.ci/run`: schemathesis must run there.
const REQUIRE_PYTHON: &str = "POLLPUSH_REQUIRE_PYTHON";
/// Test cases per operation and phase: enough to cover every operation's
/// edges, few enough that both runs take about a minute on a loaded machine.
const MAX_EXAMPLES: &str = "25";
const TOKEN: &str = "schemathesis-t0ken";

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis")
}

/// The venv's `st`, installed once per pinned version, or why it cannot be.
fn installed() -> Result<PathBuf, String> {
    // Both tests may ask at once: one installs, the other waits.
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one = INSTALL.lock().unwrap_or_else(PoisonError::into_inner);
    let python = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !python.is_ok_and(|s| s.success()) {
        return Err("python3 is not on the PATH".to_owned());
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
    let st = venv.join("bin/st");
    let wanted =
        std::fs::read_to_string(here().join("requirements.txt")).map_err(|e| e.to_string())?;
    let stamp = venv.join("installed.txt");
    if st.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(st);
    }
    let made = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        return Err("python3 -m venv failed (Debian: apt-get install python3-venv)".to_owned());
    }
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(here().join("requirements.txt"))
        .status()
        .is_ok_and(|s| s.success());
    if !pip {
        return Err("pip install of tests/schemathesis/requirements.txt failed".to_owned());
    }
    std::fs::write(&stamp, wanted).map_err(|e| e.to_string())?;
    Ok(st)
}

/// `st`, or `None` after one visible line saying why the test is skipped.
fn schemathesis_or_skip() -> Option<PathBuf> {
    match installed() {
        Ok(st) => Some(st),
        Err(why) if std::env::var_os(REQUIRE_PYTHON).is_some() => {
            panic!("{REQUIRE_PYTHON} is set but schemathesis cannot run: {why}")
        }
        Err(why) => {
            // One line for both tests, straight to stderr: libtest would
            // swallow `eprintln!` of a passing test.
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: schemathesis ({why}; install python3 with venv, \
                     or set {REQUIRE_PYTHON}=1 to make this a failure)"
                );
            });
            None
        }
    }
}

/// Runs schemathesis against a fresh server started with `args`, sending
/// `headers`; fails the test with its report unless it found nothing.
fn check(st: &Path, args: &[&str], headers: &[String]) {
    // Killed when the test ends, however it ends.
    let (_server, addr) = common::start_binary(&[&["--db", ":memory:"], args].concat());
    let mut run = Command::new(st);
    // Its cache of past crashes goes in the target folder, not the source tree.
    run.current_dir(env!("CARGO_TARGET_TMPDIR"))
        .arg("--no-color")
        .arg("--config-file")
        .arg(here().join("schemathesis.toml"))
        .arg("run")
        .arg(format!("http://{addr}/openapi.json"))
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES]);
    for header in headers {
        run.args(["--header", header]);
    }
    let out = run.output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures against `pollpush-server {}`:\n{report}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn schemathesis_finds_nothing_against_a_server_without_a_token() {
    let Some(st) = schemathesis_or_skip() else {
        return;
    };
    check(&st, &[], &[]);
}

#[test]
fn schemathesis_finds_nothing_against_a_server_with_a_token_given_the_token() {
    let Some(st) = schemathesis_or_skip() else {
        return;
    };
    check(
        &st,
        &["--write-token", TOKEN],
        &[format!("Authorization: Bearer {TOKEN}")],
    );
}
