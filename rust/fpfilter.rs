//! The in-memory fingerprint filter (paper §2.2, Fig. 4): fingerprint
//! prefix -> candidate store slots, built at mount from the fingerprint
//! stores and kept current on every write, overwrite and free.
//!
//! The algorithm is the format crate's compressed filter
//! (`format::fpfilter`, the very code the userspace tests exercise): `2^n`
//! chains picked by the index key (the fingerprint's first n bits), each
//! holding its (bucket key, slot) entries Elias-Fano coded in one buffer
//! ([`KernelBytes`], finely size-classed kernel memory). n and k come from
//! the volume's block count ([`FpParams::for_volume`]: chains of about 2^9
//! entries and 2^-15 false candidates per lookup at full coverage, the
//! paper's rate).
//!
//! An entry names not the block holding a fingerprint but its *slot*: the
//! few store blocks its store entry is in (`format::geometry::FpSlots`).
//! The caller confirms a candidate by scanning the slot's entries for the
//! full fingerprint (`fpstore::blocks_in_slot`), which it had to read
//! anyway to confirm a block; a slot number is about 8 bits shorter than a
//! block number, about a byte less per stored block. Two blocks of one
//! slot may share a key: the filter holds one entry per store entry (a
//! multiset), so each insert and remove is exact, up to
//! `format::fpfilter::MAX_COPIES` entries per key: copies of one block
//! stored without deduplication (`nodedup`, or while the filter was being
//! built) past that are not recorded (a lookup needs only one), so no
//! chain's run of equal keys, and no lookup's candidate list, grows with
//! the data. Removing such a copy may take away the entry of another copy
//! of the same slot: that copy is then merely not offered for sharing.
//!
//! The chains are split into shards by the index key's high bits, each
//! shard behind its own mutex, so concurrent writeback of different data
//! rarely contends (no global lock on the hot path).
//!
//! An allocation failure never corrupts the filter (a failed chain update
//! changes nothing) and never fails the write or free that caused it: a
//! block the filter could not record is simply not found as a duplicate
//! later (it stays unique, which is correct), and its removal finds
//! nothing to remove; an entry that could not be removed stays as a stale
//! one, offered only as a false candidate (every candidate is confirmed
//! against the fingerprint store). Only the mount's build fails with
//! ENOMEM.

use crate::format::fpfilter::{Bytes, Chain, FilterError, FpParams};
use crate::format::fpstore::{self, Fingerprint};
use crate::format::geometry::{FpSlots, Geometry};
use crate::format::group::BG_FP_UNINIT;
use crate::super_::SbInfo;
use crate::vfs::fpmem::KernelBytes;
use crate::vfs::{Buffer, SuperBlock};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// Most shards (a power of two); fewer if the filter has fewer chains.
const MAX_SHARD_BITS: u32 = 8;

type Shard = KVVec<Chain<KernelBytes>>;

/// The filter.
pub(crate) struct Filter {
    params: FpParams,
    slots: FpSlots,
    shard_bits: u32,
    shards: KVec<Pin<KBox<Mutex<Shard>>>>,
    entries: AtomicU64,
    /// Bytes held by the chains' buffers (their allocations' real sizes).
    heap: AtomicU64,
    /// Bytes of the shard tables (fixed at creation).
    table: u64,
    /// Inserts that could not allocate (those blocks stay unique).
    alloc_failures: AtomicU64,
    /// Most bytes the filter may hold (`filter_max`; 0: no limit).
    cap: AtomicU64,
    /// Blocks not recorded because the filter was at its cap.
    dropped: AtomicU64,
    /// Blocks not recorded because their fingerprint's key already had
    /// `format::fpfilter::MAX_COPIES` entries (copies stored `nodedup`).
    repeats: AtomicU64,
}

/// The locked part of the filter holding one fingerprint.
pub(crate) struct FilterGuard<'a> {
    shard: kernel::sync::lock::Guard<'a, Shard, kernel::sync::lock::mutex::MutexBackend>,
    chain: usize,
    bucket: u32,
    filter: &'a Filter,
}

fn filter_errno(e: FilterError) -> Error {
    match e {
        FilterError::AllocFailed => ENOMEM,
        _ => EINVAL,
    }
}

impl FilterGuard<'_> {
    /// Slots whose store entries may hold the locked fingerprint (to be
    /// confirmed on disk), each once.
    pub(crate) fn candidates(&self) -> Result<KVec<u32>> {
        let mut out: KVec<u32> = KVec::new();
        if let Some(c) = self.shard.get(self.chain) {
            for s in c.candidates(&self.filter.params, self.bucket) {
                // Usually zero or one candidate: a linear check is cheap.
                if !out.iter().any(|&x| x == s) {
                    out.push(s, GFP_KERNEL)?;
                }
            }
        }
        Ok(out)
    }

    /// Remembers that block `b` holds the locked fingerprint. If memory
    /// runs out the filter stays as it was and the block is merely not
    /// found as a duplicate later: the write goes on (Ok).
    pub(crate) fn insert(&mut self, b: u32) -> Result {
        let slot = self.filter.slot_of(b)?;
        match self.try_insert(slot) {
            Err(FilterError::AllocFailed) => {
                self.filter.alloc_failures.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            r => r.map_err(filter_errno),
        }
    }

    fn try_insert(&mut self, slot: u32) -> core::result::Result<(), FilterError> {
        let f = self.filter;
        if f.at_cap() {
            // Bounded memory: the block is stored, just not offered for
            // sharing (nothing is lost; a later copy of it is stored too).
            f.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let c = self.shard.get_mut(self.chain).ok_or(FilterError::OutOfRange)?;
        let before = c.memory_bytes() as u64;
        let r = c.insert(&f.params, self.bucket, slot);
        let after = c.memory_bytes() as u64;
        f.account(before, after);
        if r == Err(FilterError::Saturated) {
            // Enough copies of this data are offered already.
            f.repeats.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        r?;
        f.entries.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn remove(&mut self, b: u32) -> Result {
        let f = self.filter;
        let slot = f.slot_of(b)?;
        let Some(c) = self.shard.get_mut(self.chain) else {
            return Err(EINVAL);
        };
        let before = c.memory_bytes() as u64;
        let r = c.remove(&f.params, self.bucket, slot);
        let after = c.memory_bytes() as u64;
        f.account(before, after);
        match r {
            Ok(()) => {
                f.entries.fetch_sub(1, Ordering::Relaxed);
                Ok(())
            }
            // Never recorded (an insert that ran out of memory).
            Err(FilterError::Missing) => Ok(()),
            // A tombstone could not be allocated: the entry stays, a stale
            // one, which a lookup only offers as a false candidate (each
            // is confirmed against the fingerprint store). Freeing goes on.
            Err(FilterError::AllocFailed) => {
                f.alloc_failures.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(filter_errno(e)),
        }
    }
}

impl Filter {
    /// An empty filter for a volume of geometry `geo`.
    pub(crate) fn new(geo: &Geometry) -> Result<Self> {
        let slots = geo.fp_slots();
        let params = FpParams::for_volume(u64::from(geo.blocks_count), slots.count()).map_err(filter_errno)?;
        Self::with_params(params, slots)
    }

    /// An empty filter with explicit parameters (their values must cover
    /// `slots`).
    pub(crate) fn with_params(params: FpParams, slots: FpSlots) -> Result<Self> {
        if slots.count() > params.blocks() {
            return Err(EINVAL);
        }
        let shard_bits = params.index_bits().min(MAX_SHARD_BITS);
        let shard_count = 1usize << shard_bits;
        let per_shard = params.chain_count() >> shard_bits;
        let mut shards = KVec::with_capacity(shard_count, GFP_KERNEL)?;
        let mut table = 0u64;
        for _ in 0..shard_count {
            let mut s: Shard = KVVec::with_capacity(per_shard, GFP_KERNEL)?;
            for _ in 0..per_shard {
                s.push(Chain::new(), GFP_KERNEL)?;
            }
            table = table.saturating_add((s.capacity() as u64).saturating_mul(core::mem::size_of::<Chain<KernelBytes>>() as u64));
            shards.push(KBox::pin_init(new_mutex!(s), GFP_KERNEL)?, GFP_KERNEL)?;
        }
        table = table.saturating_add((shards.capacity() as u64).saturating_mul(core::mem::size_of::<Pin<KBox<Mutex<Shard>>>>() as u64 + core::mem::size_of::<Mutex<Shard>>() as u64));
        Ok(Self {
            params,
            slots,
            shard_bits,
            shards,
            entries: AtomicU64::new(0),
            heap: AtomicU64::new(0),
            table,
            alloc_failures: AtomicU64::new(0),
            cap: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            repeats: AtomicU64::new(0),
        })
    }

    /// The filter's parameters.
    pub(crate) fn params(&self) -> &FpParams {
        &self.params
    }

    /// The store slots the filter's entries name.
    pub(crate) fn slots(&self) -> &FpSlots {
        &self.slots
    }

    /// The slot of block `b` (EINVAL outside the groups: the callers pass
    /// blocks they allocated or validated).
    fn slot_of(&self, b: u32) -> Result<u32> {
        self.slots.slot_of(b).ok_or(EINVAL)
    }

    fn account(&self, before: u64, after: u64) {
        if after > before {
            self.heap.fetch_add(after - before, Ordering::Relaxed);
        } else if before > after {
            self.heap.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// Where the chain of a fingerprint beginning with `fp` is: (shard,
    /// chain within the shard), from its index key's high and low bits.
    fn place(&self, fp: &[u8]) -> (usize, usize) {
        let ci = self.params.chain_index(fp);
        let low_bits = self.params.index_bits().saturating_sub(self.shard_bits);
        let shard = ci.checked_shr(low_bits).unwrap_or(0);
        let chain = ci & 1usize.checked_shl(low_bits).unwrap_or(0).wrapping_sub(1);
        (shard, chain)
    }

    /// Records, while the mount builds the filter (no other user yet),
    /// that block `b` holds a fingerprint whose first 8 bytes are `head`
    /// (all the key bits there are: n + k <= 56), with `p`: the filter's
    /// parameters with the build's merge policy (see [`build`]).
    fn insert_at_mount(&self, p: &FpParams, head: &[u8; 8], b: u32) -> Result {
        let slot = self.slot_of(b)?;
        if self.at_cap() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let (shard, chain) = self.place(head);
        let mut s = self.shards.get(shard).ok_or(EINVAL)?.lock();
        let c = s.get_mut(chain).ok_or(EINVAL)?;
        let before = c.memory_bytes() as u64;
        let r = c.insert(p, p.bucket_key(head), slot);
        self.account(before, c.memory_bytes() as u64);
        if r == Err(FilterError::Saturated) {
            self.repeats.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        r.map_err(filter_errno)?;
        self.entries.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Locks the part of the filter holding `fp`. While the guard lives,
    /// no other writer can look up or record that fingerprint: the
    /// dedup decision for a block (lookup, confirm, allocate or share,
    /// record) is atomic, so concurrent writers of identical data end with
    /// one copy. Never take a second guard while holding one.
    pub(crate) fn lock(&self, fp: &Fingerprint) -> Result<FilterGuard<'_>> {
        let fp = fp.as_slice();
        let (shard, chain) = self.place(fp);
        let s = self.shards.get(shard).ok_or(EINVAL)?;
        Ok(FilterGuard {
            shard: s.lock(),
            chain,
            bucket: self.params.bucket_key(fp),
            filter: self,
        })
    }

    /// Remembers that block `b` holds fingerprint `fp` (ENOMEM if memory
    /// runs out: the filter is then unchanged).
    pub(crate) fn insert(&self, fp: &Fingerprint, b: u32) -> Result {
        let slot = self.slot_of(b)?;
        self.lock(fp)?.try_insert(slot).map_err(filter_errno)
    }

    /// Forgets that block `b` holds fingerprint `fp`.
    pub(crate) fn remove(&self, fp: &Fingerprint, b: u32) -> Result {
        self.lock(fp)?.remove(b)
    }

    /// Sets the most bytes the filter may hold (0: no limit). Past it,
    /// newly stored blocks are not recorded (they stay unique: best-effort
    /// deduplication); what is recorded stays, and every block removed
    /// makes room again.
    pub(crate) fn set_cap(&self, bytes: u64) {
        self.cap.store(bytes, Ordering::Relaxed);
    }

    /// The cap (0: none).
    pub(crate) fn cap(&self) -> u64 {
        self.cap.load(Ordering::Relaxed)
    }

    fn at_cap(&self) -> bool {
        let cap = self.cap();
        cap != 0 && self.memory_bytes() >= cap
    }

    /// Blocks not recorded because of the cap, since mount.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Blocks not recorded because enough copies of their data were
    /// (`format::fpfilter::MAX_COPIES`), since mount.
    pub(crate) fn repeats(&self) -> u64 {
        self.repeats.load(Ordering::Relaxed)
    }

    /// Entries held.
    pub(crate) fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    /// Inserts dropped for lack of memory since mount.
    pub(crate) fn alloc_failures(&self) -> u64 {
        self.alloc_failures.load(Ordering::Relaxed)
    }

    /// Bytes of memory held: the chains' buffers as allocated (size-class
    /// rounding included) plus the shard tables.
    pub(crate) fn memory_bytes(&self) -> u64 {
        self.heap.load(Ordering::Relaxed).saturating_add(self.table)
    }

    /// Re-encodes every chain without pending updates (after the mount's
    /// build). A chain that cannot allocate keeps its current form.
    pub(crate) fn compact(&self) {
        for s in self.shards.iter() {
            let mut s = s.lock();
            for c in s.iter_mut() {
                let before = c.memory_bytes() as u64;
                let _ = c.compact(&self.params);
                self.account(before, c.memory_bytes() as u64);
            }
        }
    }

    /// Calls `f` with every chain's bytes in chain-index order (the
    /// order of a saved filter's payload), each shard locked in turn.
    pub(crate) fn for_each_chain(&self, mut f: impl FnMut(&[u8]) -> Result) -> Result {
        for s in self.shards.iter() {
            let s = s.lock();
            for c in s.iter() {
                f(c.storage().as_slice())?;
            }
        }
        Ok(())
    }

    /// Bytes of a saved filter's payload: each chain's bytes and a 4-byte
    /// length.
    pub(crate) fn payload_bytes(&self) -> u64 {
        let mut n = 0u64;
        for s in self.shards.iter() {
            let s = s.lock();
            for c in s.iter() {
                n = n.saturating_add(c.storage().len() as u64).saturating_add(4);
            }
        }
        n
    }

    /// Puts chains read from a saved filter (validated by the caller) at
    /// their chain indexes, replacing what is there (mount only, before
    /// any other user). Each shard is locked once for a run of chains in
    /// it (the loading CPUs would otherwise take turns on one lock per
    /// chain).
    pub(crate) fn install(&self, chains: KVec<(u64, Chain<KernelBytes>)>) -> Result {
        let low_bits = self.params.index_bits().saturating_sub(self.shard_bits);
        let low_mask = 1usize.checked_shl(low_bits).unwrap_or(0).wrapping_sub(1);
        let mut held: Option<(usize, kernel::sync::lock::Guard<'_, Shard, kernel::sync::lock::mutex::MutexBackend>)> = None;
        let (mut added, mut removed, mut grown, mut shrunk) = (0u64, 0u64, 0u64, 0u64);
        for (ci, c) in chains {
            let ci = usize::try_from(ci).map_err(|_| EINVAL)?;
            let shard = ci.checked_shr(low_bits).unwrap_or(0);
            if held.as_ref().map(|h| h.0) != Some(shard) {
                // One shard lock at a time: the old one goes first.
                drop(held.take());
                held = Some((shard, self.shards.get(shard).ok_or(EINVAL)?.lock()));
            }
            let Some((_, s)) = held.as_mut() else {
                return Err(EINVAL);
            };
            let slot = s.get_mut(ci & low_mask).ok_or(EINVAL)?;
            let (before, old) = (slot.memory_bytes() as u64, slot.len());
            *slot = c;
            let (after, new) = (slot.memory_bytes() as u64, slot.len());
            grown = grown.saturating_add(after.saturating_sub(before));
            shrunk = shrunk.saturating_add(before.saturating_sub(after));
            added = added.saturating_add(u64::from(new.saturating_sub(old)));
            removed = removed.saturating_add(u64::from(old.saturating_sub(new)));
        }
        drop(held);
        self.account(shrunk, grown);
        self.entries.fetch_add(added, Ordering::Relaxed);
        self.entries.fetch_sub(removed, Ordering::Relaxed);
        Ok(())
    }

    /// Empties every chain (a saved filter failed to load midway: the
    /// mount builds the filter instead).
    pub(crate) fn clear(&self) {
        for s in self.shards.iter() {
            let mut s = s.lock();
            for c in s.iter_mut() {
                let before = c.memory_bytes() as u64;
                *c = Chain::new();
                self.account(before, 0);
            }
        }
        self.entries.store(0, Ordering::Relaxed);
    }

    /// Checks every chain's encoding (KUnit).
    pub(crate) fn validate(&self) -> bool {
        for s in self.shards.iter() {
            let s = s.lock();
            for c in s.iter() {
                if c.validate(&self.params).is_err() {
                    return false;
                }
            }
        }
        true
    }
}

/// Fills the filter from the fingerprint stores of every group holding
/// data (paper: "built at mount by reading the fingerprint stores"); the
/// groups whose stores were never written or hold nothing are skipped.
/// Each store block is read ahead, verified and scanned once under its
/// lock; its entries in use go into the filter after.
pub(crate) fn build(sb: &SuperBlock, info: &SbInfo) -> Result<u64> {
    let geo = &info.geo;
    let es = geo.fp_entry_size as usize;
    let per_block = geo.fp_entries_per_block;
    // (first 8 bytes of the fingerprint, entry index, refcount) of one
    // store block's entries in use (at most 204 in a 4 KiB block).
    let mut used: KVec<([u8; 8], u32, u32)> = KVec::with_capacity(per_block as usize, GFP_KERNEL)?;
    for _ in 0..per_block {
        used.push(([0; 8], 0, 0), GFP_KERNEL)?;
    }
    // Chains merge their pending inserts only past half their size while
    // the mount builds (not 1/16: a quarter of the insert time); the build
    // ends with a compaction.
    let build_params = info
        .filter
        .params()
        .with_merge(crate::format::fpfilter::DEFAULT_MERGE_MIN, 1)
        .map_err(filter_errno)?;
    let mut n = 0u64;
    // The journal's extent lies in the data area but is never data.
    let journal = {
        let d = info.disk.lock();
        let s = u64::from(d.sb.journal_start);
        (s, s.saturating_add(u64::from(d.sb.journal_blocks)))
    };
    for g in 0..geo.group_count {
        if info.rebuild_cancel.load(Ordering::Acquire) {
            return Err(EINTR);
        }
        info.rebuild_groups_done.store(u64::from(g), Ordering::Relaxed);
        crate::faults::during_rebuild(info);
        let d = info.groups.desc(g)?;
        let (flags, in_use) = (d.flags, d.fp_used);
        if flags & BG_FP_UNINIT != 0 || in_use == 0 {
            continue;
        }
        let l = geo.group(g).map_err(|e| crate::errors::corrupt(sb, "group number", e))?;
        // An entry in use names a block dedup may share: it must be an
        // allocated data block, never a metadata block or a free one (a
        // crafted store could otherwise point later writes at the group's
        // bitmaps or inode table).
        if flags & crate::format::group::BG_BLOCK_UNINIT != 0 {
            return Err(crate::errors::corrupt_msg(
                sb,
                format_args!("group {} has fingerprints in use but no block allocated", g),
            ));
        }
        let bitmap = Buffer::read(sb, u64::from(l.block_bitmap))?;
        crate::vfs::buffer::readahead(sb, u64::from(l.fp_store), geo.fp_blocks_per_group);
        for j in 0..geo.fp_blocks_per_group {
            let bh = Buffer::read(sb, u64::from(l.fp_store.saturating_add(j)))?;
            let found = bh.read_with(|d| -> core::result::Result<usize, crate::format::FormatError> {
                fpstore::verify_block(geo, d, g, j, info.seed, &crate::vfs::crc::KernelCrc)?;
                let mut off = 0usize;
                let mut found = 0usize;
                for e in 0..per_block {
                    let ent = d.get(off..off.saturating_add(es)).ok_or(crate::format::FormatError::Truncated {
                        what: "fingerprint entry",
                        need: off.saturating_add(es),
                        have: d.len(),
                    })?;
                    off = off.saturating_add(es);
                    let count = crate::format::codec::get_u32(ent, es.saturating_sub(4))?;
                    if count != 0 {
                        let head = *ent.first_chunk::<8>().unwrap_or(&[0; 8]);
                        let Some(u) = used.get_mut(found) else {
                            return Err(crate::format::FormatError::OutOfRange { what: "entries", value: u64::from(e) });
                        };
                        *u = (head, e, count);
                        found = found.saturating_add(1);
                    }
                }
                Ok(found)
            })
            .map_err(|e| {
                pr_err!("livedfs ({}): group {} fingerprint store block {}:\n", sb.id(), g, j);
                crate::errors::corrupt(sb, "fingerprint store", e)
            })?;
            bh.set_verified();
            for &(head, e, count) in used.iter().take(found) {
                let Some(b) = geo.fp_entry_block_in(&l, j, e).map_err(|err| crate::errors::corrupt(sb, "fingerprint entry", err))? else {
                    return Err(crate::errors::corrupt_msg(sb, format_args!("group {} store entry past the group's end", g)));
                };
                let bit = b.saturating_sub(l.first) as usize;
                let in_journal = u64::from(b) >= journal.0 && u64::from(b) < journal.1;
                if b < l.data_start || in_journal || !bitmap.read_with(|m| crate::format::bitmap::test(m, bit)) {
                    return Err(crate::errors::corrupt_msg(
                        sb,
                        format_args!(
                            "fingerprint entry in use for block {}, which is {}",
                            b,
                            if b < l.data_start || in_journal { "metadata" } else { "free" }
                        ),
                    ));
                }
                info.filter.insert_at_mount(&build_params, &head, b)?;
                info.stats.referenced.fetch_add(u64::from(count), Ordering::Relaxed);
                n = n.saturating_add(1);
            }
        }
    }
    info.rebuild_groups_done.store(u64::from(geo.group_count), Ordering::Relaxed);
    Ok(n)
}
