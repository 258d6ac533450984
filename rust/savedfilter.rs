//! Fast mount: the fingerprint filter saved at a clean unmount, loaded at
//! the next mount instead of reading every fingerprint store
//! (`format::savedfilter` defines the bytes; Documentation/format.md,
//! "Saved fingerprint filter").
//!
//! The saved filter lives in **free** blocks (the bitmaps are not
//! changed): a header block and a list of runs, each within one group's
//! data region, so it is not limited to one group's size: a hint, never a
//! structure the volume needs.
//! So the rules are:
//! - save only at a clean read-write unmount of a volume without errors,
//!   after the journal is destroyed (everything home), with a complete
//!   filter (built or loaded, nothing dropped for lack of memory, no write
//!   stored undeduplicated during a background build): blocks first,
//!   waited for and flushed, then the superblock pointing to them;
//! - load only if the volume was cleanly unmounted and the pointer, its
//!   generation, the header, the parameters, every block's checksum and
//!   every chain's encoding check; anything else: build as before;
//! - a read-write mount clears the pointer on disk before it can allocate
//!   a block (`super_::mark_mounted`): the load is over by then.
//!
//! Even a wrong filter only costs deduplication: every candidate is
//! confirmed against the fingerprint store.

use crate::format::bitmap;
use crate::format::fpfilter::{Bytes, Chain, FpParams};
use crate::format::group::{bitmap_checksum, BG_BLOCK_UNINIT};
use crate::format::savedfilter::{self as sf, ChainSink, Packer, Run, SavedHeader, Unpacker};
use crate::format::superblock::{self as fsb, Superblock};
use crate::format::FormatError;
use crate::super_::SbInfo;
use crate::vfs::crc::KernelCrc;
use crate::vfs::fpmem::KernelBytes;
use crate::vfs::{Buffer, SuperBlock};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;

/// Buffers in flight while writing the saved filter.
const WRITE_BATCH: usize = 64;

/// The largest free runs found so far (at most the slots' count), their
/// blocks in all, and the smallest kept once the slots are full.
struct Candidates {
    slots: KVec<Run>,
    n: usize,
    sum: u64,
    min: u32,
}

impl Candidates {
    /// Offers the free run `r` (already checked): kept if there is a free
    /// slot or it is larger than the smallest kept (which it replaces).
    /// Never allocates (called under a buffer lock); O(1) for a run no
    /// larger than the smallest kept.
    fn offer(&mut self, r: Run) {
        if r.blocks == 0 {
            return;
        }
        if self.n < self.slots.len() {
            if let Some(s) = self.slots.get_mut(self.n) {
                *s = r;
                self.n = self.n.saturating_add(1);
                self.sum = self.sum.saturating_add(u64::from(r.blocks));
            }
            if self.n == self.slots.len() {
                self.min = self.smallest();
            }
            return;
        }
        if r.blocks <= self.min {
            return;
        }
        let kept = self.slots.get_mut(..self.n).unwrap_or(&mut []);
        if let Some(m) = kept.iter_mut().find(|s| s.blocks == self.min) {
            self.sum = self.sum.saturating_sub(u64::from(m.blocks)).saturating_add(u64::from(r.blocks));
            *m = r;
        }
        self.min = self.smallest();
    }

    /// The smallest kept run's length.
    fn smallest(&self) -> u32 {
        self.slots.get(..self.n).unwrap_or(&[]).iter().map(|s| s.blocks).min().unwrap_or(0)
    }
}

/// Sorts `v` (at most a header's run capacity: an insertion sort) so that
/// no run comes after one it goes `before`.
fn sort_runs(v: &mut [Run], before: impl Fn(&Run, &Run) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 {
            let k = j.saturating_sub(1);
            let (Some(&a), Some(&b)) = (v.get(k), v.get(j)) else { break };
            if !before(&b, &a) {
                break;
            }
            if let Some(x) = v.get_mut(k) {
                *x = b;
            }
            if let Some(x) = v.get_mut(j) {
                *x = a;
            }
            j = k;
        }
    }
}

/// Chooses free blocks for a saved filter of `data_blocks` data blocks:
/// scanning the groups from the last (data tends to fill groups from the
/// first), the largest free runs of the data regions (outside the
/// journal) are kept, at most `cap`, until they cover the header and the
/// data blocks. The header takes the first block of the largest run; the
/// data blocks the largest runs, the last one trimmed; the table is
/// returned in ascending block order. None if the free space (in at most
/// `cap` runs) cannot hold it. Bitmaps whose checksum does not match are
/// skipped.
fn gather_runs(sb: &SuperBlock, info: &SbInfo, data_blocks: u32, cap: u32, journal: (u32, u32)) -> Result<Option<(u32, KVec<Run>)>> {
    let geo = &info.geo;
    let need = u64::from(data_blocks).saturating_add(1);
    let mut c = Candidates {
        slots: KVec::from_elem(Run::default(), cap as usize, GFP_KERNEL)?,
        n: 0,
        sum: 0,
        min: 0,
    };
    for g in (0..geo.group_count).rev() {
        if c.sum >= need {
            break;
        }
        let d = info.groups.desc(g)?;
        let (flags, free, csum) = (d.flags, d.free_blocks, d.block_bitmap_csum);
        if free == 0 {
            continue;
        }
        let Ok(l) = geo.group(g) else { continue };
        if flags & BG_BLOCK_UNINIT != 0 {
            // Never allocated from: the whole data region is free.
            let r = Run {
                start: l.data_start,
                blocks: l.end.saturating_sub(l.data_start),
            };
            if sf::check_run(geo, r.start, r.blocks, journal).is_ok() {
                c.offer(r);
            }
            continue;
        }
        let bh = Buffer::read(sb, u64::from(l.block_bitmap))?;
        bh.read_with(|map| {
            if bitmap_checksum(map, g, info.seed, &KernelCrc) != csum {
                return;
            }
            let mut i = l.overhead() as usize;
            let end = l.blocks() as usize;
            while i < end {
                let Some(start) = bitmap::find_zero(map, i, end) else { return };
                let mut j = start;
                while j < end && !bitmap::test(map, j) {
                    j = j.saturating_add(1);
                }
                if let (Some(b), Ok(n)) = (u32::try_from(start).ok().and_then(|s| l.first.checked_add(s)), u32::try_from(j.saturating_sub(start))) {
                    if sf::check_run(geo, b, n, journal).is_ok() {
                        c.offer(Run { start: b, blocks: n });
                    }
                }
                i = j.saturating_add(1);
            }
        });
    }
    if c.sum < need {
        return Ok(None);
    }
    let kept = c.slots.get_mut(..c.n).ok_or(EINVAL)?;
    sort_runs(kept, |a, b| a.blocks > b.blocks);
    let Some(first) = kept.first_mut() else { return Ok(None) };
    let header = first.start;
    first.start = first.start.saturating_add(1);
    first.blocks = first.blocks.saturating_sub(1);
    let mut runs: KVec<Run> = KVec::with_capacity(kept.len(), GFP_KERNEL)?;
    let mut left = data_blocks;
    for r in kept.iter() {
        if left == 0 {
            break;
        }
        let n = r.blocks.min(left);
        if n == 0 {
            continue;
        }
        runs.push(Run { start: r.start, blocks: n }, GFP_KERNEL)?;
        left = left.saturating_sub(n);
    }
    if left != 0 {
        return Ok(None);
    }
    sort_runs(&mut runs, |a, b| a.start < b.start);
    Ok(Some((header, runs)))
}

/// Whether blocks `start..start + blocks` (in one group's data region,
/// checked) are still free in their group's bitmap.
fn run_is_free(sb: &SuperBlock, info: &SbInfo, start: u32, blocks: u32) -> core::result::Result<bool, LoadError> {
    let geo = &info.geo;
    let g = geo.group_of_block(start)?;
    let l = geo.group(g)?;
    let d = info.groups.desc(g).map_err(LoadError::Kernel)?;
    let (flags, csum) = (d.flags, d.block_bitmap_csum);
    if flags & BG_BLOCK_UNINIT != 0 {
        return Ok(true);
    }
    let bh = Buffer::read(sb, u64::from(l.block_bitmap))?;
    Ok(bh.read_with(|map| {
        if bitmap_checksum(map, g, info.seed, &KernelCrc) != csum {
            return false;
        }
        let first = start.saturating_sub(l.first) as usize;
        let end = first.saturating_add(blocks as usize);
        bitmap::find_zero(map, first, end) == Some(first) && (first..end).all(|i| !bitmap::test(map, i))
    }))
}

/// Waits for the writes in flight.
fn wait_all(pending: &mut KVec<Buffer>) -> Result {
    let batch = core::mem::replace(pending, KVec::new());
    let mut r = Ok(());
    for w in batch {
        if let Err(e) = w.wait() {
            r = Err(e);
        }
    }
    r
}

/// Writes one block of the saved filter directly (not journaled: the
/// block is free space), waiting for earlier writes in batches.
fn write_block(sb: &SuperBlock, pending: &mut KVec<Buffer>, b: u64, data: &[u8]) -> Result {
    if pending.len() >= WRITE_BATCH {
        wait_all(pending)?;
    }
    let bh = Buffer::new_zeroed_direct(sb, b)?;
    bh.fill_direct(|dst| {
        if let Some(d) = dst.get_mut(..data.len()) {
            d.copy_from_slice(data);
        }
    });
    bh.write_async();
    pending.push(bh, GFP_KERNEL)?;
    Ok(())
}

/// Why the filter is not saved at this unmount, if it is not.
pub(crate) fn unsaveable(info: &SbInfo) -> Option<&'static str> {
    if !info.filter_ready.load(Ordering::Acquire) {
        return Some("the filter was not complete");
    }
    if info.rebuild_undeduped.load(Ordering::Relaxed) != 0 {
        return Some("blocks written during the filter build are not in it");
    }
    if info.filter.dropped() != 0 {
        return Some("blocks past the filter's cap (filter_max) are not in it");
    }
    if info.filter.alloc_failures() != 0 {
        return Some("the filter missed blocks for lack of memory");
    }
    None
}

/// Writes the filter into free blocks (after the journal is destroyed,
/// before the final superblock write): Some((start, blocks)) if saved,
/// None if there was no room (or the filter is empty). `generation` is
/// what the superblock about to be written will carry.
pub(crate) fn save(sb: &SuperBlock, info: &SbInfo, generation: u64, journal: (u32, u32)) -> Result<Option<(u32, u32)>> {
    let bs = info.geo.block_size as usize;
    let p = info.filter.params();
    let data_bytes = info.filter.payload_bytes();
    let Some(data_blocks) = sf::data_blocks_for(data_bytes, bs) else { return Ok(None) };
    let Some(total) = data_blocks.checked_add(1) else { return Ok(None) };
    let cap = sf::run_capacity(bs);
    let Some((start, runs)) = gather_runs(sb, info, data_blocks, cap, journal)? else {
        pr_info!(
            "livedfs ({}): fingerprint filter not saved: no {} free blocks in at most {} runs\n",
            sb.id(),
            total,
            cap
        );
        return Ok(None);
    };
    let run_count = u32::try_from(runs.len()).map_err(|_| EINVAL)?;
    let header = SavedHeader {
        index_bits: p.index_bits(),
        bucket_bits: p.bucket_bits(),
        value_bits: p.block_bits(),
        values: p.blocks(),
        chains: p.chain_count() as u64,
        entries: info.filter.entries(),
        data_bytes,
        data_blocks,
        generation,
        referenced: info.stats.referenced.load(Ordering::Relaxed),
        run_count,
    };
    let mut block: KVec<u8> = KVec::from_elem(0u8, bs, GFP_KERNEL)?;
    let mut pending: KVec<Buffer> = KVec::with_capacity(WRITE_BATCH, GFP_KERNEL)?;
    let mut packer = Packer::new(generation, info.seed);
    {
        // The data blocks, in order, across the runs.
        let mut places = runs.iter().flat_map(|r| r.start..r.start.saturating_add(r.blocks));
        let mut flush = |i: u32, data: &[u8]| -> core::result::Result<(), LoadError> {
            if i == 0 || i > data_blocks {
                return Err(LoadError::Kernel(EINVAL));
            }
            let b = places.next().ok_or(LoadError::Kernel(EINVAL))?;
            Ok(write_block(sb, &mut pending, u64::from(b), data)?)
        };
        // Packed straight from the chains, each shard locked in turn.
        info.filter.for_each_chain(|bytes| {
            packer.put_chain(&mut block, bytes, &KernelCrc, &mut flush).map_err(LoadError::errno)
        })?;
        if packer.written() != data_bytes {
            // The filter changed under us (it cannot at unmount).
            return Ok(None);
        }
        let n = packer.finish(&mut block, &KernelCrc, &mut flush).map_err(LoadError::errno)?;
        if n != data_blocks {
            return Ok(None);
        }
    }
    header.encode(&mut block, &runs, info.seed, &KernelCrc).map_err(|_| EINVAL)?;
    write_block(sb, &mut pending, u64::from(start), &block)?;
    wait_all(&mut pending)?;
    crate::vfs::super_block::flush_device(sb)?;
    crate::faults::delay_filter_save(info);
    pr_info!(
        "livedfs ({}): fingerprint filter saved: {} blocks at {} and {} run(s)\n",
        sb.id(),
        total,
        start,
        run_count
    );
    Ok(Some((start, total)))
}

impl From<FormatError> for LoadError {
    fn from(e: FormatError) -> Self {
        LoadError::Format(e)
    }
}

/// Why a saved filter was not loaded.
pub(crate) enum LoadError {
    /// A check of the bytes failed.
    Format(FormatError),
    /// Chain `n` is not a valid encoding.
    Chain(u64),
    /// Something else (named).
    Other(&'static str),
    /// An error of the kernel (memory, I/O).
    Kernel(Error),
}

impl LoadError {
    /// The errno of a failure to save.
    fn errno(self) -> Error {
        match self {
            LoadError::Kernel(e) => e,
            _ => EINVAL,
        }
    }
}

impl From<Error> for LoadError {
    fn from(e: Error) -> Self {
        LoadError::Kernel(e)
    }
}

/// Chains gathered before they are checked, on every CPU at once.
const LOAD_BATCH: usize = 4096;

/// Puts the chains read into the filter: gathered a batch at a time,
/// checked on every online CPU (the check decodes every entry: most of a
/// load's time), then installed by the mounting thread.
struct Loader<'a> {
    info: &'a SbInfo,
    params: FpParams,
    cur: Option<KernelBytes>,
    batch: KVec<(u64, Chain<KernelBytes>)>,
}

impl Loader<'_> {
    /// Checks the gathered chains and installs them (an invalid chain: the
    /// lowest such index is reported, nothing of the batch is installed,
    /// and the caller empties the filter).
    fn flush(&mut self) -> core::result::Result<(), LoadError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let bad = AtomicU64::new(u64::MAX);
        {
            let chains = self.batch.as_slice();
            let params = &self.params;
            crate::vfs::parallel::run_shares(usize::MAX, &|i: usize, n: usize| {
                let len = chains.len();
                let per = len.checked_div(n).unwrap_or(len).saturating_add(usize::from(len.checked_rem(n).unwrap_or(0) != 0));
                for (ci, c) in chains.iter().skip(i.saturating_mul(per)).take(per) {
                    if bad.load(Ordering::Relaxed) != u64::MAX {
                        return;
                    }
                    if c.validate(params).is_err() {
                        bad.fetch_min(*ci, Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
        let batch = core::mem::replace(&mut self.batch, KVec::with_capacity(LOAD_BATCH, GFP_KERNEL).map_err(|_| LoadError::Kernel(ENOMEM))?);
        let bad = bad.load(Ordering::Relaxed);
        if bad != u64::MAX {
            return Err(LoadError::Chain(bad));
        }
        self.info.filter.install(batch)?;
        Ok(())
    }
}

impl ChainSink for Loader<'_> {
    type Error = LoadError;

    fn begin(&mut self, _chain: u64, len: u32) -> core::result::Result<(), LoadError> {
        let mut b = KernelBytes::new();
        b.try_resize(len as usize).map_err(|_| LoadError::Kernel(ENOMEM))?;
        self.cur = Some(b);
        Ok(())
    }

    fn bytes(&mut self, _chain: u64, at: u32, data: &[u8]) -> core::result::Result<(), LoadError> {
        let b = self.cur.as_mut().ok_or(LoadError::Other("chain bytes before its length"))?;
        let at = at as usize;
        let dst = b
            .as_mut_slice()
            .get_mut(at..at.saturating_add(data.len()))
            .ok_or(LoadError::Other("chain longer than its length"))?;
        dst.copy_from_slice(data);
        Ok(())
    }

    fn end(&mut self, chain: u64) -> core::result::Result<(), LoadError> {
        let b = self.cur.take().ok_or(LoadError::Other("chain end before its length"))?;
        if b.is_empty() {
            return Ok(());
        }
        self.batch.push((chain, Chain::from_storage(b)), GFP_KERNEL).map_err(|_| LoadError::Kernel(ENOMEM))?;
        if self.batch.len() >= LOAD_BATCH {
            self.flush()?;
        }
        Ok(())
    }
}

/// Copies block `b` into `dst` (one block long), so that it is checked
/// and decoded without holding the buffer's lock.
fn copy_block(sb: &SuperBlock, b: u32, dst: &mut [u8]) -> core::result::Result<(), LoadError> {
    let bh = Buffer::read(sb, u64::from(b))?;
    let same = bh.read_with(|d| match dst.get_mut(..d.len()) {
        Some(out) => {
            out.copy_from_slice(d);
            true
        }
        None => false,
    });
    if !same {
        return Err(LoadError::Other("block size"));
    }
    Ok(())
}

/// Loads the saved filter the superblock `dsb` points to (at mount,
/// before anything else uses the filter). `clean`: the volume was cleanly
/// unmounted (checked by the caller on the superblock as found before
/// any journal replay). On failure the filter is left empty.
pub(crate) fn load(sb: &SuperBlock, info: &SbInfo, dsb: &Superblock, clean: bool) -> core::result::Result<u64, LoadError> {
    if !dsb.has_saved_filter() {
        return Err(LoadError::Other("none saved"));
    }
    if !clean {
        return Err(LoadError::Other("the volume was not cleanly unmounted"));
    }
    if dsb.saved_filter_gen != sf::generation(dsb.mount_count, dsb.write_time) {
        return Err(LoadError::Other("stale (the superblock was written since)"));
    }
    let geo = &info.geo;
    let journal = (dsb.journal_start, dsb.journal_blocks);
    let (start, blocks) = (dsb.saved_filter_start, dsb.saved_filter_blocks);
    sf::check_location(geo, start, blocks, journal)?;
    // Everything must still be free (it is free space: anything using it
    // makes the save stale).
    if !run_is_free(sb, info, start, 1)? {
        return Err(LoadError::Other("its blocks are in use"));
    }
    let bs = geo.block_size as usize;
    let mut hcopy: KVec<u8> = KVec::from_elem(0u8, bs, GFP_KERNEL).map_err(|_| LoadError::Kernel(ENOMEM))?;
    copy_block(sb, start, &mut hcopy)?;
    let h = SavedHeader::decode(&hcopy, info.seed, &KernelCrc)?;
    let p = *info.filter.params();
    if h.generation != dsb.saved_filter_gen {
        return Err(LoadError::Other("stale (generation)"));
    }
    if h.index_bits != p.index_bits()
        || h.bucket_bits != p.bucket_bits()
        || h.value_bits != p.block_bits()
        || h.chains != p.chain_count() as u64
        || h.values != p.blocks()
    {
        return Err(LoadError::Other("saved with other filter parameters"));
    }
    if h.total_blocks() != Some(blocks) {
        return Err(LoadError::Other("its length differs from the superblock's"));
    }
    // Each run in one group's data region, outside the journal, the
    // header in none (decode checked order, overlap and the total), and
    // still free.
    sf::check_runs(geo, &hcopy, &h, start, journal)?;
    let mut runs: KVec<Run> = KVec::with_capacity(h.run_count as usize, GFP_KERNEL).map_err(|_| LoadError::Kernel(ENOMEM))?;
    for i in 0..h.run_count {
        let r = sf::run(&hcopy, i)?;
        if !run_is_free(sb, info, r.start, r.blocks)? {
            return Err(LoadError::Other("its blocks are in use"));
        }
        runs.push(r, GFP_KERNEL).map_err(|_| LoadError::Kernel(ENOMEM))?;
    }
    drop(hcopy);
    for r in runs.iter() {
        crate::vfs::buffer::readahead(sb, u64::from(r.start), r.blocks);
    }
    let mut un = Unpacker::new(&h);
    let mut sink = Loader {
        info,
        params: p,
        cur: None,
        batch: KVec::with_capacity(LOAD_BATCH, GFP_KERNEL).map_err(|_| LoadError::Kernel(ENOMEM))?,
    };
    let r = (|| -> core::result::Result<(), LoadError> {
        // Each block is copied out under its lock, then checked and fed
        // (the chains' allocations are not made under a buffer lock).
        let mut copy: KVec<u8> = KVec::from_elem(0u8, geo.block_size as usize, GFP_KERNEL).map_err(|_| LoadError::Kernel(ENOMEM))?;
        let mut places = runs.iter().flat_map(|r| r.start..r.start.saturating_add(r.blocks));
        for i in 1..=h.data_blocks {
            let b = places.next().ok_or(LoadError::Other("the runs end before the data blocks"))?;
            copy_block(sb, b, &mut copy)?;
            let payload = sf::open_data_block(&copy, i, h.generation, info.seed, &KernelCrc)?;
            un.feed(payload, &mut sink)?;
        }
        un.finish()?;
        sink.flush()?;
        if info.filter.entries() != h.entries {
            return Err(LoadError::Other("the entry count differs from the header's"));
        }
        Ok(())
    })();
    if let Err(e) = r {
        info.filter.clear();
        return Err(e);
    }
    info.stats.referenced.store(h.referenced, Ordering::Relaxed);
    Ok(h.entries)
}

/// Whether the superblock found at mount, before any journal replay, says
/// the volume was cleanly unmounted.
pub(crate) fn was_clean(dsb: &Superblock) -> bool {
    dsb.state & fsb::STATE_VALID != 0 && dsb.state & fsb::STATE_ERROR == 0 && dsb.feature_incompat & fsb::INCOMPAT_RECOVER == 0
}

/// Logs why a saved filter was not loaded (one line).
pub(crate) fn log_not_loaded(sb: &SuperBlock, e: &LoadError) {
    match e {
        LoadError::Format(f) => pr_info!("livedfs ({}): saved fingerprint filter not used (damaged: {}): building the filter\n", sb.id(), f),
        LoadError::Chain(c) => pr_info!("livedfs ({}): saved fingerprint filter not used (chain {} invalid): building the filter\n", sb.id(), c),
        LoadError::Other(w) => pr_info!("livedfs ({}): saved fingerprint filter not used ({}): building the filter\n", sb.id(), w),
        LoadError::Kernel(k) => pr_info!("livedfs ({}): saved fingerprint filter not used (error {:?}): building the filter\n", sb.id(), k),
    }
}
