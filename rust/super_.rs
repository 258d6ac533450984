//! Mounting, the superblock, statfs, options, sync and unmount.
//!
//! Nothing read from the disk is trusted before the format crate has
//! validated it: the superblock's geometry is re-derived from its primary
//! parameters (`Geometry::from_superblock`), every group descriptor is
//! checksummed and must point exactly where the geometry says. A volume
//! that is not livedfs is refused with EINVAL, a corrupted one with
//! EUCLEAN, each with a dmesg line naming the device.
//!
//! Free counts live in the group descriptors (updated with every
//! allocation) and, summed, in memory; the superblock's copies are written
//! at sync and unmount, like ext4's lazy counters.

use crate::errors::corrupt;
use crate::format::group::GroupDesc;
use crate::format::superblock::{self as fsb, Superblock};
use crate::format::{csum, FormatError, Geometry, DESC_SIZE, ROOT_INO};
use crate::options::MountOptions;
use crate::vfs::crc::KernelCrc;
use crate::vfs::fstype::SeqWriter;
use crate::vfs::{Buffer, SuperBlock};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// `statfs` f_type and `s_magic`: "LDFS".
pub(crate) const LIVEDFS_MAGIC: u64 = 0x4C44_4653;

/// Blocks of one group freed by transactions not yet committed.
pub(crate) struct BusyGroup {
    /// One bit per block of the group.
    pub(crate) map: KVec<u8>,
    /// The latest transaction that freed a block here.
    pub(crate) tid: u32,
    /// Bits set.
    pub(crate) count: u64,
}

/// The on-disk superblock as we keep it, under `SbInfo::disk`.
pub(crate) struct DiskState {
    pub(crate) sb: Superblock,
    bh: Buffer,
    offset: usize,
    /// The orphan list, tail first: the head is the last element (see
    /// inode.rs).
    pub(crate) orphans: KVec<u32>,
    /// The `write_time` the next superblock write must carry instead of
    /// the current time (the unmount's, which a saved filter's
    /// generation names).
    fixed_write_time: Option<i64>,
}

/// Per-mount state, hung off `s_fs_info`.
#[pin_data]
pub(crate) struct SbInfo {
    /// The sysfs directory reads this struct: first field, dropped first.
    #[pin]
    sysfs: Mutex<Option<crate::vfs::sysfs::SysfsEntry>>,
    pub(crate) geo: Geometry,
    /// Checksum seed: crc32c of the UUID.
    pub(crate) seed: u32,
    /// Blocks kept for root (`r_blocks_count`).
    pub(crate) r_blocks: u32,
    /// Free blocks (sum of the descriptors).
    pub(crate) free_blocks: AtomicU64,
    /// Free inodes (sum of the descriptors).
    pub(crate) free_inodes: AtomicU64,
    /// Blocks reserved by delayed allocation, not yet allocated (this
    /// includes `prealloc`).
    pub(crate) reserved: AtomicU64,
    /// Blocks preallocated by files (fallocate), the superblock's
    /// `prealloc_blocks`.
    pub(crate) prealloc: AtomicU64,
    /// Blocks freed by transactions not yet committed (the bits of every
    /// `BusyGroup`): free in the bitmaps, not yet allocatable.
    pub(crate) busy_blocks: AtomicU64,
    /// The journal (None with `nojournal` or a volume without one).
    pub(crate) journal: Option<crate::vfs::journal::Journal>,
    /// Corruption was found: the superblock gets STATE_ERROR at next sync.
    pub(crate) errors_seen: AtomicBool,
    /// The first transaction that will never reach the disk because the
    /// journal aborted before or while committing it (`journal::is_lost`);
    /// `journal::NO_LOST_TID` until then.
    pub(crate) first_lost_tid: AtomicU64,
    /// A write of file data to the device failed since the mount (set by
    /// the write's completion, `livedfs_note_data_write_error`; never
    /// cleared). The journal's data check then fails every commit, so
    /// no transaction that points to the block (and records a
    /// fingerprint for bytes it does not hold) commits, whoever else
    /// consumed the page-cache error.
    pub(crate) data_write_failed: AtomicBool,
    /// fill_super finished: errors found before are the mount's own (it
    /// fails), not the running volume's.
    pub(crate) mounted: AtomicBool,
    /// Why the volume was stopped (0: it runs; see `Stopped`).
    stopped: core::sync::atomic::AtomicU8,
    /// Byte-compare candidates (`verify`; the default for MD5 volumes).
    verify: AtomicBool,
    /// Prefetch fingerprint stores (not `noprefetch`).
    prefetch: AtomicBool,
    /// Inline deduplication on (not `nodedup`).
    dedup: AtomicBool,
    /// Reads verified against the fingerprints (`verify_reads`).
    verify_reads: AtomicBool,
    /// Blocks only truncate and hole punching may reserve (to zero a
    /// partial block), so freeing space on a full volume never fails.
    pub(crate) resv_internal: u64,
    /// Test hooks (sysfs `test_*`).
    pub(crate) faults: crate::faults::Faults,
    /// `errors=` default from the superblock.
    sb_errors: u16,
    /// `filter_max=` default from the superblock (MiB, 0: none).
    sb_filter_max_mib: u32,
    /// Default mount options from the superblock (`DEFM_*`).
    sb_default_opts: u32,
    /// The fingerprint hash.
    pub(crate) hasher: crate::vfs::crypto::Hasher,
    /// The in-memory fingerprint filter.
    pub(crate) filter: crate::fpfilter::Filter,
    /// Deduplication counters.
    pub(crate) stats: crate::dedup::Stats,
    /// Nanoseconds the mount spent building the filter (or loading it).
    pub(crate) filter_build_ns: AtomicU64,
    /// The filter was loaded from the copy saved at the last clean
    /// unmount, not built from the stores.
    pub(crate) filter_loaded: AtomicBool,
    /// The filter holds every stored block (built at mount, or by the
    /// background rebuild): until then writes are not deduplicated.
    pub(crate) filter_ready: AtomicBool,
    /// The background rebuild is asked to stop (unmount).
    pub(crate) rebuild_cancel: AtomicBool,
    /// Groups the filter build has read.
    pub(crate) rebuild_groups_done: AtomicU64,
    /// Blocks written while the filter was being rebuilt (stored without
    /// deduplication, not recorded in the filter).
    pub(crate) rebuild_undeduped: AtomicU64,
    /// The background rebuild, if one was started.
    #[pin]
    rebuild_job: Mutex<Option<crate::vfs::Job>>,
    /// The groups' allocation state, under per-shard locks (groups.rs).
    pub(crate) groups: crate::groups::Groups,
    /// Per group: its fingerprint store is formatted and was prefetched
    /// (see `fpstore::prepare_group`). Read without a lock on every store
    /// access; set once, with Release, after the store is ready.
    pub(crate) store_ready: KVVec<AtomicBool>,
    #[pin]
    pub(crate) disk: Mutex<DiskState>,
    #[pin]
    pub(crate) opts: Mutex<MountOptions>,
    /// Extended attributes: whether the volume has them, and the index
    /// of attribute blocks for sharing (see xattr.rs).
    #[pin]
    pub(crate) xattr: crate::xattr::Xattrs,
}

/// Why a volume stopped taking changes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Stopped {
    /// An error with errors=remount-ro.
    Errors = 1,
    /// FS_IOC_SHUTDOWN.
    Shutdown = 2,
}

impl SbInfo {
    /// Whether to prefetch fingerprint stores (not mounted `noprefetch`).
    pub(crate) fn prefetch(&self) -> bool {
        self.prefetch.load(Ordering::Relaxed)
    }

    /// Whether to byte-compare candidates (mounted `verify`, or an MD5
    /// volume not mounted `noverify`).
    pub(crate) fn verify(&self) -> bool {
        self.verify.load(Ordering::Relaxed)
    }

    /// Whether every read is checked against the stored fingerprint
    /// (`verify_reads`).
    pub(crate) fn verify_reads(&self) -> bool {
        self.verify_reads.load(Ordering::Relaxed)
    }

    /// Whether writeback shares duplicate blocks and makes zero blocks
    /// holes (not mounted `nodedup`).
    pub(crate) fn dedup(&self) -> bool {
        self.dedup.load(Ordering::Relaxed)
    }

    /// The error every change gets once the volume is stopped: EROFS
    /// after errors (as a read-only mount), EIO after a shutdown (as
    /// ext4).
    pub(crate) fn stopped(&self) -> Option<Error> {
        match self.stopped.load(Ordering::Acquire) {
            0 => None,
            2 => Some(EIO),
            _ => Some(EROFS),
        }
    }

    /// Stops the volume; true for the first stop.
    pub(crate) fn stop(&self, why: Stopped) -> bool {
        self.stopped.compare_exchange(0, why as u8, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Applies the options that may change at remount.
    /// The volume's default for `verify`: the superblock's default mount
    /// options (`livedfs tune -o`), else on for MD5, off for SHA-256.
    fn verify_default(&self) -> bool {
        let d = self.sb_default_opts;
        if d & fsb::DEFM_VERIFY != 0 {
            true
        } else if d & fsb::DEFM_NOVERIFY != 0 {
            false
        } else {
            self.geo.fp_algo == crate::format::FingerprintAlgo::Md5
        }
    }

    fn apply_options(&self, o: &MountOptions) {
        let d = self.sb_default_opts;
        self.verify.store(o.verify.unwrap_or(self.verify_default()), Ordering::Relaxed);
        self.prefetch.store(!o.noprefetch.unwrap_or(d & fsb::DEFM_NOPREFETCH != 0), Ordering::Relaxed);
        self.dedup.store(!o.nodedup.unwrap_or(d & fsb::DEFM_NODEDUP != 0), Ordering::Relaxed);
        self.verify_reads.store(o.verify_reads, Ordering::Relaxed);
        let cap = o.filter_max.unwrap_or(u64::from(self.sb_filter_max_mib).saturating_mul(1 << 20));
        self.filter.set_cap(cap);
    }

    /// What to do on corruption: the mount option, else the superblock's.
    pub(crate) fn errors_behavior(&self) -> crate::options::ErrorsBehavior {
        use crate::options::ErrorsBehavior as E;
        if let Some(e) = self.opts.lock().errors {
            return e;
        }
        match self.sb_errors {
            fsb::ERRORS_CONTINUE => E::Continue,
            fsb::ERRORS_PANIC => E::Panic,
            _ => E::RemountRo,
        }
    }
}

/// The private data of a mounted livedfs super block.
pub(crate) fn sbi(sb: &SuperBlock) -> Result<&SbInfo> {
    sb.info().ok_or(EINVAL)
}

/// Seconds since the epoch.
pub(crate) fn now() -> i64 {
    crate::vfs::real_seconds()
}

/// Reads the primary superblock (1024 bytes at byte 1024) with the
/// device's current block size; returns it with its buffer and offset.
fn read_superblock(sb: &SuperBlock, bs: u32) -> Result<(Superblock, Buffer, usize)> {
    let off = fsb::SUPERBLOCK_OFFSET;
    let bh = Buffer::read(sb, off.checked_div(u64::from(bs)).unwrap_or(0))?;
    let start = off.checked_rem(u64::from(bs)).unwrap_or(0) as usize;
    let decoded = bh.read_with(|data| {
        data.get(start..start.saturating_add(fsb::SUPERBLOCK_SIZE))
            .map(|bytes| Superblock::decode(bytes, &KernelCrc))
    });
    match decoded {
        Some(Ok(s)) => Ok((s, bh, start)),
        Some(Err(e @ (FormatError::BadMagic | FormatError::UnsupportedVersion { .. }))) => {
            pr_err!("livedfs ({}): can't mount: {}\n", sb.id(), e);
            Err(EINVAL)
        }
        Some(Err(e)) => Err(corrupt(sb, "superblock", e)),
        None => Err(EINVAL),
    }
}

/// Reads, checksums and validates every group descriptor.
fn read_groups(sb: &SuperBlock, geo: &Geometry, seed: u32) -> Result<KVVec<GroupDesc>> {
    let n = geo.group_count as usize;
    let mut groups = KVVec::with_capacity(n, GFP_KERNEL)?;
    let mut cached: Option<(u32, Buffer)> = None;
    for g in 0..geo.group_count {
        let (blk, off) = geo.desc_location(g).map_err(|e| corrupt(sb, "descriptor table", e))?;
        // One buffer read per table block, not per descriptor.
        let bh = match cached.take() {
            Some((b, bh)) if b == blk => bh,
            _ => Buffer::read(sb, u64::from(blk))?,
        };
        let d = bh
            .read_with(|data| {
                data.get(off..off.saturating_add(DESC_SIZE as usize))
                    .map(|bytes| GroupDesc::decode(bytes, g, seed, &KernelCrc))
            })
            .ok_or(EINVAL)?
            .map_err(|e| {
                pr_err!("livedfs ({}): group {} descriptor:\n", sb.id(), g);
                corrupt(sb, "group descriptor", e)
            })?;
        d.validate(geo, g).map_err(|e| {
            pr_err!("livedfs ({}): group {} descriptor:\n", sb.id(), g);
            corrupt(sb, "group descriptor", e)
        })?;
        groups.push(d, GFP_KERNEL)?;
        cached = Some((blk, bh));
    }
    Ok(groups)
}

/// Writes the in-memory superblock (with current free counts): in a
/// transaction when journaled (its own handle if the task has none), else
/// directly, waiting for the write if `wait`.
pub(crate) fn write_super(sb: &SuperBlock, info: &SbInfo, wait: bool) -> Result {
    let _h = crate::journal::start(sb, crate::journal::CREDITS_SUPER, 0)?;
    let wait = wait && info.journal.is_none();
    write_super_locked(info, wait)
}

/// Writes the superblock straight to disk and waits (unmount, after the
/// journal is gone).
fn write_super_direct(info: &SbInfo) -> Result {
    write_super_locked(info, true)
}

fn write_super_locked(info: &SbInfo, wait: bool) -> Result {
    let mut d = info.disk.lock();
    write_super_inner(info, &mut d, wait)
}

/// Writes the superblock (in the current transaction) with `disk` held.
pub(crate) fn write_super_in(info: &SbInfo, d: &mut DiskState) -> Result {
    write_super_inner(info, d, false)
}

fn write_super_inner(info: &SbInfo, d: &mut DiskState, wait: bool) -> Result {
    if info.errors_seen.load(Ordering::Relaxed) {
        d.sb.state |= fsb::STATE_ERROR;
    }
    d.sb.free_blocks = info.free_blocks.load(Ordering::Relaxed);
    d.sb.free_inodes = info.free_inodes.load(Ordering::Relaxed).min(u64::from(u32::MAX)) as u32;
    d.sb.prealloc_blocks = info.prealloc.load(Ordering::Relaxed);
    d.sb.write_time = d.fixed_write_time.take().unwrap_or_else(now);
    let (off, copy) = (d.offset, d.sb.clone());
    let r = d.bh.modify(|data| {
        match data.get_mut(off..off.saturating_add(fsb::SUPERBLOCK_SIZE)) {
            Some(bytes) => copy.encode(bytes, &KernelCrc).map_err(|_| EINVAL),
            None => Err(EINVAL),
        }
    })?;
    r?;
    if wait {
        d.bh.sync()?;
    }
    Ok(())
}

/// Marks the volume in use for a read-write mount, and the
/// journal as possibly holding transactions.
///
/// At mount (`fresh`: no handle has touched the superblock buffer yet),
/// with a journal, the superblock is written home and flushed before any
/// transaction can commit, as ext4 does: in the journal only, the
/// needs-recovery flag would reach its home block after the log already
/// held transactions, and a power cut in between leaves a log with data
/// and no flag (fsck, like e2fsck, takes that for damage).
///
/// With a journal the volume stays `STATE_VALID`, as ext4 keeps it: every
/// change is journaled, so after a power cut the replay alone makes it
/// consistent (`INCOMPAT_RECOVER` says a replay is due) and boot-time fsck
/// (`-p`) replays and stops, as e2fsck does. Without a journal nothing
/// vouches for the structures after a crash: cleared until unmount.
fn mark_mounted(sb: &SuperBlock, info: &SbInfo, fresh: bool) -> Result {
    let had_saved_filter;
    {
        let mut d = info.disk.lock();
        // The saved filter lies in free space this mount may allocate:
        // forgotten on disk before any allocation (its load, if any, is
        // over).
        had_saved_filter = d.sb.has_saved_filter();
        d.sb.clear_saved_filter();
        if info.journal.is_some() {
            d.sb.feature_incompat |= fsb::INCOMPAT_RECOVER;
        } else {
            d.sb.state &= !fsb::STATE_VALID;
        }
        d.sb.mount_count = d.sb.mount_count.saturating_add(1);
        d.sb.mount_time = now();
    }
    if fresh && info.journal.is_some() {
        write_super_direct(info)?;
        return crate::vfs::super_block::flush_device(sb);
    }
    write_super(sb, info, true)?;
    if had_saved_filter {
        // Journaled (a remount read-write): committed before any block is
        // allocated, so a crash can't bring the old pointer back.
        if let Some(j) = &info.journal {
            j.force_commit()?;
        }
    }
    Ok(())
}

/// Marks the volume clean (unmount or remount read-only).
fn mark_clean(sb: &SuperBlock, info: &SbInfo) -> Result {
    {
        let mut d = info.disk.lock();
        if d.sb.state & fsb::STATE_ERROR == 0 {
            d.sb.state |= fsb::STATE_VALID;
        }
    }
    write_super(sb, info, true)
}

/// Opens and loads (replaying if needed) the journal, unless the volume has
/// none or is mounted `nojournal` (refused if the journal needs replay) or
/// `norecovery` (read-only, the journal left as it is).
fn open_journal(
    sb: &SuperBlock,
    disk_sb: &Superblock,
    geo: &Geometry,
    opts: &MountOptions,
) -> Result<(Option<crate::vfs::journal::Journal>, bool)> {
    if !disk_sb.has_compat(fsb::COMPAT_HAS_JOURNAL) {
        return Ok((None, false));
    }
    if opts.norecovery {
        // The journal is not even opened: nothing is read from it or
        // written to the device.
        if !sb.is_rdonly() {
            pr_err!("livedfs ({}): norecovery needs a read-only mount (-o ro)\n", sb.id());
            return Err(EINVAL);
        }
        if disk_sb.has_incompat(fsb::INCOMPAT_RECOVER) {
            pr_warn!(
                "livedfs ({}): the journal is not replayed (norecovery): the volume was not cleanly unmounted and may look inconsistent\n",
                sb.id()
            );
        }
        return Ok((None, disk_sb.has_incompat(fsb::INCOMPAT_RECOVER)));
    }
    // A journal dropped unloaded is left as it is: jbd2 marks a journal
    // aborted until it is loaded, and destroying an aborted journal writes
    // nothing.
    let j = crate::vfs::journal::Journal::open(sb, disk_sb.journal_start, disk_sb.journal_blocks, geo.block_size)
        .map_err(|e| {
            pr_err!("livedfs ({}): can't open the journal\n", sb.id());
            e
        })?;
    let recover = j.needs_recovery();
    if opts.nojournal {
        if recover {
            pr_err!(
                "livedfs ({}): the journal needs recovery: mount without nojournal once, or run fsck.livedfs\n",
                sb.id()
            );
            return Err(EINVAL);
        }
        return Ok((None, false));
    }
    if recover && crate::vfs::super_block::device_read_only(sb) {
        // The replay writes to the device (the block layer only warns
        // about writes to a read-only device); ext4 refuses the same way.
        pr_err!(
            "livedfs ({}): the journal needs recovery but the device is read-only: make it writable, or mount with -o ro,norecovery\n",
            sb.id()
        );
        return Err(EROFS);
    }
    if recover {
        pr_info!("livedfs ({}): recovering the journal\n", sb.id());
    }
    j.load().map_err(|e| {
        pr_err!("livedfs ({}): can't load the journal (corrupted?): run fsck.livedfs\n", sb.id());
        e
    })?;
    if recover {
        pr_info!("livedfs ({}): journal recovered\n", sb.id());
    }
    pr_info!("livedfs ({}): journal: {} credits per handle at most\n", sb.id(), j.max_credits());
    Ok((Some(j), recover))
}

/// `fill_super`: validates the volume and sets up the mount.
pub(crate) fn fill_super(sb: &SuperBlock, opts: &MountOptions) -> Result {
    let bs0 = sb.set_min_block_size(1024).map_err(|e| {
        pr_err!("livedfs ({}): unable to set a block size\n", sb.id());
        e
    })?;
    let (disk_sb, _, _) = read_superblock(sb, bs0)?;
    let geo = Geometry::from_superblock(&disk_sb).map_err(|e| corrupt(sb, "superblock", e))?;
    if sb.set_block_size(geo.block_size).is_err() {
        pr_err!(
            "livedfs ({}): device can't use the volume's {}-byte blocks\n",
            sb.id(),
            geo.block_size
        );
        return Err(EINVAL);
    }
    // Re-read with the volume's block size: this buffer is the one we
    // write the superblock through.
    let (disk_sb, _, _) = read_superblock(sb, geo.block_size)?;
    let dev_blocks = crate::vfs::super_block::device_blocks(sb);
    if dev_blocks < u64::from(geo.blocks_count) {
        pr_err!(
            "livedfs ({}): volume has {} blocks but the device only {}\n",
            sb.id(),
            geo.blocks_count,
            dev_blocks
        );
        return Err(EINVAL);
    }
    let unknown_ro = disk_sb.feature_ro_compat & !fsb::RO_COMPAT_KNOWN;
    if unknown_ro != 0 && !sb.is_rdonly() {
        pr_err!(
            "livedfs ({}): unknown read-only-compatible features {:#x}: mount read-only\n",
            sb.id(),
            unknown_ro
        );
        return Err(EROFS);
    }
    // The journal first: replaying it may change every structure below.
    // Whether a saved filter may be trusted: the volume as found, before
    // any replay, was cleanly unmounted.
    let clean_before = crate::savedfilter::was_clean(&disk_sb);
    let (journal, replayed) = open_journal(sb, &disk_sb, &geo, opts)?;
    let (disk_sb, sbh, sb_off) = read_superblock(sb, geo.block_size)?;
    let found_sb = disk_sb.clone();
    let geo = Geometry::from_superblock(&disk_sb).map_err(|e| corrupt(sb, "superblock", e))?;
    // Read only here: it is cleared (read-write mounts) once the
    // superblock records the error state, never by a read-only mount,
    // which writes nothing and would lose it.
    let journal_error = journal.as_ref().map_or(0, |j| j.recorded_error());
    if journal_error != 0 {
        pr_warn!(
            "livedfs ({}): the journal records an error (errno {}) from an earlier mount; run fsck.livedfs\n",
            sb.id(),
            journal_error
        );
    }
    if disk_sb.state & fsb::STATE_VALID == 0 {
        // A volume that is not valid was mounted without a journal and not
        // cleanly unmounted (a journaled mount keeps STATE_VALID: replay
        // makes the volume consistent), or was left with errors (by the
        // kernel after an error, or by a check that could not repair it).
        // Without a journal a crash can leave fingerprint entries whose
        // data never reached the disk (store updates are written at once,
        // the data at writeback): a read-write mount would share them. So
        // fsck checks it first; read-only mounts work.
        let why = if disk_sb.state & fsb::STATE_ERROR != 0 {
            "volume has errors"
        } else {
            "volume was not cleanly unmounted (mounted without a journal)"
        };
        if !sb.is_rdonly() {
            pr_err!("livedfs ({}): {}: run fsck.livedfs before mounting it read-write\n", sb.id(), why);
            return Err(crate::errors::euclean());
        }
        pr_warn!("livedfs ({}): {}; run fsck.livedfs\n", sb.id(), why);
    } else if disk_sb.state & fsb::STATE_ERROR != 0 {
        pr_warn!("livedfs ({}): volume has errors; run fsck.livedfs\n", sb.id());
    }
    let seed = csum::volume_seed(&KernelCrc, &disk_sb.uuid);
    let groups = read_groups(sb, &geo, seed)?;
    let free_blocks = groups.iter().fold(0u64, |a, g| a.saturating_add(u64::from(g.free_blocks)));
    let free_inodes = groups.iter().fold(0u64, |a, g| a.saturating_add(u64::from(g.free_inodes)));
    let mut store_ready = KVVec::with_capacity(groups.len(), GFP_KERNEL)?;
    for _ in 0..groups.len() {
        store_ready.push(AtomicBool::new(false), GFP_KERNEL)?;
    }
    let groups = crate::groups::Groups::new(groups)?;

    let hasher = crate::vfs::crypto::Hasher::new(match geo.fp_algo {
        crate::format::FingerprintAlgo::Sha256 => b"sha256\0",
        crate::format::FingerprintAlgo::Md5 => b"md5\0",
    })
    .map_err(|e| {
        pr_err!("livedfs ({}): the kernel has no {} hash\n", sb.id(), geo.fp_algo.name());
        e
    })?;
    let filter = crate::fpfilter::Filter::new(&geo)?;
    let max_bytes = geo.max_file_size().min(i64::MAX as u64) as i64;
    sb.setup(LIVEDFS_MAGIC, max_bytes, &disk_sb.uuid);
    let r_blocks = disk_sb.r_blocks_count;
    let xattr_on = disk_sb.has_ro_compat(fsb::RO_COMPAT_XATTR);
    // Preallocated space is promised to its files: reserved from the start.
    let prealloc = disk_sb.prealloc_blocks.min(free_blocks);
    let info = KBox::pin_init(
        pin_init!(SbInfo {
            sysfs <- new_mutex!(None),
            geo,
            seed,
            r_blocks,
            free_blocks: AtomicU64::new(free_blocks),
            free_inodes: AtomicU64::new(free_inodes),
            reserved: AtomicU64::new(prealloc),
            prealloc: AtomicU64::new(prealloc),
            busy_blocks: AtomicU64::new(0),
            journal,
            errors_seen: AtomicBool::new(false),
            first_lost_tid: AtomicU64::new(crate::journal::NO_LOST_TID),
            data_write_failed: AtomicBool::new(false),
            mounted: AtomicBool::new(false),
            stopped: core::sync::atomic::AtomicU8::new(0),
            verify: AtomicBool::new(false),
            prefetch: AtomicBool::new(true),
            dedup: AtomicBool::new(true),
            verify_reads: AtomicBool::new(false),
            resv_internal: internal_reserve(geo.blocks_count),
            faults: crate::faults::Faults::default(),
            sb_errors: disk_sb.errors,
            sb_filter_max_mib: disk_sb.filter_max_mib,
            sb_default_opts: disk_sb.default_mount_opts,
            hasher,
            filter,
            stats: crate::dedup::Stats::default(),
            filter_build_ns: AtomicU64::new(0),
            filter_loaded: AtomicBool::new(false),
            filter_ready: AtomicBool::new(false),
            rebuild_cancel: AtomicBool::new(false),
            rebuild_groups_done: AtomicU64::new(0),
            rebuild_undeduped: AtomicU64::new(0),
            rebuild_job <- new_mutex!(None),
            groups,
            store_ready,
            disk <- new_mutex!(DiskState {
                sb: disk_sb,
                bh: sbh,
                offset: sb_off,
                orphans: KVec::new(),
                fixed_write_time: None,
            }),
            opts <- new_mutex!(opts.clone()),
            xattr <- crate::xattr::Xattrs::new(xattr_on),
        }),
        GFP_KERNEL,
    )?;
    sb.set_info(info);
    let info = sbi(sb)?;
    info.apply_options(opts);
    if let Some(ms) = opts.test_rebuild_delay_ms {
        let _ = crate::faults::set(info, 103, u64::from(ms));
    }
    crate::xattr::setup(sb, info, opts);
    if geo.fp_algo == crate::format::FingerprintAlgo::Md5 && opts.verify == Some(false) {
        pr_warn!(
            "livedfs ({}): MD5 fingerprints without verify: a collision would share different data\n",
            sb.id()
        );
    }
    if let Some(j) = &info.journal {
        let commit = opts.commit.unwrap_or(crate::options::DEFAULT_COMMIT_SECS);
        j.setup((info as *const SbInfo).cast_mut().cast(), commit, crate::journal::commit_callback)?;
    }

    // The filter: read from the stores now when they are small; for a big
    // volume the mount returns at once and a background thread reads them
    // (started below, once the mount can no longer fail).
    // The superblock's preallocated total is a summary the journal may
    // not have carried with the inodes it sums: after a replay, recounted.
    if replayed && found_sb.has_ro_compat(fsb::RO_COMPAT_PREALLOC) {
        let sum = crate::ialloc::sum_prealloc(sb, info)?;
        let was = info.prealloc.load(Ordering::Relaxed);
        if sum != was {
            pr_info!(
                "livedfs ({}): {} preallocated blocks after the journal replay (the superblock said {})\n",
                sb.id(),
                sum,
                was
            );
            info.prealloc.store(sum, Ordering::Relaxed);
            let r = info.reserved.load(Ordering::Relaxed);
            info.reserved.store(r.saturating_sub(was).saturating_add(sum), Ordering::Relaxed);
            info.disk.lock().sb.prealloc_blocks = sum;
        }
    }
    let stored = info.groups.sum(|d| u64::from(d.fp_used));
    let sync_max = opts.filter_sync_blocks.unwrap_or(crate::options::DEFAULT_FILTER_SYNC_BLOCKS);
    let loaded = !opts.filter_rebuild && load_saved_filter(sb, info, &found_sb, clean_before && !replayed, stored);
    let background = !loaded && stored > u64::from(sync_max);
    if !loaded && !background {
        build_filter(sb, info)?;
    }

    let root = crate::inode::iget(sb, ROOT_INO)?;
    if root.mode() & crate::format::inode::S_IFMT != crate::format::inode::S_IFDIR {
        return Err(crate::errors::corrupt_msg(sb, format_args!("root inode is not a directory")));
    }
    sb.set_root(root)?;
    let mut id = KVec::new();
    id.extend_from_slice(sb.id().0, GFP_KERNEL)?;
    match crate::vfs::sysfs::SysfsEntry::new(&id, info) {
        Ok(e) => *info.sysfs.lock() = Some(e),
        Err(_) => pr_warn!("livedfs ({}): no sysfs statistics for this mount\n", sb.id()),
    }
    if journal_error != 0 {
        // Kept as STATE_ERROR until fsck clears it (as ext4).
        info.errors_seen.store(true, Ordering::Relaxed);
        info.disk.lock().sb.state |= fsb::STATE_ERROR;
    }
    if !sb.is_rdonly() {
        mark_mounted(sb, info, true)?;
        if let Some(j) = &info.journal {
            j.clear_recorded_error();
        }
        crate::inode::process_orphans(sb, info)?;
    }
    info.mounted.store(true, Ordering::Release);
    if background {
        pr_info!(
            "livedfs ({}): {} stored blocks: the fingerprint filter is built in the background (writes meanwhile are not deduplicated)\n",
            sb.id(),
            stored
        );
        // SAFETY: the job reads `sb` and its SbInfo, which put_super keeps
        // alive until it has waited for the job.
        let job = unsafe {
            crate::vfs::Job::start(b"livedfs-filter\0", rebuild_job, sb.as_ptr().cast())
        };
        match job {
            Ok(j) => *info.rebuild_job.lock() = Some(j),
            Err(e) => {
                // No thread: build it here after all.
                pr_warn!("livedfs ({}): no thread for the filter ({:?}): building it now\n", sb.id(), e);
                build_filter(sb, info)?;
            }
        }
    }
    pr_info!(
        "livedfs ({}): mounted {}: {} blocks of {} bytes, {} groups, {} fingerprints{}\n",
        sb.id(),
        if sb.is_rdonly() { "read-only" } else { "read-write" },
        geo.blocks_count,
        geo.block_size,
        geo.group_count,
        geo.fp_algo.name(),
        if geo.fp_at_end { ", stores at end" } else { "" }
    );
    Ok(())
}

/// Reads every store into the filter and marks it ready (at mount, or in
/// the background job).
fn build_filter(sb: &SuperBlock, info: &SbInfo) -> Result {
    let t0 = crate::vfs::ktime_ns();
    let n = crate::fpfilter::build(sb, info)?;
    info.filter.compact();
    info.filter_build_ns.store(crate::vfs::ktime_ns().saturating_sub(t0), Ordering::Relaxed);
    info.filter_ready.store(true, Ordering::Release);
    if n > 0 {
        pr_info!(
            "livedfs ({}): fingerprint filter: {} blocks, {} bytes (n = {}, k = {})\n",
            sb.id(),
            info.filter.entries(),
            info.filter.memory_bytes(),
            info.filter.params().index_bits(),
            info.filter.params().bucket_bits()
        );
    }
    Ok(())
}

/// Loads the filter saved at the last clean unmount, if `dsb` (the
/// superblock as found at mount, `clean`: before any replay, cleanly
/// unmounted) points to one that checks; true if it did. Otherwise one
/// dmesg line says why and the caller builds the filter.
fn load_saved_filter(sb: &SuperBlock, info: &SbInfo, dsb: &Superblock, clean: bool, stored: u64) -> bool {
    let t0 = crate::vfs::ktime_ns();
    match crate::savedfilter::load(sb, info, dsb, clean) {
        Ok(n) => {
            let ns = crate::vfs::ktime_ns().saturating_sub(t0);
            info.filter_build_ns.store(ns, Ordering::Relaxed);
            info.filter_loaded.store(true, Ordering::Relaxed);
            info.rebuild_groups_done.store(u64::from(info.geo.group_count), Ordering::Relaxed);
            info.filter_ready.store(true, Ordering::Release);
            pr_info!(
                "livedfs ({}): fingerprint filter loaded from the copy saved at unmount: {} blocks, {} bytes, {} us\n",
                sb.id(),
                n,
                info.filter.memory_bytes(),
                ns / 1000
            );
            true
        }
        Err(e) => {
            if stored > 0 || dsb.has_saved_filter() {
                crate::savedfilter::log_not_loaded(sb, &e);
            }
            false
        }
    }
}

/// Saves the filter at a clean unmount (the journal is destroyed, the
/// state set), recording where in the in-memory superblock for the final
/// write, which carries the write time the save's generation names.
fn save_filter_at_unmount(sb: &SuperBlock, info: &SbInfo) {
    let (eligible, mount_count, journal) = {
        let d = info.disk.lock();
        (
            d.sb.state & fsb::STATE_VALID != 0 && d.sb.state & fsb::STATE_ERROR == 0,
            d.sb.mount_count,
            (d.sb.journal_start, d.sb.journal_blocks),
        )
    };
    if !eligible || info.errors_seen.load(Ordering::Relaxed) {
        return;
    }
    if let Some(why) = crate::savedfilter::unsaveable(info) {
        pr_info!("livedfs ({}): fingerprint filter not saved: {}\n", sb.id(), why);
        return;
    }
    // Chains changed since the mount carry pending updates: saved as they
    // are, the next mount would hold them (a few per cent more memory than
    // a fresh build). Nothing else uses the filter any more.
    info.filter.compact();
    let t = now();
    let generation = crate::format::savedfilter::generation(mount_count, t);
    match crate::savedfilter::save(sb, info, generation, journal) {
        Ok(Some((start, blocks))) => {
            let mut d = info.disk.lock();
            d.sb.saved_filter_start = start;
            d.sb.saved_filter_blocks = blocks;
            d.sb.saved_filter_gen = generation;
            d.fixed_write_time = Some(t);
        }
        Ok(None) => {}
        Err(e) => pr_warn!("livedfs ({}): the fingerprint filter could not be saved: {:?}\n", sb.id(), e),
    }
}

/// The background filter build (a kernel thread; `arg` is the super
/// block, alive until put_super has waited for this).
unsafe extern "C" fn rebuild_job(arg: *mut kernel::ffi::c_void) {
    // SAFETY: the mount's super block, kept alive by put_super's wait.
    let sb = unsafe { SuperBlock::from_raw(arg.cast()) };
    let Ok(info) = sbi(sb) else { return };
    match build_filter(sb, info) {
        Ok(()) => pr_info!("livedfs ({}): fingerprint filter built in the background\n", sb.id()),
        Err(e) if info.rebuild_cancel.load(Ordering::Acquire) => {
            let _ = e;
        }
        Err(e) => pr_err!("livedfs ({}): the fingerprint filter could not be built: {:?}\n", sb.id(), e),
    }
}

/// Stops and waits for the background filter build (unmount).
fn stop_rebuild(info: &SbInfo) {
    info.rebuild_cancel.store(true, Ordering::Release);
    let job = info.rebuild_job.lock().take();
    if let Some(j) = job {
        j.wait();
    }
}

/// `reconfigure` (remount): options and read-only/read-write switches.
pub(crate) fn reconfigure(sb: &SuperBlock, opts: &MountOptions, want_ro: bool) -> Result {
    let info = sbi(sb)?;
    let was_ro = sb.is_rdonly();
    if want_ro && !was_ro {
        // Going read-only: everything dirty has been synced by the VFS.
        mark_clean(sb, info)?;
        if let Some(j) = &info.journal {
            j.force_commit()?;
        }
    } else if !want_ro && was_ro {
        if info.opts.lock().norecovery {
            pr_err!(
                "livedfs ({}): mounted with norecovery: unmount, and mount without it to write\n",
                sb.id()
            );
            return Err(EINVAL);
        }
        if let Some(e) = info.stopped() {
            pr_err!("livedfs ({}): stopped after errors or a shutdown: unmount and run fsck.livedfs\n", sb.id());
            return Err(e);
        }
        let unknown_ro = info.disk.lock().sb.feature_ro_compat & !fsb::RO_COMPAT_KNOWN;
        if unknown_ro != 0 {
            pr_err!("livedfs ({}): unknown read-only-compatible features: stay read-only\n", sb.id());
            return Err(EROFS);
        }
        // An error the journal recorded, kept there while read-only: into
        // the volume's state on the disk first, then cleared (jbd2 starts
        // no handle while it is set), as ext4_clear_journal_err: the
        // superblock written in place, nothing else running.
        if let Some(j) = &info.journal {
            if j.recorded_error() != 0 {
                info.errors_seen.store(true, Ordering::Relaxed);
                info.disk.lock().sb.state |= fsb::STATE_ERROR;
                write_super_direct(info)?;
                crate::vfs::super_block::flush_device(sb)?;
                j.clear_recorded_error();
            }
        }
        mark_mounted(sb, info, false)?;
        // A volume mounted read-only since a crash still has its orphans
        // to finish (ext4 does this at remount too).
        // The volume is still read-only until this returns: evict and
        // dirty_inode would leave the orphans as they are.
        if info.disk.lock().orphans.is_empty() {
            sb.with_rdonly_cleared(|| crate::inode::process_orphans(sb, info))?;
        }
    }
    {
        let mut o = info.opts.lock();
        if opts.errors.is_some() {
            o.errors = opts.errors;
        }
        if opts.noprefetch.is_some() {
            o.noprefetch = opts.noprefetch;
        }
        if opts.nodedup.is_some() {
            o.nodedup = opts.nodedup;
        }
        o.verify_reads = opts.verify_reads;
        if opts.filter_max.is_some() {
            o.filter_max = opts.filter_max;
        }
        if opts.verify.is_some() {
            o.verify = opts.verify;
        }
        if opts.commit.is_some() {
            o.commit = opts.commit;
        }
        if opts.acl.is_some() {
            o.acl = opts.acl;
        }
        info.apply_options(&o);
        crate::xattr::setup(sb, info, &o);
    }
    Ok(())
}

/// `sync_fs`: the superblock with current counts, and a journal commit.
pub(crate) fn sync_fs(sb: &SuperBlock, wait: bool) -> Result {
    let info = sbi(sb)?;
    if sb.is_rdonly() {
        // Still record errors found since the last write (not on a
        // norecovery mount). Read apart: the options mutex is not held
        // while the disk state's is taken.
        let norecovery = info.opts.lock().norecovery;
        if info.journal.is_none()
            && !norecovery
            && info.errors_seen.load(Ordering::Relaxed)
            && info.disk.lock().sb.state & fsb::STATE_ERROR == 0
        {
            write_super(sb, info, wait)?;
        }
        return Ok(());
    }
    // What could not be made durable because the volume stopped (the
    // journal aborted by an I/O error, often found only here, or a
    // shutdown) is an I/O error to syncfs, as ext4's aborted journal
    // gives it: EROFS would say the caller asked for a change.
    sync_fs_rw(sb, info, wait).map_err(|e| if info.stopped().is_some() { EIO } else { e })
}

fn sync_fs_rw(sb: &SuperBlock, info: &SbInfo, wait: bool) -> Result {
    write_super(sb, info, wait)?;
    match &info.journal {
        Some(j) => j.commit(wait)?,
        None => {
            if wait {
                crate::vfs::super_block::sync_device(sb)?;
            }
        }
    }
    Ok(())
}

/// The volume label (NUL padded).
pub(crate) fn label(sb: &SuperBlock) -> Result<[u8; fsb::LABEL_LEN]> {
    Ok(sbi(sb)?.disk.lock().sb.label)
}

/// Sets the volume label (FS_IOC_SETFSLABEL), journaled with the
/// superblock: `label` without its NUL, at most LABEL_LEN bytes (EINVAL
/// beyond). The caller holds write access to the mount.
pub(crate) fn set_label(sb: &SuperBlock, label: &[u8]) -> Result {
    let info = sbi(sb)?;
    if label.len() > fsb::LABEL_LEN {
        return Err(EINVAL);
    }
    let mut padded = [0u8; fsb::LABEL_LEN];
    padded.get_mut(..label.len()).ok_or(EINVAL)?.copy_from_slice(label);
    let _h = crate::journal::start(sb, crate::journal::CREDITS_SUPER, 0)?;
    let mut d = info.disk.lock();
    d.sb.label = padded;
    write_super_in(info, &mut d)
}

/// FS_IOC_SHUTDOWN ("goingdown"), as ext4: the volume stops taking any
/// change (EIO from then on, reads too) until it is unmounted. `flags`:
/// 0 flushes everything first (the device is frozen and thawed, as
/// fsfreeze), 1 commits the journal first, 2 stops at once (what was not
/// committed is lost, as after a power cut). The journal is aborted with
/// ESHUTDOWN, which jbd2 does not record as an error: the next mount
/// replays what was committed.
pub(crate) fn shutdown(sb: &SuperBlock, flags: u32) -> Result {
    let info = sbi(sb)?;
    if flags > 2 {
        return Err(EINVAL);
    }
    if info.stopped() == Some(EIO) {
        return Ok(());
    }
    pr_alert!("livedfs ({}): shut down requested ({})\n", sb.id(), flags);
    match flags {
        0 => {
            crate::vfs::super_block::freeze_device(sb)?;
            crate::errors::stop(sb, info, Stopped::Shutdown);
            crate::vfs::super_block::thaw_device(sb);
        }
        1 => {
            if let Some(j) = &info.journal {
                let _ = j.force_commit();
            }
            crate::errors::stop(sb, info, Stopped::Shutdown);
        }
        _ => crate::errors::stop(sb, info, Stopped::Shutdown),
    }
    Ok(())
}

/// Marks the volume as holding preallocated space (RO_COMPAT_PREALLOC),
/// in the caller's handle, the first time a file preallocates.
pub(crate) fn note_prealloc(info: &SbInfo) -> Result {
    note_feature(info, |sb| &mut sb.feature_ro_compat, fsb::RO_COMPAT_PREALLOC)
}

/// Marks the volume as holding unwritten pointers (INCOMPAT_UNWRITTEN),
/// in the caller's handle, before the first is written: a module that
/// does not know the marker must not mount the volume.
pub(crate) fn note_unwritten(info: &SbInfo) -> Result {
    note_feature(info, |sb| &mut sb.feature_incompat, fsb::INCOMPAT_UNWRITTEN)
}

/// Sets feature `bit` in the word `field` picks, writing the superblock
/// in the caller's handle only the first time.
fn note_feature(info: &SbInfo, field: impl FnOnce(&mut fsb::Superblock) -> &mut u32, bit: u32) -> Result {
    let mut d = info.disk.lock();
    let word = field(&mut d.sb);
    if *word & bit != 0 {
        return Ok(());
    }
    *word |= bit;
    write_super_in(info, &mut d)
}

/// Whether FS_IOC_SHUTDOWN stopped the volume (then reads fail too).
pub(crate) fn is_shut_down(sb: &SuperBlock) -> bool {
    sbi(sb).is_ok_and(|i| i.stopped() == Some(EIO))
}

/// `freeze_fs` (fsfreeze, snapshots): the journal is flushed home and
/// locked, so the device holds a consistent volume with nothing to replay.
pub(crate) fn freeze(sb: &SuperBlock) -> Result {
    let info = sbi(sb)?;
    match &info.journal {
        Some(j) => j.freeze().inspect_err(|_| {
            let _ = j.thaw();
        }),
        None => crate::vfs::super_block::sync_device(sb),
    }
}

/// `unfreeze_fs`.
pub(crate) fn thaw(sb: &SuperBlock) -> Result {
    match &sbi(sb)?.journal {
        Some(j) => j.thaw(),
        None => Ok(()),
    }
}

/// `put_super`: commit and close the journal, then mark the volume clean
/// (and the journal empty) on the way out. A volume stopped by an error
/// is marked STATE_ERROR instead, written directly (its journal was
/// aborted: what the log holds is replayed at the next mount, which
/// keeps INCOMPAT_RECOVER).
pub(crate) fn put_super(sb: &SuperBlock) {
    let Ok(info) = sbi(sb) else { return };
    stop_rebuild(info);
    let stopped = info.stopped();
    // A norecovery mount never writes: the journal it left alone holds
    // newer metadata than the blocks in place.
    let rdonly = sb.is_rdonly() && (stopped.is_none() || info.opts.lock().norecovery);
    if !sb.is_rdonly() && info.journal.is_some() {
        if let Err(e) = write_super(sb, info, false) {
            pr_err!("livedfs ({}): could not write the superblock at unmount: {:?}\n", sb.id(), e);
        }
    }
    let mut aborted = false;
    if let Some(j) = &info.journal {
        aborted = j.is_aborted();
        if let Err(e) = j.destroy() {
            if !aborted {
                pr_err!("livedfs ({}): journal error at unmount: {:?}\n", sb.id(), e);
                info.errors_seen.store(true, Ordering::Relaxed);
            }
            aborted = true;
        }
    }
    if rdonly {
        return;
    }
    {
        let mut d = info.disk.lock();
        if !aborted {
            d.sb.feature_incompat &= !fsb::INCOMPAT_RECOVER;
        }
        let shutdown_only = stopped == Some(EIO) && !info.errors_seen.load(Ordering::Relaxed);
        if info.errors_seen.load(Ordering::Relaxed) {
            d.sb.state |= fsb::STATE_ERROR;
            d.sb.state &= !fsb::STATE_VALID;
        } else if d.sb.state & fsb::STATE_ERROR == 0 && (stopped.is_none() || shutdown_only && !aborted) {
            d.sb.state |= fsb::STATE_VALID;
        }
    }
    let r = if aborted || stopped.is_some() {
        write_super_bypassing_journal(info)
    } else {
        save_filter_at_unmount(sb, info);
        write_super_direct(info)
    };
    if let Err(e) = r {
        pr_err!("livedfs ({}): could not write the superblock at unmount: {:?}\n", sb.id(), e);
    }
}

/// Writes the superblock home after the journal was aborted (or closed):
/// its buffer may still be known to jbd2, so `Buffer::modify`, which
/// refuses that outside a handle, is bypassed, as ext4's
/// ext4_commit_super writes its superblock after an abort.
fn write_super_bypassing_journal(info: &SbInfo) -> Result {
    let mut d = info.disk.lock();
    d.sb.free_blocks = info.free_blocks.load(Ordering::Relaxed);
    d.sb.free_inodes = info.free_inodes.load(Ordering::Relaxed).min(u64::from(u32::MAX)) as u32;
    d.sb.prealloc_blocks = info.prealloc.load(Ordering::Relaxed);
    d.sb.write_time = now();
    let (off, copy) = (d.offset, d.sb.clone());
    d.bh.modify_unjournaled(|data| match data.get_mut(off..off.saturating_add(fsb::SUPERBLOCK_SIZE)) {
        Some(bytes) => copy.encode(bytes, &KernelCrc).map_err(|_| EINVAL),
        None => Err(EINVAL),
    })??;
    d.bh.sync()
}

/// Blocks kept for truncate and hole punching (`Use::Internal`): 1/1024
/// of the volume, at least 16 and at most 4096 (ext4 keeps 2 % up to 4096
/// clusters for the same reason).
fn internal_reserve(blocks: u32) -> u64 {
    (u64::from(blocks) / 1024).clamp(16, 4096)
}

/// What `statfs` reports.
pub(crate) struct StatFs {
    pub(crate) magic: u64,
    pub(crate) block_size: u32,
    pub(crate) blocks: u64,
    pub(crate) free_blocks: u64,
    pub(crate) avail_blocks: u64,
    pub(crate) files: u64,
    pub(crate) free_files: u64,
    pub(crate) name_len: u32,
    pub(crate) fsid: [i32; 2],
}

/// `statfs`: free blocks exclude delayed-allocation reservations, so `df`
/// never promises space a pending write already claimed.
pub(crate) fn statfs(sb: &SuperBlock) -> Result<StatFs> {
    let info = sbi(sb)?;
    let free = info
        .free_blocks
        .load(Ordering::Relaxed)
        .saturating_sub(info.reserved.load(Ordering::Relaxed));
    let uuid = info.disk.lock().sb.uuid;
    let word = |i: usize| -> i32 {
        let b = [
            uuid.get(i).copied().unwrap_or(0),
            uuid.get(i.saturating_add(1)).copied().unwrap_or(0),
            uuid.get(i.saturating_add(2)).copied().unwrap_or(0),
            uuid.get(i.saturating_add(3)).copied().unwrap_or(0),
        ];
        i32::from_le_bytes(b)
    };
    Ok(StatFs {
        magic: LIVEDFS_MAGIC,
        block_size: info.geo.block_size,
        blocks: u64::from(info.geo.blocks_count),
        free_blocks: free,
        // Writers never get the root reserve (unless privileged) nor the
        // internal one (ext4's f_bavail excludes both the same way).
        avail_blocks: free.saturating_sub(u64::from(info.r_blocks)).saturating_sub(info.resv_internal),
        files: u64::from(info.geo.inodes_count),
        free_files: info.free_inodes.load(Ordering::Relaxed),
        name_len: crate::format::dirent::NAME_MAX as u32,
        fsid: [word(0) ^ word(8), word(4) ^ word(12)],
    })
}

/// `show_options`: options that differ from the defaults.
pub(crate) fn show_options(sb: &SuperBlock, m: &mut SeqWriter) {
    let Ok(info) = sbi(sb) else { return };
    let o = info.opts.lock().clone();
    if let Some(e) = o.errors {
        m.put(b",errors=");
        m.put(e.name().as_bytes());
    }
    // Options shown where they differ from the volume's defaults (the
    // superblock's default mount options, `livedfs tune -o`).
    let d = info.sb_default_opts;
    match (info.prefetch(), d & fsb::DEFM_NOPREFETCH != 0) {
        (false, false) => m.put(b",noprefetch"),
        (true, true) => m.put(b",prefetch"),
        _ => {}
    }
    // Only what differs from the volume's default (verify on MD5).
    match (info.verify(), info.verify_default()) {
        (true, false) => m.put(b",verify"),
        (false, true) => m.put(b",noverify"),
        _ => {}
    }
    if o.norecovery {
        m.put(b",norecovery");
    }
    if o.nojournal {
        m.put(b",nojournal");
    }
    match (info.dedup(), d & fsb::DEFM_NODEDUP != 0) {
        (false, false) => m.put(b",nodedup"),
        (true, true) => m.put(b",dedup"),
        _ => {}
    }
    if o.verify_reads {
        m.put(b",verify_reads");
    }
    if let Some(n) = o.filter_max {
        let mut buf = [0u8; 32];
        let mut w = crate::vfs::fstype::ByteWriter::new(&mut buf);
        let _ = core::fmt::Write::write_fmt(&mut w, format_args!(",filter_max={}K", n >> 10));
        m.put(w.written());
    }
    if o.acl == Some(false) {
        m.put(b",noacl");
    }
    if o.filter_rebuild {
        m.put(b",filter_rebuild");
    }
    if let Some(c) = o.commit {
        let mut buf = [0u8; 16];
        let mut w = crate::vfs::fstype::ByteWriter::new(&mut buf);
        let _ = core::fmt::Write::write_fmt(&mut w, format_args!(",commit={}", c));
        m.put(w.written());
    }
}
