//! What reads data: a forced check (`-f`) reads metadata only, as
//! `e2fsck -f`; a scrub (`-E scrub`, or `-c`) reads every data block in use
//! and verifies its fingerprint; a volume that went down while mounted
//! without a journal has every fingerprint verified, also by `-p`, and a
//! wrong one is then an expected result of the crash that preen repairs.

mod common;

use common::*;
use livedfs_format::superblock::{STATE_ERROR, STATE_VALID};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn img(name: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(name);
    (d, p)
}

/// Changes one byte of each of `blocks` (their fingerprints no longer
/// match).
fn spoil(p: &Path, blocks: &[u32]) {
    let v = Vol::open(p);
    for &b in blocks {
        let mut d = v.read(b);
        d[7] ^= 0x10;
        v.write(b, &d);
    }
}

/// Data blocks of files c and a (not shared between them).
fn some_blocks(p: &Path, m: &HashMap<&'static str, u32>) -> Vec<u32> {
    let v = Vol::open(p);
    vec![
        v.file_block(m["c"], 25),
        v.file_block(m["c"], 200),
        v.file_block(m["c"], 319),
    ]
}

fn wrong(b: u32, answer: &str) -> String {
    format!("\nBlock {b}: the fingerprint in the store does not match its content.  Recompute? {answer}\n")
}

/// `-f` reads no data block: every block of file c spoiled, `-fn` is
/// clean and hashes nothing, reading less than a scrub by at least the
/// data; the scrub finds each spoiled block (exit 4) and `-fy -E scrub`
/// repairs them (exit 1).
#[test]
fn forced_check_reads_metadata_only() {
    let (_d, p) = img("f.img");
    let m = populated(&p, &[]);
    let blocks = some_blocks(&p, &m);
    spoil(&p, &blocks);
    let f = fsck(&p, &["-fnt"]);
    assert_eq!(f.code, 0, "{}", f.out);
    assert!(
        f.out
            .contains("\nPass 6: Checking fingerprint stores and refcounts\n"),
        "{}",
        f.out
    );
    assert!(!f.out.contains("fingerprint in the store"), "{}", f.out);
    let [data, _, _, verified] = summary_counts(&f.out);
    assert_eq!(verified, 0, "{}", f.out);
    let (f_kib, f_hashed) = io_read(&f.out);
    assert_eq!(f_hashed, 0, "{}", f.out);
    let s = fsck(&p, &["-fnt", "-E", "scrub"]);
    assert_eq!(s.code, 4, "{}", s.out);
    assert!(
        s.out
            .contains("\nPass 6: Checking fingerprint stores, refcounts and data\n"),
        "{}",
        s.out
    );
    for &b in &blocks {
        assert!(s.out.contains(&wrong(b, "no")), "{}", s.out);
    }
    assert_eq!(s.out.matches("the fingerprint in the store").count(), 3);
    let [s_data, _, _, s_verified] = summary_counts(&s.out);
    assert_eq!((s_data, s_verified), (data, data), "{}", s.out);
    let (s_kib, s_hashed) = io_read(&s.out);
    assert_eq!(s_hashed, data, "{}", s.out);
    // The same metadata reads, and the data on top.
    assert!(
        s_kib >= f_kib + data * 4,
        "-f read {f_kib} KiB, the scrub {s_kib} KiB, data {data} blocks"
    );
    let y = fsck(&p, &["-fy", "-E", "scrub"]);
    assert_eq!(y.code, 1, "{}", y.out);
    for &b in &blocks {
        assert!(y.out.contains(&wrong(b, "yes")), "{}", y.out);
    }
    let again = fsck(&p, &["-fn", "-E", "scrub"]);
    assert_eq!(again.code, 0, "{}", again.out);
    assert_clean(&p);
}

/// `-c` is a scrub too, and like e2fsck's -c it forces the check on a
/// clean volume. Preen stops at a wrong fingerprint (not a crash's
/// expected result here: the volume was valid), with e2fsck's words.
#[test]
fn c_scrubs_and_forces_the_check() {
    let (_d, p) = img("c.img");
    let m = populated(&p, &[]);
    let r = fsck(&p, &["-n"]);
    assert!(r.out.contains(": clean, "), "{}", r.out);
    let r = fsck(&p, &["-nc"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(!r.out.contains(": clean, "), "{}", r.out);
    assert!(
        r.out
            .contains("Pass 6: Checking fingerprint stores, refcounts and data"),
        "{}",
        r.out
    );
    let [data, _, _, verified] = summary_counts(&r.out);
    assert_eq!(verified, data, "{}", r.out);
    let b = some_blocks(&p, &m)[1];
    spoil(&p, &[b]);
    // Without -c, preen skips the clean volume; with it, it stops.
    let r = fsck(&p, &["-p"]);
    assert_eq!(r.code, 0, "{}", r.out);
    for args in [&["-pc"][..], &["-p", "-E", "scrub"], &["-a", "-cc"]] {
        let r = fsck(&p, args);
        assert_eq!(r.code, 4, "{args:?}: {}", r.out);
        let dev = p.display();
        assert!(
            r.out.contains(&format!(
                "{dev}: Block {b}: the fingerprint in the store does not match its content.\n\n{dev}: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.\n"
            )),
            "{}",
            r.out
        );
    }
    // Preen marked the volume as having errors (and not valid): -p now
    // checks, metadata only (errors don't make a scrub), and finds
    // nothing else.
    let v = Vol::open(&p);
    assert_eq!(v.sb.state & (STATE_ERROR | STATE_VALID), STATE_ERROR);
    drop(v);
    let r = fsck(&p, &["-p"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out.contains(" was not cleanly unmounted, check forced."),
        "{}",
        r.out
    );
    assert!(!r.out.contains(&note(&p)), "{}", r.out);
    assert_eq!(summary_counts(&r.out)[3], 0, "{}", r.out);
    let r = fsck(&p, &["-yc"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains(&wrong(b, "yes")), "{}", r.out);
    let r = fsck(&p, &["-pc"]);
    assert_eq!(r.code, 0, "{}", r.out);
}

#[test]
fn scrub_usage() {
    let (_d, p) = img("u.img");
    mkfs(&p, "64M", &[]);
    for args in [
        &["-E", "journal_only,scrub", "-y"][..],
        &["-c", "-E", "journal_only", "-y"],
        &["-E", "scrub,bogus", "-n"],
    ] {
        let r = fsck(&p, args);
        assert_eq!(r.code, 16, "{args:?}: {}", r.out);
    }
    let h = std::process::Command::new(fsck_bin())
        .arg("--help")
        .output()
        .unwrap();
    let h = String::from_utf8_lossy(&h.stdout);
    assert!(h.contains("[-E journal_only|scrub]"), "{h}");
    assert!(h.contains("\n  -c "), "{h}");
}

/// Makes the volume look as a crash leaves it while mounted without a
/// journal (`STATE_VALID` clear: the kernel clears it for such a mount),
/// with `state_or` set too, and one data block of file c whose data never
/// reached the disk (it holds something else than its entry says: the
/// bytes of `seed`).
fn nojournal_crash(p: &Path, m: &HashMap<&'static str, u32>, state_or: u16, seed: u64) -> u32 {
    let b = some_blocks(p, m)[0];
    let mut v = Vol::open(p);
    v.write(b, &bytes(seed, v.bs()));
    v.sb.state &= !STATE_VALID;
    v.sb.state |= state_or;
    v.write_sb();
    b
}

fn note(dev: &Path) -> String {
    format!(
        "{}: the volume went down while mounted without a journal: verifying the fingerprint of every data block in use",
        dev.display()
    )
}

fn unclean_wrong(dev: &Path, b: u32) -> String {
    format!(
        "{}: Block {b}: the fingerprint in the store does not match its content (written without a journal: its data did not reach the disk before the crash).  FIXED.",
        dev.display()
    )
}

/// After a crash while mounted without a journal (which the kernel then
/// refuses to mount read-write until fsck has run), `-p` verifies every
/// fingerprint and recomputes a wrong one: the crash's expected result,
/// not a reason to stop the boot. `-n` reports it and changes nothing.
/// The volume is then valid, and the next `-p` skips it as clean.
#[test]
fn nojournal_crash_preen_verifies_every_block() {
    let (_d, p) = img("nj.img");
    let m = populated(&p, &[]);
    let b = nojournal_crash(&p, &m, 0, 77);
    let before = std::fs::read(&p).unwrap();
    let r = fsck(&p, &["-n"]);
    assert_eq!(r.code, 4, "{}", r.out);
    assert!(r.out.contains(&note(&p)), "{}", r.out);
    assert!(
        r.out.contains(&format!(
            "\nBlock {b}: the fingerprint in the store does not match its content (written without a journal: its data did not reach the disk before the crash).  Recompute? no\n"
        )),
        "{}",
        r.out
    );
    assert_eq!(std::fs::read(&p).unwrap(), before, "-n wrote");
    let r = fsck(&p, &["-p"]);
    assert_eq!(r.code, 1, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 4, "{}", r.out);
    assert_eq!(
        lines[0],
        format!("{} was not cleanly unmounted, check forced.", p.display())
    );
    assert_eq!(lines[1], note(&p));
    assert_eq!(lines[2], unclean_wrong(&p, b));
    let [data, _, _, verified] = summary_counts(lines[3]);
    assert_eq!(verified, data, "{}", r.out);
    assert_clean(&p);
    let r = fsck(&p, &["-fn", "-E", "scrub"]);
    assert_eq!(r.code, 0, "{}", r.out);
    let r = fsck(&p, &["-p"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains(": clean, "), "{}", r.out);
    // -f after such a crash verifies the data too (the volume's state, not
    // the option, calls for it).
    let b = nojournal_crash(&p, &m, 0, 78);
    let r = fsck(&p, &["-fy"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains(&note(&p)), "{}", r.out);
    assert!(
        r.out
            .contains("\nPass 6: Checking fingerprint stores, refcounts and data\n"),
        "{}",
        r.out
    );
    assert!(r.out.contains(&format!("\nBlock {b}: the fingerprint in the store does not match its content (written without a journal: its data did not reach the disk before the crash).  Recompute? yes\n")), "{}", r.out);
    assert_clean(&p);
}

/// `STATE_ERROR` with `STATE_VALID` clear: on a volume with a journal the
/// kernel records errors so (then the state says nothing of how it was
/// mounted): a metadata check. On a volume without a journal every mount
/// was without one: every fingerprint is verified.
#[test]
fn errors_and_the_journal_decide_the_data_check() {
    for (args, scrub) in [(&[][..], false), (&["-O", "^has_journal"], true)] {
        let (_d, p) = img("e.img");
        let m = populated(&p, args);
        let b = nojournal_crash(&p, &m, STATE_ERROR, 77);
        let r = fsck(&p, &["-p"]);
        assert!(
            r.out.contains(" was not cleanly unmounted, check forced."),
            "{}",
            r.out
        );
        assert_eq!(r.out.contains(&note(&p)), scrub, "{}", r.out);
        let [data, _, _, verified] = summary_counts(&r.out);
        if scrub {
            assert_eq!(r.code, 1, "{}", r.out);
            assert!(r.out.contains(&unclean_wrong(&p, b)), "{}", r.out);
            assert_eq!(verified, data, "{}", r.out);
            assert_clean(&p);
            assert_eq!(fsck(&p, &["-fn", "-c"]).code, 0);
        } else {
            assert_eq!(r.code, 0, "{}", r.out);
            assert_eq!(verified, 0, "{}", r.out);
            // Found by a scrub, as plain data corruption.
            let r = fsck(&p, &["-fn", "-c"]);
            assert_eq!(r.code, 4, "{}", r.out);
            assert!(r.out.contains(&wrong(b, "no")), "{}", r.out);
        }
    }
}
