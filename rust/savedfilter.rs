//! Fast mount: the fingerprint filter saved at a clean unmount, loaded at
//! the next mount instead of reading every fingerprint store
//! (`format::savedfilter` defines the bytes; Documentation/format.md,
//! "Saved fingerprint filter").
//!
//! The saved filter lives in a run of **free** blocks of one group (the
//! bitmaps are not changed): a hint, never a structure the volume needs.
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
use crate::format::savedfilter::{self as sf, ChainSink, Packer, SavedHeader, Unpacker};
use crate::format::superblock::{self as fsb, Superblock};
use crate::format::FormatError;
use crate::super_::SbInfo;
use crate::vfs::crc::KernelCrc;
use crate::vfs::fpmem::KernelBytes;
use crate::vfs::{Buffer, SuperBlock};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// Buffers in flight while writing the saved filter.
const WRITE_BATCH: usize = 64;

/// Finds `need` consecutive free blocks in one group's data region,
/// outside the journal: the first such run, scanning the groups from the
/// last (data tends to fill groups from the first). Bitmaps whose
/// checksum does not match are skipped.
fn find_free_run(sb: &SuperBlock, info: &SbInfo, need: u32, journal: (u32, u32)) -> Result<Option<u32>> {
    let geo = &info.geo;
    for g in (0..geo.group_count).rev() {
        let (flags, free, csum) = {
            let st = info.alloc.lock();
            let d = st.groups.get(g as usize).ok_or(EINVAL)?;
            (d.flags, d.free_blocks, d.block_bitmap_csum)
        };
        if free < need {
            continue;
        }
        let Ok(l) = geo.group(g) else { continue };
        if flags & BG_BLOCK_UNINIT != 0 {
            // Never allocated from: the whole data region is free.
            if sf::check_location(geo, l.data_start, need, journal).is_ok() {
                return Ok(Some(l.data_start));
            }
            continue;
        }
        let bh = Buffer::read(sb, u64::from(l.block_bitmap))?;
        let found = bh.read_with(|map| {
            if bitmap_checksum(map, g, info.seed, &KernelCrc) != csum {
                return None;
            }
            let mut i = l.overhead() as usize;
            let end = l.blocks() as usize;
            while i < end {
                let start = bitmap::find_zero(map, i, end)?;
                let mut j = start;
                while j < end && !bitmap::test(map, j) && j.saturating_sub(start) < need as usize {
                    j = j.saturating_add(1);
                }
                if j.saturating_sub(start) >= need as usize {
                    let b = l.first.checked_add(u32::try_from(start).ok()?)?;
                    if sf::check_location(geo, b, need, journal).is_ok() {
                        return Some(b);
                    }
                }
                i = j.saturating_add(1);
            }
            None
        });
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
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
    let Some(start) = find_free_run(sb, info, total, journal)? else {
        pr_info!(
            "livedfs ({}): fingerprint filter not saved: no run of {} free blocks\n",
            sb.id(),
            total
        );
        return Ok(None);
    };
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
    };
    let mut block: KVec<u8> = KVec::from_elem(0u8, bs, GFP_KERNEL)?;
    let mut pending: KVec<Buffer> = KVec::with_capacity(WRITE_BATCH, GFP_KERNEL)?;
    let mut packer = Packer::new(generation, info.seed);
    {
        let mut flush = |i: u32, data: &[u8]| -> core::result::Result<(), LoadError> {
            if i == 0 || i > data_blocks {
                return Err(LoadError::Kernel(EINVAL));
            }
            Ok(write_block(sb, &mut pending, u64::from(start).saturating_add(u64::from(i)), data)?)
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
    header.encode(&mut block, info.seed, &KernelCrc).map_err(|_| EINVAL)?;
    write_block(sb, &mut pending, u64::from(start), &block)?;
    wait_all(&mut pending)?;
    crate::vfs::super_block::flush_device(sb)?;
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

/// Puts the chains read into the filter.
struct Loader<'a> {
    info: &'a SbInfo,
    params: FpParams,
    cur: Option<KernelBytes>,
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
        let c = Chain::from_storage(b);
        if c.validate(&self.params).is_err() {
            return Err(LoadError::Chain(chain));
        }
        self.info.filter.install(chain, c)?;
        Ok(())
    }
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
    // The run must still be free (it is free space: anything using it
    // makes the save stale).
    let g = geo.group_of_block(start)?;
    let l = geo.group(g)?;
    let (flags, csum) = {
        let st = info.alloc.lock();
        let d = st.groups.get(g as usize).ok_or(LoadError::Kernel(EINVAL))?;
        (d.flags, d.block_bitmap_csum)
    };
    if flags & BG_BLOCK_UNINIT == 0 {
        let bh = Buffer::read(sb, u64::from(l.block_bitmap))?;
        let free = bh.read_with(|map| {
            if bitmap_checksum(map, g, info.seed, &KernelCrc) != csum {
                return false;
            }
            let first = start.saturating_sub(l.first) as usize;
            let end = first.saturating_add(blocks as usize);
            bitmap::find_zero(map, first, end) == Some(first) && (first..end).all(|i| !bitmap::test(map, i))
        });
        if !free {
            return Err(LoadError::Other("its blocks are in use"));
        }
    }
    let hb = Buffer::read(sb, u64::from(start))?;
    let h = hb.read_with(|d| SavedHeader::decode(d, info.seed, &KernelCrc))?;
    drop(hb);
    let p = *info.filter.params();
    if h.generation != dsb.saved_filter_gen {
        return Err(LoadError::Other("stale (generation)"));
    }
    if h.index_bits != p.index_bits()
        || h.bucket_bits != p.bucket_bits()
        || h.value_bits != p.block_bits()
        || h.values != p.blocks()
        || h.chains != p.chain_count() as u64
    {
        return Err(LoadError::Other("saved with other filter parameters"));
    }
    if h.total_blocks() != Some(blocks) {
        return Err(LoadError::Other("its length differs from the superblock's"));
    }
    crate::vfs::buffer::readahead(sb, u64::from(start).saturating_add(1), h.data_blocks);
    let mut un = Unpacker::new(&h);
    let mut sink = Loader {
        info,
        params: p,
        cur: None,
    };
    let r = (|| -> core::result::Result<(), LoadError> {
        // Each block is copied out under its lock, then checked and fed
        // (the chains' allocations are not made under a buffer lock).
        let mut copy: KVec<u8> = KVec::from_elem(0u8, geo.block_size as usize, GFP_KERNEL).map_err(|_| LoadError::Kernel(ENOMEM))?;
        for i in 1..=h.data_blocks {
            let bh = Buffer::read(sb, u64::from(start).saturating_add(u64::from(i)))?;
            let same = bh.read_with(|d| match copy.as_mut_slice().get_mut(..d.len()) {
                Some(dst) if d.len() == dst.len() => {
                    dst.copy_from_slice(d);
                    true
                }
                _ => false,
            });
            drop(bh);
            if !same {
                return Err(LoadError::Other("block size"));
            }
            let payload = sf::open_data_block(&copy, i, h.generation, info.seed, &KernelCrc)?;
            un.feed(payload, &mut sink)?;
        }
        un.finish()?;
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
