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

/// One extent for FIEMAP: file offset, device offset, length (bytes) and
/// whether its blocks are shared (a reference count above one).
#[derive(Clone, Copy)]
pub(crate) struct Extent {
    pub(crate) logical: u64,
    pub(crate) physical: u64,
    pub(crate) len: u64,
    pub(crate) shared: bool,
}

/// The extents of `[start, start + len)` (bytes) of a written-back file, in
/// order, passed to `emit` (false: stop, the caller's buffer is full),
/// with whether it is the file's last extent. Consecutive blocks make one
/// extent when they are consecutive on the disk and equally shared.
pub(crate) fn extents(
    inode: &Inode,
    start: u64,
    len: u64,
    mut emit: impl FnMut(Extent, bool) -> Result<bool>,
) -> Result {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let bs = block_size(inode)?;
    let size = inode.size();
    if size == 0 || start >= size {
        return Ok(());
    }
    let file_last = size.saturating_sub(1).checked_div(bs).unwrap_or(0);
    let first = start.checked_div(bs).unwrap_or(0);
    let last = start.saturating_add(len).min(size).saturating_sub(1).checked_div(bs).unwrap_or(0);
    let mut cur: Option<Extent> = None;
    let mut fb = first;
    while fb <= last {
        let Some(d) = inode::next_data_or_hole(inode, fb, last, true)? else { break };
        fb = d;
        while fb <= last {
            let Some(b) = inode::map_block(inode, fb)? else { break };
            let shared = crate::fpstore::get(sb, info, b)?.refcount > 1;
            let (logical, physical) = (fb.saturating_mul(bs), u64::from(b).saturating_mul(bs));
            match &mut cur {
                Some(e) if e.shared == shared
                    && e.logical.saturating_add(e.len) == logical
                    && e.physical.saturating_add(e.len) == physical =>
                {
                    e.len = e.len.saturating_add(bs);
                }
                _ => {
                    if let Some(e) = cur.take() {
                        if !emit(e, false)? {
                            return Ok(());
                        }
                    }
                    cur = Some(Extent { logical, physical, len: bs, shared });
                }
            }
            fb = fb.saturating_add(1);
        }
    }
    if let Some(e) = cur {
        // The last extent of the file if no data follows it.
        let end_block = e.logical.saturating_add(e.len).checked_div(bs).unwrap_or(0);
        let more = end_block <= file_last && inode::next_data_or_hole(inode, end_block, file_last, true)?.is_some();
        emit(e, !more)?;
    }
    Ok(())
}
