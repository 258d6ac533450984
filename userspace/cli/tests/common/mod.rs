//! Shared helpers: the built `livedfs` and `mkfs-livedfs` binaries.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;

pub fn livedfs_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_livedfs"))
}

/// The workspace's mkfs binary, next to ours (target/<profile>/), built
/// (or found up to date) once per test run with `cargo build -p
/// livedfs-mkfs` in the same profile and target directory: `cargo test -p
/// livedfs-cli` alone does not build it, and an old one may be stale.
pub fn mkfs_bin() -> PathBuf {
    static BUILD: Once = Once::new();
    workspace_bin(&BUILD, "livedfs-mkfs", "mkfs-livedfs")
}

/// The workspace's fsck binary, built as [`mkfs_bin`] is.
pub fn fsck_bin() -> PathBuf {
    static BUILD: Once = Once::new();
    workspace_bin(&BUILD, "livedfs-fsck", "fsck-livedfs")
}

fn workspace_bin(once: &Once, package: &str, name: &str) -> PathBuf {
    let dir = livedfs_bin().parent().unwrap().to_path_buf();
    let p = dir.join(name);
    once.call_once(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c.args(["build", "-q", "-p", package, "--manifest-path"])
            .arg(&manifest);
        if dir.file_name().unwrap() == "release" {
            c.arg("--release");
        }
        if dir.parent().unwrap().file_name().unwrap() == "x86_64-unknown-linux-gnu" {
            c.args(["--target", "x86_64-unknown-linux-gnu"]);
        }
        let st = c
            .status()
            .unwrap_or_else(|e| panic!("run cargo build -p {package}: {e}"));
        assert!(st.success(), "cargo build -p {package} failed");
    });
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p {package}`",
        p.display()
    );
    p
}

/// A fixed UUID, so checksums and output are reproducible.
pub const UUID: &str = "0b6f4a52-6a5c-4d7e-9f10-1234567890ab";
/// SOURCE_DATE_EPOCH for mkfs: every time stamp is this.
pub const EPOCH: &str = "1700000000";

/// Makes an image of `size` with mkfs and `args`.
pub fn mkfs(img: &Path, size: &str, args: &[&str]) {
    let o = Command::new(mkfs_bin())
        .args(["-q", "-F", "-U", UUID])
        .args(args)
        .arg(img)
        .arg(size)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "mkfs failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn livedfs(args: &[&str]) -> Output {
    Command::new(livedfs_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs livedfs, which must succeed; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let o = livedfs(args);
    assert!(
        o.status.success(),
        "livedfs {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Runs livedfs --json ..., parsed.
pub fn json(args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ok(&a)).unwrap()
}
