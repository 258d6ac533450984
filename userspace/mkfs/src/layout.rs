//! Layout planning: from the options and the device size to a [`Plan`]
//! that says where everything mkfs writes goes.
//!
//! The format crate's [`Geometry`] derives the group layout from a few
//! primary parameters. This module chooses those parameters the way mke2fs
//! does (inodes per group from `-N` or `-i`), then places what a fresh
//! volume holds beyond the fixed metadata: the root directory and
//! lost+found at the start of group 0's data region, and the journal as
//! one contiguous extent at the start of the data region of the middle
//! group (`group_count / 2`), or of group 0 after the directories when the
//! volume has a single group or the middle group is too small.

use anyhow::{bail, Result};
use livedfs_format::geometry::{MAX_BLOCKS, MIN_GROUP_DATA_BLOCKS};
use livedfs_format::jbd2::{default_journal_blocks, MIN_JOURNAL_BLOCKS};
use livedfs_format::{
    FormatError, Geometry, GeometryParams, FIRST_INO, FP_BLOCK_TAIL, FP_REFCOUNT_SIZE, INODE_SIZE,
};

use crate::cli::{InodeSpec, JournalSpec, Options};

/// Bytes of lost+found mkfs creates (as mke2fs: 16 KiB, at least 1 block).
pub const LOST_FOUND_BYTES: u32 = 16384;

/// The journal's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Journal {
    pub group: u32,
    pub start: u32,
    pub blocks: u32,
}

/// Everything mkfs places on a fresh volume.
#[derive(Debug, Clone)]
pub struct Plan {
    pub geo: Geometry,
    /// Blocks the device offers (the volume may use fewer).
    pub device_blocks: u64,
    pub root_block: u32,
    /// lost+found's data blocks, in file order.
    pub lf_blocks: Vec<u32>,
    /// lost+found's single-indirect block (1 KiB blocks: 16 > 12 direct).
    pub lf_indirect: Option<u32>,
    pub journal: Option<Journal>,
    pub r_blocks: u32,
    /// Things worth telling the user (e.g. no room for a journal).
    pub notes: Vec<String>,
}

/// Why no plan could be made.
#[derive(Debug)]
pub enum PlanError {
    /// The device is smaller than the least layout; `need` blocks would do.
    TooSmall { blocks: u64, need: u64 },
    /// More blocks than the format can address with these options.
    TooLarge { blocks: u64, max: u64 },
    /// Anything else, with a message saying what to do.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for PlanError {
    fn from(e: anyhow::Error) -> Self {
        Self::Other(e)
    }
}

fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

fn round_up(a: u64, m: u64) -> u64 {
    div_ceil(a, m) * m
}

/// Inodes per group must be a multiple of this: whole inode-table blocks
/// and whole inode-bitmap bytes.
pub fn inode_align(block_size: u32) -> u64 {
    let ipb = u64::from(block_size / INODE_SIZE);
    // lcm(8, ipb) with ipb a power of two.
    ipb.max(8)
}

/// Blocks of one group's fingerprint store (as the geometry computes it).
fn fp_blocks_per_group(o: &Options) -> u64 {
    let bpg = u64::from(o.block_size) * 8;
    let entry = u64::from(o.fp_algo.size()) + u64::from(FP_REFCOUNT_SIZE);
    let per_block = (u64::from(o.block_size - FP_BLOCK_TAIL)) / entry;
    div_ceil(bpg, per_block)
}

/// The geometry for `device_blocks` blocks with inodes chosen as mke2fs
/// does: the requested count spread evenly over the groups, rounded up to
/// whole inode-table blocks and bitmap bytes, capped at the bitmap's
/// capacity (one bit per block of the group).
pub fn geometry_for(o: &Options, device_blocks: u64) -> Result<Geometry, PlanError> {
    let bs = u64::from(o.block_size);
    let bpg = bs * 8;
    let align = inode_align(o.block_size);
    let fdb: u64 = if o.block_size == 1024 { 1 } else { 0 };
    let usable = device_blocks.min(MAX_BLOCKS);
    let span = bpg
        + if o.fp_at_end {
            fp_blocks_per_group(o)
        } else {
            0
        };
    let want: u64 = match o.inodes {
        InodeSpec::Count(n) => n,
        InodeSpec::Ratio(r) => usable.saturating_mul(bs) / r,
    };
    let mut groups = div_ceil(usable.saturating_sub(fdb), span).max(1);
    let mut last_ok: Option<Geometry> = None;
    for _ in 0..8 {
        let least = div_ceil(u64::from(FIRST_INO) + 1, groups);
        let per = div_ceil(want, groups).max(least);
        let mut ipg = round_up(per, align);
        // Inode numbers are 32-bit: groups * ipg must fit.
        let cap = bpg.min(u64::from(u32::MAX) / groups / align * align);
        if ipg > cap {
            if let InodeSpec::Count(n) = o.inodes {
                return Err(PlanError::Other(anyhow::anyhow!(
                    "-N {n}: at most {} inodes fit on this volume ({groups} group{} of at \
                     most {cap} inodes); ask for fewer inodes or a larger volume",
                    cap * groups,
                    if groups == 1 { "" } else { "s" }
                )));
            }
            ipg = cap;
        }
        let params = GeometryParams {
            block_size: o.block_size,
            device_blocks,
            inodes_per_group: ipg as u32,
            fp_algo: o.fp_algo,
            fp_at_end: o.fp_at_end,
            sparse_super: o.sparse_super,
            huge_file: o.huge_file,
        };
        match Geometry::new(&params) {
            Ok(g) => {
                if u64::from(g.group_count) == groups {
                    return Ok(g);
                }
                groups = u64::from(g.group_count);
                last_ok = Some(g);
            }
            Err(e) => {
                if let Some(g) = last_ok {
                    return Ok(g);
                }
                return Err(match e {
                    FormatError::TooSmall { blocks, need } => PlanError::TooSmall { blocks, need },
                    // The caller fills in the maximum (max_blocks searches
                    // with this very function).
                    FormatError::TooLarge { blocks } => PlanError::TooLarge { blocks, max: 0 },
                    e => PlanError::Other(anyhow::anyhow!("cannot lay out the volume: {e}")),
                });
            }
        }
    }
    last_ok.ok_or_else(|| PlanError::Other(anyhow::anyhow!("cannot lay out the volume")))
}

/// The fewest blocks a volume with these options can have.
pub fn min_blocks(o: &Options) -> u64 {
    let fdb: u64 = if o.block_size == 1024 { 1 } else { 0 };
    // Superblock, descriptor table, two bitmaps, one inode-table block,
    // the store and the least data region: nothing smaller can work.
    let mut n = fdb + 1 + 1 + 2 + 1 + fp_blocks_per_group(o) + u64::from(MIN_GROUP_DATA_BLOCKS);
    let limit = n + u64::from(o.block_size) * 8;
    while n < limit {
        match geometry_for(o, n) {
            Ok(_) => return n,
            Err(PlanError::TooSmall { need, .. }) if need > n && need < limit => {
                // The geometry's own bound is for this inode count; inodes
                // only grow with the size, so it is a safe step.
                n = need;
            }
            Err(_) => n += 1,
        }
    }
    n
}

/// The most blocks a volume with these options can have (32-bit block
/// numbers, and the primary descriptor table must fit in group 0).
pub fn max_blocks(o: &Options) -> u64 {
    let ok = |n: u64| geometry_for(o, n).is_ok();
    // 2^32 blocks is accepted (the last one goes unused): exactly 16 TiB
    // at 4 KiB.
    if ok(MAX_BLOCKS + 1) {
        return MAX_BLOCKS + 1;
    }
    // Binary search: past the limit every size fails (too many groups for
    // the descriptor table in group 0), below it every size works.
    let (mut lo, mut hi) = (u64::from(o.block_size) * 8, MAX_BLOCKS);
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Plans the volume for a device of `device_blocks` blocks.
pub fn plan(o: &Options, device_blocks: u64) -> Result<Plan, PlanError> {
    let geo = match geometry_for(o, device_blocks) {
        Ok(g) => g,
        Err(PlanError::TooLarge { blocks, .. }) => {
            return Err(PlanError::TooLarge {
                blocks,
                max: max_blocks(o),
            })
        }
        Err(e) => return Err(e),
    };
    let bs = geo.block_size;
    let g0 = geo
        .group(0)
        .map_err(|e| PlanError::Other(anyhow::anyhow!("group 0: {e}")))?;
    let mut next = g0.data_start;
    let root_block = next;
    next += 1;
    let lf_count = (LOST_FOUND_BYTES / bs).max(1);
    let mut lf_blocks = Vec::with_capacity(lf_count as usize);
    for _ in 0..lf_count {
        lf_blocks.push(next);
        next += 1;
    }
    let lf_indirect = if lf_count as usize > livedfs_format::inode::N_DIRECT {
        next += 1;
        Some(next - 1)
    } else {
        None
    };
    let dir_blocks = next - g0.data_start;
    if next > g0.end {
        return Err(PlanError::Other(anyhow::anyhow!(
            "group 0 has no room for the root directory and lost+found"
        )));
    }
    let mut notes = Vec::new();
    let journal = place_journal(o, &geo, dir_blocks, &mut notes)?;
    let r_blocks = ((u64::from(geo.blocks_count) as f64) * o.reserved_pct / 100.0).floor() as u64;
    let r_blocks = r_blocks.min(u64::from(geo.blocks_count) / 2) as u32;
    Ok(Plan {
        geo,
        device_blocks,
        root_block,
        lf_blocks,
        lf_indirect,
        journal,
        r_blocks,
        notes,
    })
}

/// Room for a journal at the start of group `g`'s data region.
fn journal_room(geo: &Geometry, g: u32, dir_blocks: u32) -> Result<(u32, u32)> {
    let l = geo
        .group(g)
        .map_err(|e| anyhow::anyhow!("group {g}: {e}"))?;
    let start = if g == 0 {
        l.data_start + dir_blocks
    } else {
        l.data_start
    };
    Ok((start, l.end.saturating_sub(start)))
}

fn place_journal(
    o: &Options,
    geo: &Geometry,
    dir_blocks: u32,
    notes: &mut Vec<String>,
) -> Result<Option<Journal>> {
    let bs = u64::from(geo.block_size);
    let per_mib = (1u64 << 20) / bs;
    let wanted: u64 = match o.journal {
        JournalSpec::None => return Ok(None),
        JournalSpec::Default => match default_journal_blocks(u64::from(geo.blocks_count)) {
            Some(n) => u64::from(n),
            None => {
                notes.push("the volume is too small for a journal; none was created".into());
                return Ok(None);
            }
        },
        JournalSpec::SizeMib(m) => {
            let n = m.saturating_mul(per_mib);
            if n < u64::from(MIN_JOURNAL_BLOCKS) {
                bail!(
                    "-J size={m}: the journal would have {n} blocks; jbd2 needs at least \
                     {MIN_JOURNAL_BLOCKS} blocks ({} MiB with {bs}-byte blocks)",
                    div_ceil(u64::from(MIN_JOURNAL_BLOCKS), per_mib)
                );
            }
            n
        }
    };
    let mid = geo.group_count / 2;
    let mut cands = vec![mid];
    if mid != 0 {
        cands.push(0);
    }
    let mut best: Option<(u32, u32, u32)> = None; // (group, start, room)
    for &g in &cands {
        let (start, room) = journal_room(geo, g, dir_blocks)?;
        if u64::from(room) >= wanted {
            return Ok(Some(Journal {
                group: g,
                start,
                blocks: wanted as u32,
            }));
        }
        if best.is_none_or(|(_, _, r)| room > r) {
            best = Some((g, start, room));
        }
    }
    let (g, start, room) = best.unwrap_or((0, 0, 0));
    match o.journal {
        JournalSpec::SizeMib(m) => bail!(
            "-J size={m}: the journal must be one extent inside one block group, and at most \
             {room} blocks ({} MiB) fit here; ask for a smaller journal",
            u64::from(room) / per_mib
        ),
        _ => {
            // Cap the default to the group, in whole MiB.
            let capped = u64::from(room) / per_mib * per_mib;
            if capped < u64::from(MIN_JOURNAL_BLOCKS) {
                notes.push("no block group has room for a journal; none was created".into());
                return Ok(None);
            }
            Ok(Some(Journal {
                group: g,
                start,
                blocks: capped as u32,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn opts(bs: u32) -> Options {
        let mut o = Options::defaults(PathBuf::from("x"));
        o.block_size = bs;
        o
    }

    #[test]
    fn one_tib_default() {
        let o = opts(4096);
        let p = plan(&o, 1 << 28).unwrap();
        assert_eq!(p.geo.group_count, 8192);
        assert_eq!(p.geo.inodes_per_group, 8192);
        let j = p.journal.unwrap();
        assert_eq!(j.group, 4096);
        assert_eq!(j.blocks % 256, 0);
        p.geo.check_journal(j.start, j.blocks).unwrap();
        assert_eq!(p.lf_blocks.len(), 4);
    }

    #[test]
    fn minimum_is_tight() {
        for bs in [1024, 2048, 4096] {
            let o = opts(bs);
            let m = min_blocks(&o);
            assert!(plan(&o, m).is_ok(), "bs {bs} min {m}");
            assert!(plan(&o, m - 1).is_err(), "bs {bs} min {m}");
        }
    }

    #[test]
    fn one_k_blocks_use_indirect() {
        let p = plan(&opts(1024), 100_000).unwrap();
        assert_eq!(p.lf_blocks.len(), 16);
        assert!(p.lf_indirect.is_some());
        assert_eq!(p.lf_indirect, Some(p.lf_blocks[15] + 1));
    }

    #[test]
    fn inode_count_is_honoured() {
        let mut o = opts(4096);
        o.inodes = InodeSpec::Count(100_000);
        let p = plan(&o, 1 << 20).unwrap();
        assert!(p.geo.inodes_count >= 100_000);
        assert_eq!(p.geo.inodes_per_group % 16, 0);
        o.inodes = InodeSpec::Count(u64::from(u32::MAX));
        assert!(plan(&o, 1 << 20).is_err());
    }

    #[test]
    fn largest_volumes() {
        assert_eq!(max_blocks(&opts(4096)), MAX_BLOCKS + 1);
        assert_eq!(max_blocks(&opts(2048)), MAX_BLOCKS + 1);
        let m = max_blocks(&opts(1024));
        assert!(plan(&opts(1024), m).is_ok());
        assert!(matches!(
            plan(&opts(1024), m + 1),
            Err(PlanError::TooLarge { .. })
        ));
    }
}
