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
    // As many blocks as asked (`b_size`, as mpage's readahead asks for
    // the rest of its window) that follow on the device: one call maps a
    // run, not one block.
    let bs = u64::from(inode.sb().block_size());
    let want = u32::try_from(bh.size() / bs.max(1)).unwrap_or(u32::MAX).max(1);
    if let Some((b, n)) = inode::map_run(inode, file_block, want)? {
        bh.map(inode.sb(), u64::from(b));
        bh.set_size(u64::from(n).saturating_mul(bs));
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
    trim_prealloc_to(inode, size)?;
    if inode.nlink() > 0 {
        let _h = crate::journal::start(sb, crate::journal::CREDITS_NAMEI, 0)?;
        inode::orphan_remove(sb, info, inode)?;
        inode::store(inode)?;
    }
    Ok(())
}

/// The most preallocated space a file of `size` bytes may hold: a block
/// for each of its holes (unwritten blocks included; their indirect
/// blocks exist, so writing them needs nothing else).
fn prealloc_cap(inode: &Inode, size: u64) -> Result<u64> {
    if size == 0 {
        return Ok(0);
    }
    let bs = block_size(inode)?;
    let last = size.saturating_sub(1).checked_div(bs).unwrap_or(0);
    inode::count_holes(inode, 0, last)
}

/// Preallocated space past the end of file goes (as ext4 frees unwritten
/// extents there at truncate, also to the same size): the file keeps at
/// most what its holes below `size` may need.
pub(crate) fn trim_prealloc_to(inode: &Inode, size: u64) -> Result {
    if inode.data().prealloc.load(core::sync::atomic::Ordering::Relaxed) == 0 {
        return Ok(());
    }
    let keep = prealloc_cap(inode, size)?;
    let _h = crate::journal::start(inode.sb(), crate::journal::CREDITS_INODE, 0)?;
    inode::trim_prealloc(inode, keep);
    Ok(())
}

/// File blocks `[first, last]` covered by bytes `[off, off + len)`.
fn block_range(bs: u64, off: u64, len: u64) -> (u64, u64) {
    let first = off.checked_div(bs).unwrap_or(0);
    let last = off.saturating_add(len).saturating_sub(1).checked_div(bs).unwrap_or(0);
    (first, last)
}

/// fallocate modes 0 and KEEP_SIZE (and the second half of ZERO_RANGE):
/// space for every hole of `[off, off + len)` is set aside for the file,
/// so writing there later cannot fail with ENOSPC whether or not the data
/// turns out to be a duplicate. The space is counted in `st_blocks` and
/// kept across remounts (the inode's `prealloc`); writes into holes and
/// copy-on-write overwrites use it first. A file never holds more than the
/// blocks up to its size (or the range's end). The holes become
/// `UNWRITTEN` pointers (no block: livedfs stores no zeros, and a block
/// written later goes where its data decides): they read as zeros and
/// FIEMAP reports them unwritten, as ext4's unwritten extents. Without
/// KEEP_SIZE the size grows to the range's end. Inode and invalidate
/// locks held, range written back.
pub(crate) fn preallocate(inode: &Inode, off: u64, len: u64, keep_size: bool) -> Result {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let bs = block_size(inode)?;
    let end = off.saturating_add(len);
    let (first, last) = block_range(bs, off, len);
    let holes = inode::count_holes(inode, first, last)?;
    // Never more than the holes of the whole span the file covers.
    let span_end = end.max(inode.size());
    let have = inode.data().prealloc.load(core::sync::atomic::Ordering::Relaxed);
    let cap = prealloc_cap(inode, span_end)?;
    let need = have.saturating_add(holes).min(cap).saturating_sub(have);
    if need > 0 {
        match crate::balloc::try_reserve(info, need, crate::balloc::Use::Writer) {
            Err(e) if e == crate::balloc::SPACE_BUSY => {
                crate::balloc::commit_for_space(info)?;
                crate::balloc::try_reserve(info, need, crate::balloc::Use::Writer)
                    .map_err(|e| if e == crate::balloc::SPACE_BUSY { ENOSPC } else { e })?;
            }
            r => r?,
        }
    }
    let _h = match crate::journal::start(sb, crate::journal::CREDITS_INODE.saturating_add(crate::journal::CREDITS_SUPER), 0) {
        Ok(h) => h,
        Err(e) => {
            crate::balloc::unreserve(info, need);
            return Err(e);
        }
    };
    if need > 0 {
        inode::add_prealloc(inode, need);
        crate::super_::note_prealloc(info)?;
    }
    if !keep_size && end > inode.size() {
        inode.set_size(end);
        // Past the old size all is holes: nothing waits for allocation.
        inode::set_disksize(inode, end);
    }
    inode.touch_c();
    inode::store(inode)?;
    drop(_h);
    inode::mark_unwritten(inode, first, last)?;
    Ok(())
}

/// fallocate UNSHARE_RANGE: livedfs never overwrites a block in place, so
/// what a later overwrite of the range needs is space for a new copy of
/// each mapped block: set aside as preallocated space (as mode 0 does for
/// holes), which copy-on-write reservations use first.
pub(crate) fn unshare(inode: &Inode, off: u64, len: u64) -> Result {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let bs = block_size(inode)?;
    let end = off.saturating_add(len).min(inode.size());
    if off >= end {
        return Ok(());
    }
    let (first, last) = block_range(bs, off, end.saturating_sub(off));
    let mapped = inode::count_mapped(inode, first, last)?;
    let size_last = inode.size().saturating_sub(1).checked_div(bs).unwrap_or(0);
    let have = inode.data().prealloc.load(core::sync::atomic::Ordering::Relaxed);
    // At most one block for every block of the file.
    let need = have.saturating_add(mapped).min(size_last.saturating_add(1)).saturating_sub(have);
    if need == 0 {
        return Ok(());
    }
    crate::balloc::try_reserve(info, need, crate::balloc::Use::Writer)
        .or_else(|e| {
            if e == crate::balloc::SPACE_BUSY {
                crate::balloc::commit_for_space(info)?;
                crate::balloc::try_reserve(info, need, crate::balloc::Use::Writer)
            } else {
                Err(e)
            }
        })
        .map_err(|e| if e == crate::balloc::SPACE_BUSY { ENOSPC } else { e })?;
    let _h = match crate::journal::start(sb, crate::journal::CREDITS_INODE.saturating_add(crate::journal::CREDITS_SUPER), 0) {
        Ok(h) => h,
        Err(e) => {
            crate::balloc::unreserve(info, need);
            return Err(e);
        }
    };
    inode::add_prealloc(inode, need);
    crate::super_::note_prealloc(info)?;
    inode.touch_c();
    inode::store(inode)
}

/// Moves the pointers of file blocks `from..=to` by `delta` blocks (up
/// if `up`, walking from the far end so a target is always a hole), in
/// small transactions: in each, a block's new pointer is set and its old
/// one cleared, so every commit holds each block exactly once and the
/// reference counts never change.
fn shift_blocks(inode: &Inode, from: u64, to: u64, delta: u64, up: bool) -> Result {
    const PER_HANDLE: u64 = 4;
    let sb = inode.sb();
    let mut done = 0u64;
    let total = to.saturating_sub(from).saturating_add(1);
    while done < total {
        let _h = crate::journal::start(sb, crate::journal::CREDITS_REMAP.saturating_mul(PER_HANDLE as u32), 0)?;
        let mut k = 0u64;
        while k < PER_HANDLE && done < total {
            let fb = if up { to.saturating_sub(done) } else { from.saturating_add(done) };
            // Unwritten pointers move with the data.
            let b = inode::raw_pointer(inode, fb)?;
            if b != 0 {
                let target = if up { fb.saturating_add(delta) } else { fb.saturating_sub(delta) };
                if let Some(p) = inode::set_pointer(inode, target, b)? {
                    // The target was not a hole: corruption of our walk.
                    return Err(crate::errors::corrupt_msg(
                        sb,
                        format_args!("inode {}: shifting onto block {} mapped to {}", inode.ino(), target, p),
                    ));
                }
                inode::set_pointer(inode, fb, 0)?;
            }
            done = done.saturating_add(1);
            k = k.saturating_add(1);
        }
    }
    Ok(())
}

/// fallocate COLLAPSE_RANGE: `[off, off + len)` (whole blocks, ending
/// before the end of file) is removed and what follows moves down; the
/// file shrinks by `len`. Inode and invalidate locks held, page cache from
/// `off` written back and dropped by the caller.
pub(crate) fn collapse(inode: &Inode, off: u64, len: u64) -> Result {
    let bs = block_size(inode)?;
    let size = inode.size();
    if off.checked_rem(bs) != Some(0) || len.checked_rem(bs) != Some(0) || len == 0 {
        return Err(EINVAL);
    }
    if off.saturating_add(len) >= size {
        return Err(EINVAL);
    }
    let (first, n) = (off / bs, len / bs);
    inode::free_range(inode, first, first.saturating_add(n))?;
    let last = size.saturating_sub(1) / bs;
    if first.saturating_add(n) <= last {
        shift_blocks(inode, first.saturating_add(n), last, n, false)?;
    }
    let new_size = size.saturating_sub(len);
    let _h = crate::journal::start(inode.sb(), crate::journal::CREDITS_INODE, 0)?;
    inode.set_size(new_size);
    inode::set_disksize(inode, new_size);
    inode.touch_cm();
    inode::store(inode)?;
    drop(_h);
    // Empty indirect blocks past the new end go.
    inode::truncate_blocks(inode, new_size)
}

/// fallocate INSERT_RANGE: a hole of `len` bytes (whole blocks) is opened
/// at `off` (before the end of file), what follows moves up; the file
/// grows by `len`. Locks and page cache as for `collapse`.
pub(crate) fn insert(inode: &Inode, off: u64, len: u64) -> Result {
    let bs = block_size(inode)?;
    let size = inode.size();
    if off.checked_rem(bs) != Some(0) || len.checked_rem(bs) != Some(0) || len == 0 {
        return Err(EINVAL);
    }
    if off >= size {
        return Err(EINVAL);
    }
    let new_size = size.checked_add(len).ok_or(EFBIG)?;
    let info = sbi(inode.sb())?;
    if new_size > info.geo.max_file_size() {
        return Err(EFBIG);
    }
    let (first, n) = (off / bs, len / bs);
    let last = size.saturating_sub(1) / bs;
    shift_blocks(inode, first, last, n, true)?;
    let _h = crate::journal::start(inode.sb(), crate::journal::CREDITS_INODE, 0)?;
    inode.set_size(new_size);
    inode::set_disksize(inode, new_size);
    inode.touch_cm();
    inode::store(inode)
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

/// One extent for FIEMAP: file offset, device offset, length (bytes),
/// whether its blocks are shared (a reference count above one), whether
/// it is unwritten (preallocated: no block, `physical` 0) and whether it
/// is delayed (dirty data in a hole, placed only at writeback: no block,
/// `physical` 0).
#[derive(Clone, Copy)]
pub(crate) struct Extent {
    pub(crate) logical: u64,
    pub(crate) physical: u64,
    pub(crate) len: u64,
    pub(crate) shared: bool,
    pub(crate) unwritten: bool,
    pub(crate) delayed: bool,
}

impl Extent {
    /// Whether `next` continues this extent (adjacent in the file, of the
    /// same kind, and adjacent and equally shared on the disk if placed).
    fn continued_by(&self, next: &Extent) -> bool {
        self.logical.saturating_add(self.len) == next.logical
            && self.unwritten == next.unwritten
            && self.delayed == next.delayed
            && (self.unwritten
                || self.delayed
                || (self.shared == next.shared && self.physical.saturating_add(self.len) == next.physical))
    }
}

/// The extents of `[start, start + len)` (bytes) of a file, in order,
/// passed to `emit` (false: stop, the caller's buffer is full), with
/// whether it is the file's last extent. Consecutive blocks make one
/// extent when they are consecutive on the disk and equally shared, or
/// all unwritten, or all delayed. Unwritten blocks past the end of file
/// (KEEP_SIZE) are reported, as ext4 reports its extents there. With
/// `delayed`, dirty blocks of holes not yet placed are reported as delayed
/// extents (FIEMAP without FIEMAP_FLAG_SYNC, as ext4); without it the
/// caller has written the range back.
pub(crate) fn extents(
    inode: &Inode,
    start: u64,
    len: u64,
    delayed: bool,
    mut emit: impl FnMut(Extent, bool) -> Result<bool>,
) -> Result {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let bs = block_size(inode)?;
    let max_last = info.geo.max_file_size().saturating_sub(1).checked_div(bs).unwrap_or(0);
    let first = start.checked_div(bs).unwrap_or(0);
    if len == 0 || first > max_last {
        return Ok(());
    }
    let last = start.saturating_add(len).saturating_sub(1).checked_div(bs).unwrap_or(0).min(max_last);
    let mut cur: Option<Extent> = None;
    // Adds `e` to the extent being built, or emits that one and starts
    // anew; false: the caller's buffer is full.
    let mut push = |cur: &mut Option<Extent>, e: Extent| -> Result<bool> {
        match cur {
            Some(c) if c.continued_by(&e) => {
                c.len = c.len.saturating_add(e.len);
                Ok(true)
            }
            _ => {
                let more = match cur.take() {
                    Some(prev) => emit(prev, false)?,
                    None => true,
                };
                *cur = Some(e);
                Ok(more)
            }
        }
    };
    let mut fb = first;
    while fb <= last {
        let next = inode::next_slot(inode, fb, last, inode::Want::Allocated)?;
        if delayed && next != Some(fb) {
            // The hole before the next placed block: its delayed runs.
            let hole_last = next.map_or(last, |d| d.saturating_sub(1));
            let mut x = fb;
            while let Some((s, n)) = inode.delayed_run(x, hole_last) {
                let e = Extent {
                    logical: s.saturating_mul(bs),
                    physical: 0,
                    len: n.saturating_mul(bs),
                    shared: false,
                    unwritten: false,
                    delayed: true,
                };
                if !push(&mut cur, e)? {
                    return Ok(());
                }
                x = s.saturating_add(n);
                if x > hole_last {
                    break;
                }
            }
        }
        let Some(d) = next else { break };
        fb = d;
        while fb <= last {
            let p = inode::raw_pointer(inode, fb)?;
            if p == 0 {
                break;
            }
            let unwritten = p == crate::format::inode::UNWRITTEN;
            // A run of unwritten blocks is found in one search.
            let n = if unwritten {
                let end = inode::next_slot(inode, fb, last, inode::Want::NotUnwritten)?.unwrap_or(last.saturating_add(1));
                end.saturating_sub(fb).max(1)
            } else {
                1
            };
            let shared = !unwritten && crate::fpstore::get(sb, info, p)?.refcount > 1;
            let logical = fb.saturating_mul(bs);
            let physical = if unwritten { 0 } else { u64::from(p).saturating_mul(bs) };
            let len = n.saturating_mul(bs);
            let e = Extent { logical, physical, len, shared, unwritten, delayed: false };
            if !push(&mut cur, e)? {
                return Ok(());
            }
            fb = fb.saturating_add(n);
        }
    }
    if let Some(e) = cur {
        // The last extent of the file if nothing follows it.
        let end_block = e.logical.saturating_add(e.len).checked_div(bs).unwrap_or(0);
        let more = end_block <= max_last
            && (inode::next_slot(inode, end_block, max_last, inode::Want::Allocated)?.is_some()
                || (delayed && inode.delayed_run(end_block, max_last).is_some()));
        emit(e, !more)?;
    }
    Ok(())
}
