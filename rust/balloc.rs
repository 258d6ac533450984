//! Block allocation: the free blocks of each group are kept in its block
//! bitmap; counts live in the group descriptors and, summed, in memory.
//!
//! Allocation is goal-directed (a file written sequentially is laid out
//! sequentially): the search starts at the goal block's bit and moves
//! forward through the groups. Space for delayed allocation is reserved at
//! write time (`reserve`) and consumed at writeback, so ENOSPC reaches the
//! writer, never the flusher. A group's bitmap and descriptor change
//! under its shard's lock (groups.rs); the volume's totals (free,
//! reserved, busy) are atomics, changed so that a reader between two
//! updates sees less space available, never more (see `available`).

use crate::errors::{corrupt, corrupt_msg};
use crate::format::bitmap;
use crate::format::group::{bitmap_checksum, GroupDesc, BG_BLOCK_UNINIT};
use crate::groups::ShardState;
use crate::super_::{BusyGroup, SbInfo};
use crate::vfs::{Buffer, SuperBlock};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// Whether the caller may dig into the root reserve (`-m` of mkfs).
fn may_use_reserve() -> bool {
    crate::vfs::capable_sys_resource()
}

/// Who asks for space: the internal reserve (`SbInfo::resv_internal`,
/// ext4's reserved clusters) is only for the zeroing of a partial block
/// by truncate and hole punching, so freeing space never fails for lack
/// of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    Writer,
    Internal,
}

/// Blocks that may still be promised, given `reserved`. No lock: every
/// update that shrinks this runs before the one that grows it back (an
/// allocation takes the free block before it drops the reservation, a
/// free marks the block busy before it counts it free), so a reader in
/// between sees too little, never too much.
fn available(info: &SbInfo, reserved: u64, who: Use) -> u64 {
    // Free first: a free counts the block busy before it counts it free,
    // so a new free count read here brings the busy count that goes with
    // it (Acquire); busy first could pair an old busy with a new free.
    let free = info.free_blocks.load(Ordering::Acquire);
    let busy = info.busy_blocks.load(Ordering::Acquire);
    let free = free.saturating_sub(busy);
    let mut avail = free.saturating_sub(reserved);
    if who == Use::Writer {
        avail = avail.saturating_sub(info.resv_internal);
    }
    if !may_use_reserve() {
        avail = avail.saturating_sub(u64::from(info.r_blocks));
    }
    avail
}

/// EBUSY from a reservation: no space now, but blocks freed by the
/// running transaction come back when it commits. The caller lets go of
/// its locks (the folio's too), commits (`commit_for_space`) and tries
/// again; never seen by user space (it becomes ENOSPC).
pub(crate) const SPACE_BUSY: Error = EBUSY;

/// Reserves `n` blocks for later (delayed) allocation without waiting:
/// ENOSPC if the volume can't promise them, `SPACE_BUSY` if it could once
/// the running transaction commits. Safe under any lock.
pub(crate) fn try_reserve(info: &SbInfo, n: u64, who: Use) -> Result {
    // The check and the addition are one compare-and-swap on `reserved`:
    // two writers can't both take the last blocks.
    let taken = info
        .reserved
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
            (available(info, r, who) >= n).then(|| r.saturating_add(n))
        })
        .is_ok();
    if taken {
        return Ok(());
    }
    if info.busy_blocks.load(Ordering::Acquire) > 0 && info.journal.is_some() {
        return Err(SPACE_BUSY);
    }
    Err(ENOSPC)
}

/// `reserved` less `n` (never below zero).
fn drop_reserved(info: &SbInfo, n: u64) {
    let _ = info
        .reserved
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| Some(r.saturating_sub(n)));
}

/// Commits the running transaction so the blocks it freed can be reserved
/// (after `SPACE_BUSY`). Only outside any handle and without locks that a
/// handle holder may wait for (map locks, folio locks).
pub(crate) fn commit_for_space(info: &SbInfo) -> Result {
    if crate::vfs::journal::current().is_some() {
        return Err(ENOSPC);
    }
    match &info.journal {
        Some(j) => j.force_commit(),
        None => Ok(()),
    }
}

/// Takes back `n` reservations that were consumed by an allocation the
/// caller undid (the block was freed again).
pub(crate) fn rereserve(info: &SbInfo, n: u64) {
    info.reserved.fetch_add(n, Ordering::AcqRel);
}

/// Whether bit `bit` of group `g` was freed by an uncommitted transaction.
fn is_busy(st: &ShardState, g: u32, bit: usize) -> bool {
    st.busy.get(&g).is_some_and(|b| bitmap::test(&b.map, bit))
}

/// Records block `bit` of group `g` as freed in transaction `tid`.
fn mark_busy(info: &SbInfo, st: &mut ShardState, g: u32, bit: usize, tid: u32) -> Result {
    if st.busy.get(&g).is_none() {
        let bytes = (info.geo.blocks_per_group / 8) as usize;
        let map = KVec::from_elem(0u8, bytes, GFP_KERNEL)?;
        let node = kernel::rbtree::RBTreeNode::new(g, BusyGroup { map, tid, count: 0 }, GFP_KERNEL)?;
        st.busy.insert(node);
    }
    if let Some(b) = st.busy.get_mut(&g) {
        if !bitmap::set(&mut b.map, bit) {
            b.count = b.count.saturating_add(1);
            info.busy_blocks.fetch_add(1, Ordering::AcqRel);
        }
        b.tid = tid;
    }
    Ok(())
}

/// After transaction `tid` committed: the blocks it (and earlier ones)
/// freed may be allocated again. Runs in the journal's commit thread: no
/// allocation here.
pub(crate) fn release_busy(info: &SbInfo, tid: u32) {
    info.groups.for_each_shard(|st| {
        let mut released = 0u64;
        let mut cursor = st.busy.cursor_front();
        while let Some(c) = cursor {
            let (&g, b) = c.current();
            // jbd2's tid_geq: tids wrap around.
            if (tid.wrapping_sub(b.tid) as i32) >= 0 {
                released = released.saturating_add(b.count);
                let (next, node) = c.remove_current();
                drop(node);
                // At the end, remove_current steps back to an examined node.
                cursor = next.filter(|n| *n.current().0 > g);
            } else {
                cursor = c.move_next();
            }
        }
        if released > 0 {
            let _ = info
                .busy_blocks
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| Some(b.saturating_sub(released)));
        }
    });
}

/// Gives back `n` reserved blocks that will not be allocated.
pub(crate) fn unreserve(info: &SbInfo, n: u64) {
    drop_reserved(info, n);
}

/// Writes group `g`'s descriptor into the primary descriptor table (under
/// the group's shard lock, so the table gets its changes in order; other
/// groups' slots of the same block change under the buffer lock).
pub(crate) fn write_desc(sb: &SuperBlock, info: &SbInfo, g: u32, d: &GroupDesc) -> Result {
    let (blk, off) = info.geo.desc_location(g).map_err(|e| corrupt(sb, "group number", e))?;
    let bh = Buffer::read(sb, u64::from(blk))?;
    bh.modify(|data| {
        let slot = data.get_mut(off..off.saturating_add(crate::format::DESC_SIZE as usize));
        match slot {
            Some(s) => d.encode(s, g, info.seed, &crate::vfs::crc::KernelCrc).map_err(|_| EINVAL),
            None => Err(EINVAL),
        }
    })?
}

/// Reads group `g`'s block bitmap, creating it if the group was never
/// initialised (then the caller must write the descriptor).
fn load_block_bitmap(sb: &SuperBlock, info: &SbInfo, st: &mut ShardState, g: u32) -> Result<Buffer> {
    let geo = &info.geo;
    let l = geo.group(g).map_err(|e| corrupt(sb, "group number", e))?;
    let checked = st.bitmap_checked(g);
    let d = st.desc_mut(g)?;
    if d.flags & BG_BLOCK_UNINIT != 0 {
        // Implied bitmap: the group's fixed metadata in use, the bits past
        // a short last group's end set so they are never allocated.
        let bh = Buffer::new_zeroed(sb, u64::from(l.block_bitmap))?;
        let csum = bh.modify(|map| {
            bitmap::set_range(map, 0, l.overhead() as usize);
            bitmap::set_range(map, l.blocks() as usize, geo.blocks_per_group as usize);
            bitmap_checksum(map, g, info.seed, &crate::vfs::crc::KernelCrc)
        })?;
        d.flags &= !BG_BLOCK_UNINIT;
        d.block_bitmap_csum = csum;
        let d = *d;
        write_desc(sb, info, g, &d)?;
        return Ok(bh);
    }
    let bh = Buffer::read(sb, u64::from(l.block_bitmap))?;
    if !checked {
        let want = d.block_bitmap_csum;
        let ok = bh.read_with(|map| bitmap_checksum(map, g, info.seed, &crate::vfs::crc::KernelCrc) == want);
        if !ok {
            return Err(corrupt_msg(sb, format_args!("group {} block bitmap checksum mismatch", g)));
        }
        st.set_bitmap_checked(g);
    }
    Ok(bh)
}

/// Allocates one block, as near after `goal` as possible. `reserved`:
/// the caller holds a reservation for it (delayed allocation), which is
/// consumed; otherwise the block must be available now.
pub(crate) fn alloc_block(sb: &SuperBlock, info: &SbInfo, goal: u32, reserved: bool) -> Result<u32> {
    if !reserved {
        // Reserved first, like a delayed allocation, so a block promised
        // to a reservation can't be taken in between.
        try_reserve(info, 1, Use::Writer).map_err(|e| if e == SPACE_BUSY { ENOSPC } else { e })?;
    }
    let r = alloc_reserved(sb, info, goal);
    if r.is_err() && !reserved {
        drop_reserved(info, 1);
    }
    r
}

/// Allocates one block for a reservation the caller holds (consumed).
fn alloc_reserved(sb: &SuperBlock, info: &SbInfo, goal: u32) -> Result<u32> {
    let geo = &info.geo;
    let ngroups = geo.group_count;
    let start_group = geo.group_of_block(goal).unwrap_or(0);
    for step in 0..ngroups {
        let g = start_group.checked_add(step).map_or(0, |x| x.checked_rem(ngroups).unwrap_or(0));
        let mut st = info.groups.lock(g)?;
        if st.desc(g)?.free_blocks == 0 {
            continue;
        }
        let l = geo.group(g).map_err(|e| corrupt(sb, "group number", e))?;
        let bh = load_block_bitmap(sb, info, &mut st, g)?;
        let from = if step == 0 && goal >= l.data_start && goal < l.end {
            goal.saturating_sub(l.first) as usize
        } else {
            l.overhead() as usize
        };
        let end = l.blocks() as usize;
        // Free in the bitmap and not freed by an uncommitted transaction.
        let pick = bh.read_with(|map| {
            let search = |lo: usize, hi: usize| -> Option<usize> {
                let mut at = lo;
                while at < hi {
                    let bit = bitmap::find_zero(map, at, hi)?;
                    if !is_busy(&st, g, bit) {
                        return Some(bit);
                    }
                    at = bit.saturating_add(1);
                }
                None
            };
            search(from, end).or_else(|| search(l.overhead() as usize, from))
        });
        let Some(pick) = pick else {
            continue; // everything free here is still busy
        };
        let found = bh.modify(|map| {
            if bitmap::set(map, pick) {
                return None;
            }
            Some((pick, bitmap_checksum(map, g, info.seed, &crate::vfs::crc::KernelCrc)))
        })?;
        let Some((bit, csum)) = found else {
            // The descriptor said free blocks but the bitmap has none.
            return Err(corrupt_msg(sb, format_args!("group {} free count disagrees with its bitmap", g)));
        };
        let block = l.first.saturating_add(bit as u32);
        if block < l.data_start {
            return Err(corrupt_msg(sb, format_args!("group {} bitmap frees metadata block {}", g, block)));
        }
        let d = st.desc_mut(g)?;
        d.free_blocks = d.free_blocks.saturating_sub(1);
        d.block_bitmap_csum = csum;
        let d = *d;
        write_desc(sb, info, g, &d)?;
        // Free count first, then the reservation (see `available`).
        info.free_blocks.fetch_sub(1, Ordering::AcqRel);
        drop_reserved(info, 1);
        return Ok(block);
    }
    Err(ENOSPC)
}

/// Frees block `b` (its bitmap bit must be set).
pub(crate) fn free_block(sb: &SuperBlock, info: &SbInfo, b: u32) -> Result {
    let geo = &info.geo;
    if !geo.is_data_block(b) {
        return Err(corrupt_msg(sb, format_args!("freeing block {} outside the data area", b)));
    }
    let g = geo.group_of_block(b).map_err(|e| corrupt(sb, "block number", e))?;
    let l = geo.group(g).map_err(|e| corrupt(sb, "group number", e))?;
    let mut st = info.groups.lock(g)?;
    let bh = load_block_bitmap(sb, info, &mut st, g)?;
    let bit = b.saturating_sub(l.first) as usize;
    let (was, csum) = bh.modify(|map| {
        let was = bitmap::clear(map, bit);
        (was, bitmap_checksum(map, g, info.seed, &crate::vfs::crc::KernelCrc))
    })?;
    if !was {
        return Err(corrupt_msg(sb, format_args!("block {} freed twice", b)));
    }
    // Not reusable before this transaction commits; counted busy before
    // it is counted free (see `available`).
    if let Some(tid) = crate::journal::current_tid() {
        mark_busy(info, &mut st, g, bit, tid)?;
    }
    let d = st.desc_mut(g)?;
    d.free_blocks = d.free_blocks.saturating_add(1);
    d.block_bitmap_csum = csum;
    let d = *d;
    write_desc(sb, info, g, &d)?;
    info.free_blocks.fetch_add(1, Ordering::AcqRel);
    Ok(())
}

/// FITRIM: discards the free blocks among device blocks `[first, last]`
/// (data regions only), in runs of at least `minlen` blocks; returns how
/// many blocks were discarded. Each group is done under its shard's
/// lock, so no block can be handed out (and written) while its run is
/// being discarded; blocks freed by a transaction not yet committed are
/// left alone (a crash would give them back to the file that freed them).
pub(crate) fn trim(sb: &SuperBlock, info: &SbInfo, first: u64, last: u64, minlen: u64) -> Result<u64> {
    let geo = &info.geo;
    let minlen = minlen.max(1);
    let mut trimmed = 0u64;
    for g in 0..geo.group_count {
        let l = geo.group(g).map_err(|e| corrupt(sb, "group number", e))?;
        let lo = u64::from(l.data_start).max(first);
        let hi = u64::from(l.end).min(last.saturating_add(1));
        if lo >= hi {
            continue;
        }
        let st = info.groups.lock(g)?;
        let d = *st.desc(g)?;
        if d.free_blocks == 0 {
            continue;
        }
        let bh = if d.flags & BG_BLOCK_UNINIT != 0 {
            None // never allocated from: all of its data region is free
        } else {
            let bh = Buffer::read(sb, u64::from(l.block_bitmap))?;
            if !st.bitmap_checked(g)
                && !bh.read_with(|map| bitmap_checksum(map, g, info.seed, &crate::vfs::crc::KernelCrc) == d.block_bitmap_csum)
            {
                return Err(corrupt_msg(sb, format_args!("group {} block bitmap checksum mismatch", g)));
            }
            Some(bh)
        };
        // Free runs as (first block, length).
        let mut runs: KVec<(u64, u64)> = KVec::new();
        let base = u64::from(l.first);
        let mut collect = |map: Option<&[u8]>| -> Result {
            let mut at = lo;
            while at < hi {
                let bit = at.saturating_sub(base) as usize;
                let free = map.is_none_or(|m| !bitmap::test(m, bit)) && !is_busy(&st, g, bit);
                if !free {
                    at = at.saturating_add(1);
                    continue;
                }
                let start = at;
                while at < hi {
                    let bit = at.saturating_sub(base) as usize;
                    if !(map.is_none_or(|m| !bitmap::test(m, bit)) && !is_busy(&st, g, bit)) {
                        break;
                    }
                    at = at.saturating_add(1);
                }
                if at.saturating_sub(start) >= minlen {
                    runs.push((start, at.saturating_sub(start)), GFP_KERNEL)?;
                }
            }
            Ok(())
        };
        match &bh {
            Some(bh) => bh.read_with(|map| collect(Some(map)))?,
            None => collect(None)?,
        }
        for &(start, n) in runs.iter() {
            crate::vfs::super_block::discard(sb, start, n)?;
            trimmed = trimmed.saturating_add(n);
        }
        drop(st);
    }
    Ok(trimmed)
}
