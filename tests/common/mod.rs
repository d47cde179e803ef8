//! What the process-level tests share: the built binaries, the test
//! database, killed-on-drop children and `signoff serve` subprocesses.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers; each test file uses a part"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `target/debug`, where cargo put this test binary's siblings.
pub fn debug_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// The binary `name` under `target/debug`, built with `cargo <build>` first
/// (a no-op when it is up to date).
pub fn binary(name: &str, build: &[&str]) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(build)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success());
    debug_dir().join(name)
}

/// The test database's admin URL; under `CI=true` its absence fails the test.
pub fn admin_url(what: &str) -> Option<String> {
    match std::env::var("SIGNOFF_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("SIGNOFF_TEST_DATABASE_URL is not set")
        }
        _ => {
            eprintln!("SIGNOFF_TEST_DATABASE_URL is not set: {what} did not run");
            None
        }
    }
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `signoff serve --config CONFIG` with `env` and returns it with the
/// URL it listens on.
pub fn serve(signoff: &Path, config: &Path, env: &[(&str, &str)]) -> (Killed, String) {
    let mut child = Command::new(signoff)
        .args(["serve", "--config"])
        .arg(config)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split("listening on ")
        .nth(1)
        .unwrap_or_else(|| panic!("serve said: {line}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    (Killed(child), url)
}
