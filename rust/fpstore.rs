//! The fingerprint stores (paper §2.2, Fig. 3): for every block of a
//! group, the fingerprint of its content and its reference count.
//!
//! Entry updates are read-modify-write inside one buffer-locked `modify`,
//! so two updates of one store block never interleave; the group
//! descriptor's `fp_used` count changes under the group's shard lock
//! (groups.rs). A group
//! whose store was never written (BG_FP_UNINIT) gets it formatted on first
//! use. The first access to a group's store reads the whole store ahead
//! into the page cache (prefetch, paper §2.3) unless mounted `noprefetch`.

use crate::balloc::write_desc;
use crate::errors::{corrupt, corrupt_msg};
use crate::format::fpstore::{self, Fingerprint, FpEntry, REFCOUNT_MAX};
use crate::format::group::BG_FP_UNINIT;
use crate::super_::SbInfo;
use crate::vfs::{Buffer, SuperBlock};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// Formats group `g`'s store if it was never written, and prefetches it on
/// first touch. The check every store access makes is one atomic load;
/// the first touch of a group runs under its shard's `prepare` lock, not
/// the shard's state lock, which is taken only briefly to read and then
/// change the descriptor: allocation and frees in every group, and the
/// first touches of groups in other shards, go on while a store is
/// formatted. No store block is read or written before its group is
/// ready, since every access comes through here.
fn prepare_group(sb: &SuperBlock, info: &SbInfo, g: u32) -> Result {
    let ready = info.store_ready.get(g as usize).ok_or(EINVAL)?;
    if ready.load(Ordering::Acquire) {
        return Ok(());
    }
    let geo = &info.geo;
    let _first = info.groups.lock_prepare(g)?;
    // Re-checked: another thread may have prepared it while we waited.
    if ready.load(Ordering::Acquire) {
        return Ok(());
    }
    let uninit = info.groups.desc(g)?.flags & BG_FP_UNINIT != 0;
    let l = geo.group(g).map_err(|e| corrupt(sb, "group number", e))?;
    if uninit {
        // Formatted outside the journal (hundreds of blocks, once per
        // group), written and waited for before the descriptor's flag
        // change is journaled: a crash before that leaves the flag set and
        // the blocks unused.
        crate::faults::delay_store_format(info);
        let mut bufs = KVec::with_capacity(geo.fp_blocks_per_group as usize, GFP_KERNEL)?;
        for j in 0..geo.fp_blocks_per_group {
            let bh = Buffer::new_zeroed_direct(sb, u64::from(l.fp_store.saturating_add(j)))?;
            bh.fill_direct(|data| fpstore::init_block(data, g, j, info.seed, &crate::vfs::crc::KernelCrc))
                .map_err(|e| corrupt(sb, "fingerprint store block", e))?;
            bh.write_async();
            bufs.push(bh, GFP_KERNEL)?;
        }
        for bh in bufs.iter() {
            bh.wait()?;
            bh.set_verified();
        }
        let mut st = info.groups.lock(g)?;
        let dm = st.desc_mut(g)?;
        dm.flags &= !BG_FP_UNINIT;
        let dd = *dm;
        write_desc(sb, info, g, &dd)?;
    } else if info.prefetch() {
        crate::vfs::buffer::readahead(sb, u64::from(l.fp_store), geo.fp_blocks_per_group);
    }
    ready.store(true, Ordering::Release);
    Ok(())
}

/// Whether group `g`'s store holds any entry in use (a group whose store
/// was never formatted, or is empty, has no block to look at).
pub(crate) fn group_has_entries(info: &SbInfo, g: u32) -> bool {
    info.groups.desc(g).is_ok_and(|d| d.flags & BG_FP_UNINIT == 0 && d.fp_used > 0)
}

/// Store block `j` of group `g` (prepared), read and verified.
fn store_block(sb: &SuperBlock, info: &SbInfo, g: u32, j: u32) -> Result<Buffer> {
    let geo = &info.geo;
    let l = geo.group(g).map_err(|e| corrupt(sb, "group number", e))?;
    let bh = Buffer::read(sb, u64::from(l.fp_store.saturating_add(j)))?;
    if !bh.is_verified() {
        bh.read_with(|data| fpstore::verify_block(geo, data, g, j, info.seed, &crate::vfs::crc::KernelCrc))
            .map_err(|e| {
                pr_err!("livedfs ({}): group {} fingerprint store block {}:\n", sb.id(), g, j);
                corrupt(sb, "fingerprint store", e)
            })?;
        bh.set_verified();
    }
    Ok(bh)
}

/// The store block holding block `b`'s entry, read and verified, and the
/// entry's offset in it.
fn entry_block(sb: &SuperBlock, info: &SbInfo, b: u32) -> Result<(Buffer, usize, u32, u32)> {
    let geo = &info.geo;
    let g = geo.group_of_block(b).map_err(|e| corrupt(sb, "block number", e))?;
    prepare_group(sb, info, g)?;
    let (blk, off) = geo.fp_entry_location(b).map_err(|e| corrupt(sb, "block number", e))?;
    let l = geo.group(g).map_err(|e| corrupt(sb, "group number", e))?;
    let j = blk.saturating_sub(l.fp_store);
    Ok((store_block(sb, info, g, j)?, off, g, j))
}

/// The blocks of filter slot `slot` whose entries hold `fp` with a count
/// that may still grow, ascending (usually none or one): how a filter
/// candidate is confirmed (see `format::geometry::FpSlots`).
pub(crate) fn blocks_in_slot(sb: &SuperBlock, info: &SbInfo, slot: u32, fp: &Fingerprint) -> Result<KVec<u32>> {
    let geo = &info.geo;
    let (g, first, n) = info.filter.slots().store_blocks(slot).ok_or(EINVAL)?;
    prepare_group(sb, info, g)?;
    let es = geo.fp_entry_size as usize;
    let mut out = KVec::new();
    for j in first..first.saturating_add(n) {
        let bh = store_block(sb, info, g, j)?;
        let hits = bh.read_with(|d| fpstore::entries_holding(d, geo.fp_entries_per_block, es, fp.as_slice()));
        for e in hits.iter() {
            match geo.fp_entry_block(g, j, e).map_err(|err| corrupt(sb, "fingerprint entry", err))? {
                Some(b) => out.push(b, GFP_KERNEL)?,
                None => return Err(corrupt_msg(sb, format_args!("group {} store entry past the group's end is in use", g))),
            }
        }
    }
    Ok(out)
}

/// Changes `fp_used` of group `g` by +1 or -1.
fn count_used(sb: &SuperBlock, info: &SbInfo, g: u32, up: bool) -> Result {
    let mut st = info.groups.lock(g)?;
    let d = st.desc_mut(g)?;
    d.fp_used = if up { d.fp_used.saturating_add(1) } else { d.fp_used.saturating_sub(1) };
    let dd = *d;
    write_desc(sb, info, g, &dd)
}

/// Block `b`'s entry.
pub(crate) fn get(sb: &SuperBlock, info: &SbInfo, b: u32) -> Result<FpEntry> {
    let (bh, off, _, _) = entry_block(sb, info, b)?;
    let fs = usize::from(info.geo.fp_algo.size());
    bh.read_with(|data| fpstore::read_entry(data, off, fs)).map_err(|e| corrupt(sb, "fingerprint entry", e))
}

/// Without a journal (`nojournal` or a volume made without one: the
/// paper's LiveDFS-S), a store update goes to the disk at once, as the
/// paper's variant writes "fingerprints and reference counts to the
/// fingerprint stores on disk" directly (§4.1). With the journal the
/// updates are batched into its commits instead: the difference the
/// paper measures (Experiment A1: LiveDFS-SJ against LiveDFS-S).
fn write_through(info: &SbInfo, bh: &Buffer) -> Result {
    if info.journal.is_none() {
        bh.sync()?;
    }
    Ok(())
}

/// Records a newly written block: fingerprint `fp`, one reference.
pub(crate) fn set_new(sb: &SuperBlock, info: &SbInfo, b: u32, fp: &Fingerprint) -> Result {
    let (bh, off, g, j) = entry_block(sb, info, b)?;
    let was = bh.modify(|data| -> core::result::Result<u32, crate::format::FormatError> {
        let fs = fp.as_slice().len();
        let old = fpstore::read_entry(data, off, fs)?.refcount;
        fpstore::write_entry(data, off, fp.as_slice(), 1)?;
        fpstore::set_checksum(data, g, j, info.seed, &crate::vfs::crc::KernelCrc)?;
        Ok(old)
    })?;
    let was = was.map_err(|e| corrupt(sb, "fingerprint entry", e))?;
    if was != 0 {
        return Err(corrupt_msg(sb, format_args!("block {} allocated while its refcount was {}", b, was)));
    }
    write_through(info, &bh)?;
    info.stats.referenced.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    count_used(sb, info, g, true)
}

/// Adds a reference to block `b`, whose fingerprint must be `fp`; false
/// (and nothing changed) if the entry no longer holds `fp` or its count is
/// saturated.
pub(crate) fn add_ref(sb: &SuperBlock, info: &SbInfo, b: u32, fp: &Fingerprint) -> Result<bool> {
    let (bh, off, g, j) = entry_block(sb, info, b)?;
    bh.modify(|data| -> core::result::Result<bool, crate::format::FormatError> {
        let fs = fp.as_slice().len();
        let e = fpstore::read_entry(data, off, fs)?;
        if e.refcount == 0 || e.refcount >= REFCOUNT_MAX || e.fingerprint.as_slice() != fp.as_slice() {
            return Ok(false);
        }
        fpstore::write_refcount(data, off, fs, e.refcount.saturating_add(1))?;
        fpstore::set_checksum(data, g, j, info.seed, &crate::vfs::crc::KernelCrc)?;
        Ok(true)
    })?
    .map_err(|e| corrupt(sb, "fingerprint entry", e))
    .and_then(|added| {
        if added {
            info.stats.referenced.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            write_through(info, &bh)?;
        }
        Ok(added)
    })
}

/// Drops a reference to block `b`; returns the references left and the
/// fingerprint it had. At zero the entry is cleared (the caller frees the
/// block and forgets the fingerprint).
pub(crate) fn drop_ref(sb: &SuperBlock, info: &SbInfo, b: u32) -> Result<(u32, Fingerprint)> {
    let (bh, off, g, j) = entry_block(sb, info, b)?;
    let fs = usize::from(info.geo.fp_algo.size());
    let r = bh.modify(|data| -> core::result::Result<Option<(u32, Fingerprint)>, crate::format::FormatError> {
        let e = fpstore::read_entry(data, off, fs)?;
        if e.refcount == 0 {
            return Ok(None);
        }
        let left = e.refcount.saturating_sub(1);
        if left == 0 {
            fpstore::write_entry(data, off, e.fingerprint.as_slice(), 0)?;
        } else {
            fpstore::write_refcount(data, off, fs, left)?;
        }
        fpstore::set_checksum(data, g, j, info.seed, &crate::vfs::crc::KernelCrc)?;
        Ok(Some((left, e.fingerprint)))
    })?;
    match r.map_err(|e| corrupt(sb, "fingerprint entry", e))? {
        Some((left, fp)) => {
            info.stats.referenced.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
            write_through(info, &bh)?;
            if left == 0 {
                count_used(sb, info, g, false)?;
            }
            Ok((left, fp))
        }
        None => Err(corrupt_msg(sb, format_args!("data block {} has refcount 0 but is referenced", b))),
    }
}
