//! fsck.livedfs's jbd2 replay against e2fsprogs' on journals that
//! `debugfs` wrote (`jo`, `jw`, `jc`), in ext4 images.
//!
//! debugfs can't open a livedfs volume, but it writes real jbd2
//! transactions into an ext4 journal: descriptor blocks with escaped
//! blocks, several descriptor blocks per transaction, revoke blocks,
//! commit blocks, checksums v2 or v3, 32- or 64-bit block numbers, and a
//! last transaction left without its commit block (`jw -c`). Each scenario
//! copies the image; `e2fsck -E journal_only` replays one copy (the
//! reference: e2fsck's recovery.c, the kernel's code), and fsck's replay
//! core ([`fsck::journal::replay`], the code fsck.livedfs runs in pass 0)
//! replays the other, with the ext4 journal inode's blocks as the log
//! (contiguous; log block numbers relative to its first block). Every
//! block of the two copies must then be equal, except block 0 (the ext4
//! superblock, whose needs_recovery flag and checksum only e2fsck
//! updates) and the journal superblock, which is compared field by field
//! (both empty; the same next sequence number).
//!
//! Skipped (with a message) when e2fsprogs is not installed.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use fsck::device::Device;
use fsck::journal::{self, JournalDev};

const BS: usize = 4096;
const MAGIC: u32 = 0xC03B_3998;

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn run(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success() || cmd == "e2fsck" && o.status.code() == Some(1),
        "{cmd} {args:?}: {:?}\n{text}",
        o.status
    );
    text
}

/// Deterministic block contents (xorshift), distinct per seed.
fn block(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut b = Vec::with_capacity(BS);
    while b.len() < BS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.extend_from_slice(&x.to_le_bytes());
    }
    b
}

/// A block starting with the jbd2 magic (logged escaped).
fn magic_block(seed: u64) -> Vec<u8> {
    let mut b = block(seed);
    b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
    b
}

fn write_file(dir: &Path, name: &str, blocks: &[Vec<u8>]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, blocks.concat()).unwrap();
    p
}

/// The journal inode's single extent: (first device block, blocks).
fn journal_extent(img: &Path) -> (u64, u32) {
    let s = run("debugfs", &["-R", "stat <8>", img.to_str().unwrap()]);
    let ext = s
        .lines()
        .skip_while(|l| !l.starts_with("EXTENTS:"))
        .nth(1)
        .unwrap_or_else(|| panic!("no extents for the journal inode:\n{s}"))
        .trim()
        .to_string();
    // "(0-4095):32801-36896", one extent.
    assert!(
        !ext.contains(','),
        "the journal is not contiguous ({ext}): the harness needs one extent"
    );
    let (logical, physical) = ext.split_once(':').unwrap();
    let lend: u32 = logical
        .trim_matches(|c| c == '(' || c == ')')
        .split_once('-')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let pstart: u64 = physical.split_once('-').unwrap().0.parse().unwrap();
    (pstart, lend + 1)
}

fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(b[off..off + 4].try_into().unwrap())
}

fn read_block(img: &Path, b: u64) -> Vec<u8> {
    let f = std::fs::File::open(img).unwrap();
    let mut d = vec![0u8; BS];
    f.read_exact_at(&mut d, b * BS as u64).unwrap();
    d
}

/// Replays the ext4 journal of `img` with fsck's replay core.
fn fsck_replay(img: &Path) -> journal::ReplayReport {
    let (jstart, jblocks) = journal_extent(img);
    let mut dev = Device::open(img, false).unwrap();
    dev.set_block_size(BS as u32);
    let fs_blocks = dev.blocks();
    let jd = JournalDev {
        sb_block: jstart,
        base: jstart,
        blocks: jblocks,
        first: 1,
        maxlen: jblocks,
        fs_blocks,
        protect: (jstart, jstart + u64::from(jblocks)),
    };
    let js = journal::read_super(&dev, &jd).expect("journal superblock");
    journal::check_features(&js).expect("journal features");
    assert_ne!(js.start, 0, "debugfs left nothing to recover");
    let r = journal::replay(&mut dev, &jd, &js).expect("replay");
    dev.sync().unwrap();
    r
}

/// One scenario: mkfs options, the debugfs commands (after `jo`), the
/// blocks expected after the replay (block, content), and blocks that
/// must keep their old content (not replayed).
struct Scenario<'a> {
    name: &'a str,
    mkfs: &'a [&'a str],
    jo: &'a str,
    commands: Vec<String>,
    expect: Vec<(u64, Vec<u8>)>,
    untouched: Vec<u64>,
}

fn check(s: Scenario) {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("ext4.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let mut args = vec!["-q", "-F", "-b", "4096"];
    args.extend_from_slice(s.mkfs);
    args.push(img.to_str().unwrap());
    run("mkfs.ext4", &args);
    let before: Vec<(u64, Vec<u8>)> = s
        .untouched
        .iter()
        .map(|&b| (b, read_block(&img, b)))
        .collect();
    let mut script = format!("{}\n", s.jo);
    for c in &s.commands {
        script.push_str(c);
        script.push('\n');
    }
    script.push_str("jc\n");
    let sf = d.path().join("script");
    std::fs::write(&sf, script).unwrap();
    run(
        "debugfs",
        &["-w", "-f", sf.to_str().unwrap(), img.to_str().unwrap()],
    );
    let theirs = d.path().join("e2fsck.img");
    let ours = d.path().join("fsck.img");
    std::fs::copy(&img, &theirs).unwrap();
    std::fs::copy(&img, &ours).unwrap();
    let out = run(
        "e2fsck",
        &["-E", "journal_only", "-y", theirs.to_str().unwrap()],
    );
    assert!(out.contains("recovering journal"), "{}: {out}", s.name);
    let report = fsck_replay(&ours);
    assert!(
        report.errors.is_empty(),
        "{}: replay errors {:?}",
        s.name,
        report.errors
    );
    assert!(report.bad_targets.is_empty(), "{}", s.name);
    // Block by block.
    let (jstart, _) = journal_extent(&img);
    let a = std::fs::read(&theirs).unwrap();
    let b = std::fs::read(&ours).unwrap();
    assert_eq!(a.len(), b.len());
    let mut differ = Vec::new();
    for (k, (x, y)) in a.chunks(BS).zip(b.chunks(BS)).enumerate() {
        let k = k as u64;
        if k == 0 || k == jstart {
            continue;
        }
        if x != y {
            differ.push(k);
        }
    }
    assert!(
        differ.is_empty(),
        "{}: blocks differ after e2fsck's and fsck's replays: {differ:?}",
        s.name
    );
    // The journal superblocks: both empty, the same next transaction.
    let ja = read_block(&theirs, jstart);
    let jb = read_block(&ours, jstart);
    assert_eq!(be32(&ja, 0x1C), 0, "{}: e2fsck's journal not empty", s.name);
    assert_eq!(be32(&jb, 0x1C), 0, "{}: our journal not empty", s.name);
    assert_eq!(
        be32(&ja, 0x18),
        be32(&jb, 0x18),
        "{}: next sequence (e2fsck's vs ours)",
        s.name
    );
    // And what the scenario says the replay does.
    for (blk, want) in &s.expect {
        assert!(
            read_block(&ours, *blk) == *want,
            "{}: block {blk} not replayed as expected",
            s.name
        );
    }
    for (blk, old) in &before {
        assert!(
            read_block(&ours, *blk) == *old,
            "{}: block {blk} should not have been replayed",
            s.name
        );
    }
}

/// Free blocks of a fresh 256 MiB ext4 volume at 4 KiB (group 1 holds
/// only its backup superblock and descriptors at its start).
const T: u64 = 40000;

/// Transactions: T1 writes three blocks; T2 revokes the second and the
/// third (the third keeps its old content); T3 logs an escaped block; T4
/// writes the second again (after the revoke: replayed); T5 a large transaction (several descriptor
/// blocks); T6 has no commit block (torn: not replayed).
fn standard(
    d: &Path,
    name: &'static str,
    mkfs: &'static [&'static str],
    jo: &'static str,
) -> Scenario<'static> {
    let t1 = [block(1), block(2), block(3)];
    let f1 = write_file(d, "t1", &t1);
    let f3 = write_file(d, "t3", &[magic_block(4)]);
    let f4 = write_file(d, "t4", &[magic_block(5)]);
    let big: Vec<Vec<u8>> = (0..600).map(|i| block(100 + i)).collect();
    let f5 = write_file(d, "t5", &big);
    let f6 = write_file(d, "t6", &[block(7)]);
    let mut expect = vec![
        (T, t1[0].clone()),
        (T + 3, magic_block(4)),
        (T + 1, magic_block(5)),
    ];
    for (i, b) in big.iter().enumerate() {
        expect.push((T + 1000 + i as u64, b.clone()));
    }
    Scenario {
        name,
        mkfs,
        jo,
        commands: vec![
            format!("jw -b {}-{} {}", T, T + 2, f1.display()),
            format!("jw -r {},{}", T + 1, T + 2),
            format!("jw -b {} {}", T + 3, f3.display()),
            format!("jw -b {} {}", T + 1, f4.display()),
            format!("jw -b {}-{} {}", T + 1000, T + 1599, f5.display()),
            format!("jw -b {} -c {}", T + 4, f6.display()),
        ],
        expect,
        untouched: vec![T + 2, T + 4],
    }
}

fn skip() -> bool {
    if have("debugfs") && have("e2fsck") && have("mkfs.ext4") {
        return false;
    }
    eprintln!("skipped: e2fsprogs (debugfs, e2fsck, mkfs.ext4) is not installed");
    true
}

#[test]
fn debugfs_journal_plain_64bit() {
    if !skip() {
        let d = tempfile::tempdir().unwrap();
        check(standard(d.path(), "plain-64bit", &[], "jo"));
    }
}

#[test]
fn debugfs_journal_plain_32bit() {
    if !skip() {
        let d = tempfile::tempdir().unwrap();
        check(standard(d.path(), "plain-32bit", &["-O", "^64bit"], "jo"));
    }
}

#[test]
fn debugfs_journal_csum_v2() {
    if !skip() {
        let d = tempfile::tempdir().unwrap();
        check(standard(d.path(), "csum-v2", &[], "jo -c -v 2"));
    }
}

#[test]
fn debugfs_journal_csum_v2_32bit() {
    if !skip() {
        let d = tempfile::tempdir().unwrap();
        check(standard(
            d.path(),
            "csum-v2-32bit",
            &["-O", "^64bit"],
            "jo -c -v 2",
        ));
    }
}

#[test]
fn debugfs_journal_csum_v3() {
    if !skip() {
        let d = tempfile::tempdir().unwrap();
        check(standard(d.path(), "csum-v3", &[], "jo -c"));
    }
}

#[test]
fn debugfs_journal_csum_v3_32bit() {
    if !skip() {
        let d = tempfile::tempdir().unwrap();
        check(standard(
            d.path(),
            "csum-v3-32bit",
            &["-O", "^64bit"],
            "jo -c -v 3",
        ));
    }
}

/// `jw` with blocks and a revoke in one call: debugfs 1.47 ends that
/// transaction without a valid commit, so both replays stop after T1.
#[test]
fn debugfs_journal_unterminated_revoke() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t1 = [block(11), block(12), block(13)];
    let f1 = write_file(d, "t1", &t1);
    let f2 = write_file(d, "t2", &[magic_block(14)]);
    check(Scenario {
        name: "revoke-in-one-jw",
        mkfs: &[],
        jo: "jo -c",
        commands: vec![
            format!("jw -b {}-{} {}", T, T + 2, f1.display()),
            format!("jw -b {} -r {} {}", T + 3, T + 1, f2.display()),
            format!("jw -b {} {}", T + 1, f2.display()),
        ],
        expect: vec![(T, t1[0].clone()), (T + 1, t1[1].clone())],
        untouched: vec![],
    });
}
