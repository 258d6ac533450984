//! Inode allocation: the inode bitmap of each group, with directories
//! spread over groups (so trees don't crowd one group) and files kept
//! near their parent directory.

use crate::balloc::write_desc;
use crate::errors::{corrupt, corrupt_msg};
use crate::format::bitmap;
use crate::format::group::{bitmap_checksum, BG_INODE_UNINIT};
use crate::format::FIRST_INO;
use crate::groups::ShardState;
use crate::super_::SbInfo;
use crate::vfs::{Buffer, SuperBlock};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

fn load_inode_bitmap(sb: &SuperBlock, info: &SbInfo, st: &mut ShardState, g: u32) -> Result<Buffer> {
    let geo = &info.geo;
    let l = geo.group(g).map_err(|e| corrupt(sb, "group number", e))?;
    let bytes = (geo.inodes_per_group / 8) as usize;
    let checked = st.ibitmap_checked(g);
    let d = st.desc_mut(g)?;
    if d.flags & BG_INODE_UNINIT != 0 {
        let bh = Buffer::new_zeroed(sb, u64::from(l.inode_bitmap))?;
        let csum = bh.modify(|map| {
            // Bits past inodes_per_group are padding, kept set.
            bitmap::set_range(map, geo.inodes_per_group as usize, map.len().saturating_mul(8));
            bitmap_checksum(map.get(..bytes).unwrap_or(&[]), g, info.seed, &crate::vfs::crc::KernelCrc)
        })?;
        d.flags &= !BG_INODE_UNINIT;
        d.inode_bitmap_csum = csum;
        d.itable_unused = geo.inodes_per_group;
        let d = *d;
        write_desc(sb, info, g, &d)?;
        return Ok(bh);
    }
    let bh = Buffer::read(sb, u64::from(l.inode_bitmap))?;
    if !checked {
        let want = d.inode_bitmap_csum;
        let ok = bh.read_with(|map| {
            bitmap_checksum(map.get(..bytes).unwrap_or(&[]), g, info.seed, &crate::vfs::crc::KernelCrc) == want
        });
        if !ok {
            return Err(corrupt_msg(sb, format_args!("group {} inode bitmap checksum mismatch", g)));
        }
        st.set_ibitmap_checked(g);
    }
    Ok(bh)
}

/// Chooses the group to search first for a new inode.
/// For a directory, the counts are read shard by shard, not as one
/// snapshot: a placement hint, which the search below re-checks.
fn choose_group(info: &SbInfo, parent_group: u32, is_dir: bool) -> u32 {
    let n = info.geo.group_count;
    if !is_dir {
        return parent_group.min(n.saturating_sub(1));
    }
    // Directories: the group with the most free inodes among those with
    // at least average free blocks (a simple Orlov); the lowest such group
    // on a tie.
    let avg = info.free_blocks.load(Ordering::Relaxed).checked_div(u64::from(n)).unwrap_or(0);
    let mut best = parent_group.min(n.saturating_sub(1));
    let mut best_free = 0u32;
    info.groups.for_each(|g, d| {
        if u64::from(d.free_blocks) >= avg && (d.free_inodes > best_free || (d.free_inodes == best_free && best_free > 0 && g < best)) {
            best = g;
            best_free = d.free_inodes;
        }
    });
    best
}

/// Allocates an inode number near `parent_group`.
pub(crate) fn alloc_inode(sb: &SuperBlock, info: &SbInfo, parent_group: u32, is_dir: bool) -> Result<u32> {
    let geo = &info.geo;
    let n = geo.group_count;
    let start = choose_group(info, parent_group, is_dir);
    for step in 0..n {
        let g = start.checked_add(step).map_or(0, |x| x.checked_rem(n).unwrap_or(0));
        let mut st = info.groups.lock(g)?;
        if st.desc(g)?.free_inodes == 0 {
            continue;
        }
        let bh = load_inode_bitmap(sb, info, &mut st, g)?;
        let ipg = geo.inodes_per_group as usize;
        let bytes = ipg / 8;
        // Group 0's first inodes are reserved for the file system.
        let from = if g == 0 { FIRST_INO as usize } else { 0 };
        let found = bh.modify(|map| {
            let bit = bitmap::find_zero(map, from, ipg)?;
            bitmap::set(map, bit);
            Some((bit, bitmap_checksum(map.get(..bytes).unwrap_or(&[]), g, info.seed, &crate::vfs::crc::KernelCrc)))
        })?;
        let Some((bit, csum)) = found else {
            return Err(corrupt_msg(sb, format_args!("group {} free inode count disagrees with its bitmap", g)));
        };
        let d = st.desc_mut(g)?;
        d.free_inodes = d.free_inodes.saturating_sub(1);
        if is_dir {
            d.used_dirs = d.used_dirs.saturating_add(1);
        }
        d.inode_bitmap_csum = csum;
        // Inodes past the high-water mark were never written: move it.
        let used_upto = geo.inodes_per_group.saturating_sub(d.itable_unused);
        if bit as u32 >= used_upto {
            d.itable_unused = geo.inodes_per_group.saturating_sub(bit as u32).saturating_sub(1);
        }
        let d = *d;
        write_desc(sb, info, g, &d)?;
        info.free_inodes.fetch_sub(1, Ordering::Relaxed);
        let ino = g
            .saturating_mul(geo.inodes_per_group)
            .saturating_add(bit as u32)
            .saturating_add(1);
        return Ok(ino);
    }
    Err(ENOSPC)
}

/// Frees inode number `ino`.
pub(crate) fn free_inode(sb: &SuperBlock, info: &SbInfo, ino: u32, was_dir: bool) -> Result {
    let geo = &info.geo;
    let g = geo.group_of_ino(ino).map_err(|e| corrupt(sb, "inode number", e))?;
    let bit = ino.saturating_sub(1).checked_rem(geo.inodes_per_group).unwrap_or(0) as usize;
    let bytes = (geo.inodes_per_group / 8) as usize;
    let mut st = info.groups.lock(g)?;
    let bh = load_inode_bitmap(sb, info, &mut st, g)?;
    let (was, csum) = bh.modify(|map| {
        let was = bitmap::clear(map, bit);
        (was, bitmap_checksum(map.get(..bytes).unwrap_or(&[]), g, info.seed, &crate::vfs::crc::KernelCrc))
    })?;
    if !was {
        return Err(corrupt_msg(sb, format_args!("inode {} freed twice", ino)));
    }
    let d = st.desc_mut(g)?;
    d.free_inodes = d.free_inodes.saturating_add(1);
    if was_dir {
        d.used_dirs = d.used_dirs.saturating_sub(1);
    }
    d.inode_bitmap_csum = csum;
    let d = *d;
    write_desc(sb, info, g, &d)?;
    info.free_inodes.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The sum of the in-use regular files' preallocated blocks, read from the
/// inode tables: what the superblock's `prealloc_blocks` should say. That
/// field is only a summary written with the superblock (at commits that
/// carry it, at unmount), while each inode's `prealloc` is journaled with
/// the inode, so after a journal replay they can disagree (fstests
/// generic/483: a power cut right after `fallocate -k` and fsync). Reads
/// the inode bitmaps and, for each file inode in use, its table slot
/// (groups with no inode in use are skipped).
pub(crate) fn sum_prealloc(sb: &SuperBlock, info: &SbInfo) -> Result<u64> {
    let geo = &info.geo;
    let mut total = 0u64;
    for g in 0..geo.group_count {
        let d = info.groups.desc(g)?;
        let (flags, unused) = (d.flags, d.itable_unused);
        let high = geo.inodes_per_group.saturating_sub(unused);
        if flags & BG_INODE_UNINIT != 0 || high == 0 {
            continue;
        }
        let bh = {
            let mut st = info.groups.lock(g)?;
            load_inode_bitmap(sb, info, &mut st, g)?
        };
        let first = g.saturating_mul(geo.inodes_per_group).saturating_add(1);
        for idx in 0..high {
            let ino = first.saturating_add(idx);
            // The reserved inodes below FIRST_INO (root aside, a
            // directory) are marked in use but hold no file.
            if ino < FIRST_INO || !bh.read_with(|map| bitmap::test(map, idx as usize)) {
                continue;
            }
            total = total.saturating_add(u64::from(crate::inode::prealloc_on_disk(sb, ino)?));
        }
        crate::vfs::cond_resched();
    }
    Ok(total)
}
