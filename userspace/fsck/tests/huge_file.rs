//! The quadruple-indirect block map (`RO_COMPAT_HUGE_FILE`): a regular
//! file with data up to its last block (2^32 − 1) is clean, its tree
//! counted and claimed; a quadruple-indirect pointer where none may be (a
//! volume without the feature, a directory) is cleared, and the blocks
//! under it are freed.

mod common;

use common::*;
use livedfs_format::inode::QIND_BLOCK;
use livedfs_format::superblock::RO_COMPAT_HUGE_FILE;
use livedfs_format::ROOT_INO;
use std::path::PathBuf;

/// First file block of the quadruple-indirect tree at 1 KiB blocks.
const QBASE: u64 = 12 + 256 + 256 * 256 + 256 * 256 * 256;
const LAST: u64 = (1 << 32) - 1;

fn img() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("huge.img");
    (d, p)
}

/// A regular file of `size` bytes mapping `blocks` (file block, seed of
/// a distinct data block) in directory `ROOT_INO`.
fn sparse_file(v: &mut Vol, name: &str, size: u64, blocks: &[(u64, u64)]) -> u32 {
    let bs = v.bs();
    let pairs: Vec<(u64, u32)> = blocks
        .iter()
        .map(|&(fb, seed)| (fb, v.data_block(&bytes(seed, bs))))
        .collect();
    v.reg_file(ROOT_INO, name, size, 0, &pairs)
}

#[test]
fn a_file_up_to_block_2_pow_32_is_clean() {
    let (_d, p) = img();
    mkfs(&p, "32M", &["-b", "1024"]);
    let mut v = Vol::open(&p);
    assert!(
        v.sb.has_ro_compat(RO_COMPAT_HUGE_FILE),
        "mkfs sets huge_file"
    );
    let ino = sparse_file(
        &mut v,
        "huge",
        (LAST + 1) * 1024,
        &[(0, 1), (QBASE - 1, 2), (QBASE, 3), (LAST, 4)],
    );
    v.flush();
    let i = Vol::open(&p).read_inode(ino);
    assert_ne!(i.block[QIND_BLOCK], 0);
    // 4 data blocks; the triple chain (3) and two quadruple chains
    // sharing their root (1 + 2 × 3).
    assert_eq!(i.blocks, 4 + 3 + 7);
    let r = fsck(&p, &["-fn"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert_eq!(summary_counts(&r.out)[2], 4, "pointers:\n{}", r.out);
    assert_clean(&p);
}

#[test]
fn a_quadruple_pointer_without_the_feature_is_cleared() {
    let (_d, p) = img();
    mkfs(&p, "32M", &["-b", "1024", "-O", "^huge_file"]);
    let mut v = Vol::open(&p);
    assert!(!v.sb.has_ro_compat(RO_COMPAT_HUGE_FILE));
    let free = v.sb.free_blocks;
    let ino = sparse_file(&mut v, "f", 1024, &[(0, 1), (QBASE, 2)]);
    v.flush();
    let out = assert_repairs(&p, "invalid quadruple-indirect pointer");
    assert!(out.contains(&format!("Inode {ino}")), "{out}");
    let v = Vol::open(&p);
    let i = v.read_inode(ino);
    assert_eq!(i.block[QIND_BLOCK], 0);
    // The direct block stays; the data and four indirect blocks below the
    // cleared pointer are free again.
    assert_eq!(i.blocks, 1);
    assert_eq!(v.sb.free_blocks, free - 1);
}
