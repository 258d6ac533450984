//! Inodes: reading and writing them in the inode table, their block maps
//! (allocation at writeback, truncation, hole punching), eviction and the
//! orphan list.
//!
//! An inode is decoded, checksummed and validated by the format crate
//! before the VFS sees it; block pointers are checked when followed, so a
//! corrupted map yields EUCLEAN for that file, never a wild read.
//!
//! The block map of an inode is protected by its `map` mutex: readers
//! (`map_block`) and writers (allocation at writeback, truncate) take it.

use crate::balloc;
use crate::errors::{corrupt, corrupt_msg};
use crate::format::codec::{get_u32, put_u32};
use crate::format::group::BG_INODE_UNINIT;
use crate::format::inode::{self as finode, maps_block, Inode as DiskInode, Timestamp, N_BLOCKS, N_DIRECT, UNWRITTEN};
use crate::format::{FIRST_INO, ROOT_INO};
use crate::super_::{now, sbi, SbInfo};
use crate::vfs::inode::{Iget, InodeKind, NewInode};
use crate::vfs::{Buffer, Inode, InodeRef, SuperBlock};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNode};
use kernel::sync::Mutex;

/// Bytes of the fast-symlink buffer (target + NUL).
pub(crate) const FAST_LINK_LEN: usize = finode::FAST_SYMLINK_MAX + 1;

/// The block map and what belongs with it, under `InodeData::map`.
pub(crate) struct MapState {
    /// The 15 pointers of the on-disk inode (or device numbers).
    pub(crate) block: [u32; N_BLOCKS],
    /// File-system blocks mapped (data and indirect), as on disk.
    pub(crate) blocks: u64,
    /// Indirect blocks reserved for delayed allocation but not allocated:
    /// keys from `indirect_key`.
    pending: RBTree<u64, ()>,
    /// Last allocation (file block, disk block): the goal for the next.
    last_alloc: Option<(u64, u32)>,
}

/// Attributes kept outside the VFS inode, under `InodeData::meta`.
#[derive(Default, Clone, Copy)]
pub(crate) struct MetaState {
    pub(crate) flags: u32,
    pub(crate) generation: u32,
    pub(crate) crtime: Timestamp,
    pub(crate) dtime: i64,
    /// The attribute block (see xattr.rs, which changes it under
    /// `xattr_lock`); 0: none.
    pub(crate) xattr_block: u32,
}

/// livedfs's private per-inode data (next to the VFS inode).
#[pin_data]
pub(crate) struct InodeData {
    #[pin]
    pub(crate) map: Mutex<MapState>,
    #[pin]
    pub(crate) meta: Mutex<MetaState>,
    /// Data blocks reserved by delayed allocation, not yet allocated.
    pub(crate) reserved: AtomicU64,
    /// Blocks of preallocated space (fallocate) this file holds for writes
    /// into its holes, not yet used (the inode's `prealloc` on disk);
    /// changed under `map`. Counted in the volume's reservations.
    pub(crate) prealloc: AtomicU64,
    /// Truncate or hole punching is zeroing a partial block (inode and
    /// invalidate locks held, so no other write of the file runs): its
    /// reservation may use the internal reserve.
    pub(crate) zeroing: core::sync::atomic::AtomicBool,
    /// A regular file's size as the disk may know it (ext4's i_disksize):
    /// the in-memory size runs ahead of it while written data waits for
    /// delayed allocation, and writeback lifts it, in the transaction that
    /// maps the blocks. So a power cut never leaves a size that covers
    /// blocks the journal did not map (zeros the file never held).
    pub(crate) disksize: AtomicU64,
    /// A fast symlink's target, NUL-terminated (`i_link` points here);
    /// written only while the inode is I_NEW.
    pub(crate) fast_link: UnsafeCell<[u8; FAST_LINK_LEN]>,
    /// The last transaction that changed the inode (fsync commits it).
    pub(crate) sync_tid: core::sync::atomic::AtomicU32,
    /// fsync found `sync_tid` lost to an aborted journal and recorded the
    /// error on the mapping (once: see `fop_fsync`).
    pub(crate) lost_reported: core::sync::atomic::AtomicBool,
    /// On the orphan list (changed under the superblock's `disk` lock).
    pub(crate) orphan: core::sync::atomic::AtomicBool,
    /// Serialises stores of this inode into its table block, so the last
    /// store carries the latest state (taken after `disk`, if both).
    #[pin]
    pub(crate) store_lock: Mutex<()>,
    /// A large directory's in-memory index (see dir.rs), built on demand.
    #[pin]
    pub(crate) dindex: Mutex<Option<KBox<crate::dir::DirIndex>>>,
    /// Serialises the inode's extended attributes (see xattr.rs).
    #[pin]
    pub(crate) xattr_lock: Mutex<()>,
    /// jbd2's per-inode data (data=ordered), set up in alloc_inode.
    #[pin]
    pub(crate) jinode: kernel::types::Opaque<crate::sys::jbd2_inode>,
}

// SAFETY: `fast_link` is written only while the inode is I_NEW (one owner)
// and only read afterwards; everything else is locks and atomics.
unsafe impl Sync for InodeData {}
// SAFETY: as above.
unsafe impl Send for InodeData {}

impl InodeData {
    /// Initial state of a freshly allocated in-memory inode.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            map <- new_mutex!(MapState {
                block: [0; N_BLOCKS],
                blocks: 0,
                pending: RBTree::new(),
                last_alloc: None,
            }),
            meta <- new_mutex!(MetaState::default()),
            reserved: AtomicU64::new(0),
            zeroing: core::sync::atomic::AtomicBool::new(false),
            prealloc: AtomicU64::new(0),
            disksize: AtomicU64::new(0),
            fast_link: UnsafeCell::new([0; FAST_LINK_LEN]),
            sync_tid: core::sync::atomic::AtomicU32::new(0),
            lost_reported: core::sync::atomic::AtomicBool::new(false),
            orphan: core::sync::atomic::AtomicBool::new(false),
            store_lock <- new_mutex!(()),
            dindex <- new_mutex!(None),
            xattr_lock <- new_mutex!(()),
            jinode <- kernel::types::Opaque::ffi_init(|p: *mut crate::sys::jbd2_inode| {
                // SAFETY: all-zero is a valid initial state; alloc_inode
                // then calls jbd2_journal_init_jbd_inode on it.
                unsafe { p.write_bytes(0, 1) }
            }),
        })
    }

    /// The generation number (for checksums of the inode's blocks).
    pub(crate) fn generation(&self) -> u32 {
        self.meta.lock().generation
    }
}

/// Inode `ino`'s preallocated blocks as its table slot holds them (0 for
/// anything but a regular file).
pub(crate) fn prealloc_on_disk(sb: &SuperBlock, ino: u32) -> Result<u32> {
    let di = read_disk_inode(sb, ino, true)?;
    Ok(if di.is_reg() { di.prealloc } else { 0 })
}

/// Reads on-disk inode `ino`. `allow_deleted`: accept a zero link count
/// (orphan processing).
fn read_disk_inode(sb: &SuperBlock, ino: u32, allow_deleted: bool) -> Result<DiskInode> {
    read_slot(sb, ino, allow_deleted, false)
}

/// Reads on-disk inode `ino`; with `from_handle` (a file handle names it,
/// see [`iget_handle`]) a slot that holds no file in use (never written,
/// or deleted) is ESTALE, not corruption: the file is gone.
fn read_slot(sb: &SuperBlock, ino: u32, allow_deleted: bool, from_handle: bool) -> Result<DiskInode> {
    let info = sbi(sb)?;
    let geo = &info.geo;
    let g = geo.group_of_ino(ino).map_err(|e| corrupt(sb, "inode number", e))?;
    let d = info.groups.desc(g)?;
    let (flags, unused) = (d.flags, d.itable_unused);
    let idx = ino.saturating_sub(1).checked_rem(geo.inodes_per_group).unwrap_or(0);
    // An inode past the group's high-water mark was never written: a
    // directory entry pointing there is corruption, and its bytes are junk.
    if flags & BG_INODE_UNINIT != 0 || idx >= geo.inodes_per_group.saturating_sub(unused) {
        if from_handle {
            return Err(stale());
        }
        return Err(corrupt_msg(sb, format_args!("inode {} is in an uninitialised part of group {}", ino, g)));
    }
    let (blk, off) = geo.inode_location(ino).map_err(|e| corrupt(sb, "inode number", e))?;
    let bh = Buffer::read(sb, u64::from(blk))?;
    let di = bh
        .read_with(|data| {
            data.get(off..off.saturating_add(geo.inode_size as usize))
                .map(|raw| DiskInode::decode(raw, ino, info.seed, &crate::vfs::crc::KernelCrc))
        })
        .ok_or(EINVAL)?
        .map_err(|e| {
            pr_err!("livedfs ({}): inode {}:\n", sb.id(), ino);
            corrupt(sb, "inode", e)
        })?;
    if di.mode == 0 || (!allow_deleted && (di.links_count == 0 || di.dtime != 0)) {
        if from_handle {
            return Err(stale());
        }
        return Err(corrupt_msg(sb, format_args!("deleted inode {} referenced", ino)));
    }
    di.validate(geo).map_err(|e| {
        pr_err!("livedfs ({}): inode {}:\n", sb.id(), ino);
        corrupt(sb, "inode", e)
    })?;
    Ok(di)
}

/// Fills a new in-memory inode from its on-disk copy.
pub(crate) fn fill_inode(new: &mut NewInode, di: &DiskInode, sb: &SuperBlock) -> Result {
    let bs512 = u64::from(sbi(sb)?.geo.block_size / 512);
    new.set_attrs(
        di.mode,
        di.uid,
        di.gid,
        di.links_count,
        di.size,
        di.blocks.saturating_add(u64::from(di.prealloc)).saturating_mul(bs512),
        di.generation,
        [
            (di.atime.sec, di.atime.nsec),
            (di.mtime.sec, di.mtime.nsec),
            (di.ctime.sec, di.ctime.nsec),
        ],
    );
    {
        let data = new.inode().data();
        data.disksize.store(di.size, Ordering::Relaxed);
        data.prealloc.store(u64::from(di.prealloc), Ordering::Relaxed);
        let mut m = data.map.lock();
        m.block = di.block;
        m.blocks = di.blocks;
        drop(m);
        new.inode().set_vfs_flags(di.flags);
        let mut meta = data.meta.lock();
        meta.flags = di.flags;
        meta.generation = di.generation;
        meta.crtime = di.crtime;
        meta.dtime = di.dtime;
        meta.xattr_block = di.xattr_block;
    }
    let kind = if di.is_dir() {
        InodeKind::Dir
    } else if di.is_reg() {
        InodeKind::Regular
    } else if di.is_fast_symlink() {
        let bytes = di.fast_symlink_bytes();
        let n = (di.size as usize).min(finode::FAST_SYMLINK_MAX);
        if let (Some(dst), Some(src)) = (new.fast_link_mut().get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        InodeKind::FastSymlink
    } else if di.is_symlink() {
        InodeKind::SlowSymlink
    } else {
        // Device numbers: major in block[0], minor in block[1].
        let dev = (di.block[0] << 20) | (di.block[1] & 0xfffff);
        InodeKind::Special(di.mode, dev)
    };
    new.set_kind(kind);
    Ok(())
}

fn iget_inner(sb: &SuperBlock, ino: u32, allow_deleted: bool) -> Result<InodeRef> {
    if ino != ROOT_INO && ino < FIRST_INO {
        return Err(corrupt_msg(sb, format_args!("reserved inode {} referenced", ino)));
    }
    let mut new = match crate::vfs::inode::iget(sb, ino)? {
        Iget::Cached(i) => return Ok(i),
        Iget::New(n) => n,
    };
    // On any error below, dropping `new` fails the I_NEW inode.
    let di = read_disk_inode(sb, ino, allow_deleted)?;
    fill_inode(&mut new, &di, sb)?;
    Ok(new.finish())
}

/// Gets inode `ino` (from the inode cache, or read from disk).
pub(crate) fn iget(sb: &SuperBlock, ino: u32) -> Result<InodeRef> {
    iget_inner(sb, ino, false)
}

/// ESTALE: a file handle names a file that no longer exists.
fn stale() -> Error {
    Error::from_errno(-crate::sys::ESTALE)
}

/// Gets inode `ino` for a file handle (open_by_handle_at, NFS export):
/// ESTALE, without reporting corruption, if the number is outside the
/// inode table or reserved, names a slot with no file in use (never
/// written, or deleted), or names a file whose generation is not
/// `generation` (the number was freed and reused since the handle was
/// made; new inodes get a random generation). A `generation` of 0 accepts
/// any, as ext4 does: parent handles without one pass 0.
///
/// A file unlinked but still open is in the inode cache and is returned,
/// as ext4 does; one being evicted is waited for by the inode cache, after
/// which its slot is deleted on disk (ESTALE). A half-made inode is never
/// returned: one being read is waited for (I_NEW), one being created is
/// refused by the inode cache (I_CREATING: ENOMEM, as on ext4), and on an
/// error below the I_NEW inode is failed.
pub(crate) fn iget_handle(sb: &SuperBlock, ino: u32, generation: u32) -> Result<InodeRef> {
    if (ino != ROOT_INO && ino < FIRST_INO) || !sbi(sb)?.geo.valid_ino(ino) {
        return Err(stale());
    }
    let inode = match crate::vfs::inode::iget(sb, ino)? {
        Iget::Cached(i) => i,
        Iget::New(mut new) => {
            // On any error below, dropping `new` fails the I_NEW inode.
            let di = read_slot(sb, ino, false, true)?;
            fill_inode(&mut new, &di, sb)?;
            new.finish()
        }
    };
    if inode.is_bad() || (generation != 0 && inode.i_generation() != generation) {
        return Err(stale());
    }
    Ok(inode)
}

/// The on-disk image of an in-memory inode, whose orphan-list successor
/// is `next_orphan`.
pub(crate) fn disk_image(inode: &Inode, next_orphan: u32) -> DiskInode {
    let data = inode.data();
    let (block, blocks) = {
        let m = data.map.lock();
        (m.block, m.blocks)
    };
    let meta = *data.meta.lock();
    let (uid, gid) = inode.uid_gid();
    let [a, m, c] = inode.times();
    let size = if inode.mode() & finode::S_IFMT == finode::S_IFREG {
        inode.size().min(data.disksize.load(Ordering::Acquire))
    } else {
        inode.size()
    };
    let mut di = DiskInode {
        mode: inode.mode(),
        uid,
        gid,
        links_count: inode.nlink(),
        size,
        blocks,
        atime: Timestamp { sec: a.0, nsec: a.1 },
        mtime: Timestamp { sec: m.0, nsec: m.1 },
        ctime: Timestamp { sec: c.0, nsec: c.1 },
        crtime: meta.crtime,
        flags: meta.flags,
        generation: meta.generation,
        next_orphan,
        prealloc: data.prealloc.load(Ordering::Relaxed).min(u64::from(u32::MAX)) as u32,
        dtime: meta.dtime,
        block,
        xattr_block: meta.xattr_block,
    };
    if di.is_device() {
        let dev = inode.rdev();
        di.block = [0; N_BLOCKS];
        di.block[0] = dev >> 20;
        di.block[1] = dev & 0xfffff;
    }
    di
}

/// Writes `di` as inode `ino` into the inode table; `sync` waits for it.
pub(crate) fn write_disk_inode(sb: &SuperBlock, ino: u32, di: &DiskInode, sync: bool) -> Result {
    let info = sbi(sb)?;
    let geo = &info.geo;
    let (blk, off) = geo.inode_location(ino).map_err(|e| corrupt(sb, "inode number", e))?;
    let bh = Buffer::read(sb, u64::from(blk))?;
    bh.modify(|data| match data.get_mut(off..off.saturating_add(geo.inode_size as usize)) {
        Some(slot) => di.encode(slot, ino, info.seed, &crate::vfs::crc::KernelCrc).map_err(|_| EINVAL),
        None => Err(EINVAL),
    })??;
    if sync {
        bh.sync()?;
    }
    Ok(())
}

/// Stores the in-memory inode into its table block: in the current
/// transaction (whose id fsync will wait for), or directly without a
/// journal. An inode on the orphan list is stored under the `disk` lock,
/// which also guards the list its successor pointer comes from.
pub(crate) fn store(inode: &Inode) -> Result {
    if inode.is_bad() {
        return Ok(());
    }
    let sb = inode.sb();
    let info = sbi(sb)?;
    let data = inode.data();
    loop {
        if data.orphan.load(Ordering::Acquire) {
            let d = info.disk.lock();
            return store_locked(inode, &d);
        }
        let _s = data.store_lock.lock();
        if data.orphan.load(Ordering::Acquire) {
            continue; // put on the list meanwhile: store under `disk`
        }
        return store_image(inode, 0);
    }
}

/// Stores `inode` with the `disk` lock held (`d`).
fn store_locked(inode: &Inode, d: &crate::super_::DiskState) -> Result {
    let next = successor(&d.orphans, inode.ino());
    let _s = inode.data().store_lock.lock();
    store_image(inode, next)
}

fn store_image(inode: &Inode, next_orphan: u32) -> Result {
    write_disk_inode(inode.sb(), inode.ino(), &disk_image(inode, next_orphan), false)?;
    if let Some(tid) = crate::journal::current_tid() {
        inode.data().sync_tid.store(tid, Ordering::Relaxed);
    }
    Ok(())
}

/// The index of `ino` in the orphan list, searched from the head (the
/// end of the vector).
fn last_position(list: &KVec<u32>, ino: u32) -> Option<usize> {
    let mut i = list.len();
    while let Some(j) = i.checked_sub(1) {
        if list.get(j).copied() == Some(ino) {
            return Some(j);
        }
        i = j;
    }
    None
}

/// The inode after `ino` on the orphan list (0 at the end or if absent).
/// The list is kept tail first (see `DiskState::orphans`): the successor
/// is the element before it.
fn successor(list: &KVec<u32>, ino: u32) -> u32 {
    match last_position(list, ino) {
        Some(p) => p.checked_sub(1).and_then(|q| list.get(q).copied()).unwrap_or(0),
        None => 0,
    }
}

/// What `stat` reports beyond the VFS inode.
pub(crate) struct StatExtra {
    /// The statx attributes of the inode flags (STATX_ATTR_IMMUTABLE,
    /// _APPEND, _NODUMP).
    pub(crate) attributes: u64,
    /// The 512-byte sectors of the data blocks reserved for delayed
    /// allocation (ext4 counts them in `st_blocks` too).
    pub(crate) delayed_sectors: u64,
    /// The creation time (statx btime).
    pub(crate) btime: Timestamp,
}

/// [`StatExtra`] of `inode`.
pub(crate) fn stat_extra(inode: &Inode) -> StatExtra {
    const STATX_ATTR_IMMUTABLE: u64 = 0x10;
    const STATX_ATTR_APPEND: u64 = 0x20;
    const STATX_ATTR_NODUMP: u64 = 0x40;
    let (f, btime) = {
        let meta = inode.data().meta.lock();
        (meta.flags & finode::FL_KNOWN, meta.crtime)
    };
    let mut attributes = 0u64;
    for (fl, bit) in [
        (finode::FL_IMMUTABLE, STATX_ATTR_IMMUTABLE),
        (finode::FL_APPEND, STATX_ATTR_APPEND),
        (finode::FL_NODUMP, STATX_ATTR_NODUMP),
    ] {
        if f & fl != 0 {
            attributes |= bit;
        }
    }
    let bs512 = sbi(inode.sb()).map_or(0, |i| u64::from(i.geo.block_size) / 512);
    StatExtra {
        attributes,
        delayed_sectors: inode.data().reserved.load(Ordering::Relaxed).saturating_mul(bs512),
        btime,
    }
}

/// The user-visible inode flags (`FS_IOC_GETFLAGS`).
pub(crate) fn flags(inode: &Inode) -> u32 {
    inode.data().meta.lock().flags & finode::FL_KNOWN
}

/// `FS_IOC_SETFLAGS` (the VFS checked ownership and CAP_LINUX_IMMUTABLE):
/// sets the flags livedfs knows; any other flag is EOPNOTSUPP, as ext4.
pub(crate) fn set_flags(inode: &Inode, flags: u32) -> Result {
    if flags & !finode::FL_KNOWN != 0 {
        return Err(crate::errors::eopnotsupp());
    }
    let is_dir = inode.mode() & finode::S_IFMT == finode::S_IFDIR;
    if flags & finode::FL_DIRSYNC != 0 && !is_dir {
        return Err(EINVAL);
    }
    let _h = crate::journal::start(inode.sb(), crate::journal::CREDITS_INODE, 0)?;
    {
        let mut meta = inode.data().meta.lock();
        meta.flags = (meta.flags & !finode::FL_KNOWN) | flags;
    }
    inode.set_vfs_flags(flags);
    inode.touch_c();
    inode.mark_dirty();
    Ok(())
}

/// Sets the size the disk knows (truncate, reflink: no data waits for
/// allocation below it; the caller wrote back what did).
/// Called after the in-memory size was set.
pub(crate) fn set_disksize(inode: &Inode, size: u64) {
    // Under `meta`, as `lift_disksize_to`: a writeback that read the old,
    // larger size cannot lift the value past this one afterwards.
    let _m = inode.data().meta.lock();
    inode.data().disksize.store(size, Ordering::Release);
}

/// Writeback mapped the blocks of a regular file up to byte `end` (in the
/// open handle, if journaled): the size on disk may now cover them.
/// Usually a no-op: `set_data_pointer` lifted the size with each block.
/// It stores the inode only when the folio's tail blocks were all zeros
/// (holes, no pointer set) below the in-memory size.
pub(crate) fn writeback_done(inode: &Inode, end: u64) -> Result {
    if lift_disksize_to(inode, end) {
        store(inode)?;
    }
    Ok(())
}

/// Lifts the size on disk to `min(end, i_size)`; true if it grew. Under
/// `meta`, as `set_disksize`.
fn lift_disksize_to(inode: &Inode, end: u64) -> bool {
    // Overwrites below the size on disk need no lock: only `set_disksize`
    // lowers it, and a stale high value here changes nothing.
    if inode.data().disksize.load(Ordering::Acquire) >= end.min(inode.size()) {
        return false;
    }
    let _m = inode.data().meta.lock();
    let end = end.min(inode.size());
    inode.data().disksize.fetch_max(end, Ordering::AcqRel) < end
}

/// `super_operations.dirty_inode`: every change of an inode reaches its
/// table block at once, in the transaction of the operation that made it
/// (or a small one of its own), as ext4 does.
pub(crate) fn dirty_inode(inode: &Inode) {
    let sb = inode.sb();
    if sb.is_rdonly() {
        return;
    }
    let r = crate::journal::start(sb, crate::journal::CREDITS_INODE, 0).and_then(|_h| store(inode));
    if let Err(e) = r {
        pr_err!("livedfs ({}): could not store inode {}: {:?}\n", sb.id(), inode.ino(), e);
    }
}

/// `super_operations.write_inode`: the inode is already in its table block
/// (see `dirty_inode`); a synchronous write waits for it to be on disk.
pub(crate) fn write_inode(inode: &Inode, sync: bool) -> Result {
    if !sync || inode.is_bad() {
        return Ok(());
    }
    let sb = inode.sb();
    let info = sbi(sb)?;
    match &info.journal {
        Some(j) => j.complete(inode.data().sync_tid.load(Ordering::Relaxed)),
        None => {
            store(inode)?;
            let (blk, _) = info.geo.inode_location(inode.ino()).map_err(|e| corrupt(sb, "inode number", e))?;
            Buffer::read(sb, u64::from(blk))?.sync()
        }
    }
}

/// Identity of the indirect block reached by the first `level` steps of a
/// block path (for delayed-allocation reservations).
fn indirect_key(path: &finode::BlockPath, level: usize) -> u64 {
    // 15 bits per step: an index is below p <= 1024, a slot below 16.
    let mut k = (level as u64) << 60;
    for (step, &o) in path.offsets.iter().enumerate().take(level.min(4)) {
        k |= u64::from(o & 0x7fff) << (45 - 15 * step);
    }
    k
}

/// Reads pointer `idx` of indirect block `blk`, checking it: a block
/// number, 0 (hole) or `UNWRITTEN` (a leaf's preallocated block; followed
/// as an indirect block, the marker fails the range check here, so a
/// marker above the last level is corruption wherever it is met).
fn read_ptr(sb: &SuperBlock, info: &SbInfo, ino: u32, blk: u32, idx: u32) -> Result<u32> {
    if !info.geo.is_data_block(blk) {
        return Err(corrupt_msg(sb, format_args!("inode {} indirect pointer {} out of range", ino, blk)));
    }
    let bh = Buffer::read(sb, u64::from(blk))?;
    let p = get_u32(bh.data(), (idx as usize).saturating_mul(4)).map_err(|e| corrupt(sb, "indirect block", e))?;
    if maps_block(p) && !info.geo.is_data_block(p) {
        return Err(corrupt_msg(sb, format_args!("inode {} block pointer {} out of range", ino, p)));
    }
    Ok(p)
}

/// The pointer of `file_block` in a locked map: a block number, 0 (a
/// hole, also where an indirect level is missing) or `UNWRITTEN`.
fn lookup_raw_locked(sb: &SuperBlock, info: &SbInfo, ino: u32, m: &MapState, file_block: u64) -> Result<u32> {
    let Some(path) = finode::block_path(info.geo.ptrs_per_block(), file_block) else {
        return Ok(0);
    };
    let mut ptr = m.block.get(path.offsets[0] as usize).copied().unwrap_or(0);
    if maps_block(ptr) && !info.geo.is_data_block(ptr) {
        return Err(corrupt_msg(sb, format_args!("inode {} block pointer {} out of range", ino, ptr)));
    }
    for level in 1..=path.depth {
        if ptr == 0 {
            return Ok(0);
        }
        ptr = read_ptr(sb, info, ino, ptr, path.offsets.get(level).copied().unwrap_or(0))?;
    }
    Ok(ptr)
}

/// Looks `file_block` up in a locked map (`None`: a hole or unwritten).
fn lookup_locked(sb: &SuperBlock, info: &SbInfo, ino: u32, m: &MapState, file_block: u64) -> Result<Option<u32>> {
    let ptr = lookup_raw_locked(sb, info, ino, m, file_block)?;
    Ok(maps_block(ptr).then_some(ptr))
}

/// The raw pointer of `file_block`: a block, 0 or `UNWRITTEN` (moved as
/// it is by collapse and insert).
pub(crate) fn raw_pointer(inode: &Inode, file_block: u64) -> Result<u32> {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let m = inode.data().map.lock();
    lookup_raw_locked(sb, info, inode.ino(), &m, file_block)
}

/// Maps block `file_block` of `inode` to a device block (`None` = hole).
pub(crate) fn map_block(inode: &Inode, file_block: u64) -> Result<Option<u32>> {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let m = inode.data().map.lock();
    lookup_locked(sb, info, inode.ino(), &m, file_block)
}

/// Maps `file_block` of `inode` and up to `max - 1` blocks after it that
/// follow it on the device: the first device block and how many file
/// blocks (at least 1) map contiguously from it, or `None` for a hole.
/// The run stays within one pointer array (the inode's direct pointers or
/// one indirect block), whose pointers are read once: `readahead` maps a
/// run per call instead of walking the tree for every block.
pub(crate) fn map_run(inode: &Inode, file_block: u64, max: u32) -> Result<Option<(u32, u32)>> {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let ino = inode.ino();
    let m = inode.data().map.lock();
    let Some(path) = finode::block_path(info.geo.ptrs_per_block(), file_block) else {
        return Ok(None);
    };
    let ok = |p: u32| -> Result<u32> {
        if maps_block(p) && !info.geo.is_data_block(p) {
            return Err(corrupt_msg(sb, format_args!("inode {} block pointer {} out of range", ino, p)));
        }
        Ok(p)
    };
    // How many pointers from `first` on continue it on the device
    // (`ptr_at(n)`: the n-th pointer after it in the same array). A bad
    // pointer ends the run; its own call reports it.
    let run = |first: u32, ptr_at: &dyn Fn(usize) -> Option<u32>| -> u32 {
        let mut n = 1u32;
        while n < max {
            let p = ptr_at(n as usize);
            if p.is_none() || first.checked_add(n) != p || !info.geo.is_data_block(first.saturating_add(n)) {
                break;
            }
            n = n.saturating_add(1);
        }
        n
    };
    if path.depth == 0 {
        let idx = path.offsets[0] as usize;
        let first = ok(m.block.get(idx).copied().unwrap_or(0))?;
        if !maps_block(first) {
            return Ok(None);
        }
        // Direct pointers only: the indirect roots follow them.
        let direct = m.block.get(..N_DIRECT).unwrap_or(&[]);
        return Ok(Some((first, run(first, &|n| direct.get(idx.saturating_add(n)).copied()))));
    }
    let mut ptr = ok(m.block.get(path.offsets[0] as usize).copied().unwrap_or(0))?;
    for level in 1..path.depth {
        if ptr == 0 {
            return Ok(None);
        }
        ptr = read_ptr(sb, info, ino, ptr, path.offsets.get(level).copied().unwrap_or(0))?;
    }
    if ptr == 0 {
        return Ok(None);
    }
    if !info.geo.is_data_block(ptr) {
        return Err(corrupt_msg(sb, format_args!("inode {} indirect pointer {} out of range", ino, ptr)));
    }
    let leaf = Buffer::read(sb, u64::from(ptr))?;
    let idx = path.offsets.get(path.depth).copied().unwrap_or(0) as usize;
    let first = ok(get_u32(leaf.data(), idx.saturating_mul(4)).map_err(|e| corrupt(sb, "indirect block", e))?)?;
    if !maps_block(first) {
        return Ok(None);
    }
    let ptrs = leaf.data();
    Ok(Some((first, run(first, &|n| get_u32(ptrs, idx.saturating_add(n).saturating_mul(4)).ok()))))
}

/// What `next_slot` looks for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// A mapped block.
    Data,
    /// A hole or an unwritten (preallocated) block: no data.
    Hole,
    /// A mapped block or an unwritten one: anything but a hole.
    Allocated,
    /// Anything but an unwritten block (where a run of them ends).
    NotUnwritten,
}

impl Want {
    /// Whether leaf pointer `p` (0 also for a missing subtree) is wanted.
    fn hit(self, p: u32) -> bool {
        match self {
            Want::Data => maps_block(p),
            Want::Hole => !maps_block(p),
            Want::Allocated => p != 0,
            Want::NotUnwritten => p != UNWRITTEN,
        }
    }
}

/// Where the search for data or holes goes next: the first file block at
/// or after `file_block` that is mapped (`want_data`) or not (a hole or
/// unwritten), up to `last` inclusive.
pub(crate) fn next_data_or_hole(inode: &Inode, file_block: u64, last: u64, want_data: bool) -> Result<Option<u64>> {
    next_slot(inode, file_block, last, if want_data { Want::Data } else { Want::Hole })
}

/// The first file block at or after `file_block`, up to `last` inclusive,
/// whose pointer is what `want` asks for. Missing indirect levels are
/// skipped whole (unless a hole is wanted), so a sparse terabyte is
/// crossed in a few steps; the rest of a leaf's indirect block is read
/// once (a preallocated range is a run of unwritten leaves).
pub(crate) fn next_slot(inode: &Inode, file_block: u64, last: u64, want: Want) -> Result<Option<u64>> {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let ppb = u64::from(info.geo.ptrs_per_block());
    let m = inode.data().map.lock();
    let mut fb = file_block;
    while fb <= last {
        let Some(path) = finode::block_path(info.geo.ptrs_per_block(), fb) else {
            // Past the largest file: all hole.
            return Ok(want.hit(0).then_some(fb));
        };
        // Walk down; `ptr` ends as the leaf pointer, or 0 at the level
        // where the path is missing. An `UNWRITTEN` above the leaf level
        // fails in `read_ptr` (it is not an indirect block).
        let mut ptr = m.block.get(path.offsets[0] as usize).copied().unwrap_or(0);
        let mut missing = (ptr == 0).then_some(0);
        // The indirect block holding the leaf pointer (depth 1 and more).
        let mut leaf_parent = None;
        for level in 1..=path.depth {
            if ptr == 0 {
                break;
            }
            if level == path.depth {
                leaf_parent = Some(ptr);
            }
            ptr = read_ptr(sb, info, inode.ino(), ptr, path.offsets.get(level).copied().unwrap_or(0))?;
            if ptr == 0 {
                missing = Some(level);
            }
        }
        if want.hit(ptr) {
            return Ok(Some(fb));
        }
        match missing {
            Some(level) if level < path.depth => {
                // The hole covers the rest of the subtree below `level`.
                let span = (level..path.depth).fold(1u64, |a, _| a.saturating_mul(ppb));
                let skip = span.saturating_sub(
                    fb.saturating_sub(first_block_of_level(&path, ppb)).checked_rem(span).unwrap_or(0),
                );
                fb = fb.saturating_add(skip.max(1));
            }
            _ => {
                let Some(parent) = leaf_parent else {
                    fb = fb.saturating_add(1);
                    continue;
                };
                let idx = u64::from(path.offsets.get(path.depth).copied().unwrap_or(0));
                let to = ppb.min(idx.saturating_add(1).saturating_add(last.saturating_sub(fb)));
                let bh = Buffer::read(sb, u64::from(parent))?;
                for i in idx.saturating_add(1)..to {
                    let p = get_u32(bh.data(), (i as usize).saturating_mul(4)).map_err(|e| corrupt(sb, "indirect block", e))?;
                    if maps_block(p) && !info.geo.is_data_block(p) {
                        return Err(corrupt_msg(sb, format_args!("inode {} block pointer {} out of range", inode.ino(), p)));
                    }
                    if want.hit(p) {
                        return Ok(Some(fb.saturating_add(i.saturating_sub(idx))));
                    }
                }
                fb = fb.saturating_add(ppb.saturating_sub(idx).max(1));
            }
        }
    }
    Ok(None)
}

/// First file block of the tree (direct, single, double, triple or
/// quadruple indirect) a path belongs to.
fn first_block_of_level(path: &finode::BlockPath, ppb: u64) -> u64 {
    match path.depth {
        0 => 0,
        d => finode::tree_base(ppb as u32, d),
    }
}

/// Records, as reserved, the indirect blocks missing on the path to
/// `file_block` that are not reserved yet; returns their keys.
fn reserve_indirect(sb: &SuperBlock, info: &SbInfo, ino: u32, m: &mut MapState, file_block: u64) -> Result<KVec<u64>> {
    let path = finode::block_path(info.geo.ptrs_per_block(), file_block).ok_or(EFBIG)?;
    let mut ptr = m.block.get(path.offsets[0] as usize).copied().unwrap_or(0);
    let mut added = KVec::new();
    for level in 1..=path.depth {
        if ptr == 0 {
            let key = indirect_key(&path, level);
            if m.pending.get(&key).is_none() {
                added.push(key, GFP_KERNEL)?;
                let node = RBTreeNode::new(key, (), GFP_KERNEL)?;
                m.pending.insert(node);
            }
        } else {
            ptr = read_ptr(sb, info, ino, ptr, path.offsets.get(level).copied().unwrap_or(0))?;
        }
    }
    Ok(added)
}

/// Prepares `file_block` for a buffered write: `Some(block)` if already
/// mapped; otherwise reserves space for it (and its indirect blocks) for
/// allocation at writeback and returns `None`. ENOSPC here reaches the
/// writer; `balloc::SPACE_BUSY` asks the caller to commit (outside the
/// folio lock) and try again. The map lock is never held across a commit:
/// writeback holds a handle and waits for this lock.
pub(crate) fn prepare_block(inode: &Inode, file_block: u64) -> Result<Option<u32>> {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let data = inode.data();
    let mut m = data.map.lock();
    if let Some(b) = lookup_locked(sb, info, inode.ino(), &m, file_block)? {
        return Ok(Some(b));
    }
    let added = reserve_indirect(sb, info, inode.ino(), &mut m, file_block)?;
    // Preallocated space (fallocate) pays for the data block first: it is
    // already counted in the volume's reservations.
    let want = (added.len() as u64).saturating_add(1);
    let from_prealloc = take_prealloc_locked(info, data, want);
    let need = want.saturating_sub(from_prealloc);
    if let Err(e) = balloc::try_reserve(info, need, reservation_use(inode)) {
        for k in added.iter() {
            m.pending.remove(k);
        }
        give_prealloc_back_locked(info, data, from_prealloc);
        return Err(e);
    }
    data.reserved.fetch_add(1, Ordering::Relaxed);
    if from_prealloc > 0 {
        // The preallocated block became a delayed one, which `stat`
        // counts apart (`stat_extra`): st_blocks must not count it twice
        // until writeback (fstests generic/422).
        inode.set_sectors(sectors(data, &m, u64::from(info.geo.block_size / 512)));
    }
    Ok(None)
}

/// Whose space a write of `inode` may use: the internal reserve while
/// truncate or hole punching zeroes a partial block (see
/// `InodeData::zeroing`).
pub(crate) fn reservation_use(inode: &Inode) -> balloc::Use {
    if inode.data().zeroing.load(Ordering::Acquire) {
        balloc::Use::Internal
    } else {
        balloc::Use::Writer
    }
}

/// `st_blocks` of an inode, in 512-byte sectors: the blocks it maps and
/// the preallocated ones it holds.
pub(crate) fn sectors(data: &InodeData, m: &MapState, bs512: u64) -> u64 {
    m.blocks.saturating_add(data.prealloc.load(Ordering::Relaxed)).saturating_mul(bs512)
}

/// Moves up to `n` of the inode's preallocated blocks into ordinary
/// reservations (map lock held): they stay counted in the volume's
/// reservations, no longer in the preallocated total. Returns how many.
fn take_prealloc_locked(info: &SbInfo, data: &InodeData, n: u64) -> u64 {
    let have = data.prealloc.load(Ordering::Relaxed);
    let took = have.min(n);
    if took > 0 {
        data.prealloc.store(have.saturating_sub(took), Ordering::Relaxed);
        info.prealloc.fetch_sub(took, Ordering::Relaxed);
    }
    took
}

/// Undoes `take_prealloc_locked`.
fn give_prealloc_back_locked(info: &SbInfo, data: &InodeData, n: u64) {
    if n > 0 {
        data.prealloc.fetch_add(n, Ordering::Relaxed);
        info.prealloc.fetch_add(n, Ordering::Relaxed);
    }
}

/// Takes up to `n` preallocated blocks of `inode` for copy-on-write
/// reservations of overwrites (`aops::reserve_overwrites`).
pub(crate) fn take_prealloc(inode: &Inode, n: u64) -> u64 {
    let Ok(info) = sbi(inode.sb()) else { return 0 };
    let m = inode.data().map.lock();
    let took = take_prealloc_locked(info, inode.data(), n);
    if took > 0 {
        // st_blocks changes when the space is taken, not at writeback.
        inode.set_sectors(sectors(inode.data(), &m, u64::from(info.geo.block_size / 512)));
    }
    took
}

/// Gives back `n` preallocated blocks to `inode` (a reservation taken
/// from them was not used).
pub(crate) fn untake_prealloc(inode: &Inode, n: u64) {
    let Ok(info) = sbi(inode.sb()) else { return };
    let m = inode.data().map.lock();
    give_prealloc_back_locked(info, inode.data(), n);
    if n > 0 {
        inode.set_sectors(sectors(inode.data(), &m, u64::from(info.geo.block_size / 512)));
    }
}

/// Adds `n` blocks (already reserved by the caller) to the inode's
/// preallocated space: in memory now, on disk with the inode's next
/// store (the caller's handle).
pub(crate) fn add_prealloc(inode: &Inode, n: u64) {
    let Ok(info) = sbi(inode.sb()) else { return };
    let bs512 = u64::from(info.geo.block_size / 512);
    let m = inode.data().map.lock();
    give_prealloc_back_locked(info, inode.data(), n);
    inode.set_sectors(sectors(inode.data(), &m, bs512));
}

/// Drops preallocated space of `inode` above `keep` blocks: the blocks go
/// back to the volume.
pub(crate) fn trim_prealloc(inode: &Inode, keep: u64) {
    let Ok(info) = sbi(inode.sb()) else { return };
    let bs512 = u64::from(info.geo.block_size / 512);
    let m = inode.data().map.lock();
    let have = inode.data().prealloc.load(Ordering::Relaxed);
    if have <= keep {
        return;
    }
    let drop_n = have.saturating_sub(keep);
    inode.data().prealloc.store(keep, Ordering::Relaxed);
    info.prealloc.fetch_sub(drop_n, Ordering::Relaxed);
    inode.set_sectors(sectors(inode.data(), &m, bs512));
    drop(m);
    balloc::unreserve(info, drop_n);
    inode.mark_dirty();
}

/// Holes among file blocks `[first, last]` (after writeback: delayed
/// blocks mapped).
pub(crate) fn count_holes(inode: &Inode, first: u64, last: u64) -> Result<u64> {
    let mut holes = 0u64;
    let mut fb = first;
    while fb <= last {
        let Some(h) = next_data_or_hole(inode, fb, last, false)? else { break };
        let d = next_data_or_hole(inode, h, last, true)?.unwrap_or(last.saturating_add(1));
        holes = holes.saturating_add(d.saturating_sub(h));
        fb = d;
    }
    Ok(holes)
}

/// Mapped blocks among file blocks `[first, last]`.
pub(crate) fn count_mapped(inode: &Inode, first: u64, last: u64) -> Result<u64> {
    Ok(last.saturating_sub(first).saturating_add(1).saturating_sub(count_holes(inode, first, last)?))
}

fn count_pending(m: &MapState) -> u64 {
    m.pending.iter().fold(0u64, |a, _| a.saturating_add(1))
}

/// Releases `n` delayed-allocation reservations of `inode` (its delayed
/// blocks were truncated before writeback).
pub(crate) fn release_reserved(inode: &Inode, n: u64) {
    let Ok(info) = sbi(inode.sb()) else { return };
    let data = inode.data();
    let mut m = data.map.lock();
    let r = data.reserved.load(Ordering::Relaxed);
    let n = n.min(r);
    data.reserved.store(r.saturating_sub(n), Ordering::Relaxed);
    let mut total = n;
    if r.saturating_sub(n) == 0 {
        // No delayed block left: the indirect reservations go too.
        let pending = count_pending(&m);
        m.pending = RBTree::new();
        total = total.saturating_add(pending);
    }
    drop(m);
    balloc::unreserve(info, total);
}

/// The goal for allocating `file_block` of `inode`: right after the
/// previous allocation if that was the previous file block, else the start
/// of the data region of the inode's group.
fn alloc_goal(info: &SbInfo, ino: u32, m: &MapState, file_block: u64) -> u32 {
    let geo = &info.geo;
    match m.last_alloc {
        Some((fb, b)) if fb.saturating_add(1) == file_block => b.saturating_add(1),
        _ => {
            let g = geo.group_of_ino(ino).unwrap_or(0);
            geo.group(g).map(|l| l.data_start).unwrap_or(0)
        }
    }
}

/// Allocates a data block for `file_block` (not yet pointed to), near the
/// file's previous one; `reserved`: consume one of the inode's delayed
/// reservations.
pub(crate) fn allocate_data_block(inode: &Inode, file_block: u64, reserved: bool) -> Result<u32> {
    allocate_for_write(inode, file_block, None, reserved, reserved)
}

/// Allocates the block that writeback stores `file_block` in: right after
/// the previous allocation if that was the previous file block, else after
/// `near` (the block it replaces) or at the inode's group. `reserved`: the
/// buffer holds a reservation (consumed); `delayed`: it is one of the
/// inode's delayed reservations (its count drops too).
pub(crate) fn allocate_for_write(
    inode: &Inode,
    file_block: u64,
    near: Option<u32>,
    delayed: bool,
    reserved: bool,
) -> Result<u32> {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let data = inode.data();
    let mut m = data.map.lock();
    let goal = match (m.last_alloc, near) {
        (Some((fb, b)), _) if fb.saturating_add(1) == file_block => b.saturating_add(1),
        (_, Some(o)) => o.saturating_add(1),
        _ => alloc_goal(info, inode.ino(), &m, file_block),
    };
    let b = balloc::alloc_block(sb, info, goal, reserved)?;
    if delayed {
        let r = data.reserved.load(Ordering::Relaxed);
        data.reserved.store(r.saturating_sub(1), Ordering::Relaxed);
    }
    m.last_alloc = Some((file_block, b));
    Ok(b)
}

/// Undoes the reservation side of `allocate_for_write` after the caller
/// freed the block again (a later step of its decision failed).
pub(crate) fn restore_reservation(inode: &Inode, delayed: bool) {
    let Ok(info) = sbi(inode.sb()) else { return };
    balloc::rereserve(info, 1);
    if delayed {
        let _m = inode.data().map.lock();
        inode.data().reserved.fetch_add(1, Ordering::Relaxed);
    }
}

/// Gives back the indirect-block reservations once no delayed block is
/// left.
fn release_pending(info: &SbInfo, m: &mut MapState) {
    let pending = count_pending(m);
    if pending > 0 {
        m.pending = RBTree::new();
        balloc::unreserve(info, pending);
    }
}

/// Points `file_block` of `inode` at `b` (0 makes it a hole), allocating
/// missing indirect blocks on the way; returns the previous pointer. The
/// caller deals with the block previously pointed to.
pub(crate) fn set_pointer(inode: &Inode, file_block: u64, b: u32) -> Result<Option<u32>> {
    set_pointer_inner(inode, file_block, b, false)
}

/// `set_pointer` for writeback of regular-file data: the size on disk is
/// lifted to cover the block before the inode is stored, so the one store
/// that records the pointer also records the size (rather than a second
/// store per block from `writeback_done`).
pub(crate) fn set_data_pointer(inode: &Inode, file_block: u64, b: u32) -> Result<Option<u32>> {
    set_pointer_inner(inode, file_block, b, true)
}

fn set_pointer_inner(inode: &Inode, file_block: u64, b: u32, lift_disksize: bool) -> Result<Option<u32>> {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let ino = inode.ino();
    let data = inode.data();
    let mut m = data.map.lock();
    let path = finode::block_path(info.geo.ptrs_per_block(), file_block).ok_or(EFBIG)?;
    let goal = alloc_goal(info, ino, &m, file_block);
    let mut added = 0u64;
    let mut parent: Option<u32> = None;
    let mut idx = path.offsets[0];
    for level in 1..=path.depth {
        let cur = match parent {
            None => m.block.get(idx as usize).copied().unwrap_or(0),
            Some(p) => read_ptr(sb, info, ino, p, idx)?,
        };
        let cur = if cur == 0 {
            if b == 0 {
                return Ok(None); // a hole already
            }
            let key = indirect_key(&path, level);
            let was_reserved = m.pending.remove(&key).is_some();
            let nb = balloc::alloc_block(sb, info, goal, was_reserved)?;
            let bh = Buffer::new_zeroed(sb, u64::from(nb))?;
            bh.modify(|_| ())?;
            set_ptr(sb, info, &mut m, parent, idx, nb)?;
            added = added.saturating_add(1);
            nb
        } else {
            cur
        };
        parent = Some(cur);
        idx = path.offsets.get(level).copied().unwrap_or(0);
    }
    let prev = match parent {
        None => m.block.get(idx as usize).copied().unwrap_or(0),
        Some(p) => read_ptr(sb, info, ino, p, idx)?,
    };
    set_ptr(sb, info, &mut m, parent, idx, b)?;
    // `UNWRITTEN`, before or after, is no block.
    if !maps_block(prev) && maps_block(b) {
        added = added.saturating_add(1);
    }
    m.blocks = m.blocks.saturating_add(added);
    if maps_block(prev) && !maps_block(b) {
        m.blocks = m.blocks.saturating_sub(1);
    }
    let bs512 = u64::from(info.geo.block_size / 512);
    inode.set_sectors(sectors(data, &m, bs512));
    if data.reserved.load(Ordering::Relaxed) == 0 {
        release_pending(info, &mut m);
    }
    drop(m);
    if lift_disksize && maps_block(b) {
        let end = file_block.saturating_add(1).saturating_mul(u64::from(info.geo.block_size));
        lift_disksize_to(inode, end);
    }
    inode.mark_dirty();
    Ok(maps_block(prev).then_some(prev))
}

/// Records the holes among file blocks `[first, last]` of a regular file
/// as `UNWRITTEN` (fallocate: preallocated blocks that read as zeros
/// until written), one leaf of the map (the direct pointers, or one
/// last-level indirect block) per transaction. Missing indirect blocks are
/// allocated on the way, from free space (ENOSPC if there is none): the
/// preallocated space counts data blocks only. Returns how many pointers
/// it set.
pub(crate) fn mark_unwritten(inode: &Inode, first: u64, last: u64) -> Result<u64> {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let data = inode.data();
    let ppb = u64::from(info.geo.ptrs_per_block());
    let bs512 = u64::from(info.geo.block_size / 512);
    let mut marked = 0u64;
    let mut fb = first;
    while fb <= last {
        let path = finode::block_path(info.geo.ptrs_per_block(), fb).ok_or(EFBIG)?;
        let depth = path.depth as usize;
        let idx0 = u64::from(path.offsets.get(depth).copied().unwrap_or(0));
        let slots = if depth == 0 { N_DIRECT as u64 } else { ppb };
        // The last file block of this leaf, or `last`.
        let stop = fb.saturating_add(slots.saturating_sub(idx0).saturating_sub(1)).min(last);
        let _h = crate::journal::start(
            sb,
            crate::journal::CREDITS_REMAP.saturating_add(crate::journal::CREDITS_SUPER),
            0,
        )?;
        if marked == 0 {
            crate::super_::note_unwritten(info)?;
        }
        let mut m = data.map.lock();
        let goal = alloc_goal(info, inode.ino(), &m, fb);
        // Down to the leaf, allocating what is missing.
        let mut parent: Option<u32> = None;
        let mut idx = path.offsets[0];
        for level in 1..=depth {
            let cur = match parent {
                None => m.block.get(idx as usize).copied().unwrap_or(0),
                Some(p) => read_ptr(sb, info, inode.ino(), p, idx)?,
            };
            let cur = if cur == 0 {
                let key = indirect_key(&path, level);
                // A delayed write's reservation of it, or free space now.
                let reserved = m.pending.get(&key).is_some();
                let nb = balloc::alloc_block(sb, info, goal, reserved)?;
                if reserved {
                    m.pending.remove(&key);
                }
                let bh = Buffer::new_zeroed(sb, u64::from(nb))?;
                bh.modify(|_| ())?;
                set_ptr(sb, info, &mut m, parent, idx, nb)?;
                m.blocks = m.blocks.saturating_add(1);
                nb
            } else {
                cur
            };
            parent = Some(cur);
            idx = path.offsets.get(level).copied().unwrap_or(0);
        }
        let (from, to) = (idx0 as usize, idx0.saturating_add(stop.saturating_sub(fb)) as usize);
        match parent {
            None => {
                for slot in m.block.get_mut(from..=to).into_iter().flatten() {
                    if *slot == 0 {
                        *slot = UNWRITTEN;
                        marked = marked.saturating_add(1);
                    }
                }
            }
            Some(p) => {
                if !info.geo.is_data_block(p) {
                    return Err(corrupt_msg(sb, format_args!("inode {} indirect pointer {} out of range", inode.ino(), p)));
                }
                let bh = Buffer::read(sb, u64::from(p))?;
                let n = bh.modify_exclusive(|d| {
                    let mut n = 0u64;
                    for i in from..=to {
                        let at = i.saturating_mul(4);
                        if get_u32(d, at).map_err(|_| EINVAL)? == 0 {
                            put_u32(d, at, UNWRITTEN).map_err(|_| EINVAL)?;
                            n = n.saturating_add(1);
                        }
                    }
                    Ok::<u64, Error>(n)
                })??;
                marked = marked.saturating_add(n);
            }
        }
        inode.set_sectors(sectors(data, &m, bs512));
        drop(m);
        inode.mark_dirty();
        fb = stop.saturating_add(1);
    }
    Ok(marked)
}

/// Allocates and maps a block for `file_block` of a directory or symlink
/// (metadata: not fingerprinted), or returns the one already mapped.
pub(crate) fn allocate_block(inode: &Inode, file_block: u64, delayed: bool) -> Result<u32> {
    if let Some(b) = map_block(inode, file_block)? {
        return Ok(b);
    }
    let b = allocate_data_block(inode, file_block, delayed)?;
    if let Err(e) = set_pointer(inode, file_block, b) {
        let _ = balloc::free_block(inode.sb(), sbi(inode.sb())?, b);
        return Err(e);
    }
    Ok(b)
}

/// Sets a pointer: in the inode (`parent` None) or in indirect block
/// `parent`.
fn set_ptr(sb: &SuperBlock, info: &SbInfo, m: &mut MapState, parent: Option<u32>, idx: u32, b: u32) -> Result {
    match parent {
        None => {
            let slot = m.block.get_mut(idx as usize).ok_or(EINVAL)?;
            *slot = b;
            Ok(())
        }
        Some(p) => {
            if !info.geo.is_data_block(p) {
                return Err(corrupt_msg(sb, format_args!("indirect block {} out of range", p)));
            }
            let bh = Buffer::read(sb, u64::from(p))?;
            bh.modify_exclusive(|d| put_u32(d, (idx as usize).saturating_mul(4), b).map_err(|_| EINVAL))?
        }
    }
}

/// Frees the data blocks of `[start, end)` (file blocks) and the indirect
/// blocks left empty; returns the number of blocks freed.
fn free_range_locked(
    sb: &SuperBlock,
    info: &SbInfo,
    ino: u32,
    m: &mut MapState,
    start: u64,
    end: u64,
    rel: &mut Releaser,
) -> Result<u64> {
    let ppb = u64::from(info.geo.ptrs_per_block());
    let mut freed = 0u64;
    // Direct blocks.
    for i in 0..N_DIRECT {
        let fb = i as u64;
        if fb >= start && fb < end {
            if let Some(slot) = m.block.get_mut(i) {
                if *slot == UNWRITTEN {
                    *slot = 0; // no block: the inode's store records it
                } else if *slot != 0 {
                    if !rel.release(sb, info, *slot)? {
                        break;
                    }
                    *slot = 0;
                    freed = freed.saturating_add(1);
                }
            }
        }
    }
    // Indirect trees: (index in the inode, depth, first file block covered,
    // blocks covered).
    let mut base = N_DIRECT as u64;
    let mut span = ppb;
    for (slot_idx, depth) in finode::TREES {
        let depth = depth as u32;
        let root = m.block.get(slot_idx).copied().unwrap_or(0);
        if root != 0 && start < base.saturating_add(span) && end > base {
            let (n, empty) = free_tree(sb, info, ino, root, depth, base, start, end, rel)?;
            freed = freed.saturating_add(n);
            if empty && rel.take_meta() {
                release_meta_block(sb, info, root)?;
                freed = freed.saturating_add(1);
                if let Some(s) = m.block.get_mut(slot_idx) {
                    *s = 0;
                }
            }
        }
        base = base.saturating_add(span);
        span = span.saturating_mul(ppb);
    }
    m.blocks = m.blocks.saturating_sub(freed);
    m.last_alloc = None;
    Ok(freed)
}

/// Frees `[start, end)` below indirect block `blk` of the given depth
/// covering file blocks from `base`; returns (blocks freed, whether `blk`
/// is now empty and should be freed by the caller).
#[allow(clippy::too_many_arguments)]
fn free_tree(
    sb: &SuperBlock,
    info: &SbInfo,
    ino: u32,
    blk: u32,
    depth: u32,
    base: u64,
    start: u64,
    end: u64,
    rel: &mut Releaser,
) -> Result<(u64, bool)> {
    if !info.geo.is_data_block(blk) {
        return Err(corrupt_msg(sb, format_args!("inode {} indirect pointer {} out of range", ino, blk)));
    }
    let ppb = u64::from(info.geo.ptrs_per_block());
    let child_span = (1..depth).fold(1u64, |a, _| a.saturating_mul(ppb));
    let bh = Buffer::read(sb, u64::from(blk))?;
    let mut freed = 0u64;
    let mut nonzero = 0u64;
    // Clearing unwritten pointers frees nothing, but changes this block:
    // one credit, spent at the first.
    let mut charged = false;
    for i in 0..ppb {
        let cbase = base.saturating_add(i.saturating_mul(child_span));
        let cend = cbase.saturating_add(child_span);
        let p = get_u32(bh.data(), (i as usize).saturating_mul(4)).map_err(|e| corrupt(sb, "indirect block", e))?;
        if p == 0 {
            continue;
        }
        if cend <= start || cbase >= end {
            nonzero = nonzero.saturating_add(1);
            continue;
        }
        if depth == 1 && p == UNWRITTEN {
            if !charged && !rel.spend(1) {
                nonzero = nonzero.saturating_add(1);
                break;
            }
            charged = true;
            bh.modify_exclusive(|d| put_u32(d, (i as usize).saturating_mul(4), 0).map_err(|_| EINVAL))??;
        } else if depth == 1 {
            if !info.geo.is_data_block(p) {
                return Err(corrupt_msg(sb, format_args!("inode {} block pointer {} out of range", ino, p)));
            }
            if !rel.release(sb, info, p)? {
                nonzero = nonzero.saturating_add(1);
                break;
            }
            freed = freed.saturating_add(1);
            bh.modify_exclusive(|d| put_u32(d, (i as usize).saturating_mul(4), 0).map_err(|_| EINVAL))??;
        } else {
            let (n, empty) = free_tree(sb, info, ino, p, depth.saturating_sub(1), cbase, start, end, rel)?;
            freed = freed.saturating_add(n);
            if empty && rel.take_meta() {
                release_meta_block(sb, info, p)?;
                freed = freed.saturating_add(1);
                bh.modify_exclusive(|d| put_u32(d, (i as usize).saturating_mul(4), 0).map_err(|_| EINVAL))??;
            } else {
                nonzero = nonzero.saturating_add(1);
            }
        }
    }
    Ok((freed, nonzero == 0))
}

/// Collects the blocks a truncation step releases, within the credits of
/// one journal handle (`journal::truncate_step_credits`).
pub(crate) struct Releaser {
    /// A regular file's (deduplicated, counted) blocks, whose references
    /// are dropped once the map lock is released (dropping one takes the
    /// filter lock, which writeback takes before the map lock); `None`
    /// for directories and symlinks, whose blocks are freed at once.
    later: Option<KVec<u32>>,
    /// Journal credits this step may still spend.
    budget: u32,
    /// The step stopped because its credits ran out.
    exhausted: bool,
}

impl Releaser {
    /// Spends `cost` credits; false (nothing spent) once they run out.
    fn spend(&mut self, cost: u32) -> bool {
        if self.budget < cost {
            self.exhausted = true;
            return false;
        }
        self.budget = self.budget.saturating_sub(cost);
        true
    }

    /// Releases data block `b`; false once the budget is spent (the block
    /// stays, the caller stops).
    fn release(&mut self, sb: &SuperBlock, info: &SbInfo, b: u32) -> Result<bool> {
        if !self.spend(crate::journal::CREDITS_RELEASE_DATA) {
            return Ok(false);
        }
        match &mut self.later {
            Some(v) => v.push(b, GFP_KERNEL)?,
            None => release_meta_block(sb, info, b)?,
        }
        Ok(true)
    }

    /// Whether an emptied indirect block may be freed in this step (else
    /// it stays, empty, and the next step frees it).
    fn take_meta(&mut self) -> bool {
        self.spend(crate::journal::CREDITS_RELEASE_META)
    }
}

/// Frees a metadata block (indirect, directory or symlink block): revoked
/// in the journal (an older logged copy must never be replayed over its
/// next contents) and its cached buffer forgotten.
pub(crate) fn release_meta_block(sb: &SuperBlock, info: &SbInfo, b: u32) -> Result {
    match crate::vfs::journal::current() {
        Some(h) => h.revoke(u64::from(b), None)?,
        None => {
            if let Ok(bh) = Buffer::read(sb, u64::from(b)) {
                bh.forget();
            }
        }
    }
    balloc::free_block(sb, info, b)
}

/// Frees the blocks of file blocks `[start, end)` of `inode`, in steps of
/// the credits of one handle (`journal::truncate_step_credits`), each step one transaction. The caller
/// puts the inode on the orphan list first when a crash mid-way must be
/// finished at the next mount.
pub(crate) fn free_range(inode: &Inode, start: u64, end: u64) -> Result {
    let sb = inode.sb();
    let info = sbi(sb)?;
    let counted = inode.mode() & finode::S_IFMT == finode::S_IFREG;
    loop {
        let _h = crate::journal::start(
            sb,
            crate::journal::truncate_step_credits(info).saturating_add(crate::journal::CREDITS_TRUNCATE_FIXED),
            crate::journal::REVOKES_TRUNCATE,
        )?;
        let mut rel = Releaser {
            later: if counted { Some(KVec::new()) } else { None },
            budget: crate::journal::truncate_step_credits(info),
            exhausted: false,
        };
        let mut m = inode.data().map.lock();
        let r = free_range_locked(sb, info, inode.ino(), &mut m, start, end, &mut rel);
        let bs512 = u64::from(info.geo.block_size / 512);
        inode.set_sectors(sectors(inode.data(), &m, bs512));
        drop(m);
        inode.mark_dirty();
        // The pointers are gone from the map: now drop their references.
        if let Some(later) = &rel.later {
            for &b in later.iter() {
                crate::dedup::release_block(sb, info, b)?;
            }
        }
        r?;
        if !rel.exhausted {
            return Ok(()); // the step ended before its budget: all done
        }
    }
}

/// Frees every block past `size` bytes.
pub(crate) fn truncate_blocks(inode: &Inode, size: u64) -> Result {
    let bs = u64::from(sbi(inode.sb())?.geo.block_size);
    let first = size.saturating_add(bs.saturating_sub(1)).checked_div(bs).unwrap_or(0);
    free_range(inode, first, u64::MAX)
}

/// `super_operations.evict_inode`: an inode with no links left loses its
/// blocks and its number.
pub(crate) fn evict(inode: &Inode) {
    crate::vfs::inode::truncate_pages_final(inode);
    let sb = inode.sb();
    if inode.nlink() == 0 && !inode.is_bad() && !sb.is_rdonly() {
        if let Err(e) = delete_inode(inode) {
            pr_err!("livedfs ({}): could not free inode {}: {:?}\n", sb.id(), inode.ino(), e);
        }
    }
    // (Preallocated space of a file that stays on disk stays promised:
    // the volume's count holds it, and the inode brings it back when it
    // is read again.)
    // Any delayed reservations left (should be none after truncation).
    let left = inode.data().reserved.load(Ordering::Relaxed);
    if left > 0 {
        release_reserved(inode, left);
    }
    if let Ok(info) = sbi(sb) {
        if let Some(j) = &info.journal {
            crate::vfs::inode::release_jinode(j, inode);
        }
    }
    crate::vfs::inode::clear(inode);
}

/// Frees an inode without links: its blocks (in steps, on the orphan list
/// since the unlink), then its number, in a last transaction that also
/// takes it off the orphan list.
fn delete_inode(inode: &Inode) -> Result {
    let sb = inode.sb();
    let info = sbi(sb)?;
    // First, so that `blocks` counts the inode's own blocks below.
    crate::xattr::release_inode(inode)?;
    let is_dir = inode.mode() & finode::S_IFMT == finode::S_IFDIR;
    let has_blocks = !matches!(inode.mode() & finode::S_IFMT, finode::S_IFCHR | finode::S_IFBLK)
        && !(inode.mode() & finode::S_IFMT == finode::S_IFLNK && inode.data().map.lock().blocks == 0);
    if has_blocks {
        free_range(inode, 0, u64::MAX)?;
    }
    let _h = crate::journal::start(sb, crate::journal::CREDITS_NAMEI, 0)?;
    trim_prealloc(inode, 0);
    orphan_remove(sb, info, inode)?;
    inode.data().meta.lock().dtime = now();
    inode.set_size(0);
    store(inode)?;
    crate::ialloc::free_inode(sb, info, inode.ino(), is_dir)
}

/// Puts `inode` on the orphan list (an unlinked file still open, or a
/// truncation in progress), so a crash before it is done is finished at the
/// next mount. The list is kept in memory too (`DiskState::orphans`, tail
/// first, so the head is added and removed in constant time), the source
/// of every successor pointer written to disk.
pub(crate) fn orphan_add(sb: &SuperBlock, inode: &Inode) -> Result {
    let info = sbi(sb)?;
    let mut d = info.disk.lock();
    let ino = inode.ino();
    if d.orphans.iter().any(|&i| i == ino) {
        return Ok(());
    }
    d.orphans.push(ino, GFP_KERNEL)?;
    inode.data().orphan.store(true, Ordering::Release);
    d.sb.orphan_head = ino;
    store_locked(inode, &d)?;
    crate::super_::write_super_in(info, &mut d)
}

/// Takes `inode` off the orphan list: its predecessor (or the superblock)
/// now points past it. The predecessor is updated on disk directly: its
/// own stores also happen under the `disk` lock and read the list.
pub(crate) fn orphan_remove(sb: &SuperBlock, info: &SbInfo, inode: &Inode) -> Result {
    let ino = inode.ino();
    let mut d = info.disk.lock();
    // Searched from the head (the end of the vector): processing at mount
    // and most removals take the head.
    let Some(pos) = last_position(&d.orphans, ino) else {
        return Ok(());
    };
    let next = pos.checked_sub(1).and_then(|p| d.orphans.get(p).copied()).unwrap_or(0);
    match d.orphans.get(pos.saturating_add(1)).copied() {
        None => {
            d.sb.orphan_head = next;
            crate::super_::write_super_in(info, &mut d)?;
        }
        Some(pred) => {
            let mut di = read_disk_inode(sb, pred, true)?;
            di.next_orphan = next;
            write_disk_inode(sb, pred, &di, false)?;
        }
    }
    // The head is the last element: constant time.
    crate::vfs::vec_remove_k(&mut d.orphans, pos);
    inode.data().orphan.store(false, Ordering::Release);
    store_locked(inode, &d)
}

/// At mount: the orphan list as the disk holds it, into memory.
pub(crate) fn load_orphans(sb: &SuperBlock, info: &SbInfo) -> Result {
    let mut d = info.disk.lock();
    let mut cur = d.sb.orphan_head;
    // Inodes seen, to find a loop in O(n log n) (a crafted list may be as
    // long as the inode table).
    let mut seen: RBTree<u32, ()> = RBTree::new();
    while cur != 0 {
        if !info.geo.valid_ino(cur) || seen.get(&cur).is_some() {
            return Err(corrupt_msg(sb, format_args!("orphan list broken at inode {}", cur)));
        }
        seen.insert(RBTreeNode::new(cur, (), GFP_KERNEL)?);
        d.orphans.push(cur, GFP_KERNEL)?;
        cur = read_disk_inode(sb, cur, true)?.next_orphan;
    }
    // Read head first; kept tail first.
    d.orphans.as_mut_slice().reverse();
    Ok(())
}

/// At a read-write mount: finishes what a crash interrupted for the
/// inodes on the orphan list: frees those without links (unlinked while
/// open), truncates the others to their size (a truncation in progress).
pub(crate) fn process_orphans(sb: &SuperBlock, info: &SbInfo) -> Result {
    load_orphans(sb, info)?;
    let mut n = 0u32;
    loop {
        let head = info.disk.lock().orphans.last().copied();
        let Some(ino) = head else { break };
        let inode = iget_inner(sb, ino, true)?;
        inode.data().orphan.store(true, Ordering::Release);
        if inode.nlink() != 0 {
            truncate_blocks(&inode, inode.size())?;
            let _h = crate::journal::start(sb, crate::journal::CREDITS_NAMEI, 0)?;
            orphan_remove(sb, info, &inode)?;
        }
        // With no links, the final iput evicts it, which frees it and takes
        // it off the list.
        drop(inode);
        if info.disk.lock().orphans.last().copied() == Some(ino) {
            return Err(corrupt_msg(sb, format_args!("orphan inode {} could not be released", ino)));
        }
        n = n.saturating_add(1);
    }
    if n > 0 {
        pr_info!("livedfs ({}): processed {} orphan inode(s)\n", sb.id(), n);
    }
    Ok(())
}
