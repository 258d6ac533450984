//! Journaling (paper §2.4): every metadata change — inodes, bitmaps, group
//! descriptors, the superblock, directory and indirect blocks, fingerprint
//! stores and refcounts, the orphan list — is made inside a jbd2 handle, so
//! each operation reaches the disk atomically (paper Fig. 5), and the
//! journal batches the writes. data=ordered: the data blocks a transaction
//! points to are written before it commits (jbd2 waits for their writeback
//! through the inode's jbd2 data); a dedup hit writes no data at all.
//!
//! Blocks freed in a transaction are not reused before it commits (a crash
//! would otherwise leave the old owner pointing at someone else's data):
//! the allocator keeps them busy until the commit callback clears them.
//! Freed metadata blocks are also revoked, so replay never writes an old
//! logged copy over what the block holds next.

use crate::super_::{sbi, SbInfo};
use crate::vfs::journal::Handle;
use crate::vfs::SuperBlock;
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// Credits of one block's writeback decision: inode, two bitmaps, two
/// descriptors, two store blocks, four new indirect blocks and four
/// changed pointers (a quadruple-indirect path), a bitmap/descriptor pair
/// for lazy initialisation.
pub(crate) const CREDITS_WRITE: u32 = 32;
/// The distinct blocks one more block of the same folio can add at most
/// (all of `CREDITS_WRITE`'s list but the inode, which the folio's blocks
/// share: 2 bitmaps, 2 descriptors, 2 store blocks, 4 new indirect
/// blocks, 4 changed pointer blocks, a lazy-init bitmap/descriptor pair).
pub(crate) const CREDITS_WRITE_EXTRA_BLOCK: u32 = 16;

/// Credits of one folio's writeback decisions (`blocks` blocks):
/// `CREDITS_WRITE` each, but never more than a handle of this journal can
/// hold. A 4 KiB page of a 1 KiB-block volume asked the smallest journal
/// for 128 credits where 127 fit: jbd2 refused the handle and the page
/// was never written. The cap is enough: a folio's blocks are consecutive
/// blocks of one file and share the inode, so they need at most
/// `1 + CREDITS_WRITE_EXTRA_BLOCK` per block, which the smallest journal
/// holds for a page of 1 KiB blocks (KUnit checks it).
pub(crate) fn credits_for_folio(info: &SbInfo, blocks: u32) -> u32 {
    let want = CREDITS_WRITE.saturating_mul(blocks);
    match &info.journal {
        Some(j) => want.min(j.max_credits()),
        None => want,
    }
}
/// Credits of a namespace operation (create, link, unlink, mkdir, ...).
pub(crate) const CREDITS_NAMEI: u32 = 64;
/// Credits of a rename: up to four inodes, the entry blocks of both
/// directories and the moved directory's `..` block, a new entry block
/// with its bitmap, descriptor and up to three indirect blocks, the orphan
/// list (superblock and a neighbour): under 40; 64 with room to spare.
/// Every constant here must fit the smallest journal mkfs makes (1024
/// blocks: 127 credits per handle), checked by KUnit.
pub(crate) const CREDITS_RENAME: u32 = 64;
/// Credits one handle of the smallest journal holds (1024 blocks).
pub(crate) const MIN_JOURNAL_HANDLE_CREDITS: u32 = 127;
/// Credits of releasing one data block in a truncation step: its store
/// block, its group's bitmap and descriptor block (all different for a
/// deduplicated block in another group), and the indirect block that
/// pointed to it.
pub(crate) const CREDITS_RELEASE_DATA: u32 = 4;
/// Credits of freeing an emptied indirect block: bitmap, descriptor block
/// and the block (or inode) that pointed to it.
pub(crate) const CREDITS_RELEASE_META: u32 = 3;
/// Credits of a truncation step besides its releases: the inode, the
/// superblock and an orphan-list neighbour, with room to spare.
pub(crate) const CREDITS_TRUNCATE_FIXED: u32 = 8;
/// Revoke records of one step of truncation (freed indirect blocks: at
/// most a third of its credits).
pub(crate) const REVOKES_TRUNCATE: u32 = 128;
/// Credits a truncation step spends on releases at most (fewer with a
/// small journal).
const TRUNCATE_STEP_CREDITS: u32 = 256;

/// Credits one truncation step may spend on releases: what a handle can
/// get from this volume's journal, less the step's fixed part. Every
/// release is charged its worst case (`CREDITS_RELEASE_*`), so a step
/// never dirties more blocks than its handle holds.
pub(crate) fn truncate_step_credits(info: &SbInfo) -> u32 {
    step_credits_for(info.journal.as_ref().map(|j| j.max_credits()))
}

/// `truncate_step_credits` for a journal whose handles hold at most
/// `max_credits` (`None`: no journal).
pub(crate) fn step_credits_for(max_credits: Option<u32>) -> u32 {
    let max = max_credits.unwrap_or(TRUNCATE_STEP_CREDITS.saturating_add(CREDITS_TRUNCATE_FIXED));
    max.saturating_sub(CREDITS_TRUNCATE_FIXED)
        .min(TRUNCATE_STEP_CREDITS)
        .max(CREDITS_RELEASE_DATA.saturating_add(CREDITS_RELEASE_META))
}
/// Credits of an inode update (its table block).
pub(crate) const CREDITS_INODE: u32 = 4;
/// Credits of a superblock update.
pub(crate) const CREDITS_SUPER: u32 = 2;
/// Credits of sharing one block by reflink (store, inode, indirect, and the
/// release of the block replaced).
pub(crate) const CREDITS_REMAP: u32 = 24;

/// Starts a handle for an operation on `sb` that changes at most
/// `credits` metadata blocks (and revokes at most `revokes`); `None` when
/// the volume is mounted without a journal. Nested in the task's current
/// handle if there is one.
///
/// Every change to a mounted volume starts here, so this is where a volume
/// stopped by an error (errors=remount-ro) or a shutdown refuses further
/// changes, with or without a journal. A journal that jbd2 aborted by
/// itself (an I/O error in a commit, a data block that failed to reach
/// the disk) is reported and handled as an error here, as ext4 does.
pub(crate) fn start(sb: &SuperBlock, credits: u32, revokes: u32) -> Result<Option<Handle>> {
    let info = sbi(sb)?;
    if let Some(e) = info.stopped() {
        return Err(e);
    }
    match &info.journal {
        Some(j) => match j.start(credits, revokes) {
            Ok(h) => Ok(Some(h)),
            Err(e) => {
                if j.is_aborted() {
                    crate::errors::journal_aborted(sb);
                }
                Err(e)
            }
        },
        None => Ok(None),
    }
}

/// The current transaction id, if the task runs under a handle.
pub(crate) fn current_tid() -> Option<u32> {
    crate::vfs::journal::current().map(|h| h.tid())
}

/// `SbInfo::first_lost_tid` before any transaction is lost.
pub(crate) const NO_LOST_TID: u64 = u64::MAX;

/// Records that transaction `tid` and every later one never reach the
/// disk (the journal aborted before or while committing it). The first
/// record stands: it is the earliest.
pub(crate) fn note_lost_from(info: &SbInfo, tid: u32) {
    let _ = info.first_lost_tid.compare_exchange(NO_LOST_TID, u64::from(tid), Ordering::AcqRel, Ordering::Acquire);
}

/// Whether the changes of transaction `tid` will never reach the disk:
/// the journal aborted, and `tid` is the first lost transaction or later
/// (all of them, if the abort has not been placed yet).
pub(crate) fn is_lost(info: &SbInfo, tid: u32) -> bool {
    let Some(j) = &info.journal else { return false };
    if !j.is_aborted() {
        return false;
    }
    match info.first_lost_tid.load(Ordering::Acquire) {
        NO_LOST_TID => true,
        // jbd2's tid_geq: ids wrap around.
        first => tid.wrapping_sub(first as u32) as i32 >= 0,
    }
}

/// Commit callback: blocks freed by the committed transaction may now be
/// reused. jbd2 calls it for a commit that failed too, with the journal
/// then aborted: that transaction is the first lost one.
///
/// # Safety
///
/// Called by jbd2 with our journal (its private pointer is the SbInfo)
/// and the transaction that just committed.
pub(crate) unsafe extern "C" fn commit_callback(
    j: *mut crate::sys::journal_t,
    t: *mut crate::sys::transaction_t,
) {
    // SAFETY: jbd2's contract: `j` is our journal, set up with the SbInfo
    // as private pointer, which outlives the journal (destroyed first).
    let (info, tid) = unsafe {
        let p = crate::vfs::journal::private_of(j).cast::<SbInfo>();
        (p.as_ref(), crate::vfs::journal::tid_of(t))
    };
    if let Some(info) = info {
        if info.journal.as_ref().is_some_and(|j| j.is_aborted()) {
            note_lost_from(info, tid);
        }
        crate::balloc::release_busy(info, tid);
    }
}
