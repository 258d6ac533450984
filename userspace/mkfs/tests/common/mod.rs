//! Shared test helpers: run the built mkfs, and check a fresh image with
//! the format crate, structure by structure.

#![allow(dead_code)]

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use livedfs_format::csum::volume_seed;
use livedfs_format::dirent;
use livedfs_format::group::{
    bitmap_checksum, GroupDesc, BG_BLOCK_UNINIT, BG_FP_UNINIT, BG_INODE_UNINIT,
};
use livedfs_format::inode::{Inode, IND_BLOCK, N_DIRECT, S_IFDIR};
use livedfs_format::superblock::{
    Superblock, COMPAT_HAS_JOURNAL, ERRORS_RO, INCOMPAT_FP_AT_END, RO_COMPAT_SPARSE_SUPER,
    STATE_VALID, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE,
};
use livedfs_format::{
    bitmap, jbd2, Crc32c, Geometry, DESC_SIZE, FIRST_INO, LOST_FOUND_INO, ROOT_INO,
};

/// crc32c in the kernel convention (raw register, no inversions).
pub struct Crc;
impl Crc32c for Crc {
    fn crc32c(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mkfs-livedfs"))
}

/// Runs mkfs with `args`, stdin from /dev/null (not a terminal).
pub fn mkfs(args: &[&str]) -> Output {
    mkfs_env(args, &[])
}

pub fn mkfs_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .stdin(Stdio::null())
        .env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run mkfs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts success, showing the output otherwise.
pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "mkfs failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

/// Asserts exit 1 with a message starting with the program name and
/// containing every one of `words`.
pub fn fails(o: &Output, words: &[&str]) {
    let e = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1, got {:?}; stderr: {e}",
        o.status.code()
    );
    assert!(
        e.starts_with("mkfs.livedfs: "),
        "message lacks the prefix: {e}"
    );
    for w in words {
        assert!(e.contains(w), "message lacks {w:?}: {e}");
    }
}

pub fn read_at(f: &File, off: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    f.read_exact_at(&mut b, off).expect("read image");
    b
}

/// What a check expects beyond what the image itself says.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub journal: Option<bool>,
    pub fp_at_end: Option<bool>,
    pub fp_algo: Option<u8>,
    pub sparse_super: Option<bool>,
    pub block_size: Option<u32>,
    pub reserved_pct: Option<f64>,
    /// The errors behaviour (`-e`; default remount-ro).
    pub errors: Option<u16>,
}

/// What a check found, for further assertions.
#[derive(Debug, Clone)]
pub struct Checked {
    pub sb: Superblock,
    pub geo: Geometry,
    pub initialised_groups: Vec<u32>,
    pub root: Inode,
    pub lost_found: Inode,
}

/// Checks a fresh image completely: superblock and geometry, every
/// descriptor, the written bitmaps and the implied ones, counts, backups,
/// inodes, directories, and the journal.
pub fn check_image(path: &Path, exp: &Expect) -> Checked {
    let crc = Crc;
    let f = File::open(path).expect("open image");
    let sbb = read_at(&f, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE);
    let sb = Superblock::decode(&sbb, &crc).expect("superblock decodes");
    let geo = Geometry::from_superblock(&sb).expect("geometry validates");
    let bs = geo.block_size as usize;
    let bsu = u64::from(geo.block_size);
    let seed = volume_seed(&crc, &sb.uuid);
    assert!(
        sb.blocks_count * bsu <= f.metadata().unwrap().len(),
        "volume larger than file"
    );
    assert_eq!(sb.state, STATE_VALID);
    assert_eq!(sb.errors, exp.errors.unwrap_or(ERRORS_RO));
    assert!(sb.mkfs_time > 0 && sb.write_time == sb.mkfs_time && sb.lastcheck_time == sb.mkfs_time);
    if let Some(b) = exp.block_size {
        assert_eq!(geo.block_size, b);
    }
    if let Some(j) = exp.journal {
        assert_eq!(
            sb.feature_compat & COMPAT_HAS_JOURNAL != 0,
            j,
            "has_journal"
        );
    }
    if let Some(e) = exp.fp_at_end {
        assert_eq!(
            sb.feature_incompat & INCOMPAT_FP_AT_END != 0,
            e,
            "fp_at_end"
        );
        assert_eq!(geo.fp_at_end, e);
    }
    if let Some(a) = exp.fp_algo {
        assert_eq!(sb.fp_algo, a, "fp algo");
    }
    if let Some(s) = exp.sparse_super {
        assert_eq!(
            sb.feature_ro_compat & RO_COMPAT_SPARSE_SUPER != 0,
            s,
            "sparse_super"
        );
    }
    if let Some(p) = exp.reserved_pct {
        assert_eq!(
            u64::from(sb.r_blocks_count),
            (sb.blocks_count as f64 * p / 100.0).floor() as u64
        );
    }

    // Descriptors.
    let gdt_len = geo.gdt_blocks as usize * bs;
    let gdt = read_at(&f, (u64::from(geo.first_data_block) + 1) * bsu, gdt_len);
    let mut descs = Vec::new();
    for g in 0..geo.group_count {
        let (blk, off) = geo.desc_location(g).unwrap();
        assert_eq!(
            u64::from(blk),
            u64::from(geo.first_data_block) + 1 + u64::from(g / geo.desc_per_block)
        );
        let at = g as usize * DESC_SIZE as usize;
        assert_eq!(at % bs, off);
        let d = GroupDesc::decode(&gdt[at..at + DESC_SIZE as usize], g, seed, &crc)
            .unwrap_or_else(|e| panic!("descriptor {g}: {e}"));
        d.validate(&geo, g)
            .unwrap_or_else(|e| panic!("descriptor {g}: {e}"));
        descs.push(d);
    }
    // Unused descriptor slots are zero.
    assert!(gdt[geo.group_count as usize * DESC_SIZE as usize..]
        .iter()
        .all(|&b| b == 0));

    // Journal placement.
    let journal = if sb.feature_compat & COMPAT_HAS_JOURNAL != 0 {
        geo.check_journal(sb.journal_start, sb.journal_blocks)
            .expect("journal extent");
        Some((sb.journal_start, sb.journal_blocks))
    } else {
        assert_eq!((sb.journal_start, sb.journal_blocks), (0, 0));
        None
    };
    let jgroup = journal.map(|(s, _)| geo.group_of_block(s).unwrap());

    // Bitmaps and counts.
    let bpg = geo.blocks_per_group as usize;
    let ipg = geo.inodes_per_group;
    let mut initialised = Vec::new();
    let mut free_blocks: u64 = 0;
    let mut free_inodes: u64 = 0;
    let mut used_in_groups: u64 = 0;
    let mut g0_map = Vec::new();
    let mut j_map = Vec::new();
    for (g, d) in descs.iter().enumerate() {
        let g = g as u32;
        let l = geo.group(g).unwrap();
        assert!(
            d.flags & BG_FP_UNINIT != 0,
            "group {g}: FP_UNINIT must stay set"
        );
        assert_eq!(d.fp_used, 0);
        if d.flags & BG_BLOCK_UNINIT != 0 {
            assert_eq!(
                d.free_blocks,
                l.fresh_free_blocks(),
                "group {g}: implied free blocks"
            );
            assert_eq!(d.block_bitmap_csum, 0);
        } else {
            initialised.push(g);
            let map = read_at(&f, u64::from(d.block_bitmap) * bsu, bs);
            assert_eq!(
                bitmap_checksum(&map, g, seed, &crc),
                d.block_bitmap_csum,
                "group {g} block bitmap csum"
            );
            for i in 0..l.overhead() as usize {
                assert!(bitmap::test(&map, i), "group {g}: metadata block {i} free");
            }
            for i in l.blocks() as usize..bpg {
                assert!(bitmap::test(&map, i), "group {g}: padding bit {i} clear");
            }
            let used = bitmap::count_set(&map, bpg);
            assert_eq!(
                d.free_blocks as usize,
                bpg - used,
                "group {g}: free blocks vs bitmap"
            );
            if g == 0 {
                g0_map = map.clone();
            }
            if Some(g) == jgroup {
                j_map = map;
            }
        }
        if d.flags & BG_INODE_UNINIT != 0 {
            assert_eq!(
                (d.free_inodes, d.used_dirs, d.itable_unused),
                (ipg, 0, ipg),
                "group {g}"
            );
            assert_eq!(d.inode_bitmap_csum, 0);
        } else {
            assert_eq!(g, 0, "only group 0 has initialised inodes");
            let map = read_at(&f, u64::from(d.inode_bitmap) * bsu, bs);
            assert_eq!(
                bitmap_checksum(&map[..(ipg / 8) as usize], g, seed, &crc),
                d.inode_bitmap_csum,
                "inode bitmap csum"
            );
            assert_eq!(bitmap::count_set(&map, ipg as usize), FIRST_INO as usize);
            for i in 0..FIRST_INO as usize {
                assert!(bitmap::test(&map, i));
            }
            assert_eq!(d.free_inodes, ipg - FIRST_INO);
            assert_eq!(d.itable_unused, ipg - FIRST_INO);
            assert_eq!(d.used_dirs, 2);
        }
        free_blocks += u64::from(d.free_blocks);
        free_inodes += u64::from(d.free_inodes);
        used_in_groups += u64::from(l.blocks() - d.free_blocks);
    }
    assert_eq!(initialised[0], 0, "group 0 is initialised");
    let mut want_init = vec![0];
    if let Some(jg) = jgroup {
        if jg != 0 {
            want_init.push(jg);
        }
    }
    assert_eq!(initialised, want_init, "initialised groups");
    assert_eq!(sb.free_blocks, free_blocks, "superblock free blocks");
    assert_eq!(
        u64::from(sb.free_inodes),
        free_inodes,
        "superblock free inodes"
    );
    assert_eq!(sb.free_inodes, geo.inodes_count - FIRST_INO);
    // Every block is in a group, the boot block, or the store region.
    let region = if geo.fp_at_end {
        u64::from(geo.group_count) * u64::from(geo.fp_blocks_per_group)
    } else {
        0
    };
    assert_eq!(
        u64::from(geo.first_data_block) + u64::from(geo.groups_end - geo.first_data_block) + region,
        sb.blocks_count
    );
    let _ = used_in_groups;

    // Backups: identical superblock and descriptor table.
    for g in 1..geo.group_count {
        let l = geo.group(g).unwrap();
        assert_eq!(l.has_super, geo.group_has_super(g));
        if let Some(b) = l.super_block {
            let at = u64::from(b) * bsu;
            assert_eq!(
                read_at(&f, at, SUPERBLOCK_SIZE),
                sbb,
                "backup superblock in group {g}"
            );
            assert_eq!(
                read_at(&f, at + bsu, gdt_len),
                gdt,
                "backup descriptors in group {g}"
            );
        }
    }

    // Inodes.
    let read_inode = |ino: u32| {
        let (b, off) = geo.inode_location(ino).unwrap();
        let buf = read_at(&f, u64::from(b) * bsu + off as u64, geo.inode_size as usize);
        let i = Inode::decode(&buf, ino, seed, &crc).unwrap_or_else(|e| panic!("inode {ino}: {e}"));
        i.validate(&geo)
            .unwrap_or_else(|e| panic!("inode {ino}: {e}"));
        i
    };
    for ino in (1..=FIRST_INO).filter(|&i| i != ROOT_INO && i != LOST_FOUND_INO) {
        let (b, off) = geo.inode_location(ino).unwrap();
        let buf = read_at(&f, u64::from(b) * bsu + off as u64, geo.inode_size as usize);
        assert!(
            buf.iter().all(|&x| x == 0),
            "reserved inode {ino} is zeroed"
        );
    }
    let root = read_inode(ROOT_INO);
    let lf = read_inode(LOST_FOUND_INO);
    assert_eq!(root.mode, S_IFDIR | 0o755);
    assert_eq!(root.links_count, 3);
    assert_eq!(lf.mode, S_IFDIR | 0o700);
    assert_eq!(lf.links_count, 2);
    assert_eq!(root.size, bsu);
    assert_eq!(root.blocks, 1);
    let lf_n = (16384 / bs).max(1);
    assert_eq!(lf.size, (lf_n * bs) as u64);
    assert_eq!(lf.blocks, lf_n as u64 + u64::from(lf_n > N_DIRECT));

    // Directory blocks, and that they are marked used in group 0.
    let data_blocks = |i: &Inode, n: usize| -> Vec<u32> {
        let mut v: Vec<u32> = i.block.iter().take(N_DIRECT.min(n)).copied().collect();
        if n > N_DIRECT {
            let ind = i.block[IND_BLOCK];
            assert!(ind != 0 && g0_map.len() == bs);
            let ib = read_at(&f, u64::from(ind) * bsu, bs);
            for k in 0..n - N_DIRECT {
                v.push(u32::from_le_bytes(ib[k * 4..k * 4 + 4].try_into().unwrap()));
            }
            assert!(ib[(n - N_DIRECT) * 4..].iter().all(|&x| x == 0));
            v.push(ind);
        }
        v
    };
    let live = |blk: &[u8]| -> Vec<(Vec<u8>, u32, u8)> {
        dirent::entries(blk)
            .map(|e| e.expect("entry"))
            .filter(|e| e.ino != 0)
            .map(|e| (e.name.to_vec(), e.ino, e.file_type))
            .collect()
    };
    let rb = root.block[0];
    let rblk = read_at(&f, u64::from(rb) * bsu, bs);
    dirent::verify_block(&rblk, ROOT_INO, root.generation, seed, &crc).expect("root dir block");
    assert_eq!(
        live(&rblk),
        vec![
            (b".".to_vec(), ROOT_INO, dirent::FT_DIR),
            (b"..".to_vec(), ROOT_INO, dirent::FT_DIR),
            (b"lost+found".to_vec(), LOST_FOUND_INO, dirent::FT_DIR)
        ]
    );
    let mut dir_blocks = vec![rb];
    let lfb = data_blocks(&lf, lf_n);
    for (k, &b) in lfb.iter().take(lf_n).enumerate() {
        let blk = read_at(&f, u64::from(b) * bsu, bs);
        dirent::verify_block(&blk, LOST_FOUND_INO, lf.generation, seed, &crc)
            .expect("lost+found block");
        let want = if k == 0 {
            vec![
                (b".".to_vec(), LOST_FOUND_INO, dirent::FT_DIR),
                (b"..".to_vec(), ROOT_INO, dirent::FT_DIR),
            ]
        } else {
            vec![]
        };
        assert_eq!(live(&blk), want, "lost+found block {k}");
    }
    dir_blocks.extend(&lfb);
    for &b in &dir_blocks {
        assert_eq!(geo.group_of_block(b).unwrap(), 0);
        assert!(
            geo.is_data_block(b),
            "directory block {b} in the data region"
        );
        let i = geo.block_index_in_group(b).unwrap() as usize;
        assert!(bitmap::test(&g0_map, i), "directory block {b} marked used");
    }
    let l0 = geo.group(0).unwrap();
    let mut expect_g0_used =
        l0.overhead() as usize + dir_blocks.len() + (l0.blocks()..geo.blocks_per_group).count();

    // Journal.
    if let Some((start, n)) = journal {
        let jb = read_at(&f, u64::from(start) * bsu, bs);
        let be = |o: usize| u32::from_be_bytes(jb[o..o + 4].try_into().unwrap());
        assert_eq!(be(jbd2::off::MAGIC), jbd2::MAGIC);
        assert_eq!(be(jbd2::off::BLOCKTYPE), jbd2::SUPERBLOCK_V2);
        assert_eq!(be(jbd2::off::BLOCKSIZE), geo.block_size);
        // Log block numbers are absolute device blocks (jbd2_journal_init_dev).
        assert_eq!(be(jbd2::off::MAXLEN), start + n);
        assert_eq!(be(jbd2::off::FIRST), start + 1);
        assert_eq!(be(jbd2::off::START), 0);
        assert_eq!(&jb[jbd2::off::UUID..jbd2::off::UUID + 16], &sb.uuid);
        // The log reads as zeros (sampled: first, middle, last blocks).
        for b in [start + 1, start + n / 2, start + n - 1] {
            assert!(
                read_at(&f, u64::from(b) * bsu, bs).iter().all(|&x| x == 0),
                "journal block {b} zeroed"
            );
        }
        let jg = jgroup.unwrap();
        let map = if jg == 0 { &g0_map } else { &j_map };
        for b in start..start + n {
            assert!(
                bitmap::test(map, geo.block_index_in_group(b).unwrap() as usize),
                "journal block {b} used"
            );
        }
        for &d in &dir_blocks {
            assert!(d < start || d >= start + n, "journal overlaps directories");
        }
        if jg == 0 {
            expect_g0_used += n as usize;
        } else {
            let lj = geo.group(jg).unwrap();
            let used =
                lj.overhead() as usize + n as usize + (lj.blocks()..geo.blocks_per_group).count();
            assert_eq!(
                bitmap::count_set(map, bpg),
                used,
                "journal group: nothing else used"
            );
        }
    }
    assert_eq!(
        bitmap::count_set(&g0_map, bpg),
        expect_g0_used,
        "group 0: nothing else used"
    );

    Checked {
        sb,
        geo,
        initialised_groups: initialised,
        root,
        lost_found: lf,
    }
}

/// Bytes the host file system allocated to a file.
pub fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

/// A fresh temporary directory next to the target dir (same disk as CI).
pub fn tmpdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mkfs-livedfs-test")
        .tempdir()
        .unwrap()
}
