//! Online scrub (`livedfs scrub`, ioctl `LIVEDFS_IOC_SCRUB`): every block
//! a fingerprint-store entry says is in use is read from the medium and
//! fingerprinted again; a block whose bytes no longer match its recorded
//! fingerprint is damaged, and so is every file that shares it — one bad
//! block of a shared image shows in all of them. The kernel only finds the
//! blocks; `livedfs scrub` names the files (FIEMAP over the tree), paces
//! the work, shows progress and can stop and resume at any block.
//!
//! A block being written when it is read (its entry recorded in the
//! running transaction, its data still on its way to the disk:
//! data=ordered makes the commit wait for it) could look damaged: a
//! mismatch is only reported after a commit, with the block read again and
//! its entry unchanged.

use crate::format::fpstore;
use crate::super_::{sbi, SbInfo};
use crate::vfs::SuperBlock;
use kernel::prelude::*;

/// What one scrub call did.
pub(crate) struct Progress {
    /// The block to start the next call at (`blocks_count`: done).
    pub(crate) next: u64,
    /// Blocks in use that were read and verified.
    pub(crate) checked: u64,
}

/// Verifies the blocks in use among `[start, start + count)` (device
/// blocks), pushing each damaged one into `bad` until it holds `max_bad`
/// (then the call stops early: `next` says where to go on).
pub(crate) fn scrub(sb: &SuperBlock, start: u64, count: u64, bad: &mut KVec<u64>, max_bad: usize) -> Result<Progress> {
    let info = sbi(sb)?;
    let geo = &info.geo;
    let total = u64::from(geo.blocks_count);
    let end = start.saturating_add(count).min(total);
    let bs = geo.block_size as usize;
    let mut buf = KVec::from_elem(0u8, bs, GFP_KERNEL)?;
    let mut checked = 0u64;
    let mut b = start;
    while b < end {
        if crate::vfs::fatal_signal_pending() {
            return Err(EINTR);
        }
        if let Some(e) = info.stopped() {
            return Err(e);
        }
        let blk = b as u32;
        // A group with no entry in use: skip it whole (and never format
        // its store, as looking an entry up would).
        let g = geo.group_of_block(blk).map_err(|e| crate::errors::corrupt(sb, "block number", e))?;
        if !crate::fpstore::group_has_entries(info, g) {
            let l = geo.group(g).map_err(|e| crate::errors::corrupt(sb, "group number", e))?;
            b = u64::from(l.end).max(b.saturating_add(1));
            continue;
        }
        b = b.saturating_add(1);
        if !geo.is_data_block(blk) {
            continue;
        }
        let e = crate::fpstore::get(sb, info, blk)?;
        if e.refcount == 0 {
            continue;
        }
        checked = checked.saturating_add(1);
        if verify_one(sb, info, blk, &e, &mut buf)? {
            continue;
        }
        // Maybe in flight: commit (which waits for the data of the
        // blocks it records), then look again.
        if let Some(j) = &info.journal {
            j.force_commit()?;
        }
        let again = crate::fpstore::get(sb, info, blk)?;
        if again.refcount == 0 || again.fingerprint.as_slice() != e.fingerprint.as_slice() {
            continue; // freed or rewritten meanwhile
        }
        if verify_one(sb, info, blk, &again, &mut buf)? {
            continue;
        }
        pr_err!("livedfs ({}): scrub: block {} does not match its fingerprint\n", sb.id(), blk);
        bad.push(u64::from(blk), GFP_KERNEL)?;
        if bad.len() >= max_bad {
            break;
        }
        // Yield now and then: a scrub must not hog a CPU.
        if checked.checked_rem(256) == Some(0) {
            crate::vfs::cond_resched();
        }
    }
    Ok(Progress { next: b, checked })
}

/// Whether block `blk` on the medium matches entry `e`; an unreadable
/// block does not.
fn verify_one(sb: &SuperBlock, info: &SbInfo, blk: u32, e: &fpstore::FpEntry, buf: &mut [u8]) -> Result<bool> {
    if crate::vfs::buffer::read_uncached(sb, u64::from(blk), buf).is_err() {
        return Ok(false);
    }
    let fp = info.hasher.digest(buf)?;
    Ok(fp.as_slice() == e.fingerprint.as_slice())
}
