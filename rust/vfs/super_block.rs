//! The super block of a mounted livedfs volume, and its private data.

use crate::super_::SbInfo;
use crate::sys;
use kernel::prelude::*;
use kernel::types::Opaque;

/// A VFS `super_block`, borrowed for the duration of a callback.
#[repr(transparent)]
pub(crate) struct SuperBlock(Opaque<sys::super_block>);

impl SuperBlock {
    /// # Safety
    ///
    /// `ptr` must point to a live `super_block` of the livedfs type that
    /// stays alive for `'a` (true inside every VFS callback on it).
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut sys::super_block) -> &'a SuperBlock {
        // SAFETY: `SuperBlock` is a transparent wrapper of the C struct and
        // the caller guarantees the pointer is valid for `'a`.
        unsafe { &*ptr.cast::<SuperBlock>() }
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::super_block {
        self.0.get()
    }

    /// The device name (`s_id`, e.g. "vdb"), for messages.
    pub(crate) fn id(&self) -> crate::vfs::Name<'_> {
        // SAFETY: `s_id` is a 32-byte array, NUL-terminated by the VFS
        // before fill_super and unchanged while the super block lives.
        unsafe {
            let id = &(*self.as_ptr()).s_id;
            crate::vfs::Name(crate::vfs::c_str_bytes(id.as_ptr(), id.len()))
        }
    }

    /// Sets the block size for buffer I/O; EINVAL if the device cannot do
    /// it (logical sector larger than `size`).
    pub(crate) fn set_block_size(&self, size: u32) -> Result {
        // SAFETY: valid super block during fill_super; sb_set_blocksize
        // returns 0 on failure and the size otherwise.
        let r = unsafe { sys::sb_set_blocksize(self.as_ptr(), size as kernel::ffi::c_int) };
        if r == 0 {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Sets the smallest block size the device allows, at least `size`;
    /// returns it.
    pub(crate) fn set_min_block_size(&self, size: u32) -> Result<u32> {
        // SAFETY: valid super block during fill_super.
        let r = unsafe { sys::sb_min_blocksize(self.as_ptr(), size as kernel::ffi::c_int) };
        if r <= 0 {
            return Err(EINVAL);
        }
        Ok(r as u32)
    }

    /// The block size the device is set to (the volume's, once mounted).
    pub(crate) fn block_size(&self) -> u32 {
        // SAFETY: plain field read of a live super block.
        unsafe { (*self.as_ptr()).s_blocksize as u32 }
    }

    /// Whether the volume is mounted read-only.
    pub(crate) fn is_rdonly(&self) -> bool {
        // SAFETY: plain field read of a live super block.
        unsafe { (*self.as_ptr()).s_flags & sys::SB_RDONLY != 0 }
    }

    /// Turns the mount read-only after errors (errors=remount-ro), as ext4
    /// does: new writers are refused from here on.
    pub(crate) fn set_rdonly_on_error(&self) {
        // SAFETY: a single flag bit set on a live super block; the VFS
        // reads s_flags without locks (sb_rdonly), and ext4 sets it the
        // same way from its error handler.
        unsafe {
            let flags = core::ptr::addr_of_mut!((*self.as_ptr()).s_flags);
            core::ptr::write_volatile(flags, core::ptr::read_volatile(flags) | sys::SB_RDONLY);
        }
    }

    /// Runs `f` with the volume marked writable, then marks it read-only
    /// again: for the orphans a remount read-write must finish before it
    /// returns (the VFS clears SB_RDONLY only after reconfigure), as
    /// ext4_orphan_cleanup does at a read-only mount. Only from
    /// reconfigure, where nothing else writes to the volume.
    pub(crate) fn with_rdonly_cleared<T>(&self, f: impl FnOnce() -> T) -> T {
        let flags = {
            // SAFETY: a live super block; reconfigure holds s_umount for
            // writing, so no other s_flags writer but the error handler
            // (`set_rdonly_on_error`), whose bit is set again below anyway.
            unsafe { core::ptr::addr_of_mut!((*self.as_ptr()).s_flags) }
        };
        // SAFETY: as above; volatile as the lockless readers (sb_rdonly).
        unsafe { core::ptr::write_volatile(flags, core::ptr::read_volatile(flags) & !sys::SB_RDONLY) };
        let r = f();
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(flags, core::ptr::read_volatile(flags) | sys::SB_RDONLY) };
        r
    }

    /// Sets the fixed super block parameters during fill_super.
    pub(crate) fn setup(&self, magic: u64, max_bytes: i64, uuid: &[u8; 16]) {
        let sb = self.as_ptr();
        // SAFETY: fill_super runs with the super block exclusively ours;
        // `SUPER_OPS` is a static that outlives every super block.
        unsafe {
            (*sb).s_magic = magic as _;
            (*sb).s_maxbytes = max_bytes;
            (*sb).s_op = &crate::vfs::fstype::SUPER_OPS.0;
            (*sb).s_time_gran = 1;
            (*sb).s_max_links = 65000;
            (*sb).s_time_min = i64::MIN;
            (*sb).s_time_max = i64::MAX;
            (*sb).s_uuid.b.copy_from_slice(uuid);
        }
        crate::vfs::export::install(self);
    }

    /// The livedfs private data, once fill_super has installed it.
    pub(crate) fn info(&self) -> Option<&SbInfo> {
        // SAFETY: `s_fs_info` is either NULL or a pointer from
        // `KBox::into_raw` installed by `set_info` (pinned: never moved),
        // freed only in kill_sb after the last callback returned.
        unsafe { (*self.as_ptr()).s_fs_info.cast::<SbInfo>().as_ref() }
    }

    /// Installs the private data (fill_super); freed by [`Self::take_info`].
    pub(crate) fn set_info(&self, info: Pin<KBox<SbInfo>>) {
        // SAFETY: fill_super runs with the super block exclusively ours;
        // the box stays where it is until `take_info` (pinning kept).
        unsafe {
            let b = Pin::into_inner_unchecked(info);
            (*self.as_ptr()).s_fs_info = KBox::into_raw(b).cast();
        }
    }

    /// Removes and returns the private data (kill_sb).
    pub(crate) fn take_info(&self) -> Option<Pin<KBox<SbInfo>>> {
        // SAFETY: kill_sb runs after every other user of the super block;
        // the pointer came from a pinned box in `set_info`.
        unsafe {
            let p = (*self.as_ptr()).s_fs_info.cast::<SbInfo>();
            (*self.as_ptr()).s_fs_info = core::ptr::null_mut();
            if p.is_null() {
                None
            } else {
                Some(Pin::new_unchecked(KBox::from_raw(p)))
            }
        }
    }

    /// Makes `root` the root dentry (consumes the inode reference, also on
    /// failure).
    pub(crate) fn set_root(&self, root: crate::vfs::InodeRef) -> Result {
        let inode = root.into_raw();
        // SAFETY: d_make_root takes over the inode reference (and drops it
        // on failure); fill_super owns the super block.
        let d = unsafe { sys::d_make_root(inode) };
        if d.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: as above.
        unsafe { (*self.as_ptr()).s_root = d };
        Ok(())
    }
}

/// Whether the super block's device refuses writes (a read-only disk, or
/// `blockdev --setro`).
pub(crate) fn device_read_only(sb: &SuperBlock) -> bool {
    // SAFETY: live super block of a block-device file system: s_bdev is
    // valid while it is mounted; the helper only reads two flags.
    unsafe { crate::sys::bdev_read_only((*sb.as_ptr()).s_bdev) != 0 }
}

/// Size of the super block's device in file-system blocks.
pub(crate) fn device_blocks(sb: &SuperBlock) -> u64 {
    // SAFETY: live super block of a block-device file system; the helper
    // only reads the device's size.
    unsafe { crate::sys::sb_bdev_nr_blocks(sb.as_ptr()) }
}

/// Flushes the device's volatile write cache.
pub(crate) fn flush_device(sb: &SuperBlock) -> Result {
    // SAFETY: live super block with a block device.
    let r = unsafe { crate::sys::blkdev_issue_flush((*sb.as_ptr()).s_bdev) };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// Writes every dirty buffer of the device and flushes its cache.
pub(crate) fn sync_device(sb: &SuperBlock) -> Result {
    // SAFETY: live super block with a block device.
    let r = unsafe { crate::sys::sync_blockdev((*sb.as_ptr()).s_bdev) };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    // SAFETY: as above.
    let r = unsafe { crate::sys::blkdev_issue_flush((*sb.as_ptr()).s_bdev) };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// Freezes the volume's device (and so the file system: everything
/// written and the journal flushed), for FS_IOC_SHUTDOWN.
pub(crate) fn freeze_device(sb: &SuperBlock) -> Result {
    // SAFETY: live super block with its device; thawed by the caller.
    let r = unsafe { crate::sys::bdev_freeze((*sb.as_ptr()).s_bdev) };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// Undoes [`freeze_device`].
pub(crate) fn thaw_device(sb: &SuperBlock) {
    // SAFETY: frozen by freeze_device.
    unsafe { crate::sys::bdev_thaw((*sb.as_ptr()).s_bdev) };
}

/// Whether the volume's device accepts discards (FITRIM).
pub(crate) fn discard_supported(sb: &SuperBlock) -> bool {
    // SAFETY: a live, mounted super block: its s_bdev is set.
    unsafe { sys::livedfs_discard_supported(sb.as_ptr()) }
}

/// Discards `count` blocks from `block` (FITRIM; the caller made sure
/// they are free and stay so).
pub(crate) fn discard(sb: &SuperBlock, block: u64, count: u64) -> Result {
    // SAFETY: as above; the range is checked by the block layer against
    // the device's size.
    let r = unsafe { sys::livedfs_discard_blocks(sb.as_ptr(), block, count) };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}
