//! difftest: two trees on the host (same and different file systems) must
//! agree; manifests round-trip; corruption of either kind is detected.

mod common;

use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_difftest");

fn difftest_run(a: &Path, b: &Path, seed: &str, ops: &str, procs: &str, extra: &[&str]) -> Run {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &"run",
        &"--seed",
        &seed,
        &"--ops",
        &ops,
        &"--procs",
        &procs,
        &"--dup-ratio",
        &"0.5",
    ];
    for e in extra {
        args.push(e);
    }
    args.push(&a);
    args.push(&b);
    run(BIN, &args)
}

#[test]
fn two_trees_on_the_same_file_system_agree() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = difftest_run(a.path(), b.path(), "7", "3000", "3", &[]);
    assert_clean(&r, "difftest run");
    // One line per process and one for the trees.
    assert_eq!(r.passes(), 4, "{}", r.out);
    assert!(
        r.out.contains("PASS: trees A and B are identical"),
        "{}",
        r.out
    );
}

#[test]
fn two_trees_on_every_pair_of_host_file_systems_agree() {
    let roots = host_roots();
    for ra in &roots {
        for rb in &roots {
            let (a, b) = (
                tempfile::tempdir_in(ra).unwrap(),
                tempfile::tempdir_in(rb).unwrap(),
            );
            let r = difftest_run(a.path(), b.path(), "42", "5000", "4", &[]);
            let what = format!(
                "difftest {} ({}) vs {} ({})",
                ra.display(),
                fs_type(ra),
                rb.display(),
                fs_type(rb)
            );
            assert_clean(&r, &what);
            assert_eq!(r.passes(), 5, "{what}:\n{}", r.out);
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_tree() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    assert_clean(
        &difftest_run(dirs[0].path(), dirs[1].path(), "5", "1500", "2", &[]),
        "first run",
    );
    assert_clean(
        &difftest_run(dirs[2].path(), dirs[3].path(), "5", "1500", "2", &[]),
        "second run",
    );
    let m1 = run(BIN, &[&"manifest", &dirs[0].path()]);
    let m2 = run(BIN, &[&"manifest", &dirs[2].path()]);
    assert_eq!(m1.code, 0);
    assert!(m1.out.lines().count() > 20, "{}", m1.out);
    assert_eq!(
        m1.out, m2.out,
        "two runs with the same seed made different trees"
    );
}

#[test]
fn a_fault_injected_into_b_during_the_run_is_detected() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = difftest_run(
        a.path(),
        b.path(),
        "3",
        "800",
        "1",
        &["--inject-b-fault", "799"],
    );
    assert_fails(&r, "difftest run with an injected fault");
    assert!(r.out.contains("info: injected a fault"), "{}", r.out);
    assert!(
        r.out.contains("FAIL: trees A and B are identical"),
        "{}",
        r.out
    );
    // Injected early, the operations themselves diverge.
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = difftest_run(
        a.path(),
        b.path(),
        "3",
        "2000",
        "1",
        &["--inject-b-fault", "300"],
    );
    assert_fails(&r, "difftest run with an early injected fault");
    assert!(
        r.out
            .lines()
            .any(|l| l.starts_with("FAIL: op ") && l.contains("A: ok")),
        "{}",
        r.out
    );
}

#[test]
fn run_refuses_non_empty_trees() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(b.path().join("x"), b"x").unwrap();
    let r = difftest_run(a.path(), b.path(), "1", "10", "1", &[]);
    assert_fails(&r, "difftest run on a non-empty B");
    assert!(r.out.contains("is not empty"), "{}", r.out);
}

/// First entry of the manifest of `dir` with the given type, a non-zero
/// size, no explicit mtime and (but for directories) one link, so that
/// undoing a change restores the entry exactly.
fn first_of(dir: &Path, ty: &str) -> String {
    let m = run(BIN, &[&"manifest", &dir]);
    m.out
        .lines()
        .skip(1)
        .find(|l| {
            l.contains(&format!(" type={ty} "))
                && !l.contains(" size=0 ")
                && !l.contains('%')
                && l.ends_with(" mtime=-")
                && (ty == "dir" || l.contains(" nlink=1 "))
        })
        .map(|l| l.split(' ').next().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {ty} in the tree:\n{}", m.out))
}

#[test]
fn compare_manifest_detects_every_kind_of_difference() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert_clean(
        &difftest_run(a.path(), b.path(), "11", "2000", "2", &[]),
        "difftest run",
    );
    let mf = a
        .path()
        .parent()
        .unwrap()
        .join(format!("manifest-{}", std::process::id()));
    let m = run(BIN, &[&"manifest", &a.path()]);
    assert_eq!(m.code, 0, "{}", m.out);
    std::fs::write(&mf, &m.out).unwrap();
    let compare = || run(BIN, &[&"compare-manifest", &mf, &b.path()]);
    assert_clean(&compare(), "B against A's manifest");

    let reg = b.path().join(first_of(b.path(), "reg"));
    let lnk = b.path().join(first_of(b.path(), "lnk"));
    let dir = b.path().join(first_of(b.path(), "dir"));

    // One flipped byte of content.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&reg)
        .unwrap();
    let mut byte = [0u8; 1];
    f.read_exact_at(&mut byte, 0).unwrap();
    f.write_all_at(&[byte[0] ^ 1], 0).unwrap();
    let r = compare();
    assert_fails(&r, "a flipped byte");
    assert!(r.out.contains("sha256z differs"), "{}", r.out);
    f.write_all_at(&byte, 0).unwrap();
    assert_clean(&compare(), "byte restored");

    // Size.
    let len = f.metadata().unwrap().len();
    f.set_len(len + 1).unwrap();
    let r = compare();
    assert_fails(&r, "a longer file");
    assert!(r.out.contains("size differs"), "{}", r.out);
    f.set_len(len).unwrap();
    assert_clean(&compare(), "size restored");

    // Mode.
    let mode = f.metadata().unwrap().permissions().mode();
    std::fs::set_permissions(&reg, std::fs::Permissions::from_mode(mode ^ 0o001)).unwrap();
    let r = compare();
    assert_fails(&r, "a changed mode");
    assert!(r.out.contains("mode differs"), "{}", r.out);
    std::fs::set_permissions(&reg, std::fs::Permissions::from_mode(mode)).unwrap();
    expect_ok(&compare());

    // An explicit mtime.
    let old = std::fs::metadata(&reg).unwrap().modified().unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::new(123456789, 5))
        .unwrap();
    let r = compare();
    assert_fails(&r, "an explicit mtime");
    assert!(r.out.contains("mtime differs"), "{}", r.out);
    f.set_modified(old).unwrap();
    expect_ok(&compare());

    // A hard link (link count and link group).
    let extra = dir.join("extra-link");
    std::fs::hard_link(&reg, &extra).unwrap();
    let r = compare();
    assert_fails(&r, "an extra hard link");
    assert!(r.out.contains("nlink differs"), "{}", r.out);
    assert!(r.out.contains("only in tree"), "{}", r.out);
    std::fs::remove_file(&extra).unwrap();
    expect_ok(&compare());

    // A symlink's target.
    let t = std::fs::read_link(&lnk).unwrap();
    std::fs::remove_file(&lnk).unwrap();
    std::os::unix::fs::symlink("elsewhere", &lnk).unwrap();
    let r = compare();
    assert_fails(&r, "a retargeted symlink");
    assert!(r.out.contains("target differs"), "{}", r.out);
    std::fs::remove_file(&lnk).unwrap();
    std::os::unix::fs::symlink(&t, &lnk).unwrap();
    expect_ok(&compare());

    // A missing entry, and a file where a directory was.
    let stray = b.path().join("p0/zz-stray");
    std::fs::write(&stray, b"").unwrap();
    let r = compare();
    assert_fails(&r, "an extra file");
    assert!(r.out.contains("p0/zz-stray: only in tree"), "{}", r.out);
    std::fs::remove_file(&stray).unwrap();
    expect_ok(&compare());
    let saved = std::fs::read(&reg).unwrap();
    std::fs::remove_file(&reg).unwrap();
    let r = compare();
    assert_fails(&r, "a removed file");
    assert!(r.out.contains("only in manifest"), "{}", r.out);
    std::fs::write(&reg, saved).unwrap();
    std::fs::remove_file(&mf).unwrap();
}

fn expect_ok(r: &Run) {
    assert_clean(r, "difference undone");
}

#[test]
fn manifest_escapes_odd_names() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a b=c%d\n"), b"x").unwrap();
    let m = run(BIN, &[&"manifest", &d.path()]);
    assert_eq!(m.code, 0, "{}", m.out);
    assert!(m.out.contains("\na%20b%3Dc%25d%0A type=reg "), "{}", m.out);
}

#[test]
fn sync_every_keeps_the_trees_equal() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = difftest_run(
        a.path(),
        b.path(),
        "9",
        "1000",
        "2",
        &["--sync-every", "100"],
    );
    assert_clean(&r, "difftest run --sync-every");
    assert_eq!(r.passes(), 3, "{}", r.out);
    let r = run(BIN, &[&"run", &"--drop-caches", &a.path(), &b.path()]);
    assert_eq!(
        r.code, 2,
        "--drop-caches without --sync-every is a usage error:\n{}",
        r.out
    );
}
