//! Helpers shared by the integration tests of the format crate.

#![allow(dead_code)]

use livedfs_format::geometry::{Geometry, GeometryParams, GroupLayout, MIN_GROUP_DATA_BLOCKS};
use livedfs_format::superblock::Superblock;
use livedfs_format::{Crc32c, FingerprintAlgo, DESC_SIZE, FP_BLOCK_TAIL, INODE_SIZE};

/// crc32c with the kernel's raw-continuation convention (no pre- or
/// post-inversion), built on the `crc32c` crate, which inverts around each
/// call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crc;

impl Crc32c for Crc {
    fn crc32c(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}

pub const BLOCK_SIZES: [u32; 3] = [1024, 2048, 4096];
pub const ALGOS: [FingerprintAlgo; 2] = [FingerprintAlgo::Sha256, FingerprintAlgo::Md5];

/// Inodes per group must be a multiple of this for `Geometry::new`.
pub fn ipg_align(block_size: u32) -> u32 {
    (block_size / INODE_SIZE).max(8)
}

pub fn params(
    block_size: u32,
    device_blocks: u64,
    inodes_per_group: u32,
    fp_algo: FingerprintAlgo,
    fp_at_end: bool,
    sparse_super: bool,
) -> GeometryParams {
    GeometryParams {
        block_size,
        device_blocks,
        inodes_per_group,
        fp_algo,
        fp_at_end,
        sparse_super,
        huge_file: false,
    }
}

/// A geometry that exists: `blocks` blocks, a quarter as many inodes per
/// group as blocks per group.
pub fn geo(block_size: u32, blocks: u64, fp_algo: FingerprintAlgo, fp_at_end: bool) -> Geometry {
    Geometry::new(&params(
        block_size,
        blocks,
        block_size * 2,
        fp_algo,
        fp_at_end,
        true,
    ))
    .expect("test geometry")
}

/// The superblock mkfs would write for `geo` (counts of a fresh volume).
pub fn superblock_for(geo: &Geometry) -> Superblock {
    let mut sb = geo.superblock_template();
    let g0 = geo.group(0).expect("group 0");
    sb.free_blocks = u64::from(g0.fresh_free_blocks());
    sb.free_inodes = geo.inodes_count - livedfs_format::FIRST_INO;
    sb.uuid = *b"0123456789abcdef";
    sb.label[..4].copy_from_slice(b"test");
    sb.mkfs_time = 1_700_000_000;
    sb
}

/// The groups worth checking in a geometry: the first few, the last few,
/// the middle, and every group that carries a superblock backup (up to a
/// bound), plus `extra` (taken modulo the group count).
pub fn sample_groups(geo: &Geometry, extra: &[u32]) -> Vec<u32> {
    let n = geo.group_count;
    let mut v: Vec<u32> = Vec::new();
    for g in 0..n.min(4) {
        v.push(g);
    }
    for g in n.saturating_sub(3)..n {
        v.push(g);
    }
    v.push(n / 2);
    for base in [3u32, 5, 7] {
        let mut p = base;
        while p < n {
            v.push(p);
            match p.checked_mul(base) {
                Some(q) => p = q,
                None => break,
            }
        }
    }
    for &e in extra {
        v.push(e % n);
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// A half-open block range `[start, end)` with a name, for overlap checks.
#[derive(Debug, Clone, Copy)]
pub struct Extent {
    pub what: &'static str,
    pub group: u32,
    pub start: u64,
    pub end: u64,
}

/// The extents of one group's fixed structures (the store only when it is
/// inside the group) and its data region.
pub fn group_extents(geo: &Geometry, l: &GroupLayout) -> Vec<Extent> {
    let g = l.group;
    let e = |what, start: u32, len: u64| Extent {
        what,
        group: g,
        start: u64::from(start),
        end: u64::from(start) + len,
    };
    let mut v = Vec::new();
    if let Some(s) = l.super_block {
        v.push(e("superblock", s, 1));
    }
    if let Some(t) = l.gdt_start {
        v.push(e("descriptor table", t, u64::from(geo.gdt_blocks)));
    }
    v.push(e("block bitmap", l.block_bitmap, 1));
    v.push(e("inode bitmap", l.inode_bitmap, 1));
    v.push(e(
        "inode table",
        l.inode_table,
        u64::from(geo.itable_blocks),
    ));
    if !geo.fp_at_end {
        v.push(e(
            "fingerprint store",
            l.fp_store,
            u64::from(geo.fp_blocks_per_group),
        ));
    }
    v.push(Extent {
        what: "data",
        group: g,
        start: u64::from(l.data_start),
        end: u64::from(l.end),
    });
    v
}

/// Panics (test failure) unless no two extents overlap.
pub fn assert_disjoint(mut v: Vec<Extent>) {
    v.sort_by_key(|e| (e.start, e.end));
    for w in v.windows(2) {
        assert!(w[0].end <= w[1].start, "{:?} overlaps {:?}", w[0], w[1]);
    }
}

/// Checks every invariant of one group of `geo`.
pub fn check_group(geo: &Geometry, g: u32) {
    let l = geo.group(g).expect("group in range");
    check_slots_of_group(geo, g);
    let bpg = u64::from(geo.blocks_per_group);
    let first = u64::from(geo.first_data_block) + u64::from(g) * bpg;
    assert_eq!(u64::from(l.first), first, "group {g} first block");
    assert_eq!(l.group, g);
    let end = (first + bpg).min(u64::from(geo.groups_end));
    assert_eq!(u64::from(l.end), end, "group {g} end");
    assert!(l.first < l.end, "group {g} is empty");
    assert_eq!(l.has_super, geo.group_has_super(g));
    assert_eq!(l.super_block.is_some(), l.has_super);
    assert_eq!(l.gdt_start.is_some(), l.has_super);
    if g == 0 {
        assert!(l.has_super, "group 0 has the primary superblock");
        assert_eq!(l.super_block, Some(geo.first_data_block));
        assert_eq!(l.gdt_start, Some(geo.first_data_block + 1));
    }
    assert!(
        l.fresh_free_blocks() >= MIN_GROUP_DATA_BLOCKS,
        "group {g} has {} data blocks",
        l.fresh_free_blocks()
    );
    assert!(l.data_start <= l.end);
    let ext = group_extents(geo, &l);
    for e in &ext {
        assert!(
            e.start < e.end || e.what == "descriptor table",
            "{e:?} empty"
        );
        assert!(
            e.start >= u64::from(l.first) && e.end <= u64::from(l.end),
            "{e:?} outside group {g} [{}, {})",
            l.first,
            l.end
        );
        assert!(e.end <= u64::from(geo.blocks_count));
        if e.what != "data" {
            assert!(e.end <= u64::from(l.data_start), "{e:?} after data_start");
        }
    }
    assert_disjoint(ext);
    // The store.
    let fpb = u64::from(geo.fp_blocks_per_group);
    let store_end = u64::from(l.fp_store) + fpb;
    assert!(store_end <= u64::from(geo.blocks_count));
    if geo.fp_at_end {
        assert_eq!(
            u64::from(l.fp_store),
            u64::from(geo.groups_end) + u64::from(g) * fpb
        );
    }
    assert!(
        u64::from(geo.fp_entries_per_block) * fpb >= bpg,
        "store covers every block of a full group"
    );
    // Blocks of the group map back to it; fingerprint entries land in the
    // group's store, at distinct places.
    let mut last: Option<(u32, usize)> = None;
    let probes = [
        l.first,
        l.first + 1,
        l.data_start.min(l.end - 1),
        l.first + (l.end - l.first) / 2,
        l.end - 2,
        l.end - 1,
    ];
    let mut probes = probes.to_vec();
    probes.sort_unstable();
    probes.dedup();
    for b in probes {
        if b < l.first || b >= l.end {
            continue;
        }
        assert_eq!(geo.group_of_block(b), Ok(g), "group of block {b}");
        let idx = geo.block_index_in_group(b).expect("index");
        assert_eq!(idx, b - l.first);
        assert!(geo.valid_block(b) || b == 0);
        assert_eq!(geo.is_data_block(b), b >= l.data_start);
        let (blk, off) = geo.fp_entry_location(b).expect("entry location");
        assert!(
            blk >= l.fp_store && u64::from(blk) < store_end,
            "entry of block {b} in block {blk}, store [{}, {store_end})",
            l.fp_store
        );
        assert!(off + geo.fp_entry_size as usize <= (geo.block_size - FP_BLOCK_TAIL) as usize);
        assert_eq!(off % geo.fp_entry_size as usize, 0);
        let j = blk - l.fp_store;
        let e = (off / geo.fp_entry_size as usize) as u32;
        assert_eq!(
            geo.fp_entry_block(g, j, e),
            Ok(Some(b)),
            "inverse of entry location"
        );
        if let Some(prev) = last {
            assert!(prev < (blk, off), "entry locations not strictly increasing");
        }
        last = Some((blk, off));
    }
    if g + 1 < geo.group_count {
        let next = geo.group(g + 1).expect("next group");
        assert_eq!(next.first, l.end, "groups tile the volume");
        assert_ne!(
            geo.fp_entry_location(l.end - 1),
            geo.fp_entry_location(next.first)
        );
    } else {
        assert_eq!(l.end, geo.groups_end, "last group ends at groups_end");
    }
    // Inodes of the group live in its table.
    let ipg = geo.inodes_per_group;
    let it_end = u64::from(l.inode_table) + u64::from(geo.itable_blocks);
    let mut last: Option<(u32, usize)> = None;
    let mut ks = vec![0, 1, ipg / 2, ipg - 2, ipg - 1];
    ks.sort_unstable();
    ks.dedup();
    for k in ks {
        let ino = g * ipg + k + 1;
        assert_eq!(geo.group_of_ino(ino), Ok(g));
        let (blk, off) = geo.inode_location(ino).expect("inode location");
        assert!(blk >= l.inode_table && u64::from(blk) < it_end);
        assert!(off + INODE_SIZE as usize <= geo.block_size as usize);
        assert_eq!(off % INODE_SIZE as usize, 0);
        if let Some(prev) = last {
            assert!(prev < (blk, off), "inode locations not strictly increasing");
        }
        last = Some((blk, off));
    }
    // Its descriptor is in group 0's table.
    let g0 = geo.group(0).expect("group 0");
    let (blk, off) = geo.desc_location(g).expect("descriptor location");
    let t = g0.gdt_start.expect("group 0 table");
    assert!(blk >= t && blk < t + geo.gdt_blocks);
    assert!(off + DESC_SIZE as usize <= geo.block_size as usize);
    let flat = u64::from(blk - t) * u64::from(geo.block_size) + off as u64;
    assert_eq!(flat, u64::from(g) * u64::from(DESC_SIZE));
}

/// Checks the volume-wide invariants of `geo` and those of the sampled
/// groups.
pub fn check_geometry(geo: &Geometry, extra: &[u32]) {
    let bs = geo.block_size;
    assert!(matches!(bs, 1024 | 2048 | 4096));
    assert_eq!(1024u32 << geo.log_block_size, bs);
    assert_eq!(geo.first_data_block, u32::from(bs == 1024));
    assert_eq!(geo.blocks_per_group, bs * 8);
    assert!(geo.group_count >= 1);
    assert_eq!(geo.inode_size, INODE_SIZE);
    assert_eq!(geo.inodes_per_block, bs / INODE_SIZE);
    assert_eq!(geo.inodes_per_group % geo.inodes_per_block, 0);
    assert!(geo.inodes_per_group <= geo.blocks_per_group);
    assert_eq!(
        geo.itable_blocks * geo.inodes_per_block,
        geo.inodes_per_group
    );
    assert_eq!(
        u64::from(geo.inodes_count),
        u64::from(geo.group_count) * u64::from(geo.inodes_per_group)
    );
    assert!(geo.inodes_count > livedfs_format::FIRST_INO);
    assert_eq!(geo.desc_per_block, bs / DESC_SIZE);
    assert_eq!(
        u64::from(geo.gdt_blocks),
        (u64::from(geo.group_count) * u64::from(DESC_SIZE)).div_ceil(u64::from(bs))
    );
    assert_eq!(geo.fp_entry_size, u32::from(geo.fp_algo.size()) + 4);
    assert_eq!(
        geo.fp_entries_per_block,
        (bs - FP_BLOCK_TAIL) / geo.fp_entry_size
    );
    assert_eq!(
        geo.fp_blocks_per_group,
        geo.blocks_per_group.div_ceil(geo.fp_entries_per_block)
    );
    let full = u64::from(geo.group_count - 1) * u64::from(geo.blocks_per_group);
    let last = u64::from(geo.groups_end) - u64::from(geo.first_data_block) - full;
    assert!(last >= 1 && last <= u64::from(geo.blocks_per_group));
    let stores = if geo.fp_at_end {
        u64::from(geo.group_count) * u64::from(geo.fp_blocks_per_group)
    } else {
        0
    };
    assert_eq!(
        u64::from(geo.blocks_count),
        u64::from(geo.groups_end) + stores,
        "at-end stores end exactly at blocks_count"
    );
    assert!(u64::from(geo.blocks_count) <= livedfs_format::geometry::MAX_BLOCKS);
    if geo.fp_at_end {
        // Contiguous and in group order: the last store ends at blocks_count.
        let l = geo.group(geo.group_count - 1).expect("last group");
        assert_eq!(
            l.fp_store + geo.fp_blocks_per_group,
            geo.blocks_count,
            "last store ends at blocks_count"
        );
        assert_eq!(geo.group(0).expect("group 0").fp_store, geo.groups_end);
    }
    assert!(geo.group(geo.group_count).is_err());
    assert!(geo.desc_location(geo.group_count).is_err());
    assert!(geo.group_of_block(geo.groups_end).is_err());
    assert!(!geo.valid_block(0));
    assert!(!geo.valid_ino(0));
    assert!(!geo.valid_ino(geo.inodes_count.saturating_add(1)) || geo.inodes_count == u32::MAX);
    assert!(geo.inode_location(0).is_err());
    if geo.first_data_block == 1 {
        assert!(geo.group_of_block(0).is_err());
    }
    // Round trips: through the parameters and through the superblock.
    assert_eq!(Geometry::new(&geo.params()).as_ref(), Ok(geo));
    let sb = superblock_for(geo);
    assert_eq!(Geometry::from_superblock(&sb).as_ref(), Ok(geo));
    for g in sample_groups(geo, extra) {
        check_group(geo, g);
    }
}

/// The filter's slots over group `g`'s store: they partition it in order,
/// each of `span` store blocks (the last one possibly fewer) holding at
/// least `FP_SLOT_ENTRIES` entries unless the whole store holds fewer, and
/// every block's entry is in its slot's store blocks.
pub fn check_slots_of_group(geo: &Geometry, g: u32) {
    use livedfs_format::geometry::FP_SLOT_ENTRIES;
    let s = geo.fp_slots();
    let span = s.span();
    assert!(span >= 1 && span <= geo.fp_blocks_per_group);
    assert!(
        span * geo.fp_entries_per_block >= FP_SLOT_ENTRIES || span == geo.fp_blocks_per_group,
        "span {span}"
    );
    assert!(
        span == 1 || (span - 1) * geo.fp_entries_per_block < FP_SLOT_ENTRIES,
        "span too wide"
    );
    assert_eq!(s.per_group(), geo.fp_blocks_per_group.div_ceil(span));
    assert_eq!(
        s.count(),
        u64::from(s.per_group()) * u64::from(geo.group_count)
    );
    let mut next = 0u32;
    for i in 0..s.per_group() {
        let slot = g * s.per_group() + i;
        let (sg, first, n) = s.store_blocks(slot).expect("slot in range");
        assert_eq!((sg, first), (g, next));
        assert!(n >= 1 && n <= span);
        next += n;
    }
    assert_eq!(next, geo.fp_blocks_per_group);
    assert!(s
        .store_blocks(u32::try_from(s.count()).unwrap_or(u32::MAX))
        .is_none());
    let l = geo.group(g).expect("group");
    let mut probes = vec![l.first, l.end - 1, l.data_start.min(l.end - 1)];
    probes.extend((0..8u32).map(|k| l.first + (l.end - l.first) / 8 * k));
    for b in probes {
        let slot = s.slot_of(b).expect("block in a group");
        assert!(u64::from(slot) < s.count());
        let (sg, first, n) = s.store_blocks(slot).expect("slot");
        assert_eq!(sg, g);
        let (blk, _) = geo.fp_entry_location(b).expect("entry");
        assert!(
            blk >= l.fp_store + first && blk < l.fp_store + first + n,
            "block {b}"
        );
    }
    assert_eq!(s.slot_of(geo.groups_end), None);
    if geo.first_data_block > 0 {
        assert_eq!(s.slot_of(0), None);
    }
}

/// Property-test cases: `default`, or `LIVEDFS_PROPTEST_CASES` from the
/// environment for a longer run.
pub fn cases(default: u32) -> u32 {
    std::env::var("LIVEDFS_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
