//! `signoff audit report` over a trail of 10,000 decisions from 4 streams
//! (about 33,000 records written by real gates, the report tests' mix):
//! the whole command, as an auditor runs it (process start, reading,
//! verifying every hash and signature, joining, rendering), per format, and
//! the OCSF export. Builds the release binary and the trail generator first.
//! Run with `cargo bench --bench report`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};

fn release(root: &Path, name: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("release")
        .join(name)
}

fn bench_report(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "signoff-cli",
            "--bin",
            "signoff",
            "--example",
            "report_trail",
        ])
        .status()
        .unwrap();
    assert!(
        built.success(),
        "cargo build --release -p signoff-cli failed"
    );
    let bin = release(root, "signoff");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(release(root, "examples/report_trail"))
        .arg(dir.path())
        .args(["10000", "4", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let fixture: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<String> = fixture["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    let pubkey = fixture["pubkey"].as_str().unwrap().trim().to_owned();
    let (records, bytes) = files.iter().fold((0, 0), |(r, b), f| {
        let text = std::fs::read_to_string(f).unwrap();
        (r + text.lines().count(), b + text.len())
    });
    eprintln!("trail: 10000 decisions, {records} records, {bytes} bytes in 4 files");
    let run = |args: &[&str]| {
        let o = Command::new(&bin).args(args).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout.len()
    };
    let mut group = c.benchmark_group("audit_report");
    group.sample_size(10);
    for format in ["html", "json", "csv"] {
        let mut args = vec!["audit", "report"];
        args.extend(files.iter().map(String::as_str));
        args.extend(["--format", format, "--pubkey", &pubkey]);
        eprintln!("{format}: {} bytes", run(&args));
        group.bench_function(format!("10k_decisions_{format}"), |b| b.iter(|| run(&args)));
    }
    let mut args = vec!["audit", "export"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--format", "ocsf"]);
    eprintln!("ocsf: {} bytes", run(&args));
    group.bench_function("10k_decisions_export_ocsf", |b| b.iter(|| run(&args)));
    group.finish();
}

criterion_group!(benches, bench_report);
criterion_main!(benches);
