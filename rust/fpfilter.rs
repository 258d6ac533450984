//! The in-memory fingerprint filter (paper §2.2, Fig. 4): fingerprint
//! prefix -> candidate blocks, built at mount from the fingerprint stores
//! and kept current on every write, overwrite and free.
//!
//! The filter is split into shards by index key, each behind its own lock,
//! so concurrent writeback of different files rarely contends (no global
//! lock on the hot path). Within a shard, entries (the fingerprint's first
//! 64 bits, block) are kept sorted and searched by binary search.

use crate::format::fpstore::{self, Fingerprint};
use crate::format::group::BG_FP_UNINIT;
use crate::super_::SbInfo;
use crate::vfs::{Buffer, SuperBlock};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// Number of shards (a power of two).
const SHARDS: usize = 256;

type Shard = KVVec<(u64, u32)>;

/// The filter.
pub(crate) struct Filter {
    shards: KVec<Pin<KBox<Mutex<Shard>>>>,
    entries: AtomicU64,
}

/// The locked part of the filter holding one fingerprint.
pub(crate) struct FilterGuard<'a> {
    shard: kernel::sync::lock::Guard<'a, Shard, kernel::sync::lock::mutex::MutexBackend>,
    key: u64,
    entries: &'a AtomicU64,
}

impl FilterGuard<'_> {
    /// Blocks whose fingerprint may be the locked one (to be confirmed on
    /// disk).
    pub(crate) fn candidates(&self) -> Result<KVec<u32>> {
        let k = self.key;
        let start = self.shard.partition_point(|e| e.0 < k);
        let mut out = KVec::new();
        for e in self.shard.iter().skip(start).take_while(|e| e.0 == k) {
            out.push(e.1, GFP_KERNEL)?;
        }
        Ok(out)
    }

    /// Remembers that block `b` holds the locked fingerprint.
    pub(crate) fn insert(&mut self, b: u32) -> Result {
        let k = self.key;
        let at = self.shard.partition_point(|e| (e.0, e.1) < (k, b));
        crate::vfs::vec_insert(&mut self.shard, at, (k, b))?;
        self.entries.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The fingerprint's first 64 bits, the key entries are sorted by.
fn key(fp: &Fingerprint) -> u64 {
    crate::format::filter::bits(fp.as_slice(), 0, 32) << 32 | crate::format::filter::bits(fp.as_slice(), 32, 32)
}

fn shard_of(k: u64) -> usize {
    (k >> 56) as usize & (SHARDS - 1)
}

impl Filter {
    /// An empty filter.
    pub(crate) fn new() -> Result<Self> {
        let mut shards = KVec::with_capacity(SHARDS, GFP_KERNEL)?;
        for _ in 0..SHARDS {
            shards.push(KBox::pin_init(new_mutex!(KVVec::new()), GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(Self {
            shards,
            entries: AtomicU64::new(0),
        })
    }

    fn shard(&self, k: u64) -> Result<&Mutex<Shard>> {
        self.shards.get(shard_of(k)).map(|s| &**s).ok_or(EINVAL)
    }

    /// Locks the part of the filter holding `fp`. While the guard lives,
    /// no other writer can look up or record that fingerprint: the
    /// dedup decision for a block (lookup, confirm, allocate or share,
    /// record) is atomic, so concurrent writers of identical data end with
    /// one copy. Never take a second guard while holding one.
    pub(crate) fn lock(&self, fp: &Fingerprint) -> Result<FilterGuard<'_>> {
        let k = key(fp);
        Ok(FilterGuard {
            shard: self.shard(k)?.lock(),
            key: k,
            entries: &self.entries,
        })
    }

    /// Remembers that block `b` holds fingerprint `fp`.
    pub(crate) fn insert(&self, fp: &Fingerprint, b: u32) -> Result {
        self.lock(fp)?.insert(b)
    }

    /// Forgets that block `b` holds fingerprint `fp`.
    pub(crate) fn remove(&self, fp: &Fingerprint, b: u32) -> Result {
        let k = key(fp);
        let mut s = self.shard(k)?.lock();
        let at = s.partition_point(|e| (e.0, e.1) < (k, b));
        if s.get(at) == Some(&(k, b)) {
            crate::vfs::vec_remove(&mut s, at);
            self.entries.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Entries held.
    pub(crate) fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    /// Bytes of memory used.
    pub(crate) fn memory_bytes(&self) -> u64 {
        let mut total = 0u64;
        for s in self.shards.iter() {
            let s = s.lock();
            total = total.saturating_add((s.capacity() as u64).saturating_mul(16));
        }
        total
    }
}

/// Fills the filter from the fingerprint stores of every group holding
/// data (paper: "built at mount by reading the fingerprint stores"); the
/// groups whose stores were never written or hold nothing are skipped.
pub(crate) fn build(sb: &SuperBlock, info: &SbInfo) -> Result<u64> {
    let geo = &info.geo;
    let fs = usize::from(geo.fp_algo.size());
    let es = geo.fp_entry_size as usize;
    let mut n = 0u64;
    for g in 0..geo.group_count {
        let (flags, used) = {
            let st = info.alloc.lock();
            let d = st.groups.get(g as usize).ok_or(EINVAL)?;
            (d.flags, d.fp_used)
        };
        if flags & BG_FP_UNINIT != 0 || used == 0 {
            continue;
        }
        let l = geo.group(g).map_err(|e| crate::errors::corrupt(sb, "group number", e))?;
        crate::vfs::buffer::readahead(sb, u64::from(l.fp_store), geo.fp_blocks_per_group);
        for j in 0..geo.fp_blocks_per_group {
            let bh = Buffer::read(sb, u64::from(l.fp_store.saturating_add(j)))?;
            bh.read_with(|d| fpstore::verify_block(geo, d, g, j, info.seed, &crate::vfs::crc::KernelCrc))
                .map_err(|e| {
                    pr_err!("livedfs ({}): group {} fingerprint store block {}:\n", sb.id(), g, j);
                    crate::errors::corrupt(sb, "fingerprint store", e)
                })?;
            bh.set_verified();
            for e in 0..geo.fp_entries_per_block {
                let ent = bh
                    .read_with(|d| fpstore::read_entry(d, (e as usize).saturating_mul(es), fs))
                    .map_err(|err| crate::errors::corrupt(sb, "fingerprint entry", err))?;
                if ent.refcount == 0 {
                    continue;
                }
                let Some(b) = geo.fp_entry_block(g, j, e).map_err(|err| crate::errors::corrupt(sb, "fingerprint entry", err))? else {
                    return Err(crate::errors::corrupt_msg(sb, format_args!("group {} store entry past the group's end", g)));
                };
                info.filter.insert(&ent.fingerprint, b)?;
                info.stats.referenced.fetch_add(u64::from(ent.refcount), Ordering::Relaxed);
                n = n.saturating_add(1);
            }
        }
    }
    Ok(n)
}
