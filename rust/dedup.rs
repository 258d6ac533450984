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
use crate::vfs::folio::FolioBuffer;
use crate::vfs::{Inode, SuperBlock};
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
    /// Blocks of folios pinned for DMA, fingerprinted and written from a
    /// stable copy.
    pub(crate) pinned_copies: AtomicU64,
    /// Writeback decisions that failed (the data stayed dirty, the error
    /// went to fsync).
    pub(crate) writeback_errors: AtomicU64,
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
        7 => info.groups.sum(|d| u64::from(d.fp_used)),
        8 => get(&s.referenced),
        9 => info.filter.entries(),
        10 => info.filter.memory_bytes(),
        11 => info.filter_build_ns.load(Ordering::Relaxed),
        12 => u64::from(info.geo.block_size),
        13 => get(&s.pinned_copies),
        14 => get(&s.writeback_errors),
        15 => info.filter.dropped(),
        16 => info.filter.cap(),
        17 => u64::from(info.filter_ready.load(Ordering::Relaxed)),
        18 => info.rebuild_groups_done.load(Ordering::Relaxed),
        19 => u64::from(info.geo.group_count),
        20 => info.rebuild_undeduped.load(Ordering::Relaxed),
        21 => info.filter.repeats(),
        22 => u64::from(info.filter_loaded.load(Ordering::Relaxed)),
        100..=103 => crate::faults::value(info, which),
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
    let mut medium: Option<KVec<u8>> = None;
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
                // Compared with what is on the medium: the device's cache
                // may hold an older copy of a block that was freed and
                // rewritten through a file's page cache since.
                let buf = match &mut medium {
                    Some(b) => b,
                    None => medium.insert(KVec::from_elem(0u8, data.len(), GFP_KERNEL)?),
                };
                // An unreadable candidate is not shared (the write gets a
                // block of its own).
                if crate::vfs::buffer::read_uncached(sb, u64::from(c), buf).is_err() || buf.as_slice() != data {
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
///
/// The caller holds both inodes' locks and invalidate locks and wrote both
/// ranges back, so no write, fault or writeback changes these blocks of
/// either map meanwhile. Each replaced pointer is still taken from the map
/// update itself (`set_pointer` returns it), never from an earlier read:
/// whoever removes a pointer from a map drops exactly that reference.
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
        if b == inode::map_block(dst, fb_out)? {
            continue; // already shared (or both holes)
        }
        match b {
            None => {
                if !dedup {
                    if let Some(o) = inode::set_pointer(dst, fb_out, 0)? {
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
                match inode::set_pointer(dst, fb_out, b) {
                    Ok(Some(o)) => release_block(sb, info, o)?,
                    Ok(None) => {}
                    Err(e) => {
                        let _ = release_block(sb, info, b);
                        return Err(e);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether block `o`, which the file maps (so it stays allocated while the
/// folio is locked), already holds `data` (fingerprint `fp`).
fn unchanged(sb: &SuperBlock, info: &SbInfo, o: u32, fp: &crate::format::fpstore::Fingerprint, data: &[u8]) -> Result<bool> {
    let e = fpstore::get(sb, info, o)?;
    if e.refcount == 0 || e.fingerprint.as_slice() != fp.as_slice() {
        return Ok(false);
    }
    if info.verify() {
        let mut buf = KVec::from_elem(0u8, data.len(), GFP_KERNEL)?;
        if crate::vfs::buffer::read_uncached(sb, u64::from(o), &mut buf).is_err() || buf.as_slice() != data {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What the writeback of one dirty buffer needs after its decision.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Decision {
    /// Write the buffer to the (new) block it is now mapped to.
    Write,
    /// Nothing to write: a hole, a block shared with identical data, or a
    /// stable copy already written.
    Done,
}

/// The reservations a dirty buffer holds for its block.
#[derive(Clone, Copy)]
struct Held {
    /// A new block reserved at write time (the buffer is delayed).
    delayed: bool,
    /// A copy-on-write reservation for an overwrite of a mapped block.
    cow: bool,
}

impl Held {
    fn any(&self) -> bool {
        self.delayed || self.cow
    }
}

/// The decision succeeded without allocating: the buffer's reservations
/// go back.
fn give_back(inode: &Inode, info: &SbInfo, bh: &FolioBuffer<'_>, held: Held) {
    if held.delayed {
        bh.clear_delay();
        inode::release_reserved(inode, 1);
    }
    if held.cow && bh.take_cow() {
        crate::balloc::unreserve(info, 1);
    }
}

/// The decision allocated a block with the buffer's reservation: the
/// buffer holds none any more.
fn consumed(bh: &FolioBuffer<'_>, held: Held) {
    if held.delayed {
        bh.clear_delay();
    }
    if held.cow {
        bh.take_cow();
    }
}

/// The writeback decision for block `file_block` of regular file `inode`,
/// whose buffer `bh` (of a locked folio) is dirty: map it where its
/// contents belong and say whether it must be written. `pinned`: the
/// folio may change under DMA, so its contents are copied first and the
/// copy is what gets fingerprinted and written (synchronously, here).
/// `digest`: the block's fingerprint if its writeback batch hashed it
/// already (never for a pinned folio), else it is hashed here.
///
/// Every error leaves the buffer as it was: dirty, with its reservations,
/// its map pointer and every reference count unchanged, so the block can
/// be decided again later (or its error reported by fsync); no metadata
/// points at a block whose data was not written.
pub(crate) fn write_block(
    inode: &Inode,
    file_block: u64,
    bh: &FolioBuffer<'_>,
    pinned: bool,
    digest: Option<&crate::format::fpstore::Fingerprint>,
) -> Result<Decision> {
    let sb = inode.sb();
    let info = sbi(sb)?;
    crate::faults::before_decision(info)?;
    let held = Held { delayed: bh.is_delay(), cow: bh.has_cow() };
    // A hint only (a copy-on-write goal, the block not to share with
    // itself): the pointer replaced is the one set_data_pointer returns.
    let hint = inode::map_block(inode, file_block)?;

    let copy;
    let data: &[u8] = if pinned {
        let mut v = KVec::new();
        v.extend_from_slice(bh.data(), GFP_KERNEL)?;
        copy = v;
        bump(&info.stats.pinned_copies);
        copy.as_slice()
    } else {
        bh.data()
    };
    bump(&info.stats.logical_written);

    // Until the filter holds every stored block (a background build after
    // mount), a lookup could miss a duplicate and a record could be read
    // twice: write without deduplication, and count it.
    let ready = info.filter_ready.load(Ordering::Acquire);
    if !ready {
        bump(&info.rebuild_undeduped);
    }
    let dedup = info.dedup() && ready;
    if dedup && data.iter().all(|&b| b == 0) {
        // Zero blocks take no space: the block becomes a hole.
        if let Some(p) = inode::set_data_pointer(inode, file_block, 0)? {
            release_block(sb, info, p)?;
        }
        give_back(inode, info, bh, held);
        bh.unmap_clean();
        bump(&info.stats.zero_blocks);
        return Ok(Decision::Done);
    }

    // Hashed with the rest of its writeback batch, or now.
    let fp = match digest {
        Some(d) => *d,
        None => info.hasher.digest(data)?,
    };
    crate::faults::after_hash(info);
    if let Some(o) = hint {
        if unchanged(sb, info, o, &fp, data)? {
            // Rewritten with the bytes it holds: nothing changes.
            give_back(inode, info, bh, held);
            bh.map(sb, u64::from(o));
            bh.clear_dirty();
            return Ok(Decision::Done);
        }
    }
    // Decide under the filter guard of `fp` (lookup, confirm, share or
    // record atomically); change the file's map and drop the replaced
    // block's reference after releasing it (they take other locks).
    let mut guard = info.filter.lock(&fp)?;
    let found = if dedup { find_duplicate(sb, info, &guard, &fp, data, hint)? } else { None };
    if let Some(c) = found {
        drop(guard);
        let prev = match inode::set_data_pointer(inode, file_block, c) {
            Ok(p) => p,
            Err(e) => {
                let _ = release_block(sb, info, c);
                return Err(e);
            }
        };
        // `prev` may be `c` itself only if the map already pointed there:
        // one reference added, one dropped.
        if let Some(p) = prev {
            release_block(sb, info, p)?;
        }
        give_back(inode, info, bh, held);
        bh.map(sb, u64::from(c));
        bh.clear_dirty();
        bump(&info.stats.dup_hits);
        return Ok(Decision::Done);
    }

    // A new block, also for an overwrite: never in place. A block
    // rewritten in place would hold new data under its old fingerprint if
    // the power failed between the data write and the commit of the new
    // fingerprint, and a later write of the old data would then share it.
    // Written elsewhere, the new data only counts once its transaction
    // commits, and the old block, until then, keeps data and fingerprint
    // together. The new block goes right after the old one if it can.
    if let Some(o) = hint {
        if fpstore::get(sb, info, o)?.refcount > 1 {
            bump(&info.stats.cow_breaks);
        }
    }
    let b = inode::allocate_for_write(inode, file_block, hint, held.delayed, held.any())?;
    // Until the map points to `b`, undoing means freeing it and taking the
    // reservation back.
    let undo_alloc = |inode: &Inode| {
        let _ = crate::balloc::free_block(sb, info, b);
        if held.any() {
            inode::restore_reservation(inode, held.delayed);
        }
    };
    if let Err(e) = fpstore::set_new(sb, info, b, &fp) {
        undo_alloc(inode);
        return Err(e);
    }
    // An insert that runs out of memory leaves the filter as it was (the
    // block is merely not found as a duplicate later). While the filter is
    // being built the build may read this entry too: not recorded here.
    if ready {
        let _ = guard.insert(b);
    }
    drop(guard);
    // From here the block is recorded: undoing drops its reference.
    let undo_record = |inode: &Inode| {
        let _ = release_block(sb, info, b);
        if held.any() {
            inode::restore_reservation(inode, held.delayed);
        }
    };
    if pinned {
        // The stable copy goes to the disk now, before the transaction
        // that records the block can commit (the handle is open).
        if let Err(e) = crate::vfs::buffer::write_uncached(sb, u64::from(b), data) {
            undo_record(inode);
            return Err(e);
        }
    }
    let prev = match inode::set_data_pointer(inode, file_block, b) {
        Ok(p) => p,
        Err(e) => {
            undo_record(inode);
            return Err(e);
        }
    };
    consumed(bh, held);
    if let Some(p) = prev {
        release_block(sb, info, p)?;
    }
    bh.map(sb, u64::from(b));
    bump(&info.stats.unique_written);
    if pinned {
        bh.clear_dirty();
        return Ok(Decision::Done);
    }
    // data=ordered: the new block's data reaches the disk before the
    // transaction that points to it commits.
    if let Some(h) = crate::vfs::journal::current() {
        let bs = u64::from(info.geo.block_size);
        h.order_data(inode.jinode(), file_block.saturating_mul(bs), bs)?;
    }
    bh.set_new();
    Ok(Decision::Write)
}
