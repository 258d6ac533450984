//! Regular files: the block-mapping callbacks of the page cache (with
//! delayed allocation), truncation, hole punching, SEEK_DATA/SEEK_HOLE and
//! fsync.
//!
//! Writes go through the page cache. At write time (`write_begin`,
//! `page_mkwrite`) a block that is not mapped yet only gets a reservation
//! (`inode::prepare_block`), so ENOSPC is reported to the writer; the block
//! is chosen at writeback, where the deduplication decision is made
//! (`aops::write_folio`, `dedup::write_block`). O_DIRECT is served through
//! the page cache and flushed before the write returns.

use crate::inode;
use crate::super_::sbi;
use crate::vfs::{BhResult, Inode};
use kernel::prelude::*;

/// Block size of the inode's volume.
fn block_size(inode: &Inode) -> Result<u64> {
    Ok(u64::from(sbi(inode.sb())?.geo.block_size))
}

/// `get_block` for reads: map, or leave unmapped for a hole.
pub(crate) fn get_block_read(inode: &Inode, file_block: u64, bh: &mut BhResult) -> Result {
    if let Some(b) = inode::map_block(inode, file_block)? {
        bh.map(inode.sb(), u64::from(b));
    }
    Ok(())
}

/// `get_block` at write time: map an existing block, or reserve space and
/// mark the buffer delayed (allocated at writeback).
pub(crate) fn get_block_prepare(inode: &Inode, file_block: u64, bh: &mut BhResult) -> Result {
    match inode::prepare_block(inode, file_block)? {
        Some(b) => bh.map(inode.sb(), u64::from(b)),
        None => {
            // An impossible block number marks "not allocated yet".
            bh.map(inode.sb(), u64::MAX);
            bh.set_new();
            bh.set_delay();
        }
    }
    Ok(())
}

/// Frees the blocks past a new, smaller size (after the page cache was
/// cut). The inode is on the orphan list meanwhile, so a crash between the
/// truncation's transactions is finished at the next mount.
pub(crate) fn truncate_to(inode: &Inode, size: u64, old_size: u64) -> Result {
    if size >= old_size {
        return Ok(());
    }
    let sb = inode.sb();
    let info = sbi(sb)?;
    {
        let _h = crate::journal::start(sb, crate::journal::CREDITS_NAMEI, 0)?;
        inode::orphan_add(sb, inode)?;
    }
    inode::truncate_blocks(inode, size)?;
    if inode.nlink() > 0 {
        let _h = crate::journal::start(sb, crate::journal::CREDITS_NAMEI, 0)?;
        inode::orphan_remove(sb, info, inode)?;
        inode::store(inode)?;
    }
    Ok(())
}

/// Frees the whole blocks inside `[start, end)` bytes (the caller zeroed
/// the partial blocks at the edges and dropped the page cache).
pub(crate) fn punch_blocks(inode: &Inode, start: u64, end: u64) -> Result {
    let bs = block_size(inode)?;
    let first = start.saturating_add(bs.saturating_sub(1)).checked_div(bs).unwrap_or(0);
    let last = end.checked_div(bs).unwrap_or(0);
    if first < last {
        inode::free_range(inode, first, last)?;
    }
    Ok(())
}

/// SEEK_DATA / SEEK_HOLE over the block map (dirty pages were written
/// back first, so the map is complete). Returns the new offset, or ENXIO.
pub(crate) fn seek_data_hole(inode: &Inode, offset: u64, want_data: bool) -> Result<u64> {
    let size = inode.size();
    if offset >= size {
        return Err(ENXIO);
    }
    let bs = block_size(inode)?;
    let last = size.saturating_sub(1).checked_div(bs).unwrap_or(0);
    let fb = offset.checked_div(bs).unwrap_or(0);
    match inode::next_data_or_hole(inode, fb, last, want_data)? {
        Some(b) => Ok(b.saturating_mul(bs).max(offset).min(size)),
        None if want_data => Err(ENXIO),
        // The implicit hole at end of file.
        None => Ok(size),
    }
}
