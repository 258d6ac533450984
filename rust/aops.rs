//! The write path of regular files (and slow symlinks): what each page
//! cache callback decides. The kernel calls arrive through the C-ABI
//! trampolines in `vfs::fstype`; the folio and buffer operations are the
//! one-call wrappers of `vfs::folio`.
//!
//! The rules that keep a block shared by many files safe:
//! - **Reservations belong to buffers.** A write reserves, before the
//!   buffer is dirtied, one block for every block it may need at
//!   writeback, whatever the data turns out to be: a delayed buffer (a
//!   hole being written) holds one of the inode's delayed reservations, a
//!   mapped one (an overwrite: copy-on-write, since the block may be
//!   shared) a copy-on-write reservation (`FolioBuffer::has_cow`). The
//!   decision at writeback consumes it (a new block) or gives it back (a
//!   duplicate, a hole); truncation (`invalidate_folio`) and reclaim
//!   (`release_folio`) give back what they drop. So ENOSPC reaches
//!   `write()` or the page fault, never the flusher.
//! - **Only decided buffers are written**, to the block their decision
//!   chose (`FolioBuffer::mark_write`); a buffer whose decision failed
//!   stays dirty with its reservation, and the error goes to fsync. No
//!   data is dropped, and nothing is ever written over a block in place.
//! - **Whoever replaces a pointer drops the reference it replaced**: the
//!   decision takes the previous pointer from the map update itself
//!   (`set_data_pointer`), truncation from under the map lock.
//! - **The invalidate lock** (`mapping->invalidate_lock`) is held shared
//!   by page faults that dirty a folio and exclusively by hole punching,
//!   truncation and reflink, so no folio of the range is re-created and
//!   dirtied between dropping the page cache and changing the map.

use crate::dedup::{self, Decision};
use crate::format::fpstore::Fingerprint;
use crate::format::inode::{S_IFMT, S_IFREG};
use crate::inode;
use crate::super_::sbi;
use crate::vfs::folio::{LockedFolio, Wbc};
use crate::vfs::Inode;
use kernel::prelude::*;

fn is_reg(inode: &Inode) -> bool {
    inode.mode() & S_IFMT == S_IFREG
}

/// Reserves a copy-on-write block for every buffer of `folio` in
/// `[from, to)` that is mapped to a block the file has and holds no
/// reservation yet (an overwrite: the block may be shared by the time it
/// is written back). All or nothing; `balloc::SPACE_BUSY` if a commit may
/// free the space (the caller retries without the folio lock).
pub(crate) fn reserve_overwrites(inode: &Inode, folio: &LockedFolio<'_>, from: u64, to: u64) -> Result {
    if !is_reg(inode) {
        return Ok(());
    }
    let info = sbi(inode.sb())?;
    let mut n = 0u64;
    for (at, bh) in folio.buffers() {
        let end = at.saturating_add(bh.data().len() as u64);
        if end > from && at < to && bh.is_mapped() && !bh.is_delay() && !bh.test_set_cow() {
            n = n.saturating_add(1);
        }
    }
    if n == 0 {
        return Ok(());
    }
    // Preallocated space (fallocate, UNSHARE_RANGE) pays first.
    let from_prealloc = inode::take_prealloc(inode, n);
    let r = crate::balloc::try_reserve(info, n.saturating_sub(from_prealloc), inode::reservation_use(inode));
    if r.is_err() {
        inode::untake_prealloc(inode, from_prealloc);
        // Undo: the bits just set, in the same range.
        for (at, bh) in folio.buffers() {
            let end = at.saturating_add(bh.data().len() as u64);
            if n > 0 && end > from && at < to && bh.is_mapped() && !bh.is_delay() && bh.take_cow() {
                n = n.saturating_sub(1);
            }
        }
    }
    r
}

/// Errors that leave the data dirty for a later writeback and are not
/// recorded on the file: memory ran short (ENOMEM), or nothing was wrong
/// with this file (EAGAIN).
fn is_transient(e: Error) -> bool {
    e == ENOMEM || e == EAGAIN
}

/// Records on the file the error of a folio writeback could not start,
/// as fsync and syncfs will report it: none for a transient error (the
/// folio stays dirty and is tried again), ENOSPC as it is, and EIO for
/// anything else, a stopped volume's EROFS included. The data did not
/// reach the disk, and the error recorded last is the one syncfs
/// returns: an EROFS after the I/O error that stopped the volume would
/// hide it (fstests generic/484).
fn record_writeback_error(folio: &LockedFolio<'_>, e: Error) {
    if is_transient(e) {
        return;
    }
    folio.set_mapping_error(if e == ENOSPC { ENOSPC } else { EIO });
}

/// Folios `writepages` gathers (locked, in ascending order, as writeback
/// may) before hashing their blocks together on every CPU.
pub(crate) const WRITEBACK_BATCH: usize = 32;

/// Whether `folio`'s blocks can be fingerprinted ahead of their decisions:
/// a regular file's folio wholly inside the file (not zeroed at its end by
/// `write_folio`) and not pinned for DMA (whose bytes may change: those
/// are copied and hashed at the decision).
fn prehashable(folio: &LockedFolio<'_>) -> bool {
    folio.inode().is_some_and(|inode| {
        is_reg(inode) && folio.pos().saturating_add(folio.size()) <= inode.size() && !folio.maybe_dma_pinned()
    })
}

/// The fingerprints of a batch's blocks, hashed ahead of their decisions:
/// `counts[i]` of them for the batch's folio `i` (0: none; its decisions
/// hash their blocks themselves), in order.
pub(crate) struct BatchDigests {
    digests: KVec<Option<Fingerprint>>,
    counts: [usize; WRITEBACK_BATCH],
}

impl BatchDigests {
    fn none() -> Self {
        Self { digests: KVec::new(), counts: [0; WRITEBACK_BATCH] }
    }
}

/// The blocks of a batch that can be hashed ahead, and how many of each
/// folio (a folio whose blocks could not all be listed, for lack of
/// memory, gets the fingerprints of those that were).
fn batch_blocks<'a>(folios: &'a [Option<LockedFolio<'_>>], bs: usize) -> (KVec<&'a [u8]>, [usize; WRITEBACK_BATCH]) {
    let mut counts = [0usize; WRITEBACK_BATCH];
    let mut blocks: KVec<&[u8]> = KVec::new();
    for (f, count) in folios.iter().zip(counts.iter_mut()) {
        let Some(f) = f.as_ref().filter(|f| prehashable(f)) else {
            continue;
        };
        let data = f.data();
        let mut at = 0usize;
        while let Some(block) = data.get(at..at.saturating_add(bs)).filter(|_| bs > 0) {
            if blocks.push(block, GFP_KERNEL).is_err() {
                break;
            }
            *count = count.saturating_add(1);
            at = at.saturating_add(bs);
        }
    }
    (blocks, counts)
}

/// Hashes the blocks of a batch of locked folios of one file on every
/// online CPU (`Hasher::digest_many`: the flusher alone hashing block
/// after block was most of a write's CPU). With `then`, every CPU's share
/// goes to the hashing workqueue and `then` runs in this thread meanwhile:
/// `writepages` decides the batch before while this one is hashed, so the
/// decisions (one thread) no longer leave the other CPUs idle. The folios
/// stay locked until their decisions, so the bytes hashed are the bytes
/// decided on.
fn hash_batch(folios: &[Option<LockedFolio<'_>>], then: Option<&mut dyn FnMut() -> Result>) -> (BatchDigests, Result) {
    let info = folios.iter().flatten().next().and_then(|f| f.inode()).and_then(|i| sbi(i.sb()).ok());
    let run_then = |t: Option<&mut dyn FnMut() -> Result>| t.map_or(Ok(()), |f| f());
    let Some(info) = info else {
        return (BatchDigests::none(), run_then(then));
    };
    let (blocks, counts) = batch_blocks(folios, info.geo.block_size as usize);
    // Without memory for the batch, each decision hashes its block.
    let (digests, r) = match then {
        Some(f) => info.hasher.digest_many_while(&blocks, f),
        None => (info.hasher.digest_many(&blocks), Ok(())),
    };
    match digests {
        Ok(digests) => (BatchDigests { digests, counts }, r),
        Err(_) => (BatchDigests::none(), r),
    }
}

/// Hashes a gathered batch on every CPU (see [`hash_batch`]); its
/// decisions come later ([`decide_batch`]).
pub(crate) fn hash_ahead(folios: &[Option<LockedFolio<'_>>]) -> BatchDigests {
    hash_batch(folios, None).0
}

/// Hashes the batch `next` on the workqueue while deciding the batch
/// `cur` (hashed before into `cur_digests`) in this thread; returns
/// `next`'s fingerprints and `cur`'s result.
pub(crate) fn decide_while_hashing(
    cur: &mut [Option<LockedFolio<'_>>],
    cur_digests: &BatchDigests,
    next: &[Option<LockedFolio<'_>>],
    wbc: &Wbc,
) -> (BatchDigests, Result) {
    let mut decide = || decide_batch(cur, cur_digests, wbc);
    hash_batch(next, Some(&mut decide))
}

/// Writes back a batch of locked folios of one file, in order: each
/// folio's decisions as `write_folio` makes them, with the fingerprints
/// hashed ahead. Every folio is unlocked on return; the first error is
/// returned.
pub(crate) fn decide_batch(folios: &mut [Option<LockedFolio<'_>>], d: &BatchDigests, wbc: &Wbc) -> Result {
    let mut result = Ok(());
    let mut at = 0usize;
    for (slot, &count) in folios.iter_mut().zip(d.counts.iter()) {
        let Some(f) = slot.take() else {
            continue;
        };
        let end = at.saturating_add(count);
        let pre = d.digests.get(at..end).unwrap_or(&[]);
        at = end;
        let r = write_folio(f, wbc, pre);
        if result.is_ok() {
            result = r;
        }
    }
    result
}

/// Hashes a batch of locked folios, then decides them (see
/// [`hash_batch`], [`decide_batch`]).
pub(crate) fn write_batch(folios: &mut [Option<LockedFolio<'_>>], wbc: &Wbc) -> Result {
    let d = hash_ahead(folios);
    decide_batch(folios, &d, wbc)
}

/// Writes back one dirty folio: a decision for each dirty buffer (see the
/// module docs), then the decided buffers go to their blocks. `pre` holds
/// the fingerprints of the folio's blocks if `write_batch` computed them
/// (used only if the folio is still wholly inside the file and not pinned:
/// then its bytes are those that were hashed). The folio is unlocked on
/// return.
pub(crate) fn write_folio(folio: LockedFolio<'_>, wbc: &Wbc, pre: &[Option<Fingerprint>]) -> Result {
    let Some(inode) = folio.inode() else {
        folio.unlock();
        return Ok(());
    };
    let sb = inode.sb();
    let info = match sbi(sb) {
        Ok(i) => i,
        Err(e) => {
            folio.unlock();
            return Err(e);
        }
    };
    let size = inode.size();
    let pos = folio.pos();
    if pos >= size {
        // Wholly past the end of file (a truncation in progress): its
        // buffers and their reservations go, as block_write_full_folio
        // makes them freeable.
        invalidate_folio(&folio, 0, folio.size());
        folio.unlock();
        return Ok(());
    }
    let mut pre = pre;
    if pos.saturating_add(folio.size()) > size {
        folio.zero_segment(size.saturating_sub(pos), folio.size());
        pre = &[];
    }
    // One handle around the whole folio: the block decisions journal
    // their metadata in it, and since a transaction can't commit while a
    // handle is open, the folio is under writeback before the commit that
    // points to its new blocks waits for it (data=ordered).
    let bs = u64::from(info.geo.block_size);
    let blocks = folio.size().checked_div(bs).unwrap_or(1).max(1) as u32;
    let handle = match crate::journal::start(sb, crate::journal::credits_for_folio(info, blocks), 0) {
        Ok(h) => h,
        Err(e) => {
            folio.redirty(wbc);
            record_writeback_error(&folio, e);
            folio.unlock();
            return Err(e);
        }
    };
    let first = pos.checked_div(bs).unwrap_or(0);
    let last_block = size.saturating_sub(1).checked_div(bs).unwrap_or(0);
    let pinned = folio.maybe_dma_pinned();
    if pinned {
        pre = &[];
    }
    let reg = is_reg(inode);
    let mut failed: Option<Error> = None;
    let mut decided_end = pos;
    for (at, bh) in folio.create_buffers(inode, true) {
        let fb = first.saturating_add(at.checked_div(bs).unwrap_or(0));
        if fb > last_block {
            // Past the end of file (zeroed above): nothing to write.
            bh.clear_dirty();
            bh.set_uptodate();
            continue;
        }
        if !bh.is_dirty() || failed.is_some() {
            continue;
        }
        let r = if reg {
            let digest = at.checked_div(bs).and_then(|i| pre.get(i as usize)).and_then(Option::as_ref);
            dedup::write_block(inode, fb, &bh, pinned, digest)
        } else {
            write_symlink_block(inode, fb, &bh)
        };
        match r {
            Ok(Decision::Write) => bh.mark_write(),
            Ok(Decision::Done) => {}
            Err(e) => failed = Some(e),
        }
        if failed.is_none() {
            decided_end = pos.saturating_add(at).saturating_add(bs);
        }
    }
    if let Some(e) = failed {
        // The undecided buffers stay dirty, with their reservations.
        folio.redirty(wbc);
        record_writeback_error(&folio, e);
    }
    folio.submit_marked(wbc);
    // The decided blocks are mapped: the size on disk may cover them.
    let mut result = Ok(());
    if reg && decided_end > pos {
        result = inode::writeback_done(inode, decided_end);
    }
    drop(handle);
    match failed {
        None => result,
        Some(e) => {
            info.stats.writeback_errors.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            if is_transient(e) && !wbc.sync_all() {
                // Background writeback tries again later.
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// A slow symlink's block: allocated (metadata, not deduplicated).
fn write_symlink_block(inode: &Inode, file_block: u64, bh: &crate::vfs::folio::FolioBuffer<'_>) -> Result<Decision> {
    let delayed = bh.is_delay();
    let b = inode::allocate_block(inode, file_block, delayed)?;
    bh.clear_delay();
    bh.map(inode.sb(), u64::from(b));
    bh.set_new();
    Ok(Decision::Write)
}

/// `invalidate_folio`: the buffers of `[offset, offset + len)` are dropped
/// (truncation, hole punching, reflink over the range): the reservations
/// they hold go back.
pub(crate) fn invalidate_folio(folio: &LockedFolio<'_>, offset: u64, len: u64) {
    let stop = offset.saturating_add(len);
    let (mut delayed, mut cow) = (0u64, 0u64);
    for (at, bh) in folio.buffers() {
        let next = at.saturating_add(bh.data().len() as u64);
        if next > stop {
            break;
        }
        if at >= offset {
            if bh.is_delay() {
                bh.clear_delay();
                delayed = delayed.saturating_add(1);
            }
            if bh.take_cow() {
                cow = cow.saturating_add(1);
            }
        }
    }
    give_back(folio, delayed, cow);
    folio.invalidate_buffers(offset, len);
}

fn give_back(folio: &LockedFolio<'_>, delayed: u64, cow: u64) {
    let Some(inode) = folio.inode() else { return };
    if delayed > 0 {
        inode::release_reserved(inode, delayed);
    }
    if cow > 0 {
        if let Ok(info) = sbi(inode.sb()) {
            crate::balloc::unreserve(info, cow);
        }
    }
}

/// `release_folio` (reclaim): clean buffers may go, and with them the
/// reservations a clean buffer can still hold (a copy-on-write
/// reservation taken by a write that copied nothing).
pub(crate) fn release_folio(folio: &LockedFolio<'_>) -> bool {
    if !folio.buffers_idle() {
        return false;
    }
    let (mut delayed, mut cow) = (0u64, 0u64);
    for (_, bh) in folio.buffers() {
        if bh.is_delay() {
            delayed = delayed.saturating_add(1);
        }
        if bh.has_cow() {
            cow = cow.saturating_add(1);
        }
    }
    if !folio.free_buffers() {
        return false;
    }
    give_back(folio, delayed, cow);
    true
}

/// Zeroes `[pos, pos + len)` of a file through the page cache, for the
/// partial blocks at the edges of a punched hole or a truncation (inode
/// and invalidate locks held). The write may use the internal reserve, so
/// freeing space never fails on a full volume.
pub(crate) fn zero_range(inode: &Inode, pos: u64, len: u64) -> Result {
    let data = inode.data();
    data.zeroing.store(true, core::sync::atomic::Ordering::Release);
    let r = crate::vfs::fstype::zero_range_pages(inode, pos, len);
    data.zeroing.store(false, core::sync::atomic::Ordering::Release);
    r
}

/// `swap_activate`: refused. Swap writes go straight to the blocks the
/// file maps, which may be shared with other files.
pub(crate) fn swap_activate(inode: &Inode) -> Result {
    pr_warn!(
        "livedfs ({}): swap file (inode {}) refused: its blocks may be shared with other files\n",
        inode.sb().id(),
        inode.ino()
    );
    Err(EINVAL)
}

/// `read_folio` with `verify_reads`: every block is read from the medium
/// and compared with its recorded fingerprint before the folio becomes
/// valid; a block that does not match fails the read with EIO (and is
/// logged), so damaged data is never returned. Holes and the part past the
/// end of file read as zeros.
pub(crate) fn read_folio_verified(inode: &Inode, folio: &mut LockedFolio<'_>) -> Result {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let bs = u64::from(info.geo.block_size);
    let pos = folio.pos();
    let size = inode.size();
    let first = pos.checked_div(bs).unwrap_or(0);
    let data = folio.data_mut();
    let n = (data.len() as u64).checked_div(bs).unwrap_or(0);
    for i in 0..n {
        let from = i.saturating_mul(bs) as usize;
        let Some(chunk) = data.get_mut(from..from.saturating_add(bs as usize)) else { break };
        let fb = first.saturating_add(i);
        if fb.saturating_mul(bs) >= size {
            chunk.fill(0);
            continue;
        }
        let Some(b) = inode::map_block(inode, fb)? else {
            chunk.fill(0);
            continue;
        };
        crate::vfs::buffer::read_uncached(sb, u64::from(b), chunk)?;
        let e = crate::fpstore::get(sb, info, b)?;
        let fp = info.hasher.digest(chunk)?;
        if e.refcount == 0 || fp.as_slice() != e.fingerprint.as_slice() {
            pr_err!(
                "livedfs ({}): inode {} block {} (device block {}) does not match its fingerprint: read refused\n",
                sb.id(),
                inode.ino(),
                fb,
                b
            );
            return Err(EIO);
        }
    }
    Ok(())
}
