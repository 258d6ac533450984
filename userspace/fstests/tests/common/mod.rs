//! Helpers shared by the integration tests: run a test program, check its
//! PASS/FAIL lines, and scratch directories on each host file system.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Run {
    pub code: i32,
    pub out: String,
}

impl Run {
    pub fn lines(&self, prefix: &str) -> Vec<&str> {
        self.out.lines().filter(|l| l.starts_with(prefix)).collect()
    }
    pub fn passes(&self) -> usize {
        self.lines("PASS: ").len()
    }
    pub fn fails(&self) -> Vec<&str> {
        self.lines("FAIL: ")
    }
}

pub fn run(bin: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Run {
    let out = Command::new(bin)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        code: out.status.code().unwrap_or(-1),
        out: text,
    }
}

/// Exit 0, at least one PASS line, no FAIL line.
pub fn assert_clean(r: &Run, what: &str) {
    assert!(r.fails().is_empty(), "{what}: FAIL lines:\n{}", r.out);
    assert!(r.passes() > 0, "{what}: no PASS line:\n{}", r.out);
    assert_eq!(r.code, 0, "{what}: exit code:\n{}", r.out);
}

/// Exit 1 with at least one FAIL line.
pub fn assert_fails(r: &Run, what: &str) {
    assert_eq!(r.code, 1, "{what}: exit code should be 1:\n{}", r.out);
    assert!(!r.fails().is_empty(), "{what}: no FAIL line:\n{}", r.out);
}

/// Base directories on the host file systems to test on: the temporary
/// directory (whatever file system /tmp is), and /dev/shm (tmpfs) if
/// present and writable.
pub fn host_roots() -> Vec<PathBuf> {
    let mut v = vec![std::env::temp_dir()];
    let shm = Path::new("/dev/shm");
    if shm.is_dir() && tempfile::tempdir_in(shm).is_ok() {
        v.push(shm.to_path_buf());
    }
    v
}

pub fn fs_type(p: &Path) -> String {
    let out = Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(p)
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Err(_) => "?".into(),
    }
}
