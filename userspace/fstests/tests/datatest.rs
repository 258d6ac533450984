//! datatest write/verify and sparse-write/sparse-verify on the host file
//! systems, and detection of corrupted data.

mod common;

use std::os::unix::fs::FileExt;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_datatest");

#[test]
fn write_then_verify_on_every_host_file_system() {
    for root in host_roots() {
        let d = tempfile::tempdir_in(&root).unwrap();
        let f = d.path().join("data");
        for size in ["8M", "3000001"] {
            let r = run(BIN, &[&"write", &"--seed", &"7", &"--size", &size, &f]);
            assert_clean(&r, &format!("write {size} on {}", root.display()));
            let r = run(BIN, &[&"verify", &"--seed", &"7", &"--size", &size, &f]);
            assert_clean(&r, &format!("verify {size} on {}", root.display()));
            assert_eq!(r.passes(), 2, "{}", r.out);
        }
        let r = run(
            BIN,
            &[&"write", &"--direct", &"--seed", &"8", &"--size", &"4M", &f],
        );
        assert_clean(&r, &format!("write --direct on {}", root.display()));
        let r = run(
            BIN,
            &[
                &"verify",
                &"--direct",
                &"--seed",
                &"8",
                &"--size",
                &"4M",
                &f,
            ],
        );
        assert_clean(&r, &format!("verify --direct on {}", root.display()));
        let r = run(BIN, &[&"verify", &"--seed", &"8", &"--size", &"4M", &f]);
        assert_clean(&r, "buffered verify of an O_DIRECT write");
    }
}

#[test]
fn verify_reports_the_first_bad_offset() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("data");
    assert_clean(
        &run(BIN, &[&"write", &"--seed", &"1", &"--size", &"6M", &f]),
        "write",
    );
    // A wrong seed differs at once.
    let r = run(BIN, &[&"verify", &"--seed", &"2", &"--size", &"6M", &f]);
    assert_fails(&r, "verify with the wrong seed");
    assert!(r.out.contains("first bad byte at offset 0 "), "{}", r.out);
    // One flipped bit deep inside.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&f)
        .unwrap();
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, 5_000_001).unwrap();
    b[0] ^= 0x10;
    file.write_all_at(&b, 5_000_001).unwrap();
    let r = run(BIN, &[&"verify", &"--seed", &"1", &"--size", &"6M", &f]);
    assert_fails(&r, "verify of a flipped bit");
    assert!(
        r.out.contains("first bad byte at offset 5000001 "),
        "{}",
        r.out
    );
    assert!(
        r.out.contains("1 bad bytes in the 1 MiB chunk at 4194304"),
        "{}",
        r.out
    );
    assert!(r.out.contains("PASS: size of"), "{}", r.out);
    // A short file.
    file.set_len(3 << 20).unwrap();
    let r = run(BIN, &[&"verify", &"--seed", &"1", &"--size", &"6M", &f]);
    assert_fails(&r, "verify of a truncated file");
    assert!(r.out.contains("st_size is 3145728"), "{}", r.out);
    assert!(r.out.contains("end of file at offset 3145728"), "{}", r.out);
}

const OFFSETS: &[&str] = &["0", "1M", "4G", "4100M", "5G", "16G", "100G"];

fn sparse(cmd: &str, seed: &str, f: &std::path::Path) -> Run {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&cmd, &"--seed", &seed, &f];
    for o in OFFSETS {
        args.push(o);
    }
    run(BIN, &args)
}

#[test]
fn sparse_write_then_verify_on_every_host_file_system() {
    for root in host_roots() {
        let d = tempfile::tempdir_in(&root).unwrap();
        let f = d.path().join("sparse");
        let r = sparse("sparse-write", "9", &f);
        assert_clean(&r, &format!("sparse-write on {}", root.display()));
        assert_eq!(r.passes(), OFFSETS.len() + 1, "{}", r.out);
        let r = sparse("sparse-verify", "9", &f);
        assert_clean(&r, &format!("sparse-verify on {}", root.display()));
        // size, each chunk, the spot checks and the hole map.
        assert_eq!(r.passes(), OFFSETS.len() + 3, "{}", r.out);
        assert_eq!(std::fs::metadata(&f).unwrap().len(), (100u64 << 30) + 4096);
    }
}

#[test]
fn sparse_verify_detects_corruption() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("sparse");
    assert_clean(&sparse("sparse-write", "3", &f), "sparse-write");
    let file = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
    // A byte inside a chunk.
    file.write_all_at(b"X", (4u64 << 30) + 100).unwrap();
    let r = sparse("sparse-verify", "3", &f);
    assert_fails(&r, "a corrupted chunk");
    assert!(
        r.out.contains(
            "FAIL: chunk at 4G reads back bit-exact: first bad byte at offset 4294967396"
        ),
        "{}",
        r.out
    );
    assert_eq!(r.fails().len(), 1, "{}", r.out);
    // A byte in a hole, away from every spot check: found by the hole map.
    assert_clean(&sparse("sparse-write", "3", &f), "sparse-write again");
    file.write_all_at(b"Y", (3u64 << 30) + 12345).unwrap();
    let r = sparse("sparse-verify", "3", &f);
    assert_fails(&r, "a byte written into a hole");
    assert!(
        r.out
            .contains("byte at offset 3221237817 (outside every chunk) is not zero"),
        "{}",
        r.out
    );
    // The wrong seed fails every chunk.
    assert_clean(&sparse("sparse-write", "3", &f), "sparse-write again");
    let r = sparse("sparse-verify", "4", &f);
    assert_eq!(r.fails().len(), OFFSETS.len(), "{}", r.out);
}

#[test]
fn overlapping_chunks_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("x");
    let r = run(BIN, &[&"sparse-write", &"--seed", &"1", &f, &"0", &"4000"]);
    assert_fails(&r, "overlapping chunks");
    assert!(r.out.contains("overlap"), "{}", r.out);
    let r = run(BIN, &[&"sparse-write", &"--seed", &"1", &f, &"4Q"]);
    assert_eq!(r.code, 2, "a bad size is a usage error:\n{}", r.out);
}
