//! Debian's headless Chromium for the browser tests, started on a profile of
//! its own and always killed, with every process it forked, when the test
//! ends (passed, failed or panicked). Without `/usr/bin/chromium` a test says
//! it was skipped and passes, so `cargo test` works with only Rust;
//! `.ci/run` sets `POLLPUSH_REQUIRE_CHROMIUM=1`, which turns the skip into a failure.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine;

use super::DEADLINE;

/// Set by `.ci/run`: the browser tests must run there.
pub const REQUIRE_CHROMIUM: &str = "POLLPUSH_REQUIRE_CHROMIUM";

/// Debian's launcher (package `chromium`); it execs the browser itself.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Lines of Chromium's stderr kept to explain a failure.
const STDERR_TAIL: usize = 30;

/// Whether Chromium is here, or `false` after one visible line saying why `what` is skipped.
pub fn available_or_skip(what: &str) -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var_os(REQUIRE_CHROMIUM).is_none(),
        "{REQUIRE_CHROMIUM} is set but {what} cannot run: {CHROMIUM} is missing"
    );
    // Straight to stderr: libtest would swallow `eprintln!` of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {what} ({CHROMIUM} is missing; apt-get install chromium, \
         or set {REQUIRE_CHROMIUM}=1 to make this a failure)"
    );
    false
}

/// What `--ignore-certificate-errors-spki-list` takes: the base64 of the
/// SHA-256 of a certificate's SubjectPublicKeyInfo (DER). Chromium then
/// trusts that one key and still checks everything else (names, dates).
pub fn spki_pin(spki_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// A running headless Chromium. Dropping it kills its process group and
/// removes its profile and temporary files.
pub struct Chromium {
    child: Child,
    /// The browser-wide DevTools endpoint, `ws://127.0.0.1:PORT/devtools/browser/ID`.
    pub devtools_url: String,
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// Its profile, TMPDIR and home; removed after `drop` has killed the browser,
    /// which writes into them until then.
    _scratch: tempfile::TempDir,
}

impl Chromium {
    /// Starts Chromium trusting only the key pinned by `spki_pin` (see
    /// [`spki_pin`]), with `extra` flags, and waits for its DevTools endpoint.
    pub async fn launch(spki_pin: &str, extra: &[&str]) -> Chromium {
        let scratch = tempfile::tempdir().unwrap();
        let mut child = command(scratch.path(), spki_pin, extra).spawn().unwrap();
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let url = watch_stderr(child.stderr.take().unwrap(), stderr.clone());
        // Owned by the guard from here on, so a failure below still kills it.
        let mut chromium = Chromium {
            child,
            devtools_url: String::new(),
            stderr,
            _scratch: scratch,
        };
        match tokio::time::timeout(DEADLINE, url).await {
            Ok(Ok(url)) => chromium.devtools_url = url,
            _ => panic!(
                "Chromium printed no DevTools URL; its stderr ends with:\n{}",
                chromium.stderr_tail()
            ),
        }
        chromium
    }

    /// The last lines Chromium wrote on stderr, for failure messages.
    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock().unwrap();
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // The browser leads its group (`process_group(0)`): this reaches its
        // renderer, GPU and network processes too, even if it is hung.
        let group = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.child.wait();
    }
}

/// Headless Chromium with a DevTools port of the kernel's choice, its every
/// file under `scratch`, in a process group of its own.
fn command(scratch: &Path, spki_pin: &str, extra: &[&str]) -> Command {
    let [profile, tmp, home] = ["profile", "tmp", "home"].map(|d| scratch.join(d));
    for dir in [&profile, &tmp, &home] {
        std::fs::create_dir(dir).unwrap();
    }
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless=new",
        "--remote-debugging-port=0",
        // The sandbox refuses to run as root, as tests do in containers;
        // the page is the test's own.
        "--no-sandbox",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        // Containers give /dev/shm 64 MB; Debian's launcher adds this too when it is small.
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--ignore-certificate-errors-spki-list={spki_pin}"))
    .args(extra)
    .arg("about:blank")
    // Its singleton socket and, with --disable-dev-shm-usage, its shared
    // memory go to TMPDIR, its crash database and GTK's cache to the home
    // folder: killed, it cannot remove them, so they go with `scratch`.
    .env("TMPDIR", &tmp)
    .env("HOME", &home)
    .env_remove("XDG_CONFIG_HOME")
    .env_remove("XDG_CACHE_HOME")
    // Its own process group, so one signal reaches every process it forks.
    .process_group(0)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd
}

/// Reads Chromium's stderr to its end (a full pipe would stall the browser),
/// keeping the last lines in `tail`; receives the DevTools URL once printed.
fn watch_stderr(
    pipe: std::process::ChildStderr,
    tail: Arc<Mutex<VecDeque<String>>>,
) -> tokio::sync::oneshot::Receiver<String> {
    let (url_tx, url_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut url_tx = Some(url_tx);
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("DevTools listening on ")
                && let Some(tx) = url_tx.take()
            {
                let _ = tx.send(url.trim().to_owned());
            }
            // Without a D-Bus (containers, CI) it complains on every start.
            if line.contains("dbus") {
                continue;
            }
            let mut tail = tail.lock().unwrap();
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    });
    url_rx
}
