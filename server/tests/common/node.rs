//! npm packages the tests drive (socket.io clients, the AsyncAPI parser),
//! installed once into the target folder. Without node and npm a test says
//! it was skipped and passes, so `cargo test` works with only Rust;
//! `.ci/run` sets `POLLPUSH_REQUIRE_NODE=1`, which turns the skip into a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Set by `.ci/run`: the JavaScript tools must run there.
pub const REQUIRE_NODE: &str = "POLLPUSH_REQUIRE_NODE";

/// Installs `tests/{name}/package.json` into the target folder once (`marker`
/// is a file the install leaves), or says why it cannot.
fn installed(name: &str, marker: &str) -> Result<PathBuf, String> {
    for tool in ["node", "npm"] {
        let found = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(format!("{tool} is not on the PATH"));
        }
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if !dir.join(marker).exists() {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::copy(here.join("package.json"), dir.join("package.json"))
            .map_err(|e| e.to_string())?;
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("npm install of tests/{name}/package.json failed"));
        }
    }
    Ok(dir)
}

/// The installed folder, or `None` after one visible line saying why `what` is skipped.
pub fn packages_or_skip(name: &str, marker: &str, what: &str) -> Option<PathBuf> {
    match installed(name, marker) {
        Ok(dir) => Some(dir),
        Err(why) if std::env::var_os(REQUIRE_NODE).is_some() => {
            panic!("{REQUIRE_NODE} is set but {what} cannot run: {why}")
        }
        Err(why) => {
            // Straight to stderr: libtest would swallow `eprintln!` of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {what} ({why}; install node and npm, \
                 or set {REQUIRE_NODE}=1 to make this a failure)"
            );
            None
        }
    }
}
