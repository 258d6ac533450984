//! `UNWRITTEN` block pointers (blocks preallocated by fallocate, not yet
//! written): valid in a regular file's direct pointers and in the leaf
//! level of its indirect tree on a volume with `INCOMPAT_UNWRITTEN` (no
//! block: not claimed, not in `blocks`, no refcount); cleared anywhere
//! else, and everywhere on a volume without the feature; cleared without
//! freeing anything by an orphan's truncation.

mod common;

use common::*;
use livedfs_format::inode::{DIND_BLOCK, IND_BLOCK, N_DIRECT, S_IFLNK, S_IFMT, UNWRITTEN};
use livedfs_format::superblock::{INCOMPAT_UNWRITTEN, RO_COMPAT_PREALLOC};
use livedfs_format::ROOT_INO;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const U: u32 = UNWRITTEN;

fn img(name: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(name);
    (d, p)
}

fn le32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap())
}

/// A regular file in `dir` whose map is `blocks` (0: hole, `U`: unwritten,
/// else a block of `Vol::data_block`), `size` bytes long, holding
/// `prealloc` blocks of preallocated space (added to the superblock's sum).
fn file_with_map(
    v: &mut Vol,
    dir: u32,
    name: &str,
    blocks: &[u32],
    size: u64,
    prealloc: u32,
) -> u32 {
    let pairs: Vec<(u64, u32)> = blocks
        .iter()
        .enumerate()
        .map(|(fb, &b)| (fb as u64, b))
        .collect();
    let ino = v.reg_file(dir, name, size, prealloc, &pairs);
    if prealloc > 0 {
        v.sb.prealloc_blocks += u64::from(prealloc);
        v.sb.feature_ro_compat |= RO_COMPAT_PREALLOC;
    }
    ino
}

/// Data blocks of distinct content.
fn data(v: &mut Vol, seed: u64) -> u32 {
    let bs = v.bs();
    v.data_block(&bytes(seed, bs))
}

/// Inode `ino`'s pointers for file blocks `0..n` (0 where a path stops).
fn pointers(v: &Vol, ino: u32, n: u64) -> Vec<u32> {
    let i = v.read_inode(ino);
    (0..n)
        .map(|fb| {
            let path = livedfs_format::inode::block_path(v.geo.ptrs_per_block(), fb).unwrap();
            let mut b = i.block[path.offsets[0] as usize];
            for lvl in 1..=path.depth {
                if b == 0 || b == U {
                    return 0;
                }
                b = le32(&v.read(b), path.offsets[lvl] as usize);
            }
            b
        })
        .collect()
}

struct Files {
    /// name -> (inode, map as built).
    files: HashMap<&'static str, (u32, Vec<u32>)>,
    /// Valid unwritten pointers in all of them.
    unwritten: u64,
    /// populated()'s files.
    m: HashMap<&'static str, u32>,
}

/// A populated volume (4 KiB blocks, 1024 pointers per indirect block)
/// with files holding unwritten blocks where they are valid: direct
/// pointers, single- and double-indirect leaves, past the end of the file
/// (fallocate KEEP_SIZE), a file of nothing but unwritten blocks.
fn with_unwritten(p: &Path, feature: bool) -> Files {
    let pm = populated(p, &[]);
    let mut v = Vol::open(p);
    assert_eq!(v.geo.ptrs_per_block(), 1024);
    if feature {
        v.sb.feature_incompat |= INCOMPAT_UNWRITTEN;
    }
    let bs = v.bs() as u64;
    let mut files = HashMap::new();
    // Direct: data, unwritten, hole, unwritten past EOF (KEEP_SIZE).
    let mut m = vec![data(&mut v, 100), U, U, 0, data(&mut v, 101), U, U, U];
    let ino = file_with_map(&mut v, ROOT_INO, "direct", &m, 5 * bs, 4);
    files.insert("direct", (ino, m.clone()));
    // Single- and double-indirect leaves (the indirect blocks are real,
    // one of them holding nothing but unwritten pointers).
    m = vec![0; 12 + 1024 + 1030];
    m[3] = data(&mut v, 102);
    m[12..40].fill(U);
    m[20] = data(&mut v, 103);
    // Two leaf blocks under the double-indirect one.
    m[12 + 1024..].fill(U);
    let size = m.len() as u64 * bs;
    let ino = file_with_map(&mut v, ROOT_INO, "indirect", &m, size, 1000);
    files.insert("indirect", (ino, m.clone()));
    // Only unwritten blocks, size 0 (fallocate KEEP_SIZE on a new file).
    m = vec![U; 14];
    let ino = file_with_map(&mut v, ROOT_INO, "keepsize", &m, 0, 0);
    files.insert("keepsize", (ino, m.clone()));
    v.flush();
    let unwritten = files
        .values()
        .map(|(_, m)| m.iter().filter(|&&b| b == U).count() as u64)
        .sum();
    Files {
        files,
        unwritten,
        m: pm,
    }
}

/// Valid markers: clean, counted in the summary, not as data pointers;
/// `-fy` changes nothing.
#[test]
fn unwritten_blocks_are_valid_with_the_feature() {
    let (_d, p) = img("uw.img");
    let f = with_unwritten(&p, true);
    assert_clean(&p);
    let r = fsck(&p, &["-fn"]);
    assert_eq!(summary_unwritten(&r.out), f.unwritten, "{}", r.out);
    // Data pointers: only real blocks (populated's own, plus 4 here).
    let (_d2, q) = img("plain.img");
    populated(&q, &[]);
    let plain = fsck(&q, &["-fn"]);
    let [data, _, ptrs, _] = summary_counts(&r.out);
    let [pdata, _, pptrs, _] = summary_counts(&plain.out);
    assert_eq!((data, ptrs), (pdata + 4, pptrs + 4), "{}", r.out);
    assert_eq!(summary_unwritten(&plain.out), 0);
    // -fy changes nothing: blocks, sizes and pointers as built.
    let before = std::fs::read(&p).unwrap();
    let y = fsck(&p, &["-fy"]);
    assert_eq!(y.code, 0, "{}", y.out);
    let v = Vol::open(&p);
    for (name, (ino, m)) in &f.files {
        assert_eq!(pointers(&v, *ino, m.len() as u64), *m, "{name}");
    }
    let i = v.read_inode(f.files["indirect"].0);
    // 2 data blocks, the single-indirect block, the double-indirect block
    // and its two leaves.
    assert_eq!(i.blocks, 2 + 1 + 3);
    // The single-indirect block holding its last 2 markers.
    assert_eq!(v.read_inode(f.files["keepsize"].0).blocks, 1);
    assert_eq!(v.read_inode(f.files["direct"].0).blocks, 2);
    drop(v);
    // Only the superblock's check time and the like changed.
    let after = std::fs::read(&p).unwrap();
    let bs = 4096;
    let diff: Vec<usize> = (0..before.len() / bs)
        .filter(|&b| before[b * bs..(b + 1) * bs] != after[b * bs..(b + 1) * bs])
        .collect();
    assert_eq!(
        diff,
        vec![0],
        "-fy wrote blocks other than the superblock's"
    );
}

/// Unwritten pointers where only a regular file's data pointer may be: in
/// a directory, a slow symlink, in place of a single-indirect block and of
/// a double-indirect block's entry. Reported, cleared; nothing freed for
/// them.
#[test]
fn misplaced_unwritten_blocks_are_cleared() {
    let (_d, p) = img("mis.img");
    let f = with_unwritten(&p, true);
    let m = f.m.clone();
    let mut v = Vol::open(&p);
    // Directory: block 1 (its size says 1 block).
    let mut d = v.read_inode(m["dir"]);
    d.block[1] = U;
    v.write_inode(m["dir"], &d);
    // Slow symlink: block 0 stays, block 1 unwritten.
    let mut s = v.read_inode(m["slow"]);
    assert_eq!(s.mode & S_IFMT, S_IFLNK);
    s.block[1] = U;
    v.write_inode(m["slow"], &s);
    // Regular file 'a' (40 blocks): its single-indirect pointer.
    let mut a = v.read_inode(m["a"]);
    a.block[IND_BLOCK] = U;
    v.write_inode(m["a"], &a);
    // 'c' (320 blocks, single indirect) gets a double-indirect block whose
    // first entry is unwritten (in place of a leaf indirect block).
    let mut c = v.read_inode(m["c"]);
    let dind = v.alloc();
    let mut blk = vec![0u8; v.bs()];
    blk[..4].copy_from_slice(&U.to_le_bytes());
    v.write(dind, &blk);
    c.block[DIND_BLOCK] = dind;
    c.blocks += 1;
    v.write_inode(m["c"], &c);
    v.flush();
    let out = assert_repairs(&p, "is marked unwritten in place of an indirect block");
    for want in [
        format!(
            "Inode {} block #1 is marked unwritten in a directory or symlink",
            m["dir"]
        ),
        format!(
            "Inode {} block #1 is marked unwritten in a directory or symlink",
            m["slow"]
        ),
        format!(
            "Inode {} block #12 is marked unwritten in place of an indirect block",
            m["a"]
        ),
        format!(
            "Inode {} block #1036 is marked unwritten in place of an indirect block",
            m["c"]
        ),
    ] {
        assert!(out.contains(&want), "no {want:?}:\n{out}");
    }
    assert!(!out.contains("outside the data area"), "{out}");
    let v = Vol::open(&p);
    assert_eq!(v.read_inode(m["dir"]).block[1], 0);
    assert_eq!(v.read_inode(m["slow"]).block[1], 0);
    let a = v.read_inode(m["a"]);
    assert_eq!(a.block[IND_BLOCK], 0);
    // 'a' lost the 28 blocks mapped through it and the indirect block.
    assert_eq!(a.blocks, 12);
    // The double-indirect block stays (counted), its entry cleared.
    assert_eq!(v.read_inode(m["c"]).block[DIND_BLOCK], dind);
    assert_eq!(le32(&v.read(dind), 0), 0);
    // The valid ones are untouched.
    for (name, (ino, mm)) in &f.files {
        assert_eq!(pointers(&v, *ino, mm.len() as u64), *mm, "{name}");
    }
    let r = fsck(&p, &["-fn"]);
    assert_eq!(summary_unwritten(&r.out), f.unwritten, "{}", r.out);
}

/// Without INCOMPAT_UNWRITTEN a module would take the value for a block
/// number: every marker is cleared (preen does it too), the files'
/// blocks and data stay.
#[test]
fn unwritten_without_the_feature_is_cleared() {
    let (_d, p) = img("nof.img");
    let f = with_unwritten(&p, false);
    let preen = p.with_extension("preen");
    std::fs::copy(&p, &preen).unwrap();
    let out = assert_repairs(
        &p,
        "is marked unwritten, but the volume has no unwritten feature",
    );
    let n = out
        .lines()
        .filter(|l| l.contains("but the volume has no unwritten feature"))
        .count() as u64;
    assert_eq!(n, f.unwritten, "{out}");
    let v = Vol::open(&p);
    for (name, (ino, m)) in &f.files {
        let want: Vec<u32> = m.iter().map(|&b| if b == U { 0 } else { b }).collect();
        assert_eq!(pointers(&v, *ino, m.len() as u64), want, "{name}");
    }
    assert_eq!(v.read_inode(f.files["indirect"].0).blocks, 6);
    assert_eq!(v.sb.feature_incompat & INCOMPAT_UNWRITTEN, 0);
    let r = fsck(&preen, &["-fp"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert_clean(&preen);
}

/// An orphan truncated while it held unwritten blocks past its new size:
/// finished before the check (the release path) and by pass 1 (when the
/// list is unsound), the markers cleared and nothing freed for them.
#[test]
fn orphan_truncation_clears_unwritten_blocks() {
    for unsound in [false, true] {
        let (_d, p) = img("orph.img");
        let f = with_unwritten(&p, true);
        let (ino, map) = f.files["indirect"].clone();
        let mut v = Vol::open(&p);
        let free_before = v.sb.free_blocks;
        // Truncated to 2 blocks (fb 0 a hole, fb 1 ... none: keep 0..2).
        let mut i = v.read_inode(ino);
        i.size = 2 * 4096;
        v.write_inode(ino, &i);
        // Also a direct marker past the new size of 'direct' (size 1
        // block: fb 1, 2 unwritten go, fb 4 data goes).
        let (dino, _) = f.files["direct"];
        let mut di = v.read_inode(dino);
        di.size = 4096;
        di.next_orphan = ino;
        v.write_inode(dino, &di);
        v.sb.orphan_head = dino;
        if unsound {
            // Unsound: a block 'indirect' gives back has refcount 0.
            let b = map[20];
            v.set_refcount(b, 0);
        }
        v.flush();
        let r = fsck(&p, &["-p"]);
        assert!(r.code <= 1, "{}", r.out);
        if unsound {
            assert!(r.out.contains("has orphan inodes"), "{}", r.out);
        } else {
            assert!(r.out.contains("Truncating orphaned inode"), "{}", r.out);
            assert!(r.out.contains(": clean, "), "{}", r.out);
        }
        assert_clean(&p);
        let v = Vol::open(&p);
        assert_eq!(v.sb.orphan_head, 0);
        let i = v.read_inode(ino);
        assert_eq!(i.block[IND_BLOCK], 0, "unsound {unsound}");
        assert_eq!(i.block[DIND_BLOCK], 0, "unsound {unsound}");
        assert_eq!(i.blocks, 0, "unsound {unsound}");
        assert_eq!(pointers(&v, ino, map.len() as u64), vec![0; map.len()]);
        let di = v.read_inode(dino);
        assert_eq!(
            di.block[..N_DIRECT],
            [map_direct0(&f), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(di.blocks, 1);
        // Freed: 'indirect''s 2 data blocks and 4 indirect blocks, and
        // 'direct''s block 4; nothing for the markers.
        if !unsound {
            assert_eq!(v.sb.free_blocks, free_before + 2 + 4 + 1);
        }
    }
}

fn map_direct0(f: &Files) -> u32 {
    f.files["direct"].1[0]
}

/// The kernel sets INCOMPAT_UNWRITTEN in the primary superblock only: the
/// backups (which keep mkfs's features) still match, and a primary whose
/// checksum alone is wrong keeps the feature and so the markers.
#[test]
fn the_feature_is_in_the_primary_only() {
    let (_d, p) = img("bk.img");
    mkfs(&p, "64M", &["-b", "1024"]);
    let mut v = Vol::open(&p);
    assert!(v.geo.group_count > 1);
    v.sb.feature_incompat |= INCOMPAT_UNWRITTEN;
    let m = vec![data(&mut v, 7), U, U, 0, U];
    let ino = file_with_map(&mut v, ROOT_INO, "f", &m, 2048, 0);
    v.flush();
    assert_clean(&p);
    // The primary's checksum broken.
    let mut b = v.read(1);
    b[1020] ^= 0xff;
    v.write(1, &b);
    let r = fsck(&p, &["-fy"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(!r.out.contains("marked unwritten"), "{}", r.out);
    assert_clean(&p);
    let v = Vol::open(&p);
    assert_ne!(v.sb.feature_incompat & INCOMPAT_UNWRITTEN, 0);
    assert_eq!(pointers(&v, ino, 5), m);
}
