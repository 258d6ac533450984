//! Inline deduplication at writeback (paper §2.2, Fig. 5).
//!
//! Every dirty block of a regular file reaches `write_block` when its folio
//! is written back (the folio is locked and its PTEs write-protected, and
//! the mapping asks for stable writes, so the contents can't change under
//! the fingerprint). The block is fingerprinted; an all-zero block becomes a
//! hole; otherwise the fingerprint filter gives candidate store slots,
//! whose entries are searched for the full fingerprint (and a match, with
//! `verify`, compared byte by byte). A confirmed duplicate is shared: the file's
//! pointer is set to it and its reference count raised, and nothing is
//! written. A unique block is written to a newly allocated block (also
//! when it overwrites one: copy-on-write, see `write_block`), with its
//! fingerprint and a reference count of 1 recorded, and the file's old
//! block released.

use crate::fpstore;
use crate::inode;
use crate::super_::{sbi, SbInfo};
use crate::vfs::{BhResult, Inode, SuperBlock};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;

/// Counters shown in sysfs and by `livedfs stats`.
#[derive(Default)]
pub(crate) struct Stats {
    /// Blocks of file data that reached writeback.
    pub(crate) logical_written: AtomicU64,
    /// Blocks written because no duplicate existed.
    pub(crate) unique_written: AtomicU64,
    /// Blocks shared with an existing block instead of written.
    pub(crate) dup_hits: AtomicU64,
    /// Filter candidates whose full fingerprint (or bytes) differed.
    pub(crate) false_candidates: AtomicU64,
    /// All-zero blocks turned into holes.
    pub(crate) zero_blocks: AtomicU64,
    /// Shared blocks copied on write.
    pub(crate) cow_breaks: AtomicU64,
    /// Blocks whose last reference went away.
    pub(crate) blocks_freed: AtomicU64,
    /// File block pointers to data blocks (the sum of all refcounts).
    pub(crate) referenced: AtomicU64,
}

/// Counter `which` for sysfs (the order of the names in helpers.c).
pub(crate) fn stat_value(info: &SbInfo, which: i32) -> u64 {
    let s = &info.stats;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    match which {
        0 => get(&s.logical_written),
        1 => get(&s.unique_written),
        2 => get(&s.dup_hits),
        3 => get(&s.false_candidates),
        4 => get(&s.zero_blocks),
        5 => get(&s.cow_breaks),
        6 => get(&s.blocks_freed),
        7 => info.alloc.lock().groups.iter().fold(0u64, |a, d| a.saturating_add(u64::from(d.fp_used))),
        8 => get(&s.referenced),
        9 => info.filter.entries(),
        10 => info.filter.memory_bytes(),
        11 => info.filter_build_ns.load(Ordering::Relaxed),
        12 => u64::from(info.geo.block_size),
        _ => 0,
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Looks, under the filter guard of `fp`, for an existing block holding
/// exactly `data` other than `exclude`, and takes a reference to it.
fn find_duplicate(
    sb: &SuperBlock,
    info: &SbInfo,
    guard: &crate::fpfilter::FilterGuard<'_>,
    fp: &crate::format::fpstore::Fingerprint,
    data: &[u8],
    exclude: Option<u32>,
) -> Result<Option<u32>> {
    for &slot in guard.candidates()?.iter() {
        // The filter names the slot of store entries; the entries holding
        // the full fingerprint name the blocks.
        let blocks = fpstore::blocks_in_slot(sb, info, slot, fp)?;
        if blocks.is_empty() {
            bump(&info.stats.false_candidates);
            continue;
        }
        for &c in blocks.iter() {
            if Some(c) == exclude {
                continue;
            }
            if info.verify() {
                let same = crate::vfs::Buffer::read(sb, u64::from(c))?.read_with(|d| d == data);
                if !same {
                    bump(&info.stats.false_candidates);
                    continue;
                }
            }
            // add_ref re-checks the entry under the buffer lock and
            // refuses a saturated count (then the block is no longer
            // shared further).
            if fpstore::add_ref(sb, info, c, fp)? {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

/// Drops the file's reference to data block `b`; at zero the block is
/// forgotten by the filter and freed.
pub(crate) fn release_block(sb: &SuperBlock, info: &SbInfo, b: u32) -> Result {
    let (left, fp) = fpstore::drop_ref(sb, info, b)?;
    if left == 0 {
        info.filter.remove(&fp, b)?;
        crate::balloc::free_block(sb, info, b)?;
        bump(&info.stats.blocks_freed);
    }
    Ok(())
}

/// Reflink (and out-of-band dedup): makes `dst`'s blocks of the range
/// point at `src`'s, each shared block's reference count raised, the
/// blocks `dst` pointed to before released. Holes stay holes.
pub(crate) fn remap(src: &Inode, pos_in: u64, dst: &Inode, pos_out: u64, len: u64, dedup: bool) -> Result {
    let sb = src.sb();
    let info = sbi(sb)?;
    let bs = u64::from(info.geo.block_size);
    if pos_in.checked_rem(bs) != Some(0) || pos_out.checked_rem(bs) != Some(0) {
        return Err(EINVAL);
    }
    let first_in = pos_in / bs;
    let first_out = pos_out / bs;
    let n = len.saturating_add(bs.saturating_sub(1)) / bs;
    for i in 0..n {
        let _h = crate::journal::start(sb, crate::journal::CREDITS_REMAP, 0)?;
        let fb_in = first_in.saturating_add(i);
        let fb_out = first_out.saturating_add(i);
        let b = inode::map_block(src, fb_in)?;
        let old = inode::map_block(dst, fb_out)?;
        if b == old {
            continue; // already shared (or both holes)
        }
        match b {
            None => {
                if !dedup {
                    if let Some(o) = old {
                        inode::set_pointer(dst, fb_out, 0)?;
                        release_block(sb, info, o)?;
                    }
                }
            }
            Some(b) => {
                let e = fpstore::get(sb, info, b)?;
                if e.refcount == 0 {
                    return Err(crate::errors::corrupt_msg(
                        sb,
                        format_args!("inode {} points to free block {}", src.ino(), b),
                    ));
                }
                if !fpstore::add_ref(sb, info, b, &e.fingerprint)? {
                    // Saturated: this block can't be shared any further.
                    return Err(Error::from_errno(-31)); // EMLINK
                }
                inode::set_pointer(dst, fb_out, b)?;
                if let Some(o) = old {
                    release_block(sb, info, o)?;
                }
            }
        }
    }
    Ok(())
}

/// The writeback decision for block `file_block` of regular file `inode`,
/// whose buffer `bh` is dirty: map it where its contents belong and say
/// whether it must be written.
pub(crate) fn write_block(inode: &Inode, file_block: u64, bh: &mut BhResult) -> Result {
    let sb = inode.sb();
    let info = sbi(sb)?;
    // A delayed-new buffer holds one of the inode's reservations; an
    // overwrite of a mapped block one copy-on-write reservation.
    let reserved = bh.is_delay() && bh.block() == u64::MAX;
    let cow_reserved = bh.take_cow_reservation();
    let give_back_cow = |info: &SbInfo| {
        if cow_reserved {
            crate::balloc::unreserve(info, 1);
        }
    };
    let old = inode::map_block(inode, file_block)?;
    bump(&info.stats.logical_written);
    let data = bh.data();

    if data.iter().all(|&b| b == 0) {
        // Zero blocks take no space: the block becomes a hole.
        if let Some(o) = old {
            inode::set_pointer(inode, file_block, 0)?;
            release_block(sb, info, o)?;
        }
        if reserved {
            inode::release_reserved(inode, 1);
        }
        give_back_cow(info);
        bh.unmap_clean();
        bump(&info.stats.zero_blocks);
        return Ok(());
    }

    let fp = info.hasher.digest(data)?;
    // Decide under the filter guard of `fp` (lookup, confirm, share or
    // record atomically); change the file's map and drop the old block's
    // reference after releasing it (they take other locks).
    let mut guard = info.filter.lock(&fp)?;
    if let Some(c) = find_duplicate(sb, info, &guard, &fp, data, old)? {
        drop(guard);
        inode::set_data_pointer(inode, file_block, c)?;
        if let Some(o) = old {
            release_block(sb, info, o)?;
        }
        if reserved {
            inode::release_reserved(inode, 1);
        }
        give_back_cow(info);
        bh.map(sb, u64::from(c));
        bh.clear_dirty();
        bump(&info.stats.dup_hits);
        return Ok(());
    }

    // A new block, also for an overwrite: never in place. A block
    // rewritten in place would hold new data under its old fingerprint if
    // the power failed between the data write and the commit of the new
    // fingerprint, and a later write of the old data would then share it.
    // Written elsewhere, the new data only counts once its transaction
    // commits, and the old block, until then, keeps data and fingerprint
    // together. The new block goes right after the old one if it can.
    if let Some(o) = old {
        if fpstore::get(sb, info, o)?.refcount > 1 {
            bump(&info.stats.cow_breaks);
        }
    }
    let b = if cow_reserved && !reserved {
        inode::allocate_cow_block(inode, file_block, old.map(|o| o.saturating_add(1)))?
    } else {
        give_back_cow(info);
        inode::allocate_data_block(inode, file_block, reserved)?
    };
    fpstore::set_new(sb, info, b, &fp)?;
    guard.insert(b)?;
    drop(guard);
    inode::set_data_pointer(inode, file_block, b)?;
    // data=ordered: the new block's data reaches the disk before the
    // transaction that points to it commits.
    if let Some(h) = crate::vfs::journal::current() {
        let bs = u64::from(info.geo.block_size);
        h.order_data(inode.jinode(), file_block.saturating_mul(bs), bs)?;
    }
    if let Some(o) = old {
        release_block(sb, info, o)?;
    }
    bh.map(sb, u64::from(b));
    bh.set_new();
    bump(&info.stats.unique_written);
    Ok(())
}
