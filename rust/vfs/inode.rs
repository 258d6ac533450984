//! Inodes: the VFS `inode` embedded in livedfs's own per-inode structure,
//! allocated from the module's slab cache.

use crate::inode::InodeData;
use crate::sys;
use crate::vfs::SuperBlock;
use core::ptr::{addr_of, addr_of_mut, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::c_str;
use kernel::prelude::*;
use kernel::types::Opaque;

/// livedfs's in-memory inode: private data next to the VFS inode, like
/// ext2's `ext2_inode_info` around `vfs_inode`. The private data has its
/// own locks (pinned in place, initialised in `alloc_inode`).
#[repr(C)]
pub(crate) struct FsInode {
    data: InodeData,
    vfs: Opaque<sys::inode>,
}

static CACHE: AtomicPtr<sys::kmem_cache> = AtomicPtr::new(core::ptr::null_mut());

/// Creates the inode slab cache (module init).
pub(crate) fn init_cache() -> Result {
    // SAFETY: the name is a static C string; size and alignment describe
    // `FsInode`; the constructor initialises the embedded VFS inode once
    // per slab object, as inode_init_once requires.
    let cache = unsafe {
        sys::livedfs_inode_cache_create(
            c_str!("livedfs_inode_cache").as_char_ptr(),
            core::mem::size_of::<FsInode>() as u32,
            core::mem::align_of::<FsInode>() as u32,
            Some(inode_ctor),
        )
    };
    if cache.is_null() {
        return Err(ENOMEM);
    }
    CACHE.store(cache, Ordering::Release);
    Ok(())
}

/// Destroys the inode slab cache (module exit, after unregistering).
pub(crate) fn destroy_cache() {
    let cache = CACHE.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if cache.is_null() {
        return;
    }
    // SAFETY: the file system is unregistered, so no new inodes appear;
    // rcu_barrier waits for the RCU-delayed frees of evicted inodes, after
    // which the cache is empty (kmem_cache_destroy reports any leak).
    unsafe {
        sys::rcu_barrier();
        sys::kmem_cache_destroy(cache);
    }
}

unsafe extern "C" fn inode_ctor(obj: *mut kernel::ffi::c_void) {
    let fi = obj.cast::<FsInode>();
    // SAFETY: `obj` is a fresh slab object of `size_of::<FsInode>()` bytes;
    // we initialise only its embedded VFS inode, as inode_init_once wants.
    unsafe { sys::inode_init_once(Opaque::raw_get(addr_of!((*fi).vfs))) };
}

fn container_of(inode: *mut sys::inode) -> *mut FsInode {
    let off = core::mem::offset_of!(FsInode, vfs);
    inode.cast::<u8>().wrapping_sub(off).cast::<FsInode>()
}

/// `super_operations.alloc_inode`.
pub(crate) unsafe extern "C" fn alloc_inode(sb: *mut sys::super_block) -> *mut sys::inode {
    let cache = CACHE.load(Ordering::Acquire);
    // SAFETY: `sb` is the live super block the VFS allocates for; the
    // cache exists while the file system is registered.
    let fi = unsafe { sys::livedfs_alloc_inode_sb(sb, cache) }.cast::<FsInode>();
    if fi.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: `fi` is a valid slab object whose `vfs` part the constructor
    // initialised; `data` is uninitialised memory we now initialise in
    // place (it never moves: slab objects are not relocated).
    unsafe {
        if InodeData::new().__pinned_init(addr_of_mut!((*fi).data)).is_err() {
            sys::kmem_cache_free(cache, fi.cast());
            return core::ptr::null_mut();
        }
        let vfs = Opaque::raw_get(addr_of!((*fi).vfs));
        sys::jbd2_journal_init_jbd_inode((*fi).data.jinode.get(), vfs);
        vfs
    }
}

/// `super_operations.free_inode` (called after an RCU grace period).
pub(crate) unsafe extern "C" fn free_inode(inode: *mut sys::inode) {
    let fi = container_of(inode);
    // SAFETY: `inode` was returned by `alloc_inode`, so `fi` is the slab
    // object holding it; the VFS is done with it; drop our data, then free.
    unsafe {
        core::ptr::drop_in_place(addr_of_mut!((*fi).data));
        sys::kmem_cache_free(CACHE.load(Ordering::Acquire), fi.cast());
    }
}

/// A VFS inode of livedfs, borrowed.
#[repr(transparent)]
pub(crate) struct Inode(Opaque<sys::inode>);

impl Inode {
    /// # Safety
    ///
    /// `ptr` must be a live livedfs inode (allocated by `alloc_inode`) that
    /// stays alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut sys::inode) -> &'a Inode {
        // SAFETY: transparent wrapper; validity guaranteed by the caller.
        unsafe { &*ptr.cast::<Inode>() }
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::inode {
        self.0.get()
    }

    pub(crate) fn ino(&self) -> u32 {
        // SAFETY: plain field read of a live inode; livedfs inode numbers
        // are 32-bit (iget takes a u32).
        unsafe { (*self.as_ptr()).i_ino as u32 }
    }

    /// The VFS generation (`i_generation`, which file handles carry).
    pub(crate) fn i_generation(&self) -> u32 {
        // SAFETY: plain field read of a live inode; set while it is I_NEW.
        unsafe { (*self.as_ptr()).i_generation }
    }

    pub(crate) fn sb(&self) -> &SuperBlock {
        // SAFETY: an inode's super block outlives it.
        unsafe { SuperBlock::from_raw((*self.as_ptr()).i_sb) }
    }

    pub(crate) fn mode(&self) -> u16 {
        // SAFETY: plain field read of a live inode.
        unsafe { (*self.as_ptr()).i_mode }
    }

    pub(crate) fn size(&self) -> u64 {
        // SAFETY: i_size_read is safe on a live inode.
        let s = unsafe { sys::i_size_read(self.as_ptr()) };
        s.max(0) as u64
    }

    /// livedfs's private data for this inode.
    pub(crate) fn data(&self) -> &InodeData {
        // SAFETY: `self` is a livedfs inode, so it sits inside an FsInode
        // whose `data` was initialised in alloc_inode and lives as long as
        // the inode; it is only mutated through its own locks and atomics.
        unsafe { &(*container_of(self.as_ptr())).data }
    }

    /// Link count.
    pub(crate) fn nlink(&self) -> u32 {
        // SAFETY: plain read of a live inode's field.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.i_nlink }
    }

    /// Owner, group, and the three VFS timestamps, for write_inode.
    pub(crate) fn uid_gid(&self) -> (u32, u32) {
        // SAFETY: i_uid_read/i_gid_read only read the live inode.
        unsafe { (sys::i_uid_read(self.as_ptr()), sys::i_gid_read(self.as_ptr())) }
    }

    /// (atime, mtime, ctime) as (seconds, nanoseconds).
    pub(crate) fn times(&self) -> [(i64, u32); 3] {
        let conv = |t: sys::timespec64| (t.tv_sec, t.tv_nsec.clamp(0, 999_999_999) as u32);
        // SAFETY: the getters only read the live inode.
        unsafe {
            [
                conv(sys::inode_get_atime(self.as_ptr())),
                conv(sys::inode_get_mtime(self.as_ptr())),
                conv(sys::inode_get_ctime(self.as_ptr())),
            ]
        }
    }

    /// Sets `i_blocks` (caller holds the inode's map lock).
    pub(crate) fn set_sectors(&self, sectors: u64) {
        // SAFETY: i_blocks is protected by the file system's own lock,
        // which the caller holds (the map lock).
        unsafe { (*self.as_ptr()).i_blocks = sectors };
    }

    /// Device number of a device node (encoded).
    pub(crate) fn rdev(&self) -> u32 {
        // SAFETY: plain read of a live inode's field.
        unsafe { (*self.as_ptr()).i_rdev }
    }

    /// Sets the size (caller holds i_rwsem, as i_size_write requires).
    pub(crate) fn set_size(&self, size: u64) {
        // SAFETY: the caller holds the inode lock (documented contract).
        unsafe { sys::i_size_write(self.as_ptr(), size.min(i64::MAX as u64) as i64) };
    }

    /// Sets the VFS's view of the inode flags (immutable, append-only,
    /// noatime, sync, dirsync), from livedfs's `FL_*` flags.
    pub(crate) fn set_vfs_flags(&self, fl: u32) {
        use crate::format::inode as fi;
        let mut v: kernel::ffi::c_uint = 0;
        for (f, s) in [
            (fi::FL_SYNC, sys::S_SYNC),
            (fi::FL_NOATIME, sys::S_NOATIME),
            (fi::FL_APPEND, sys::S_APPEND),
            (fi::FL_IMMUTABLE, sys::S_IMMUTABLE),
            (fi::FL_DIRSYNC, sys::S_DIRSYNC),
        ] {
            if fl & f != 0 {
                v |= s;
            }
        }
        let mask = sys::S_SYNC | sys::S_NOATIME | sys::S_APPEND | sys::S_IMMUTABLE | sys::S_DIRSYNC;
        // SAFETY: live inode; the VFS reads i_flags without a lock and
        // file systems set these bits under the inode lock (or while the
        // inode is new), as the callers here do.
        unsafe {
            let f = core::ptr::addr_of_mut!((*self.as_ptr()).i_flags);
            core::ptr::write_volatile(f, (core::ptr::read_volatile(f) & !mask) | v);
        }
    }

    /// Whether changes to the inode must be durable when a call returns
    /// (IS_SYNC: the inode's S_SYNC, or a volume mounted `sync`).
    pub(crate) fn is_sync(&self) -> bool {
        // SAFETY: plain field reads of a live inode and its super block.
        unsafe {
            core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).i_flags)) & sys::S_SYNC != 0
                || (*(*self.as_ptr()).i_sb).s_flags & sys::SB_SYNCHRONOUS != 0
        }
    }

    /// Marks the inode dirty so write_inode will store it.
    pub(crate) fn mark_dirty(&self) {
        // SAFETY: live inode; I_DIRTY is the flag set mark_inode_dirty uses.
        unsafe { sys::__mark_inode_dirty(self.as_ptr(), sys::I_DIRTY as kernel::ffi::c_int) };
    }

    /// Sets ctime and mtime to now (directory or data changed).
    pub(crate) fn touch_cm(&self) {
        // SAFETY: live inode; the caller holds the inode lock.
        unsafe {
            let now = sys::inode_set_ctime_current(self.as_ptr());
            sys::inode_set_mtime_to_ts(self.as_ptr(), now);
        }
    }

    /// Sets ctime to now (metadata changed).
    pub(crate) fn touch_c(&self) {
        // SAFETY: live inode; the caller holds the inode lock.
        unsafe {
            sys::inode_set_ctime_current(self.as_ptr());
        }
    }

    pub(crate) fn inc_nlink(&self) {
        // SAFETY: live inode; callers hold the inode lock (VFS namei rules).
        unsafe { sys::inc_nlink(self.as_ptr()) };
    }

    pub(crate) fn drop_nlink(&self) {
        // SAFETY: as above; callers check nlink > 0 first.
        unsafe { sys::drop_nlink(self.as_ptr()) };
    }

    pub(crate) fn clear_nlink(&self) {
        // SAFETY: as above.
        unsafe { sys::clear_nlink(self.as_ptr()) };
    }

    /// Whether the inode is marked bad (its on-disk copy failed checks).
    pub(crate) fn is_bad(&self) -> bool {
        // SAFETY: only reads the live inode.
        unsafe { sys::is_bad_inode(self.as_ptr()) }
    }

    /// jbd2's data for this inode.
    pub(crate) fn jinode(&self) -> *mut sys::jbd2_inode {
        self.data().jinode.get()
    }

    /// The inode's page cache.
    pub(crate) fn mapping(&self) -> *mut sys::address_space {
        // SAFETY: i_mapping is set at allocation and never changes.
        unsafe { (*self.as_ptr()).i_mapping }
    }

    /// The first run of file blocks in `[first, last]` whose data waits
    /// in the page cache for delayed allocation: `(start, count)`.
    pub(crate) fn delayed_run(&self, first: u64, last: u64) -> Option<(u64, u64)> {
        let mut start = first;
        // SAFETY: a live inode; the helper locks each folio it reads.
        let n = unsafe { sys::livedfs_delayed_run(self.as_ptr(), &mut start, last) };
        (n > 0).then_some((start, n))
    }
}

/// A counted reference to an inode (`iput` on drop).
pub(crate) struct InodeRef(NonNull<sys::inode>);

// SAFETY: inode references may be dropped from any thread.
unsafe impl Send for InodeRef {}

impl InodeRef {
    /// Gives up ownership of the reference to a C function that takes it.
    pub(crate) fn into_raw(self) -> *mut sys::inode {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p
    }
}

impl core::ops::Deref for InodeRef {
    type Target = Inode;
    fn deref(&self) -> &Inode {
        // SAFETY: we hold a reference, so the inode is alive.
        unsafe { Inode::from_raw(self.0.as_ptr()) }
    }
}

impl Drop for InodeRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { sys::iput(self.0.as_ptr()) };
    }
}

/// An inode just created by `iget_locked` (I_NEW): ours alone until
/// [`NewInode::finish`] unlocks it; dropped unfinished, it is failed
/// (`iget_failed`), so a half-read inode is never visible.
pub(crate) struct NewInode(NonNull<sys::inode>, bool);

/// Result of looking an inode up in the inode cache.
pub(crate) enum Iget {
    Cached(InodeRef),
    New(NewInode),
}

/// Finds inode `ino` of `sb` in the inode cache or allocates it I_NEW.
pub(crate) fn iget(sb: &SuperBlock, ino: u32) -> Result<Iget> {
    // SAFETY: `sb` is live; iget_locked returns a referenced inode or NULL.
    let p = unsafe { sys::iget_locked(sb.as_ptr(), ino as kernel::ffi::c_ulong) };
    let p = NonNull::new(p).ok_or(ENOMEM)?;
    // SAFETY: `p` is a live inode we hold a reference to.
    let state = unsafe { (*p.as_ptr()).i_state };
    if state & sys::I_NEW != 0 {
        Ok(Iget::New(NewInode(p, false)))
    } else {
        Ok(Iget::Cached(InodeRef(p)))
    }
}

/// Timestamp in the VFS's form.
fn ts(sec: i64, nsec: u32) -> sys::timespec64 {
    sys::timespec64 {
        tv_sec: sec,
        tv_nsec: nsec.min(999_999_999) as kernel::ffi::c_long,
    }
}

/// Which operation tables an inode gets.
pub(crate) enum InodeKind {
    Dir,
    Regular,
    /// A symlink whose target is in a data block (read via the page cache).
    SlowSymlink,
    /// A symlink whose target (NUL-terminated) is in the private data.
    FastSymlink,
    /// A device node, fifo or socket: (mode, device number).
    Special(u16, u32),
}

impl NewInode {
    fn ptr(&self) -> *mut sys::inode {
        self.0.as_ptr()
    }

    /// The inode (I_NEW: ours alone until `finish`).
    pub(crate) fn inode(&self) -> &Inode {
        // SAFETY: the inode is live while we hold it.
        unsafe { Inode::from_raw(self.ptr()) }
    }

    /// The fast-symlink buffer, writable while I_NEW.
    pub(crate) fn fast_link_mut(&mut self) -> &mut [u8; crate::inode::FAST_LINK_LEN] {
        // SAFETY: I_NEW: nobody else can reach this inode until `finish`,
        // and `&mut self` makes this the only borrow of the buffer, which is
        // read-only once the inode is visible.
        unsafe { &mut *(*container_of(self.ptr())).data.fast_link.get() }
    }

    /// Fills the VFS inode's attributes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn set_attrs(
        &mut self,
        mode: u16,
        uid: u32,
        gid: u32,
        nlink: u32,
        size: u64,
        blocks_512: u64,
        generation: u32,
        times: [(i64, u32); 3],
    ) {
        let i = self.ptr();
        // SAFETY: the inode is live and exclusively ours (I_NEW); these are
        // the documented setters for each field.
        unsafe {
            (*i).i_mode = mode;
            sys::i_uid_write(i, uid);
            sys::i_gid_write(i, gid);
            sys::set_nlink(i, nlink);
            sys::i_size_write(i, size.min(i64::MAX as u64) as i64);
            (*i).i_blocks = blocks_512;
            (*i).i_generation = generation;
            sys::inode_set_atime_to_ts(i, ts(times[0].0, times[0].1));
            sys::inode_set_mtime_to_ts(i, ts(times[1].0, times[1].1));
            sys::inode_set_ctime_to_ts(i, ts(times[2].0, times[2].1));
        }
    }

    /// Installs the operation tables for the inode's kind.
    pub(crate) fn set_kind(&mut self, kind: InodeKind) {
        use crate::vfs::fstype::*;
        let i = self.ptr();
        match kind {
            InodeKind::Dir => {
                // SAFETY: I_NEW inode; the tables are statics.
                unsafe {
                    (*i).i_op = &DIR_IOPS.0;
                    (*i).__bindgen_anon_3.i_fop = &DIR_FOPS.0;
                }
            }
            InodeKind::Regular => {
                // Stable writes: a folio under writeback can't change, so the
                // fingerprint taken at writeback is the data written.
                // SAFETY: I_NEW inode; the tables are statics; `i_data` is
                // the inode's own address space.
                unsafe {
                    (*i).i_op = &FILE_IOPS.0;
                    (*i).__bindgen_anon_3.i_fop = &FILE_FOPS.0;
                    (*i).i_data.a_ops = &AOPS.0;
                    sys::mapping_set_stable_writes(&mut (*i).i_data);
                }
            }
            InodeKind::SlowSymlink => {
                // SAFETY: I_NEW inode; page_get_link reads the target
                // through the page cache, which must not use highmem.
                unsafe {
                    (*i).i_op = &SYMLINK_IOPS.0;
                    (*i).i_data.a_ops = &AOPS.0;
                    sys::inode_nohighmem(i);
                }
            }
            InodeKind::FastSymlink => {
                let link = self.fast_link_mut().as_mut_ptr();
                // SAFETY: I_NEW inode; `fast_link` lives inside the same
                // FsInode as the VFS inode, so it outlives every use of
                // `i_link`, and it is NUL-terminated (size < 60).
                unsafe {
                    (*i).i_op = &FAST_SYMLINK_IOPS.0;
                    (*i).__bindgen_anon_4.i_link = link.cast();
                }
            }
            InodeKind::Special(mode, dev) => {
                // SAFETY: I_NEW inode; init_special_inode sets the fifo,
                // socket or device operations.
                unsafe {
                    (*i).i_op = &SPECIAL_IOPS.0;
                    sys::init_special_inode(i, mode, dev);
                }
            }
        }
    }

    /// Sets owner, group and mode from the creating task and directory
    /// (set-group-ID directories pass their group on), and the times to now.
    pub(crate) fn init_owner(&mut self, idmap: *mut sys::mnt_idmap, dir: &Inode, mode: u16) {
        let i = self.ptr();
        // SAFETY: I_NEW inode, ours alone; inode_init_owner reads the
        // parent (locked by the VFS) and the current credentials.
        unsafe {
            sys::inode_init_owner(idmap, i, dir.as_ptr(), mode);
            let now = sys::inode_set_ctime_current(i);
            sys::inode_set_mtime_to_ts(i, now);
            sys::inode_set_atime_to_ts(i, now);
            (*i).i_generation = random_u32();
        }
    }

    /// Gives a created inode its dentry and makes it visible.
    pub(crate) fn instantiate(self, dentry: &crate::vfs::Dentry) {
        let p = self.0;
        core::mem::forget(self);
        // SAFETY: the inode is I_NEW, fully initialised and linked on disk;
        // d_instantiate_new attaches it, unlocks it, and takes over our
        // reference.
        unsafe { sys::d_instantiate_new(dentry.as_ptr(), p.as_ptr()) };
    }

    /// Gives a new unlinked inode to an O_TMPFILE open: the dentry of
    /// `file` gets it (its link count drops to 0), and the open completes.
    pub(crate) fn into_tmpfile(self, file: *mut sys::file) -> Result {
        let p = self.0;
        core::mem::forget(self);
        // SAFETY: `file` is the open being made by the VFS for this
        // O_TMPFILE; d_tmpfile takes over our reference to the I_NEW
        // inode, which is fully initialised (and on the orphan list).
        let r = unsafe {
            sys::d_tmpfile(file, p.as_ptr());
            sys::unlock_new_inode(p.as_ptr());
            sys::finish_open_simple(file, 0)
        };
        if r != 0 {
            return Err(Error::from_errno(r));
        }
        Ok(())
    }

    /// Unlocks the inode and makes it visible.
    pub(crate) fn finish(self) -> InodeRef {
        let p = self.0;
        core::mem::forget(self);
        // SAFETY: the inode is I_NEW and fully initialised; our reference
        // moves into the returned InodeRef.
        unsafe { sys::unlock_new_inode(p.as_ptr()) };
        InodeRef(p)
    }
}

impl Drop for NewInode {
    fn drop(&mut self) {
        if self.1 {
            // SAFETY: a newly created inode whose creation failed: with no
            // links, discard_new_inode unlocks it and the final iput evicts
            // it, which frees it on disk.
            unsafe {
                sys::clear_nlink(self.0.as_ptr());
                sys::discard_new_inode(self.0.as_ptr());
            }
        } else {
            // SAFETY: an I_NEW inode we did not finish: iget_failed marks it
            // bad, unlocks it and drops our reference.
            unsafe { sys::iget_failed(self.0.as_ptr()) };
        }
    }
}

/// Allocates a VFS inode for a new on-disk inode `ino` (already allocated in
/// the inode bitmap) and hashes it I_NEW. Dropped unfinished, it is
/// discarded (and, with no links, freed on disk at eviction).
pub(crate) fn create(sb: &SuperBlock, ino: u32) -> Result<NewInode> {
    // SAFETY: live super block; new_inode returns a referenced inode of
    // ours (from alloc_inode) or NULL.
    let p = NonNull::new(unsafe { sys::new_inode(sb.as_ptr()) }).ok_or(ENOMEM)?;
    // SAFETY: the new inode is ours alone; insert_inode_locked hashes it
    // with I_NEW, failing if the number is in use (corruption).
    let r = unsafe {
        (*p.as_ptr()).i_ino = ino as kernel::ffi::c_ulong;
        sys::insert_inode_locked(p.as_ptr())
    };
    if r != 0 {
        // SAFETY: not hashed; plain drop of our reference. Zero links so
        // eviction does not touch the on-disk inode someone else owns.
        unsafe {
            sys::clear_nlink(p.as_ptr());
            sys::make_bad_inode(p.as_ptr());
            sys::iput(p.as_ptr());
        }
        return Err(crate::errors::corrupt_msg(sb, format_args!("inode {} allocated twice", ino)));
    }
    Ok(NewInode(p, true))
}

/// Drops the inode's page cache for good (eviction).
pub(crate) fn truncate_pages_final(inode: &Inode) {
    // SAFETY: called from evict_inode, the last user of the inode.
    unsafe { sys::truncate_inode_pages_final(&mut (*inode.as_ptr()).i_data) };
}

/// Finishes eviction (`clear_inode`).
pub(crate) fn clear(inode: &Inode) {
    // SAFETY: called once, at the end of evict_inode.
    unsafe { sys::clear_inode(inode.as_ptr()) };
}


/// A random 32-bit number (inode generations).
pub(crate) fn random_u32() -> u32 {
    // SAFETY: the kernel's random pool, callable from process context.
    unsafe { sys::get_random_u32() }
}

/// Writes a slow symlink's target through the page cache.
pub(crate) fn page_symlink(inode: &Inode, target: &[u8]) -> Result {
    let mut buf = KVec::with_capacity(target.len().saturating_add(1), GFP_KERNEL)?;
    buf.extend_from_slice(target, GFP_KERNEL)?;
    buf.push(0, GFP_KERNEL)?;
    // SAFETY: I_NEW inode with our address-space operations; `buf` is a
    // NUL-terminated copy valid for the call; the length counts the NUL,
    // as page_symlink expects.
    let r = unsafe { sys::page_symlink(inode.as_ptr(), buf.as_ptr().cast(), buf.len() as kernel::ffi::c_int) };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// Writes back every dirty page of `inode` and waits for it.
pub(crate) fn write_back(inode: &Inode) -> Result {
    // SAFETY: a live inode of ours; its mapping lives as long as it does.
    let r = unsafe { sys::filemap_write_and_wait_range(inode.mapping(), 0, i64::MAX) };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// Attaches an existing inode to a new dentry (hard link), taking a
/// reference for it.
pub(crate) fn instantiate_existing(dentry: &crate::vfs::Dentry, inode: &Inode) {
    // SAFETY: the VFS holds the inode (via the old dentry) and the parent
    // lock; d_instantiate consumes the reference ihold takes.
    unsafe {
        sys::ihold(inode.as_ptr());
        sys::d_instantiate(dentry.as_ptr(), inode.as_ptr());
    }
}

/// Detaches the inode from the journal's ordered-data lists (eviction).
pub(crate) fn release_jinode(journal: &crate::vfs::journal::Journal, inode: &Inode) {
    if let Ok(j) = journal.as_ptr() {
        // SAFETY: live journal; the inode's jbd2 data was initialised at
        // allocation; called once, before clear_inode.
        unsafe { sys::jbd2_journal_release_jbd_inode(j, inode.jinode()) };
    }
}
