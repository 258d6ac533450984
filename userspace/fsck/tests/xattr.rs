//! Extended-attribute blocks: volumes with attributes (own and shared
//! blocks, ACLs, on files, directories, symlinks and FIFOs) check clean;
//! each damage is found by -n (exit 4) with its problem, repaired by -y
//! (exit 1), and -n is clean afterwards; orphans give their attribute
//! blocks back before the check; an unknown read-only feature is refused.

mod common;

use common::*;
use livedfs_format::inode::Inode;
use livedfs_format::superblock::{RO_COMPAT_XATTR, STATE_VALID};
use livedfs_format::xattr::{
    self, INDEX_POSIX_ACL_DEFAULT, INDEX_SECURITY, INDEX_TRUSTED, INDEX_USER,
};
use livedfs_format::{dirent, ROOT_INO};
use std::collections::HashMap;

fn img(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(name);
    (d, p)
}

fn acl_default() -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, 7u16, u32::MAX),
        (0x02, 5, 1000),
        (0x04, 5, u32::MAX),
        (0x10, 7, u32::MAX),
        (0x20, 0, u32::MAX),
    ] {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

/// The populated volume with attributes: `small` has a block of its own,
/// `a`, `b` and `clone` share one (refcount 3), `dir` has a default ACL,
/// the symlinks and the FIFO have attributes. Returns the inodes and the
/// blocks ("small", "shared", "dir", ...).
fn attributed(p: &std::path::Path) -> (HashMap<&'static str, u32>, HashMap<&'static str, u32>) {
    let m = populated(p, &[]);
    let mut v = Vol::open(p);
    assert!(v.sb.has_ro_compat(RO_COMPAT_XATTR), "mkfs sets xattr");
    let mut blocks = HashMap::new();
    blocks.insert(
        "small",
        v.set_xattrs(
            m["small"],
            &[
                (INDEX_USER, b"a", b"1"),
                (INDEX_SECURITY, b"selinux", b"system_u:object_r:etc_t:s0"),
            ],
        ),
    );
    let shared = v.set_xattrs(m["a"], &[(INDEX_USER, b"same", b"value")]);
    v.share_xattrs(m["b"], shared);
    v.share_xattrs(m["clone"], shared);
    blocks.insert("shared", shared);
    let acl = acl_default();
    blocks.insert(
        "dir",
        v.set_xattrs(
            m["dir"],
            &[
                (INDEX_USER, b"d", b""),
                (INDEX_POSIX_ACL_DEFAULT, b"", &acl),
            ],
        ),
    );
    blocks.insert(
        "fast",
        v.set_xattrs(m["fast"], &[(INDEX_TRUSTED, b"t", b"x")]),
    );
    blocks.insert(
        "slow",
        v.set_xattrs(m["slow"], &[(INDEX_SECURITY, b"s", b"y")]),
    );
    blocks.insert(
        "fifo",
        v.set_xattrs(m["fifo"], &[(INDEX_TRUSTED, b"f", b"z")]),
    );
    v.flush();
    (m, blocks)
}

fn read_block(p: &std::path::Path, b: u32) -> Vec<u8> {
    Vol::open(p).read(b)
}

fn write_block(p: &std::path::Path, b: u32, d: &[u8]) {
    Vol::open(p).write(b, d);
}

#[test]
fn volumes_with_attributes_are_clean() {
    let (_d, p) = img("x.img");
    let (m, blocks) = attributed(&p);
    assert_clean(&p);
    let v = Vol::open(&p);
    // A fast symlink with an attribute block is still fast.
    let fast = v.read_inode(m["fast"]);
    assert_eq!((fast.blocks, fast.xattr_block), (1, blocks["fast"]));
    assert!(fast.is_fast_symlink());
    let r = fsck(&p, &["-fp"]);
    assert_eq!(r.code, 0, "{}", r.out);
}

#[test]
fn checksum_alone_wrong_is_rewritten() {
    let (_d, p) = img("c.img");
    let (m, blocks) = attributed(&p);
    let b = blocks["small"];
    let mut d = read_block(&p, b);
    let n = d.len();
    d[n - 1] ^= 0x40;
    write_block(&p, b, &d);
    let out = assert_repairs(&p, "passes checks, but its checksum does not match");
    assert!(
        out.contains(&format!("block {b} (inode {})", m["small"])),
        "{out}"
    );
    let d = read_block(&p, b);
    xattr::verify_block(&d, b, Vol::open(&p).seed, &Crc).unwrap();
}

#[test]
fn wrong_hash_is_recomputed() {
    let (_d, p) = img("h.img");
    let (_m, blocks) = attributed(&p);
    let b = blocks["shared"];
    let v = Vol::open(&p);
    let mut d = v.read(b);
    d[xattr::off::HASH] ^= 1;
    let c = xattr::checksum_of(&d, b, v.seed, &Crc).unwrap();
    let n = d.len();
    d[n - 4..].copy_from_slice(&c.to_le_bytes());
    v.write(b, &d);
    assert_repairs(&p, &format!("Extended attribute block {b}"));
    // Preen may fix it: a hash is derived data.
    let mut d = v.read(b);
    d[xattr::off::HASH] ^= 1;
    let c = xattr::checksum_of(&d, b, v.seed, &Crc).unwrap();
    d[n - 4..].copy_from_slice(&c.to_le_bytes());
    v.write(b, &d);
    let r = fsck(&p, &["-fp"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains("has hash"), "{}", r.out);
}

/// A block whose entries are malformed (checksum and hash right): every
/// inode pointing to it loses it; the block is freed; the inodes' block
/// counts follow.
#[test]
fn bad_block_is_cleared_from_every_inode() {
    let (_d, p) = img("b.img");
    let (m, blocks) = attributed(&p);
    let b = blocks["shared"];
    let v = Vol::open(&p);
    let mut d = v.read(b);
    d[xattr::HEADER_SIZE] = 5; // an unknown name index
    let l = xattr::layout(&d);
    assert!(l.is_err());
    // The hash as computed over the damaged bytes (entry + end marker).
    let used = xattr::HEADER_SIZE + xattr::entry_size(4, 5).unwrap() + 4;
    use livedfs_format::Crc32c;
    let h = Crc.crc32c(v.seed, &d[xattr::HEADER_SIZE..used]);
    d[xattr::off::HASH..xattr::off::HASH + 4].copy_from_slice(&h.to_le_bytes());
    let c = xattr::checksum_of(&d, b, v.seed, &Crc).unwrap();
    let n = d.len();
    d[n - 4..].copy_from_slice(&c.to_le_bytes());
    v.write(b, &d);
    let blocks_before: Vec<u64> = ["a", "b", "clone"]
        .iter()
        .map(|k| v.read_inode(m[k]).blocks)
        .collect();
    let out = assert_repairs(&p, "has a bad extended attribute block");
    assert!(out.contains("unknown name index"), "{out}");
    assert_eq!(
        out.matches("has a bad extended attribute block").count(),
        3,
        "{out}"
    );
    assert!(
        out.contains("Block bitmap differences"),
        "the block is freed: {out}"
    );
    let v = Vol::open(&p);
    for (k, before) in ["a", "b", "clone"].iter().zip(blocks_before) {
        let i = v.read_inode(m[k]);
        assert_eq!(i.xattr_block, 0, "{k}");
        assert_eq!(i.blocks, before - 1, "{k}");
    }
}

#[test]
fn refcount_too_low_and_too_high() {
    for (disk, what) in [
        (2u32, "reference count 2, should be 3"),
        (7, "reference count 7, should be 3"),
    ] {
        let (_d, p) = img("r.img");
        let (_m, blocks) = attributed(&p);
        let b = blocks["shared"];
        let v = Vol::open(&p);
        let mut d = v.read(b);
        xattr::set_refcount(&mut d, disk, b, v.seed, &Crc).unwrap();
        v.write(b, &d);
        assert_repairs(&p, what);
        assert_eq!(xattr::refcount(&v.read(b)).unwrap(), 3);
    }
}

#[test]
fn pointer_out_of_range_or_into_the_journal() {
    let (_d, p) = img("o.img");
    let (m, _) = attributed(&p);
    let mut v = Vol::open(&p);
    let l = v.geo.group(0).unwrap();
    let mut i = v.read_inode(m["small"]);
    i.xattr_block = l.inode_table; // metadata, not a data block
    v.write_inode(m["small"], &i);
    let out = assert_repairs(&p, "is outside the data area");
    assert!(
        out.contains(&format!("Inode {} extended attribute block", m["small"])),
        "{out}"
    );
    assert_eq!(v.read_inode(m["small"]).xattr_block, 0);
    if v.sb.journal_blocks > 0 {
        let mut i = v.read_inode(m["sub"]);
        i.xattr_block = v.sb.journal_start + 5;
        i.blocks += 1;
        v.write_inode(m["sub"], &i);
        assert_repairs(&p, "is inside the journal");
        v = Vol::open(&p);
        assert_eq!(v.read_inode(m["sub"]).xattr_block, 0);
    }
}

/// An attribute pointer to a block of file data (the file met first):
/// the pointer is cleared, the data stays.
#[test]
fn attribute_pointer_to_file_data() {
    let (_d, p) = img("fd.img");
    let (m, _) = attributed(&p);
    let v = Vol::open(&p);
    let data = v.file_block(m["a"], 3);
    // `many` was made last: a higher inode number than `a`.
    let mut i = v.read_inode(m["many"]);
    assert!(m["many"] > m["a"]);
    i.xattr_block = data;
    i.blocks += 1;
    v.write_inode(m["many"], &i);
    let out = assert_repairs(&p, "is also claimed as file data");
    assert!(out.contains(&format!("Inode {}", m["many"])), "{out}");
}

/// A file's block pointer to an attribute block (the attribute met
/// first): the file gets a copy of the block (pass 1b's clone).
#[test]
fn file_pointer_to_an_attribute_block() {
    let (_d, p) = img("fa.img");
    let (m, blocks) = attributed(&p);
    let mut v = Vol::open(&p);
    let b = blocks["small"];
    // A new file, made after `small`, whose only block is the attribute
    // block.
    let ino = v.file(ROOT_INO, "late", &bytes(9, 4096));
    assert!(ino > m["small"]);
    let mut i = v.read_inode(ino);
    let old = i.block[0];
    i.block[0] = b;
    v.write_inode(ino, &i);
    v.set_refcount(old, 0);
    v.flush();
    let out = assert_repairs(&p, "also claimed by an extended attribute block");
    let v = Vol::open(&p);
    assert_ne!(v.read_inode(ino).block[0], b, "{out}");
    xattr::verify_block(&v.read(b), b, v.seed, &Crc).unwrap();
}

#[test]
fn bitmap_bit_and_store_entry_of_an_attribute_block() {
    let (_d, p) = img("bm.img");
    let (_m, blocks) = attributed(&p);
    let mut v = Vol::open(&p);
    let b = blocks["dir"];
    let l = v.geo.group(0).unwrap();
    livedfs_format::bitmap::clear(&mut v.bmap, (b - l.first) as usize);
    v.desc.free_blocks += 1;
    v.flush();
    assert_repairs(&p, "Block bitmap differences");
    let mut v = Vol::open(&p);
    v.set_refcount(b, 1);
    v.flush();
    let out = assert_repairs(&p, &format!("Metadata block {b}"));
    assert!(out.contains("should be 0"), "{out}");
}

#[test]
fn attribute_block_without_the_feature() {
    let (_d, p) = img("nf.img");
    let (m, _) = attributed(&p);
    let mut v = Vol::open(&p);
    v.sb.feature_ro_compat &= !RO_COMPAT_XATTR;
    v.write_sb();
    let out = assert_repairs(&p, "but the volume has no xattr feature");
    assert!(
        out.contains(&format!("Inode {} has an extended", m["small"])),
        "{out}"
    );
    let v = Vol::open(&p);
    assert_eq!(v.read_inode(m["small"]).xattr_block, 0);
}

#[test]
fn blocks_count_must_include_the_attribute_block() {
    let (_d, p) = img("bc.img");
    let (m, _) = attributed(&p);
    let v = Vol::open(&p);
    let mut i = v.read_inode(m["fifo"]);
    assert_eq!(i.blocks, 1);
    i.blocks = 3;
    v.write_inode(m["fifo"], &i);
    let out = assert_repairs(&p, "i_blocks is 3, should be 1");
    assert!(out.contains(&format!("Inode {}", m["fifo"])), "{out}");
}

#[test]
fn unknown_read_only_feature_is_refused() {
    let (_d, p) = img("u.img");
    mkfs(&p, "64M", &[]);
    let mut v = Vol::open(&p);
    v.sb.feature_ro_compat |= 0x8000;
    v.write_sb();
    for args in [&["-fn"][..], &["-fy"], &["-p"]] {
        let r = fsck(&p, args);
        assert_eq!(r.code, 8, "{args:?}: {}", r.out);
        assert!(r.out.contains("get a newer fsck.livedfs"), "{}", r.out);
    }
}

/// Unlinks `name` from the root directory, leaving its inode with no
/// links on the orphan list after `next`.
fn orphan(p: &std::path::Path, name: &[u8], ino: u32, next: u32) {
    let mut v = Vol::open(p);
    let rb = v.dir_blocks(ROOT_INO)[0];
    let mut d = v.read(rb);
    let off = dirent::entries(&d)
        .flatten()
        .find(|e| e.name == name)
        .unwrap()
        .offset;
    dirent::remove_at(&mut d, off).unwrap();
    let gen = v.read_inode(ROOT_INO).generation;
    dirent::set_checksum(&mut d, ROOT_INO, gen, v.seed, &Crc).unwrap();
    v.write(rb, &d);
    let mut i: Inode = v.read_inode(ino);
    i.links_count = 0;
    i.next_orphan = next;
    v.write_inode(ino, &i);
    v.sb.orphan_head = ino;
    v.write_sb();
}

/// Orphans released before the check (-p on a volume the journal keeps
/// valid): one sharing a block (its refcount lowered), one with a block
/// of its own (freed); the volume is then clean.
#[test]
fn orphans_give_their_attribute_blocks_back() {
    let (_d, p) = img("or.img");
    let (m, blocks) = attributed(&p);
    let mut v = Vol::open(&p);
    let own = v.file(ROOT_INO, "own", b"some data");
    let own_block = v.set_xattrs(own, &[(INDEX_USER, b"mine", b"alone")]);
    v.flush();
    let free_before = Vol::open(&p).sb.free_blocks;
    // `b` (sharing with a and clone), then `own`.
    orphan(&p, b"own", own, 0);
    orphan(&p, b"b", m["b"], own);
    let r = fsck(&p, &["-p"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains("Clearing orphaned inode"), "{}", r.out);
    assert!(r.out.contains(": clean, "), "{}", r.out);
    let v = Vol::open(&p);
    assert_eq!(v.sb.orphan_head, 0);
    assert_eq!(xattr::refcount(&v.read(blocks["shared"])).unwrap(), 2);
    // own: its data block and its attribute block are free again; b: its
    // indirect block (its data is all shared with a).
    assert_eq!(v.sb.free_blocks, free_before + 3);
    let l = v.geo.group(0).unwrap();
    assert!(!livedfs_format::bitmap::test(
        &v.bmap,
        (own_block - l.first) as usize
    ));
    assert_clean(&p);
}

/// The same orphans, the volume not clean: the full check releases them
/// in pass 1 and finds the refcount and the unowned block itself.
#[test]
fn orphans_with_attributes_in_a_full_check() {
    let (_d, p) = img("of.img");
    let (m, blocks) = attributed(&p);
    orphan(&p, b"b", m["b"], 0);
    // Make the release unsound (the block's checksum wrong), so the full
    // check does it.
    let v = Vol::open(&p);
    let b = blocks["shared"];
    let mut d = v.read(b);
    let n = d.len();
    d[n - 1] ^= 1;
    v.write(b, &d);
    let mut v = Vol::open(&p);
    v.sb.state &= !STATE_VALID;
    v.write_sb();
    let r = fsck(&p, &["-y"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(
        r.out
            .contains(&format!("Releasing orphan inode {}", m["b"])),
        "{}",
        r.out
    );
    assert!(r.out.contains("checksum does not match"), "{}", r.out);
    assert!(
        r.out.contains("reference count 3, should be 2"),
        "{}",
        r.out
    );
    assert_clean(&p);
    let v = Vol::open(&p);
    let d = v.read(b);
    xattr::verify_block(&d, b, v.seed, &Crc).unwrap();
    assert_eq!(xattr::refcount(&d).unwrap(), 2);
}

/// Random damage to attribute blocks (often with the checksum made
/// right again, so that the deeper checks are reached) and to inodes'
/// attribute pointers (with the inode checksum right): -fn neither
/// crashes nor hangs, -fy repairs, -fn is then clean.
#[test]
fn random_attribute_damage_is_repaired() {
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.img");
    let (m, blocks) = attributed(&base);
    let attr_blocks: Vec<u32> = blocks.values().copied().collect();
    let inodes: Vec<u32> = m.values().copied().collect();
    let work = dir.path().join("work.img");
    let mut rng = Rng(0xA77B_10C5_0000_0001);
    let t0 = std::time::Instant::now();
    let mut failures = Vec::new();
    let mut runs = 0;
    while runs < 60 && t0.elapsed() < std::time::Duration::from_secs(30) {
        std::fs::copy(&base, &work).unwrap();
        let v = Vol::open(&work);
        let mut what = Vec::new();
        for _ in 0..1 + rng.below(2) {
            if rng.below(3) == 0 {
                // An inode's pointer: anywhere, another attribute block,
                // or 0 with the count left alone.
                let ino = inodes[rng.below(inodes.len() as u64) as usize];
                let mut i = v.read_inode(ino);
                i.xattr_block = match rng.below(3) {
                    0 => rng.below(u64::from(v.geo.blocks_count) + 10) as u32,
                    1 => attr_blocks[rng.below(attr_blocks.len() as u64) as usize],
                    _ => 0,
                };
                v.write_inode(ino, &i);
                what.push(format!("inode {ino} xattr_block {}", i.xattr_block));
            } else {
                let b = attr_blocks[rng.below(attr_blocks.len() as u64) as usize];
                let mut d = v.read(b);
                let n = 1 + rng.below(4);
                for _ in 0..n {
                    let at = if rng.below(2) == 0 {
                        rng.below(96) as usize // header and first entries
                    } else {
                        rng.below(d.len() as u64) as usize
                    };
                    d[at] ^= 1 << rng.below(8);
                }
                if rng.below(2) == 0 {
                    let c = xattr::checksum_of(&d, b, v.seed, &Crc).unwrap();
                    let len = d.len();
                    d[len - 4..].copy_from_slice(&c.to_le_bytes());
                }
                v.write(b, &d);
                what.push(format!("{n} flips in block {b}"));
            }
        }
        drop(v);
        runs += 1;
        let n = fsck_t(&work, &["-fn"], 20);
        if ![0, 4].contains(&n.code) {
            failures.push(format!("{what:?}: -fn exit {}:\n{}", n.code, n.out));
            continue;
        }
        let y = fsck_t(&work, &["-fy"], 20);
        if ![0, 1].contains(&y.code) {
            failures.push(format!("{what:?}: -fy exit {}:\n{}", y.code, y.out));
            continue;
        }
        let again = fsck_t(&work, &["-fn"], 20);
        if again.code != 0 {
            failures.push(format!(
                "{what:?}: -fn after -fy exit {}:\n{}\n--- -fy:\n{}",
                again.code, again.out, y.out
            ));
        }
    }
    assert!(runs >= 20, "too few runs");
    assert!(
        failures.is_empty(),
        "{} of {runs} failed; first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n=====\n")
    );
}
