//! Journal replay on journals built by hand in a livedfs volume's journal
//! (log block numbers absolute, as with jbd2_journal_init_dev):
//! descriptor + data + commit, with and without checksums (v2, v3) and
//! 64-bit tags, revoke records, escaped blocks, wrap-around, and a torn
//! last transaction without its commit block, which must not be replayed.

mod common;

use common::*;
use livedfs_format::superblock::{INCOMPAT_RECOVER, STATE_ERROR, STATE_VALID};
use std::os::unix::fs::FileExt;
use std::path::Path;

const MAGIC: u32 = 0xC03B_3998;
const V2: u32 = 0x8;
const V3: u32 = 0x10;
const B64: u32 = 0x2;
const REVOKE: u32 = 0x1;

fn jcrc(seed: u32, d: &[u8]) -> u32 {
    !crc32c::crc32c_append(!seed, d)
}

struct J {
    f: std::fs::File,
    bs: usize,
    start: u32,
    first: u32,
    last: u32,
    feat: u32,
    uuid: [u8; 16],
    seed: u32,
    pos: u32,
}

impl J {
    fn open(img: &Path, feat: u32) -> J {
        let v = Vol::open(img);
        let start = v.sb.journal_start;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(img)
            .unwrap();
        J {
            f,
            bs: v.bs(),
            start,
            first: start + 1,
            last: start + v.sb.journal_blocks,
            feat,
            uuid: v.sb.uuid,
            seed: jcrc(!0, &v.sb.uuid),
            pos: start + 1,
        }
    }
    fn csum(&self) -> bool {
        self.feat & (V2 | V3) != 0
    }
    fn put(&mut self, d: &[u8]) -> u32 {
        let at = self.pos;
        self.f
            .write_all_at(d, u64::from(at) * self.bs as u64)
            .unwrap();
        self.pos += 1;
        if self.pos >= self.last {
            self.pos = self.first;
        }
        at
    }
    fn header(&self, ty: u32, seq: u32) -> Vec<u8> {
        let mut b = vec![0u8; self.bs];
        b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&ty.to_be_bytes());
        b[8..12].copy_from_slice(&seq.to_be_bytes());
        b
    }
    fn tail(&self, b: &mut [u8]) {
        if self.csum() {
            let n = b.len();
            b[n - 4..].fill(0);
            let c = jcrc(self.seed, b);
            b[n - 4..].copy_from_slice(&c.to_be_bytes());
        }
    }
    /// One transaction; `commit` false leaves it torn.
    fn tx(&mut self, seq: u32, blocks: &[(u64, Vec<u8>)], revokes: &[u64], commit: bool) {
        if !revokes.is_empty() {
            let mut r = self.header(5, seq);
            let rl = if self.feat & B64 != 0 { 8 } else { 4 };
            let mut off = 16;
            for &b in revokes {
                if rl == 8 {
                    r[off..off + 8].copy_from_slice(&b.to_be_bytes());
                } else {
                    r[off..off + 4].copy_from_slice(&(b as u32).to_be_bytes());
                }
                off += rl;
            }
            r[12..16].copy_from_slice(&(off as u32).to_be_bytes());
            self.tail(&mut r);
            self.put(&r);
        }
        if !blocks.is_empty() {
            let mut d = self.header(1, seq);
            let tag_bytes = if self.feat & V3 != 0 {
                16
            } else {
                12 + if self.feat & V2 != 0 { 2 } else { 0 }
                    - if self.feat & B64 != 0 { 0 } else { 4 }
            };
            let mut p = 12;
            let mut datas = Vec::new();
            for (k, (target, data)) in blocks.iter().enumerate() {
                let mut data = data.clone();
                let mut flags: u16 = 0;
                if data[0..4] == MAGIC.to_be_bytes() {
                    data[0..4].fill(0);
                    flags |= 1;
                }
                if k > 0 {
                    flags |= 2;
                }
                if k == blocks.len() - 1 {
                    flags |= 8;
                }
                // The tag checksum covers the block as logged (escaped).
                let c = jcrc(jcrc(self.seed, &seq.to_be_bytes()), &data);
                d[p..p + 4].copy_from_slice(&(*target as u32).to_be_bytes());
                if self.feat & V3 != 0 {
                    d[p + 4..p + 8].copy_from_slice(&u32::from(flags).to_be_bytes());
                    d[p + 8..p + 12].copy_from_slice(&((*target >> 32) as u32).to_be_bytes());
                    d[p + 12..p + 16].copy_from_slice(&c.to_be_bytes());
                } else {
                    if self.feat & V2 != 0 {
                        d[p + 4..p + 6].copy_from_slice(&(c as u16).to_be_bytes());
                    }
                    d[p + 6..p + 8].copy_from_slice(&flags.to_be_bytes());
                    if self.feat & B64 != 0 {
                        d[p + 8..p + 12].copy_from_slice(&((*target >> 32) as u32).to_be_bytes());
                    }
                }
                p += tag_bytes;
                if flags & 2 == 0 {
                    d[p..p + 16].copy_from_slice(&self.uuid);
                    p += 16;
                }
                datas.push(data);
            }
            self.tail(&mut d);
            self.put(&d);
            for data in datas {
                self.put(&data);
            }
        }
        if commit {
            let mut c = self.header(2, seq);
            c[48..56].copy_from_slice(&(1_700_000_000u64 + u64::from(seq)).to_be_bytes());
            if self.csum() {
                let x = jcrc(self.seed, &c);
                c[16..20].copy_from_slice(&x.to_be_bytes());
            }
            self.put(&c);
        }
    }
    /// Marks the journal as needing recovery from `start_pos`, sequence
    /// `seq`, and sets the volume's needs_recovery flag.
    fn arm(&self, img: &Path, start_pos: u32, seq: u32) {
        let mut sb = vec![0u8; self.bs];
        self.f
            .read_exact_at(&mut sb, u64::from(self.start) * self.bs as u64)
            .unwrap();
        sb[0x18..0x1C].copy_from_slice(&seq.to_be_bytes());
        sb[0x1C..0x20].copy_from_slice(&start_pos.to_be_bytes());
        sb[0x28..0x2C].copy_from_slice(&self.feat.to_be_bytes());
        if self.csum() {
            sb[0x50] = 4;
            sb[0xFC..0x100].fill(0);
            let c = jcrc(!0, &sb[..1024]);
            sb[0xFC..0x100].copy_from_slice(&c.to_be_bytes());
        }
        self.f
            .write_all_at(&sb, u64::from(self.start) * self.bs as u64)
            .unwrap();
        // As the kernel leaves a volume mounted with a journal: still
        // valid (the journal vouches for it), needing recovery.
        let mut v = Vol::open(img);
        v.sb.feature_incompat |= livedfs_format::superblock::INCOMPAT_RECOVER;
        v.write_sb();
    }
}

/// Free data blocks of the volume (targets the replay may write freely).
fn free_blocks(img: &Path, n: usize) -> Vec<u64> {
    let v = Vol::open(img);
    let l = v.geo.group(0).unwrap();
    (l.data_start..l.end)
        .filter(|&b| !livedfs_format::bitmap::test(&v.bmap, (b - l.first) as usize))
        .take(n)
        .map(u64::from)
        .collect()
}

fn read_block(img: &Path, b: u64, bs: usize) -> Vec<u8> {
    let f = std::fs::File::open(img).unwrap();
    let mut d = vec![0u8; bs];
    f.read_exact_at(&mut d, b * bs as u64).unwrap();
    d
}

fn scenario(feat: u32, wrap: bool) {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("j.img");
    populated(&img, &[]);
    let mut j = J::open(&img, feat);
    let bs = j.bs;
    let t = free_blocks(&img, 5);
    if wrap {
        j.pos = j.last - 3; // the first transaction wraps around the end
    }
    let start = j.pos;
    let a = bytes(10, bs);
    let b = bytes(11, bs);
    let mut escaped = bytes(12, bs);
    escaped[0..4].copy_from_slice(&MAGIC.to_be_bytes());
    let c2 = bytes(13, bs);
    let torn = bytes(14, bs);
    // T100: t0=a, t1=b, t2=escaped. T101: revokes t1, writes t3=c2.
    // T102: t1=c2 again (after the revoke: replayed). T103: torn.
    j.tx(
        100,
        &[
            (t[0], a.clone()),
            (t[1], b.clone()),
            (t[2], escaped.clone()),
        ],
        &[],
        true,
    );
    j.tx(101, &[(t[3], c2.clone())], &[t[1]], true);
    j.tx(102, &[(t[4], c2.clone())], &[], true);
    j.tx(103, &[(t[0], torn.clone())], &[], false);
    j.arm(&img, start, 100);
    let n = fsck(&img, &["-fn"]);
    assert!(n.out.contains("journal needs recovery"), "{}", n.out);
    // As e2fsck: the replay is reported but is not a repair (exit 0).
    let r = fsck(&img, &["-fy"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains(": recovering journal"), "{}", r.out);
    assert!(
        read_block(&img, t[0], bs) == a,
        "T100 replayed, torn T103 not"
    );
    assert!(read_block(&img, t[1], bs) != b, "revoked by T101");
    assert!(
        read_block(&img, t[2], bs) == escaped,
        "escaped magic restored"
    );
    assert!(read_block(&img, t[3], bs) == c2, "T101 replayed");
    assert!(read_block(&img, t[4], bs) == c2, "T102 replayed");
    // The journal is empty now, the flag gone, and the volume clean.
    let v = Vol::open(&img);
    assert_eq!(
        v.sb.feature_incompat & livedfs_format::superblock::INCOMPAT_RECOVER,
        0
    );
    let js = read_block(&img, u64::from(j.start), bs);
    assert_eq!(&js[0x1C..0x20], &[0, 0, 0, 0]);
    assert_eq!(u32::from_be_bytes(js[0x18..0x1C].try_into().unwrap()), 104);
    assert_clean(&img);
}

/// Logs one committed v3 transaction `seq` of `blocks` into `img`'s
/// journal and arms it for recovery (as a power cut right after the
/// commit leaves it).
fn log_one_tx(img: &Path, seq: u32, blocks: &[(u64, Vec<u8>)]) {
    let mut j = J::open(img, REVOKE | V3);
    let start = j.pos;
    j.tx(seq, blocks, &[], true);
    j.arm(img, start, seq);
}

#[test]
fn replay_without_checksums() {
    scenario(REVOKE, false);
}

#[test]
fn replay_csum_v3_64bit() {
    scenario(REVOKE | V3 | B64, false);
}

#[test]
fn replay_csum_v2() {
    scenario(REVOKE | V2, false);
}

#[test]
fn replay_wraps_around() {
    scenario(REVOKE | V3, true);
}

#[test]
fn corrupt_data_block_checksum_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("j.img");
    populated(&img, &[]);
    let mut j = J::open(&img, REVOKE | V3);
    let t = free_blocks(&img, 1);
    let start = j.pos;
    j.tx(7, &[(t[0], bytes(1, j.bs))], &[], true);
    // Damage the logged data block (after the descriptor).
    j.f.write_all_at(&[0xEE; 8], u64::from(start + 1) * j.bs as u64 + 100)
        .unwrap();
    j.arm(&img, start, 7);
    let r = fsck(&img, &["-fy"]);
    assert!(
        r.out.contains("Journal replay: invalid checksum"),
        "{}",
        r.out
    );
    assert!(
        read_block(&img, t[0], j.bs) != bytes(1, j.bs),
        "bad block not replayed"
    );
    let again = fsck(&img, &["-fn"]);
    assert_eq!(again.code, 0, "{}", again.out);
}

#[test]
fn bad_journal_superblock_is_recreated() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("j.img");
    populated(&img, &[]);
    let v = Vol::open(&img);
    let at = u64::from(v.sb.journal_start) * v.bs() as u64;
    v.f.write_all_at(&[0x55; 64], at + 8).unwrap();
    assert_repairs(&img, "The journal superblock is invalid");
}

#[test]
fn recover_flag_with_empty_journal() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("j.img");
    populated(&img, &[]);
    let mut v = Vol::open(&img);
    v.sb.feature_incompat |= livedfs_format::superblock::INCOMPAT_RECOVER;
    v.write_sb();
    let r = fsck(&img, &["-p"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert_clean(&img);
}

/// `-E journal_only` replays and stops. A replay reads no data block,
/// nor does the check that follows it (with data=ordered the data of a
/// committed transaction reached the disk before its commit, as the
/// kernel's own replay trusts): neither `-p` with a check due nor `-fy`
/// looks at fingerprints; a scrub (`-fy -E scrub`) verifies every block,
/// the one whose store entry the replay rewrote and the one it did not
/// touch.
#[test]
fn replay_reads_no_data_and_scrub_verifies_all() {
    use livedfs_format::fpstore;
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("j.img");
    let m = populated(&img, &[]);
    let mut v = Vol::open(&img);
    let bs = v.bs();
    let l = v.geo.group(0).unwrap();
    let epb = v.geo.fp_entries_per_block;
    let es = v.geo.fp_entry_size as usize;
    let store_of = |b: u32| (b - l.first) / epb;
    // Two data blocks of file c in different store blocks.
    let b1 = v.file_block(m["c"], 0);
    let b2 = (1..320)
        .map(|k| v.file_block(m["c"], k))
        .find(|&b| b != 0 && store_of(b) != store_of(b1))
        .expect("c spans two store blocks");
    // Every file changed since the last check (what an older fsck
    // verified without -f), and a check due after the replay (the mount
    // count reached its maximum).
    v.sb.lastcheck_time = 0;
    v.sb.max_mount_count = 20;
    v.sb.mount_count = 20;
    v.write_sb();
    // The data of both disagree with the store.
    let mut d1 = v.read(b1);
    d1[9] ^= 0xFF;
    v.write(b1, &d1);
    let mut d2 = v.read(b2);
    d2[9] ^= 0xFF;
    v.write(b2, &d2);
    // A transaction logging b1's store block with b1's entry rewritten
    // (same refcount, the fingerprint of what the block held before).
    let j1 = store_of(b1);
    let mut sblk = v.store[j1 as usize * bs..(j1 as usize + 1) * bs].to_vec();
    let at = ((b1 - l.first) % epb) as usize * es;
    let fs = v.geo.fp_algo.size() as usize;
    let stale = v.fp(&bytes(99, bs));
    sblk[at..at + fs].copy_from_slice(&stale);
    fpstore::set_checksum(&mut sblk, 0, j1, v.seed, &Crc).unwrap();
    drop(v);
    log_one_tx(&img, 5, &[(u64::from(l.fp_store + j1), sblk)]);
    let copy = d.path().join("copy.img");
    std::fs::copy(&img, &copy).unwrap();
    // journal_only: replayed, nothing checked.
    let r = fsck(&copy, &["-E", "journal_only", "-y"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains("recovering journal"), "{}", r.out);
    assert!(!r.out.contains("Pass 1"), "{}", r.out);
    // -p: replayed, then checked (the mount count), metadata only: exit 0.
    let dev = copy.display().to_string();
    for args in [&["-p"][..], &["-fy"], &["-fyt"]] {
        std::fs::copy(&img, &copy).unwrap();
        let r = fsck(&copy, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.out);
        assert!(
            r.out.contains(&format!("{dev}: recovering journal")),
            "{}",
            r.out
        );
        if args == ["-p"] {
            assert!(
                r.out.contains(&format!(
                    "{dev} has been mounted 20 times without being checked, check forced."
                )),
                "{}",
                r.out
            );
        }
        assert!(!r.out.contains("the fingerprint in the store"), "{}", r.out);
        let [data, _, _, verified] = summary_counts(&r.out);
        assert!(data > 320, "{}", r.out);
        assert_eq!(verified, 0, "{args:?}: {}", r.out);
        if args == ["-fyt"] {
            assert_eq!(io_read(&r.out).1, 0, "{}", r.out);
        }
    }
    // -fy -E scrub verifies everything: both.
    std::fs::copy(&img, &copy).unwrap();
    let r = fsck(&copy, &["-fy", "-E", "scrub"]);
    assert_eq!(r.code, 1, "{}", r.out);
    for b in [b1, b2] {
        assert!(
            r.out.contains(&format!(
                "\nBlock {b}: the fingerprint in the store does not match its content.  Recompute? yes\n"
            )),
            "{}",
            r.out
        );
    }
    let [data, _, _, verified] = summary_counts(&r.out);
    assert_eq!(verified, data, "{}", r.out);
    assert_clean(&copy);
    let r = fsck(&copy, &["-fn", "-E", "scrub"]);
    assert_eq!(r.code, 0, "{}", r.out);
}

/// A volume not marked valid whose journal needs recovery went down while
/// mounted with its journal (a journal to recover refuses a nojournal
/// mount): the check that follows the replay is forced, but reads no
/// data, as after any replay.
#[test]
fn invalid_volume_with_a_journal_to_replay_is_not_a_nojournal_crash() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("j.img");
    let m = populated(&img, &[]);
    let mut v = Vol::open(&img);
    let bs = v.bs();
    let b = v.file_block(m["c"], 100);
    let mut data = v.read(b);
    data[0] ^= 1;
    v.write(b, &data);
    v.sb.state &= !STATE_VALID;
    v.write_sb();
    drop(v);
    let t = free_blocks(&img, 1);
    log_one_tx(&img, 9, &[(t[0], bytes(1, bs))]);
    let r = fsck(&img, &["-p"]);
    assert_eq!(r.code, 0, "{}", r.out);
    let dev = img.display().to_string();
    assert!(
        r.out
            .contains(&format!("{dev} was not cleanly unmounted, check forced.")),
        "{}",
        r.out
    );
    assert!(!r.out.contains("without a journal"), "{}", r.out);
    assert!(!r.out.contains(&format!("Block {b}:")), "{}", r.out);
    assert_eq!(summary_counts(&r.out)[3], 0, "{}", r.out);
    // The block is found by a scrub only.
    let r = fsck(&img, &["-fn", "-c"]);
    assert_eq!(r.code, 4, "{}", r.out);
    assert!(r.out.contains(&format!("\nBlock {b}: the fingerprint in the store does not match its content.  Recompute? no\n")), "{}", r.out);
}

#[test]
fn replay_alone_exits_0_with_preen() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("j.img");
    populated(&img, &[]);
    let bs = Vol::open(&img).bs();
    let t = free_blocks(&img, 2);
    log_one_tx(&img, 9, &[(t[0], bytes(1, bs)), (t[1], bytes(2, bs))]);
    let r = fsck(&img, &["-p"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains("recovering journal"), "{}", r.out);
    assert!(!r.out.contains("MODIFIED"), "{}", r.out);
    // The superblock is valid (as the kernel keeps it while mounted with a
    // journal): the replay is all, as e2fsck -p after a power cut.
    assert!(r.out.contains(": clean, "), "{}", r.out);
    assert!(!r.out.contains("check forced"), "{}", r.out);
    assert_eq!(read_block(&img, t[0], bs), bytes(1, bs));
    assert_clean(&img);
}

/// The superblock before the replay calls for no check, the replayed one
/// does (the kernel recorded an error in the journal): the check runs
/// after the replay, verifying what it would without one.
#[test]
fn replayed_superblock_forces_the_check() {
    use livedfs_format::superblock::STATE_ERROR;
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("j.img");
    populated(&img, &[]);
    let mut v = Vol::open(&img);
    let bs = v.bs();
    v.sb.state |= STATE_ERROR;
    v.write_sb();
    let logged = v.read(0)[..bs].to_vec();
    v.sb.state &= !STATE_ERROR;
    v.write_sb();
    drop(v);
    log_one_tx(&img, 7, &[(0, logged)]);
    let r = fsck(&img, &["-p"]);
    assert!(r.code <= 1, "{}", r.out);
    assert!(r.out.contains("recovering journal"), "{}", r.out);
    assert!(
        r.out
            .contains("contains a file system with errors, check forced"),
        "{}",
        r.out
    );
    assert_clean(&img);
}

// s_errno: an error the kernel recorded in the journal superblock
// (jbd2_journal_abort, e.g. errors=remount-ro). As e2fsck: the volume is
// treated as having errors (full check, also with -p) and, when fsck
// writes, s_errno is cleared after any replay.

const PASSES: [&str; 6] = [
    "Pass 1: Checking inodes, blocks, and sizes",
    "Pass 2: Checking directory structure",
    "Pass 3: Checking directory connectivity",
    "Pass 4: Checking reference counts",
    "Pass 5: Checking group summary information",
    "Pass 6: Checking fingerprint stores and refcounts",
];

/// The journal superblock block of `img`.
fn jsb(img: &Path) -> Vec<u8> {
    let v = Vol::open(img);
    read_block(img, u64::from(v.sb.journal_start), v.bs())
}

fn jsb_errno(b: &[u8]) -> i32 {
    i32::from_be_bytes(b[0x20..0x24].try_into().unwrap())
}

/// Whether the journal superblock's v3 checksum is right.
fn jsb_csum_ok(b: &[u8]) -> bool {
    let mut c = b[..1024].to_vec();
    c[0xFC..0x100].fill(0);
    b[0xFC..0x100] == jcrc(!0, &c).to_be_bytes()
}

/// Records `errno` in the journal superblock as jbd2_journal_abort does
/// on a journal the kernel opened (checksum v3 on, as the kernel sets it
/// at mount), everything else left as it is.
fn abort_journal(img: &Path, errno: i32) {
    let v = Vol::open(img);
    let at = u64::from(v.sb.journal_start) * v.bs() as u64;
    let mut b = jsb(img);
    let incompat = u32::from_be_bytes(b[0x28..0x2C].try_into().unwrap());
    b[0x28..0x2C].copy_from_slice(&(incompat | V3).to_be_bytes());
    b[0x50] = 4;
    b[0x20..0x24].copy_from_slice(&errno.to_be_bytes());
    b[0xFC..0x100].fill(0);
    let c = jcrc(!0, &b[..1024]);
    b[0xFC..0x100].copy_from_slice(&c.to_be_bytes());
    v.f.write_all_at(&b, at).unwrap();
    assert!(jsb_csum_ok(&jsb(img)));
    assert_eq!(jsb_errno(&jsb(img)), errno);
}

fn errno_line(dev: &str, errno: i32) -> String {
    format!("{dev}: the kernel recorded an error in the journal (errno {errno})")
}

fn forced_line(dev: &str) -> String {
    format!("{dev} contains a file system with errors, check forced.")
}

/// Asserts the last line of a check's output is its summary.
fn assert_summary(dev: &str, line: &str, out: &str) {
    assert!(
        line.starts_with(&format!("{dev}: ")) && line.contains(" files ("),
        "no summary line last:\n{out}"
    );
}

/// After a writing run: s_errno 0 with a valid checksum, and nothing else
/// of the journal superblock changed; the superblock valid, without
/// errors; and the next -p skips the volume as clean.
fn assert_errno_cleared(img: &Path, before: &[u8]) {
    let after = jsb(img);
    assert_eq!(jsb_errno(&after), 0);
    assert!(jsb_csum_ok(&after), "bad journal superblock checksum");
    let mut expect = before.to_vec();
    expect[0x20..0x24].fill(0);
    expect[0xFC..0x100].copy_from_slice(&after[0xFC..0x100]);
    assert!(after == expect, "only s_errno and the checksum may change");
    assert_ne!(after[0xFC..0x100], before[0xFC..0x100]);
    let v = Vol::open(img);
    assert_eq!(v.sb.state & STATE_ERROR, 0);
    assert_ne!(v.sb.state & STATE_VALID, 0);
    drop(v);
    let dev = img.display().to_string();
    let again = fsck(img, &["-p"]);
    assert_eq!(again.code, 0, "{}", again.out);
    assert_eq!(again.out.lines().count(), 1, "{}", again.out);
    assert!(
        again.out.starts_with(&format!("{dev}: clean, ")),
        "{}",
        again.out
    );
}

/// A clean volume whose journal recorded EIO: -p (and -a) checks it in
/// full, exit 0 when the check finds nothing, and clears s_errno.
#[test]
fn journal_errno_forces_a_preen_check_and_is_cleared() {
    for opt in ["-p", "-a"] {
        let d = tempfile::tempdir().unwrap();
        let img = d.path().join("j.img");
        populated(&img, &[]);
        let dev = img.display().to_string();
        // Without the error, -p skips it.
        let copy = d.path().join("copy.img");
        std::fs::copy(&img, &copy).unwrap();
        let r = fsck(&copy, &[opt]);
        assert_eq!(r.code, 0, "{}", r.out);
        assert!(r.out.contains(": clean, "), "{}", r.out);
        abort_journal(&img, -5);
        let before = jsb(&img);
        let r = fsck(&img, &[opt]);
        assert_eq!(r.code, 0, "{opt}: {}", r.out);
        let lines: Vec<&str> = r.out.lines().collect();
        assert_eq!(lines.len(), 3, "{}", r.out);
        assert_eq!(lines[0], errno_line(&dev, -5));
        assert_eq!(lines[1], forced_line(&dev));
        assert_summary(&dev, lines[2], &r.out);
        assert_errno_cleared(&img, &before);
    }
}

/// -y does the same, with the pass titles.
#[test]
fn journal_errno_with_y() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("j.img");
    populated(&img, &[]);
    let dev = img.display().to_string();
    abort_journal(&img, -30); // EROFS
    let before = jsb(&img);
    let r = fsck(&img, &["-y"]);
    assert_eq!(r.code, 0, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 9, "{}", r.out);
    assert_eq!(lines[0], errno_line(&dev, -30));
    assert_eq!(lines[1], forced_line(&dev));
    assert_eq!(lines[2..8], PASSES);
    assert_summary(&dev, lines[8], &r.out);
    assert_errno_cleared(&img, &before);
}

/// -n reports it, checks in full, and writes nothing; the check found no
/// problem, so the status is 0 (as for a superblock marked with errors).
#[test]
fn journal_errno_with_n_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("j.img");
    populated(&img, &[]);
    let dev = img.display().to_string();
    abort_journal(&img, -5);
    let image = std::fs::read(&img).unwrap();
    let r = fsck(&img, &["-n"]);
    assert_eq!(r.code, 0, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 9, "{}", r.out);
    assert_eq!(lines[0], errno_line(&dev, -5));
    assert_eq!(lines[1], forced_line(&dev));
    assert_eq!(lines[2..8], PASSES);
    assert_summary(&dev, lines[8], &r.out);
    assert!(
        std::fs::read(&img).unwrap() == image,
        "-n changed the image"
    );
    assert_eq!(jsb_errno(&jsb(&img)), -5);
}

/// s_errno set and a committed transaction in the log: -n reports both
/// and writes nothing; -p replays the transaction, then clears s_errno,
/// and checks in full.
#[test]
fn journal_errno_with_a_transaction_to_replay() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("j.img");
    populated(&img, &[]);
    let dev = img.display().to_string();
    let bs = Vol::open(&img).bs();
    let t = free_blocks(&img, 2);
    log_one_tx(&img, 9, &[(t[0], bytes(1, bs)), (t[1], bytes(2, bs))]);
    abort_journal(&img, -5);
    let before = jsb(&img);
    assert_eq!(
        u32::from_be_bytes(before[0x1C..0x20].try_into().unwrap()),
        {
            let v = Vol::open(&img);
            v.sb.journal_start + 1
        }
    );
    let image = std::fs::read(&img).unwrap();
    let n = fsck(&img, &["-n"]);
    assert_eq!(n.code, 0, "{}", n.out);
    let lines: Vec<&str> = n.out.lines().collect();
    assert_eq!(lines[0], errno_line(&dev, -5));
    assert_eq!(
        lines[1],
        "Warning: the journal needs recovery; skipping it because of -n: the check runs on the unreplayed state"
    );
    assert!(
        std::fs::read(&img).unwrap() == image,
        "-n changed the image"
    );
    let r = fsck(&img, &["-p"]);
    assert_eq!(r.code, 0, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 4, "{}", r.out);
    assert_eq!(lines[0], errno_line(&dev, -5));
    assert_eq!(lines[1], format!("{dev}: recovering journal"));
    assert_eq!(lines[2], forced_line(&dev));
    assert_summary(&dev, lines[3], &r.out);
    assert_eq!(read_block(&img, t[0], bs), bytes(1, bs), "T9 replayed");
    assert_eq!(read_block(&img, t[1], bs), bytes(2, bs), "T9 replayed");
    // The journal is empty (s_start 0, the sequence after T9 + 1), the
    // error cleared, the checksum valid.
    let after = jsb(&img);
    assert_eq!(&after[0x1C..0x20], &[0, 0, 0, 0]);
    assert_eq!(
        u32::from_be_bytes(after[0x18..0x1C].try_into().unwrap()),
        11
    );
    let mut replayed = before.clone();
    replayed[0x18..0x1C].copy_from_slice(&11u32.to_be_bytes());
    replayed[0x1C..0x20].fill(0);
    let v = Vol::open(&img);
    assert_eq!(v.sb.feature_incompat & INCOMPAT_RECOVER, 0);
    drop(v);
    assert_errno_cleared(&img, &replayed);
}

/// -E journal_only does no check: the error moves to the superblock
/// (written before s_errno is cleared), and the next -p checks in full.
#[test]
fn journal_only_moves_the_journal_error_to_the_superblock() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("j.img");
    populated(&img, &[]);
    let dev = img.display().to_string();
    abort_journal(&img, -5);
    let r = fsck(&img, &["-E", "journal_only", "-y"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert_eq!(r.out, format!("{}\n", errno_line(&dev, -5)));
    let after = jsb(&img);
    assert_eq!(jsb_errno(&after), 0);
    assert!(jsb_csum_ok(&after));
    assert_ne!(Vol::open(&img).sb.state & STATE_ERROR, 0);
    let r = fsck(&img, &["-p"]);
    assert_eq!(r.code, 0, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.out);
    assert_eq!(lines[0], forced_line(&dev));
    assert_summary(&dev, lines[1], &r.out);
    assert_eq!(Vol::open(&img).sb.state & STATE_ERROR, 0);
}
