//! `livedfs debug craft`: on images made by the workspace's mkfs, each
//! kind leaves every checksum right and exactly the one inconsistency it
//! names, checked with the format crate's decoders against a copy of the
//! image from before; fsck.livedfs then finds it (-fn, exit 4) and
//! repairs it (-fy) to a clean volume. Refusals: a journal needing
//! recovery, targets that are not what the kind needs, too few inodes.

mod common;

use common::*;
use livedfs_format::csum::volume_seed;
use livedfs_format::fpstore;
use livedfs_format::group::{
    bitmap_checksum, GroupDesc, BG_BLOCK_UNINIT, BG_FP_UNINIT, BG_INODE_UNINIT,
};
use livedfs_format::inode::UNWRITTEN;
use livedfs_format::inode::{Inode, S_IFREG};
use livedfs_format::superblock::{
    INCOMPAT_RECOVER, INCOMPAT_UNWRITTEN, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE,
};
use livedfs_format::{bitmap, Crc32c, Geometry, Superblock, DESC_SIZE, INODE_SIZE, ROOT_INO};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Crc;
impl Crc32c for Crc {
    fn crc32c(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}

/// An image decoded with the format crate, every checksum verified.
struct Img {
    f: File,
    sb: Superblock,
    geo: Geometry,
    seed: u32,
}

impl Img {
    fn open(p: &Path) -> Img {
        let f = File::open(p).unwrap();
        let mut b = vec![0u8; SUPERBLOCK_SIZE];
        f.read_exact_at(&mut b, SUPERBLOCK_OFFSET).unwrap();
        let sb = Superblock::decode(&b, &Crc).expect("superblock checksum");
        let geo = Geometry::from_superblock(&sb).unwrap();
        let seed = volume_seed(&Crc, &sb.uuid);
        Img { f, sb, geo, seed }
    }
    fn block(&self, b: u32) -> Vec<u8> {
        let mut v = vec![0u8; self.geo.block_size as usize];
        self.f
            .read_exact_at(&mut v, self.geo.block_offset(b))
            .unwrap();
        v
    }
    fn desc(&self, g: u32) -> GroupDesc {
        let (b, off) = self.geo.desc_location(g).unwrap();
        let d = GroupDesc::decode(
            &self.block(b)[off..off + DESC_SIZE as usize],
            g,
            self.seed,
            &Crc,
        )
        .expect("descriptor checksum");
        d.validate(&self.geo, g).unwrap();
        d
    }
    fn inode(&self, ino: u32) -> Inode {
        let (b, off) = self.geo.inode_location(ino).unwrap();
        Inode::decode(
            &self.block(b)[off..off + INODE_SIZE as usize],
            ino,
            self.seed,
            &Crc,
        )
        .expect("inode checksum")
    }
    /// Every descriptor and written bitmap verifies; every written store
    /// block verifies and holds as many entries in use as `fp_used`.
    /// Returns the entries in use: (block, refcount, fingerprint).
    fn verify_all(&self) -> Vec<(u32, u32, Vec<u8>)> {
        let mut used = Vec::new();
        let fs = usize::from(self.geo.fp_algo.size());
        let es = self.geo.fp_entry_size as usize;
        for g in 0..self.geo.group_count {
            let d = self.desc(g);
            let l = self.geo.group(g).unwrap();
            if d.flags & BG_BLOCK_UNINIT == 0 {
                let m = self.block(l.block_bitmap);
                assert_eq!(bitmap_checksum(&m, g, self.seed, &Crc), d.block_bitmap_csum);
            }
            if d.flags & BG_INODE_UNINIT == 0 {
                let m = self.block(l.inode_bitmap);
                let n = self.geo.inodes_per_group as usize / 8;
                assert_eq!(
                    bitmap_checksum(&m[..n], g, self.seed, &Crc),
                    d.inode_bitmap_csum
                );
            }
            if d.flags & BG_FP_UNINIT != 0 {
                assert_eq!(d.fp_used, 0);
                continue;
            }
            let mut n = 0;
            for j in 0..self.geo.fp_blocks_per_group {
                let blk = self.block(l.fp_store + j);
                n += fpstore::verify_block(&self.geo, &blk, g, j, self.seed, &Crc)
                    .expect("store block");
                for e in 0..self.geo.fp_entries_per_block {
                    let ent = fpstore::read_entry(&blk, e as usize * es, fs).unwrap();
                    if ent.refcount > 0 {
                        let b = self.geo.fp_entry_block(g, j, e).unwrap().unwrap();
                        used.push((b, ent.refcount, ent.fingerprint.as_slice().to_vec()));
                    }
                }
            }
            assert_eq!(n, d.fp_used, "group {g}: fp_used");
        }
        used
    }
}

fn image(d: &tempfile::TempDir, size: &str, args: &[&str]) -> (PathBuf, PathBuf) {
    let img = d.path().join("img");
    mkfs(&img, size, args);
    let before = d.path().join("before");
    std::fs::copy(&img, &before).unwrap();
    (img, before)
}

/// The blocks where two images differ.
fn changed_blocks(a: &Path, b: &Path, bs: usize) -> BTreeSet<u32> {
    let a = std::fs::read(a).unwrap();
    let b = std::fs::read(b).unwrap();
    assert_eq!(a.len(), b.len());
    a.chunks(bs)
        .zip(b.chunks(bs))
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, _)| i as u32)
        .collect()
}

fn craft(img: &Path, args: &[&str]) -> Value {
    let mut a = vec!["debug", "craft", img.to_str().unwrap()];
    a.extend_from_slice(args);
    json(&a)
}

fn craft_err(img: &Path, args: &[&str]) -> String {
    let mut a = vec!["debug", "craft", img.to_str().unwrap()];
    a.extend_from_slice(args);
    let o = livedfs(&a);
    assert_eq!(o.status.code(), Some(1), "{a:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs fsck.livedfs; (exit status, output).
fn fsck(img: &Path, opt: &str) -> (i32, String) {
    let o = Command::new(fsck_bin())
        .arg(opt)
        .arg(img)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap_or(-1), s)
}

/// fsck -fn finds `what` (exit 4) and changes nothing; -fy repairs it
/// (exit 1); -fn is then clean.
fn fsck_finds_and_repairs(img: &Path, what: &str) {
    let copy = img.with_extension("n");
    std::fs::copy(img, &copy).unwrap();
    let (rc, out) = fsck(img, "-fn");
    assert_eq!(rc, 4, "fsck -fn:\n{out}");
    assert!(out.contains(what), "fsck -fn lacks {what:?}:\n{out}");
    assert!(
        std::fs::read(img).unwrap() == std::fs::read(&copy).unwrap(),
        "fsck -n wrote"
    );
    let (rc, out) = fsck(img, "-fy");
    assert_eq!(rc, 1, "fsck -fy:\n{out}");
    let (rc, out) = fsck(img, "-fn");
    assert_eq!(rc, 0, "fsck -fn after -fy:\n{out}");
}

#[test]
fn store_entry_on_metadata() {
    let d = tempfile::tempdir().unwrap();
    let (img, before) = image(&d, "256m", &[]);
    let v = Img::open(&img);
    assert!(v.desc(0).flags & BG_FP_UNINIT != 0);
    drop(v);
    let j = craft(&img, &["store-entry-on-metadata"]);
    let v = Img::open(&img);
    let l = v.geo.group(0).unwrap();
    assert_eq!(j["kind"], "store-entry-on-metadata");
    assert_eq!(j["block"], l.block_bitmap);
    assert_eq!(j["group"], 0);
    // The entry is the only one in use; the store was formatted (as the
    // kernel does on first use) and fp_used counts it.
    let used = v.verify_all();
    assert_eq!(used.len(), 1);
    let (b, rc, fp) = &used[0];
    assert_eq!((*b, *rc), (l.block_bitmap, 1));
    assert_eq!(j["fingerprint"], hexs(fp));
    let d0 = v.desc(0);
    assert_eq!(d0.flags & BG_FP_UNINIT, 0);
    assert_eq!(d0.fp_used, 1);
    // Nothing else changed: the descriptor table and group 0's store.
    let mut want: BTreeSet<u32> = (l.fp_store..l.fp_store + v.geo.fp_blocks_per_group).collect();
    want.insert(v.geo.desc_location(0).unwrap().0);
    assert_eq!(changed_blocks(&img, &before, 4096), want);
    let old = Img::open(&before);
    assert_eq!(
        old.desc(0),
        GroupDesc {
            flags: d0.flags | BG_FP_UNINIT,
            fp_used: 0,
            ..d0
        }
    );
    // Another metadata block, with a fingerprint of our choice.
    let fp = "ab".repeat(32);
    let j = craft(
        &img,
        &[
            "store-entry-on-metadata",
            "--block",
            &(l.inode_table + 3).to_string(),
            "--fingerprint",
            &fp,
        ],
    );
    assert_eq!(j["fingerprint"], fp);
    assert_eq!(Img::open(&img).verify_all().len(), 2);
    // A journal block: in the data region and in use, metadata all the same.
    let js = Img::open(&img).sb.journal_start + 5;
    let j = craft(
        &img,
        &["store-entry-on-metadata", "--block", &js.to_string()],
    );
    assert!(
        j["summary"]
            .as_str()
            .unwrap()
            .contains("block 5 of the journal"),
        "{j}"
    );
    assert_eq!(Img::open(&img).verify_all().len(), 3);
    fsck_finds_and_repairs(
        &img,
        &format!(
            "Metadata block {} (fixed metadata) has refcount 1, should be 0",
            l.block_bitmap
        ),
    );
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn store_entry_on_free() {
    let d = tempfile::tempdir().unwrap();
    let (img, before) = image(&d, "256m", &[]);
    let j = craft(&img, &["store-entry-on-free"]);
    let v = Img::open(&img);
    let l = v.geo.group(0).unwrap();
    let b = l.end - 1;
    assert_eq!(j["block"], b);
    let used = v.verify_all();
    assert_eq!(used.len(), 1);
    assert_eq!((used[0].0, used[0].1), (b, 1));
    // The block is a data block, free in the (unchanged) bitmap.
    assert!(v.geo.is_data_block(b));
    let map = v.block(l.block_bitmap);
    assert!(!bitmap::test(&map, (b - l.first) as usize));
    let (sblk, _) = v.geo.fp_entry_location(b).unwrap();
    let mut want: BTreeSet<u32> = (l.fp_store..l.fp_store + v.geo.fp_blocks_per_group).collect();
    want.insert(v.geo.desc_location(0).unwrap().0);
    assert!(want.contains(&sblk));
    assert_eq!(changed_blocks(&img, &before, 4096), want);
    fsck_finds_and_repairs(
        &img,
        &format!("Block {b} holds data (refcount 1) but no file points to it"),
    );
}

#[test]
fn store_entry_in_an_uninitialised_group() {
    let d = tempfile::tempdir().unwrap();
    // 1 KiB blocks: 32 groups, most never written.
    let (img, before) = image(&d, "256m", &["-b", "1024"]);
    let j = craft(&img, &["store-entry-uninit-group"]);
    let v = Img::open(&img);
    let g = j["group"].as_u64().unwrap() as u32;
    let l = v.geo.group(g).unwrap();
    assert_eq!(j["block"], l.end - 1);
    let dg = v.desc(g);
    assert!(dg.flags & BG_BLOCK_UNINIT != 0);
    assert_eq!(dg.flags & BG_FP_UNINIT, 0);
    assert_eq!(dg.fp_used, 1);
    let used = v.verify_all();
    assert_eq!(used.len(), 1);
    assert_eq!((used[0].0, used[0].1), (l.end - 1, 1));
    let mut want: BTreeSet<u32> = (l.fp_store..l.fp_store + v.geo.fp_blocks_per_group).collect();
    want.insert(v.geo.desc_location(g).unwrap().0);
    assert_eq!(changed_blocks(&img, &before, 1024), want);
    fsck_finds_and_repairs(
        &img,
        &format!(
            "Block {} holds data (refcount 1) but no file points to it",
            l.end - 1
        ),
    );
    // On a volume with every bitmap written there is no such group.
    let (img, _) = image(&d, "256m", &[]);
    let e = craft_err(&img, &["store-entry-uninit-group"]);
    assert!(
        e.contains("no group has an uninitialised block bitmap"),
        "{e}"
    );
}

#[test]
fn dir_size_huge() {
    let d = tempfile::tempdir().unwrap();
    let (img, before) = image(&d, "256m", &[]);
    let old = Img::open(&img).inode(ROOT_INO);
    let j = craft(&img, &["dir-size-huge"]);
    assert_eq!(j["ino"], ROOT_INO);
    assert_eq!(j["size"], 1u64 << 40);
    let v = Img::open(&img);
    let i = v.inode(ROOT_INO);
    i.validate(&v.geo).unwrap();
    assert_eq!(i.size, 1 << 40);
    assert_eq!(
        Inode {
            size: old.size,
            ..i.clone()
        },
        old
    );
    v.verify_all();
    let (ib, _) = v.geo.inode_location(ROOT_INO).unwrap();
    assert_eq!(changed_blocks(&img, &before, 4096), BTreeSet::from([ib]));
    fsck_finds_and_repairs(&img, "Inode 2, i_size is 1099511627776, should be 4096");
    // lost+found, a size of our choice; a size that is no directory size
    // is refused (the inode's own validation would catch it first).
    let j = craft(
        &img,
        &["dir-size-huge", "--ino", "11", "--size", "40960000"],
    );
    assert_eq!(j["old_size"], 16384);
    assert_eq!(Img::open(&img).inode(11).size, 40_960_000);
    let e = craft_err(&img, &["dir-size-huge", "--size", "5000"]);
    assert!(e.contains("fails the inode's own validation"), "{e}");
    let e = craft_err(&img, &["dir-size-huge", "--ino", "1"]);
    assert!(e.contains("inode 1"), "{e}");
}

/// The orphan inode `ino`: a regular file unlinked while open, in use in
/// its group's bitmap, below the table's high-water mark.
fn assert_orphan(v: &Img, ino: u32) -> Inode {
    let i = v.inode(ino);
    i.validate(&v.geo).unwrap();
    assert_eq!(i.mode, S_IFREG | 0o644);
    assert_eq!((i.links_count, i.dtime, i.size, i.blocks), (0, 0, 0, 0));
    assert_eq!(i.block, [0; 16]);
    let ipg = v.geo.inodes_per_group;
    let g = (ino - 1) / ipg;
    let idx = (ino - 1) % ipg;
    let d = v.desc(g);
    assert_eq!(d.flags & BG_INODE_UNINIT, 0);
    assert!(idx < ipg - d.itable_unused);
    let map = v.block(v.geo.group(g).unwrap().inode_bitmap);
    assert!(bitmap::test(&map, idx as usize));
    i
}

/// Free inodes counted in the bitmaps agree with the descriptors and the
/// superblock; returns the total.
fn free_inodes(v: &Img) -> u32 {
    let ipg = v.geo.inodes_per_group as usize;
    let mut total = 0;
    for g in 0..v.geo.group_count {
        let d = v.desc(g);
        let free = if d.flags & BG_INODE_UNINIT != 0 {
            ipg as u32
        } else {
            let map = v.block(v.geo.group(g).unwrap().inode_bitmap);
            // The padding past inodes_per_group is set, as the kernel does.
            assert!((ipg..map.len() * 8).all(|i| bitmap::test(&map, i)));
            (ipg - bitmap::count_set(&map, ipg)) as u32
        };
        assert_eq!(free, d.free_inodes, "group {g}");
        total += free;
    }
    assert_eq!(v.sb.free_inodes, total);
    total
}

#[test]
fn orphan_loop() {
    let d = tempfile::tempdir().unwrap();
    let (img, _) = image(&d, "256m", &[]);
    let free = free_inodes(&Img::open(&img));
    let j = craft(&img, &["orphan-loop"]);
    let v = Img::open(&img);
    let (a, b) = (12, 13);
    assert_eq!(j["orphans"], serde_json::json!([a, b, a]));
    assert_eq!(v.sb.orphan_head, a);
    assert_eq!(assert_orphan(&v, a).next_orphan, b);
    assert_eq!(assert_orphan(&v, b).next_orphan, a);
    assert_eq!(free_inodes(&v), free - 2);
    v.verify_all();
    let e = craft_err(&img, &["orphan-loop"]);
    assert!(e.contains("orphan list is not empty"), "{e}");
    fsck_finds_and_repairs(&img, "Orphan list is broken at inode 12 (loop)");
}

#[test]
fn orphan_long() {
    let d = tempfile::tempdir().unwrap();
    // The default 16384 inodes are too few: a clear refusal.
    let (img, before) = image(&d, "256m", &[]);
    let e = craft_err(&img, &["orphan-long"]);
    assert!(e.contains("20000 needed (mkfs with -N)"), "{e}");
    assert!(std::fs::read(&img).unwrap() == std::fs::read(&before).unwrap());
    // 16384 inodes per group: the list spans groups 0 and 1 (whose inode
    // bitmap is initialised as the kernel would).
    let (img, _) = image(&d, "256m", &["-N", "32768"]);
    let free = free_inodes(&Img::open(&img));
    let j = craft(&img, &["orphan-long"]);
    assert_eq!(j["orphan_count"], 20000);
    let v = Img::open(&img);
    assert_eq!(v.geo.inodes_per_group, 16384);
    let mut seen = HashSet::new();
    let mut cur = v.sb.orphan_head;
    assert_eq!(cur, 12);
    while cur != 0 {
        assert!(seen.insert(cur), "loop at {cur}");
        cur = assert_orphan(&v, cur).next_orphan;
    }
    assert_eq!(seen.len(), 20000);
    assert_eq!(j["orphans"], serde_json::json!([12, 20011]));
    assert_eq!(free_inodes(&v), free - 20000);
    assert_eq!(v.desc(1).itable_unused, 16384 - (20011 - 16384));
    v.verify_all();
    // A valid list: fsck -fn says the kernel will finish it (exit 0);
    // -fy releases every orphan.
    let (rc, out) = fsck(&img, "-fn");
    assert_eq!(rc, 0, "{}", &out[out.len().saturating_sub(2000)..]);
    assert!(out.contains("Inode 20011 is on the orphan list (unlinked while open)"));
    let (rc, _) = fsck(&img, "-fy");
    assert_eq!(rc, 1);
    let v = Img::open(&img);
    assert_eq!(v.sb.orphan_head, 0);
    assert_eq!(free_inodes(&v), free);
    // A shorter list on request.
    let (img, _) = image(&d, "64m", &[]);
    let j = craft(&img, &["orphan-long", "--count", "100"]);
    assert_eq!(j["orphans"], serde_json::json!([12, 111]));
}

#[test]
fn refusals() {
    let d = tempfile::tempdir().unwrap();
    let (img, before) = image(&d, "64m", &[]);
    let l = Img::open(&img).geo.group(0).unwrap();
    let e = craft_err(
        &img,
        &[
            "store-entry-on-metadata",
            "--block",
            &l.data_start.to_string(),
        ],
    );
    assert!(e.contains("not in the journal: not metadata"), "{e}");
    // The root directory's block is in use.
    let root_block = Img::open(&img).inode(ROOT_INO).block[0];
    let e = craft_err(
        &img,
        &["store-entry-on-free", "--block", &root_block.to_string()],
    );
    assert!(e.contains("is in use"), "{e}");
    let e = craft_err(&img, &["store-entry-on-free", "--fingerprint", "abcd"]);
    assert!(e.contains("32 bytes, not 2"), "{e}");
    let e = craft_err(&img, &["store-entry-on-free", "--block", "99999999"]);
    assert!(e.contains("not in a group"), "{e}");
    assert!(std::fs::read(&img).unwrap() == std::fs::read(&before).unwrap());
    // Twice on the same block: the entry is already in use.
    craft(&img, &["store-entry-on-free"]);
    let e = craft_err(
        &img,
        &["store-entry-on-free", "--block", &(l.end - 1).to_string()],
    );
    assert!(e.contains("already has a store entry in use"), "{e}");
    // A journal needing recovery: a replay would undo the crafting.
    let v = Img::open(&img);
    let mut sb = v.sb.clone();
    sb.feature_incompat |= INCOMPAT_RECOVER;
    let mut b = vec![0u8; SUPERBLOCK_SIZE];
    sb.encode(&mut b, &Crc).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .unwrap()
        .write_all_at(&b, SUPERBLOCK_OFFSET)
        .unwrap();
    let e = craft_err(&img, &["dir-size-huge"]);
    assert!(e.contains("journal needs recovery"), "{e}");
    // Not livedfs.
    let z = d.path().join("zero");
    std::fs::write(&z, vec![0u8; 1 << 20]).unwrap();
    let e = craft_err(&z, &["orphan-loop"]);
    assert!(e.contains("not a sound livedfs superblock"), "{e}");
    // The subcommand is hidden from the help, but has its own.
    assert!(!ok(&["debug", "--help"]).contains("craft"));
    let h = ok(&["debug", "craft", "--help"]);
    for k in [
        "store-entry-on-metadata",
        "store-entry-on-free",
        "store-entry-uninit-group",
        "dir-size-huge",
        "orphan-loop",
        "orphan-long",
        "journal-errno",
    ] {
        assert!(h.contains(k), "{k} missing from:\n{h}");
    }
}

#[test]
fn journal_errno() {
    let d = tempfile::tempdir().unwrap();
    let (img, before) = image(&d, "64m", &[]);
    let j = craft(&img, &["journal-errno"]);
    let v = Img::open(&img);
    let js = v.sb.journal_start;
    assert_eq!(j["block"], js);
    let errno = |v: &Img| i32::from_be_bytes(v.block(js)[0x20..0x24].try_into().unwrap());
    assert_eq!(errno(&v), -117);
    // Only the journal superblock changed; the volume's state is clean.
    assert_eq!(changed_blocks(&img, &before, 4096), BTreeSet::from([js]));
    v.verify_all();
    let dev = img.to_str().unwrap();
    assert_eq!(ok(&["info", "-s", "journal.errno", dev]).trim(), "-117");
    craft(&img, &["journal-errno", "--errno", "-5"]);
    assert_eq!(errno(&Img::open(&img)), -5);
    let e = craft_err(&img, &["journal-errno", "--errno", "0"]);
    assert!(e.contains("0 records nothing"), "{e}");
    // fsck: a file system with errors, checked in full, the errno cleared.
    let (rc, out) = fsck(&img, "-p");
    assert!(rc <= 1, "fsck -p:\n{out}");
    assert!(
        out.contains("contains a file system with errors, check forced"),
        "{out}"
    );
    assert_eq!(errno(&Img::open(&img)), 0);
}

/// unwritten-file: a regular file whose first blocks are UNWRITTEN
/// pointers, on a volume with the feature: valid (fsck -fn clean, the
/// markers counted), named by info, listed by debug inode.
/// unwritten-no-feature: the same file without the feature, which fsck
/// reports and clears.
#[test]
fn unwritten_file() {
    const U: u32 = UNWRITTEN;
    let d = tempfile::tempdir().unwrap();
    let (img, before) = image(&d, "64m", &[]);
    let dev = img.to_str().unwrap();
    assert!(!ok(&["info", dev]).contains(" unwritten"));
    let j = craft(&img, &["unwritten-file", "--count", "5", "--size", "8192"]);
    let ino = j["ino"].as_u64().unwrap() as u32;
    assert_eq!(j["kind"], "unwritten-file");
    let v = Img::open(&img);
    v.verify_all();
    assert_ne!(v.sb.feature_incompat & INCOMPAT_UNWRITTEN, 0);
    let i = v.inode(ino);
    i.validate(&v.geo).unwrap();
    assert_eq!(i.block[..6], [U, U, U, U, U, 0]);
    assert_eq!((i.size, i.blocks, i.links_count), (8192, 0, 1));
    // The superblock, the inode, the bitmap, the descriptor and the root's
    // block: no block allocated.
    let l = v.geo.group(0).unwrap();
    let (ib, _) = v.geo.inode_location(ino).unwrap();
    let root_blk = v.inode(ROOT_INO).block[0];
    let (db, _) = v.geo.desc_location(0).unwrap();
    assert_eq!(
        changed_blocks(&img, &before, 4096),
        BTreeSet::from([0, db, l.inode_bitmap, ib, root_blk])
    );
    let (rc, out) = fsck(&img, "-fn");
    assert_eq!(rc, 0, "fsck -fn:\n{out}");
    assert!(out.contains(" 0 pointers, 5 unwritten,"), "{out}");
    let features = ok(&["info", dev]);
    let line = features
        .lines()
        .find(|l| l.trim_start().starts_with("Filesystem features"))
        .unwrap();
    assert!(line.split_whitespace().any(|w| w == "unwritten"), "{line}");
    let t = ok(&["debug", "inode", dev, &ino.to_string()]);
    assert!(
        t.contains("Unwritten (preallocated, reads as zeros, no disk block): file blocks 0-4"),
        "{t}"
    );
    assert!(t.contains("Block map: no blocks mapped"), "{t}");
    assert!(
        t.contains("unwritten unwritten unwritten unwritten unwritten 0"),
        "{t}"
    );
    let j = json(&["debug", "inode", dev, &ino.to_string()]);
    assert_eq!(j["unwritten"], serde_json::json!([{"first": 0, "last": 4}]));
    assert_eq!(j["inode"]["unwritten_blocks"], 5);
    assert_eq!(j["inode"]["mapped_blocks"], 0);
    // A second file in lost+found, the default count, then refusals.
    let j = craft(&img, &["unwritten-file", "--ino", "11"]);
    let i2 = Img::open(&img).inode(j["ino"].as_u64().unwrap() as u32);
    assert_eq!(i2.block[..5], [U, U, U, U, 0]);
    let e = craft_err(&img, &["unwritten-file", "--ino", "11"]);
    assert!(e.contains("already has an entry"), "{e}");
    let e = craft_err(&img, &["unwritten-file", "--count", "13"]);
    assert!(e.contains("--count"), "{e}");
    let e = craft_err(&img, &["unwritten-file", "--ino", &ino.to_string()]);
    assert!(e.contains("not a directory"), "{e}");
    assert_eq!(fsck(&img, "-fn").0, 0);

    // Without the feature: every marker is reported and cleared.
    let d2 = tempfile::tempdir().unwrap();
    let (img2, _) = image(&d2, "64m", &[]);
    let j = craft(&img2, &["unwritten-no-feature"]);
    let ino = j["ino"].as_u64().unwrap() as u32;
    let v = Img::open(&img2);
    v.verify_all();
    assert_eq!(v.sb.feature_incompat & INCOMPAT_UNWRITTEN, 0);
    let t = ok(&["debug", "inode", img2.to_str().unwrap(), &ino.to_string()]);
    assert!(t.contains("the volume lacks the unwritten feature"), "{t}");
    fsck_finds_and_repairs(
        &img2,
        &format!(
            "Inode {ino} block #3 is marked unwritten, but the volume has no unwritten feature"
        ),
    );
    assert_eq!(Img::open(&img2).inode(ino).block, [0; 16]);
}

#[test]
fn stored_file() {
    // 300 000 blocks at 4 KiB: past the double-indirect range (12 + 1024
    // + 1024^2 is more, so use 1 KiB blocks: 12 + 256 + 65536 < 300 000),
    // a triple-indirect tree over several groups.
    let d = tempfile::tempdir().unwrap();
    let (img, _) = image(&d, "1g", &["-b", "1024"]);
    let n = 300_000u32;
    let free_before = Img::open(&img).sb.free_blocks;
    let j = craft(&img, &["stored-file", "--count", &n.to_string()]);
    assert_eq!(j["kind"], "stored-file");
    let ino = j["ino"].as_u64().unwrap() as u32;
    let v = Img::open(&img);
    v.verify_all();
    let i = v.inode(ino);
    i.validate(&v.geo).unwrap();
    assert!(i.is_reg());
    assert_eq!(i.size, u64::from(n) * 1024);
    assert_ne!(
        i.block[livedfs_format::inode::TIND_BLOCK],
        0,
        "a triple-indirect tree"
    );
    // Data and indirect blocks counted in the inode, the superblock and
    // the descriptors; every data block has its own fingerprint in use.
    let mapped = i.blocks;
    assert!(mapped > u64::from(n), "{mapped}");
    assert_eq!(free_before - v.sb.free_blocks, mapped);
    let used: u64 = (0..v.geo.group_count)
        .map(|g| u64::from(v.desc(g).fp_used))
        .sum();
    assert_eq!(used, u64::from(n));
    // fsck finds the volume consistent and counts what was made.
    let (rc, out) = fsck(&img, "-fn");
    assert_eq!(rc, 0, "fsck -fn:\n{out}");
    assert!(
        out.contains(&format!("({n} data blocks in use, 0 shared, {n} pointers,")),
        "{out}"
    );
    // Fingerprints are distinct: SplitMix64 streams of distinct seeds.
    let fps: HashSet<Vec<u8>> = (0..1000u32).map(livedfs_fp).collect();
    assert_eq!(fps.len(), 1000);
    // A second one: the name is taken.
    let e = craft_err(&img, &["stored-file", "--count", "10"]);
    assert!(e.contains("already has an entry 'stored'"), "{e}");
    // More blocks than the never-used groups hold: refused, nothing written.
    let (img2, before) = image(&d, "64m", &[]);
    let e = craft_err(&img2, &["stored-file", "--count", "20000"]);
    assert!(e.contains("not enough never-used groups"), "{e}");
    assert!(changed_blocks(&img2, &before, 4096).is_empty());
}

/// saved-filter-bad-chain needs a saved filter (only the kernel writes
/// one, at a clean unmount: tests/guest/62-saved-filter.sh crafts it
/// there); on a fresh volume it refuses and writes nothing.
#[test]
fn saved_filter_bad_chain_needs_a_saved_filter() {
    let d = tempfile::tempdir().unwrap();
    let (img, before) = image(&d, "64m", &[]);
    let e = craft_err(&img, &["saved-filter-bad-chain"]);
    assert!(e.contains("has no saved filter"), "{e}");
    assert!(changed_blocks(&img, &before, 4096).is_empty());
}

/// The synthetic fingerprint of block `b`, as the cli makes it (a copy
/// of its SplitMix64 stream, so a change to it shows here).
fn livedfs_fp(b: u32) -> Vec<u8> {
    let mut x = u64::from(b) ^ 0x6C69_7665_6466_7321;
    let mut out = Vec::new();
    while out.len() < 32 {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}
