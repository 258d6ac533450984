//! Inodes: the VFS `inode` embedded in livedfs's own per-inode structure,
//! allocated from the module's slab cache.

use crate::inode::InodeData;
use crate::sys;
use crate::vfs::SuperBlock;
use core::cell::UnsafeCell;
use core::ptr::{addr_of, addr_of_mut, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::c_str;
use kernel::prelude::*;
use kernel::types::Opaque;

/// livedfs's in-memory inode: private data next to the VFS inode, like
/// ext2's `ext2_inode_info` around `vfs_inode`.
#[repr(C)]
pub(crate) struct FsInode {
    /// Written only while the inode is I_NEW (exclusively ours), read after.
    data: UnsafeCell<InodeData>,
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
    // initialised; `data` is uninitialised memory we now initialise.
    unsafe {
        addr_of_mut!((*fi).data).write(UnsafeCell::new(InodeData::default()));
        Opaque::raw_get(addr_of!((*fi).vfs))
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
        // SAFETY: `self` is a livedfs inode, so it sits inside an FsInode;
        // `data` is written only through `NewInode` while the inode is I_NEW
        // and not yet visible to anyone else.
        unsafe { &*(*container_of(self.as_ptr())).data.get() }
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
pub(crate) struct NewInode(NonNull<sys::inode>);

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
        Ok(Iget::New(NewInode(p)))
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
    /// A symlink whose target (NUL-terminated) is in the private data.
    FastSymlink,
    /// A device node, fifo or socket: (mode, device number).
    Special(u16, u32),
}

impl NewInode {
    fn ptr(&self) -> *mut sys::inode {
        self.0.as_ptr()
    }

    /// The private data, writable while I_NEW.
    pub(crate) fn data_mut(&mut self) -> &mut InodeData {
        // SAFETY: I_NEW: nobody else can reach this inode until `finish`,
        // and `&mut self` makes this the only borrow.
        unsafe { &mut *(*container_of(self.ptr())).data.get() }
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
                // SAFETY: I_NEW inode; the tables are statics.
                unsafe {
                    (*i).i_op = &FILE_IOPS.0;
                    (*i).__bindgen_anon_3.i_fop = &FILE_FOPS.0;
                }
            }
            InodeKind::FastSymlink => {
                let link = self.data_mut().fast_link.as_mut_ptr();
                // SAFETY: I_NEW inode; `fast_link` lives inside the same
                // FsInode as the VFS inode, so it outlives every use of
                // `i_link`, and it is NUL-terminated (size < 60).
                unsafe {
                    (*i).i_op = &sys::simple_symlink_inode_operations;
                    (*i).__bindgen_anon_4.i_link = link.cast();
                }
            }
            InodeKind::Special(mode, dev) => {
                // SAFETY: I_NEW inode; init_special_inode sets the fifo,
                // socket or device operations.
                unsafe {
                    (*i).i_op = &SPECIAL_IOPS.0;
                    sys::init_special_inode(i, mode, sys::new_decode_dev(dev));
                }
            }
        }
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
        // SAFETY: an I_NEW inode we did not finish: iget_failed marks it
        // bad, unlocks it and drops our reference.
        unsafe { sys::iget_failed(self.0.as_ptr()) };
    }
}
