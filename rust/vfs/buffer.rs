//! Buffer heads: one metadata block of the device, cached by the block
//! layer and shared by every user of that block; and the buffer heads the
//! page cache hands to `get_block` callbacks.

use crate::sys;
use crate::vfs::SuperBlock;
use core::ptr::NonNull;
use kernel::prelude::*;

/// A held reference to an up-to-date metadata buffer (released on drop).
pub(crate) struct Buffer {
    bh: NonNull<sys::buffer_head>,
}

// SAFETY: a buffer head reference may be used and released from any
// thread; the block layer synchronises its state.
unsafe impl Send for Buffer {}
// SAFETY: shared access only reads the block through `read_with` (under
// the buffer lock) or `data` (callers exclude writers by their own locks).
unsafe impl Sync for Buffer {}

impl Buffer {
    /// Reads block `block` of `sb`'s device (synchronously, through the
    /// buffer cache). EIO if the read fails.
    pub(crate) fn read(sb: &SuperBlock, block: u64) -> Result<Self> {
        // SAFETY: `sb` is a live super block of a block-device file system
        // (FS_REQUIRES_DEV), so `s_bdev` is set; sb_bread returns a
        // referenced, up-to-date buffer head or NULL.
        let bh = unsafe { sys::sb_bread(sb.as_ptr(), block) };
        match NonNull::new(bh) {
            Some(bh) => Ok(Self { bh }),
            None => Err(crate::errors::io_error(sb, format_args!("reading block {}", block))),
        }
    }

    /// A buffer for a block just allocated as metadata: not read from the
    /// disk, zero-filled, up to date (and not yet dirty).
    pub(crate) fn new_zeroed(sb: &SuperBlock, block: u64) -> Result<Self> {
        // SAFETY: as in `read`; sb_getblk returns a referenced buffer head
        // (never NULL with the default __GFP_NOFAIL, checked anyway).
        let bh = unsafe { sys::sb_getblk(sb.as_ptr(), block) };
        let bh = NonNull::new(bh).ok_or(ENOMEM)?;
        let b = Self { bh };
        // SAFETY: we hold a reference; the lock excludes readers of stale
        // contents while we clear the block, and jbd2 wants it held for
        // create access.
        unsafe { sys::lock_buffer(bh.as_ptr()) };
        // A new metadata block joins the current transaction as created.
        if let Some(h) = crate::vfs::journal::current() {
            if let Err(e) = h.get_create_access(&b) {
                // SAFETY: locked above.
                unsafe { sys::unlock_buffer(bh.as_ptr()) };
                return Err(e);
            }
        }
        // SAFETY: locked above; we hold a reference.
        unsafe {
            core::ptr::write_bytes((*bh.as_ptr()).b_data.cast::<u8>(), 0, (*bh.as_ptr()).b_size);
            sys::set_buffer_uptodate(bh.as_ptr());
            sys::unlock_buffer(bh.as_ptr());
        }
        Ok(b)
    }

    fn raw_slice(&self) -> (*mut u8, usize) {
        // SAFETY: we hold a reference; `b_data` points to `b_size` bytes of
        // page memory that stay mapped while the reference is held.
        unsafe { ((*self.bh.as_ptr()).b_data.cast::<u8>(), (*self.bh.as_ptr()).b_size) }
    }

    /// The block's bytes, unlocked: only for blocks whose writers the
    /// caller excludes by its own lock (directory blocks under the
    /// directory's i_rwsem, indirect blocks under the inode's map lock).
    pub(crate) fn data(&self) -> &[u8] {
        let (p, n) = self.raw_slice();
        // SAFETY: see `raw_slice`; the caller's lock excludes writers.
        unsafe { core::slice::from_raw_parts(p, n) }
    }

    /// Reads the block under the buffer lock (for blocks shared between
    /// inodes, such as inode-table blocks).
    pub(crate) fn read_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let (p, n) = self.raw_slice();
        // SAFETY: the buffer lock excludes `modify` on this buffer head;
        // the slice does not outlive the closure.
        unsafe {
            sys::lock_buffer(self.bh.as_ptr());
            let r = f(core::slice::from_raw_parts(p, n));
            sys::unlock_buffer(self.bh.as_ptr());
            r
        }
    }

    /// Changes the block under the buffer lock and marks it dirty: in the
    /// current transaction when the task runs under a journal handle (the
    /// journaled case), else directly (`nojournal`). A buffer the journal
    /// owns is never changed outside a handle (that would corrupt jbd2's
    /// view): that is refused with EIO and reported.
    pub(crate) fn modify<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        let handle = crate::vfs::journal::current();
        match handle {
            Some(h) => h.get_write_access(self)?,
            None => {
                // SAFETY: we hold a reference; a state-bit test.
                if unsafe { sys::buffer_jbd(self.bh.as_ptr()) } != 0 {
                    pr_err!("livedfs: BUG: journaled block {} changed outside a transaction\n", self.block());
                    return Err(EIO);
                }
            }
        }
        let (p, n) = self.raw_slice();
        // SAFETY: the buffer lock makes this the only access through a
        // lock-taking path; the mutable slice does not outlive the closure.
        let r = unsafe {
            sys::lock_buffer(self.bh.as_ptr());
            let r = f(core::slice::from_raw_parts_mut(p, n));
            sys::unlock_buffer(self.bh.as_ptr());
            r
        };
        match handle {
            Some(h) => h.dirty_metadata(self)?,
            // SAFETY: we hold a reference.
            None => unsafe { sys::mark_buffer_dirty(self.bh.as_ptr()) },
        }
        Ok(r)
    }

    /// Changes the block under the buffer lock and marks it dirty outside
    /// any transaction, even if jbd2 knows the buffer: only for the
    /// superblock after the journal was aborted or closed (nothing will
    /// commit it any more).
    pub(crate) fn modify_unjournaled<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        let (p, n) = self.raw_slice();
        // SAFETY: the buffer lock makes this the only access through a
        // lock-taking path; the mutable slice does not outlive the closure.
        let r = unsafe {
            sys::lock_buffer(self.bh.as_ptr());
            let r = f(core::slice::from_raw_parts_mut(p, n));
            sys::unlock_buffer(self.bh.as_ptr());
            sys::mark_buffer_dirty(self.bh.as_ptr());
            r
        };
        Ok(r)
    }

    /// Changes a block the caller's lock protects (see [`Self::data`]) and
    /// marks it dirty, as [`Self::modify`].
    pub(crate) fn modify_exclusive<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        self.modify(f)
    }

    /// A zero-filled buffer for a block formatted outside the journal.
    pub(crate) fn new_zeroed_direct(sb: &SuperBlock, block: u64) -> Result<Self> {
        // SAFETY: as in `read`.
        let bh = unsafe { sys::sb_getblk(sb.as_ptr(), block) };
        let bh = NonNull::new(bh).ok_or(ENOMEM)?;
        let b = Self { bh };
        // SAFETY: we hold a reference; the lock excludes other users while
        // we clear the block.
        unsafe {
            sys::lock_buffer(bh.as_ptr());
            core::ptr::write_bytes((*bh.as_ptr()).b_data.cast::<u8>(), 0, (*bh.as_ptr()).b_size);
            sys::set_buffer_uptodate(bh.as_ptr());
            sys::unlock_buffer(bh.as_ptr());
        }
        Ok(b)
    }

    /// Fills a buffer from `new_zeroed_direct` and marks it dirty, outside
    /// any transaction.
    pub(crate) fn fill_direct<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let (p, n) = self.raw_slice();
        // SAFETY: the buffer lock excludes other users; the block is not
        // journaled (formatted once, before any transaction uses it).
        unsafe {
            sys::lock_buffer(self.bh.as_ptr());
            let r = f(core::slice::from_raw_parts_mut(p, n));
            sys::unlock_buffer(self.bh.as_ptr());
            sys::mark_buffer_dirty(self.bh.as_ptr());
            r
        }
    }

    /// The raw buffer head (for the journal).
    pub(crate) fn as_ptr(&self) -> *mut sys::buffer_head {
        self.bh.as_ptr()
    }

    /// Gives the reference up to a C function that consumes it.
    pub(crate) fn into_raw(self) -> *mut sys::buffer_head {
        let p = self.bh.as_ptr();
        core::mem::forget(self);
        p
    }

    /// The block number.
    pub(crate) fn block(&self) -> u64 {
        // SAFETY: we hold a reference.
        unsafe { (*self.bh.as_ptr()).b_blocknr }
    }

    /// Starts writing the buffer if dirty, without waiting.
    pub(crate) fn write_async(&self) {
        // SAFETY: we hold a reference; write_dirty_buffer locks the buffer
        // and submits it if dirty.
        unsafe { sys::write_dirty_buffer(self.bh.as_ptr(), 0) };
    }

    /// Waits for a write started by [`Self::write_async`]; EIO if it failed.
    pub(crate) fn wait(&self) -> Result {
        // SAFETY: we hold a reference.
        unsafe {
            sys::wait_on_buffer(self.bh.as_ptr());
            if sys::buffer_uptodate(self.bh.as_ptr()) == 0 {
                return Err(EIO);
            }
        }
        Ok(())
    }


    /// Whether the block's contents were verified since it was read (the
    /// flag lives in the buffer head and vanishes with it).
    pub(crate) fn is_verified(&self) -> bool {
        // SAFETY: we hold a reference; a state-bit test.
        unsafe { sys::buffer_verified(self.bh.as_ptr()) != 0 }
    }

    /// Records that the contents were verified.
    pub(crate) fn set_verified(&self) {
        // SAFETY: we hold a reference; an atomic state-bit set.
        unsafe { sys::set_buffer_verified(self.bh.as_ptr()) };
    }

    /// Writes the buffer now if dirty and waits; EIO on a write error.
    pub(crate) fn sync(&self) -> Result {
        // SAFETY: we hold a reference.
        let r = unsafe { sys::sync_dirty_buffer(self.bh.as_ptr()) };
        if r != 0 {
            return Err(Error::from_errno(r));
        }
        Ok(())
    }

    /// Drops the buffer and discards pending writes (the block was freed).
    pub(crate) fn forget(self) {
        let bh = self.bh.as_ptr();
        core::mem::forget(self);
        // SAFETY: we own one reference, consumed by bforget.
        unsafe { sys::__bforget(bh) };
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: we own one reference, taken by sb_bread or sb_getblk.
        unsafe { sys::brelse(self.bh.as_ptr()) };
    }
}

/// Starts reading `count` blocks from `start` into the buffer cache without
/// waiting (fingerprint-store prefetch).
pub(crate) fn readahead(sb: &SuperBlock, start: u64, count: u32) {
    // Plugged, so the reads of consecutive blocks merge into large
    // requests: unplugged, every 4 KiB block went to the device alone,
    // and a saved filter of 7215 blocks took 360 ms to ask for in the
    // emulated guest (more than reading it with dd).
    let mut plug = core::mem::MaybeUninit::<sys::blk_plug>::uninit();
    // SAFETY: `plug` lives on this stack frame, unmoved, until
    // blk_finish_plug below, which the loop always reaches.
    unsafe { sys::blk_start_plug(plug.as_mut_ptr()) };
    for i in 0..u64::from(count) {
        // SAFETY: live super block with a block device; readahead of a
        // block inside the volume only fills the cache.
        unsafe { sys::sb_breadahead(sb.as_ptr(), start.saturating_add(i)) };
    }
    // SAFETY: the plug started above on this frame; submits what it holds.
    unsafe { sys::blk_finish_plug(plug.as_mut_ptr()) };
}

/// A buffer head handed to a `get_block` callback by the page cache: the
/// callback maps it to a disk block or marks it delayed.
pub(crate) struct BhResult(*mut sys::buffer_head);

impl BhResult {
    /// # Safety
    ///
    /// `bh` must be the live buffer head passed to `get_block`, used only
    /// during that call.
    pub(crate) unsafe fn from_raw(bh: *mut sys::buffer_head) -> Self {
        Self(bh)
    }

    /// Maps the buffer to `block`.
    pub(crate) fn map(&mut self, sb: &SuperBlock, block: u64) {
        // SAFETY: live buffer head during get_block (constructor contract).
        unsafe { sys::map_bh(self.0, sb.as_ptr(), block) };
    }

    /// The size asked for (`b_size`: a caller that can use a run of
    /// blocks asks for several).
    pub(crate) fn size(&self) -> u64 {
        // SAFETY: live buffer head during get_block (constructor contract).
        unsafe { (*self.0).b_size as u64 }
    }

    /// Sets the size mapped: `bytes` from the block `map` gave, contiguous
    /// on the device (`map` sets one block).
    pub(crate) fn set_size(&mut self, bytes: u64) {
        // SAFETY: as above.
        unsafe { (*self.0).b_size = bytes as usize };
    }

    /// Marks the buffer newly allocated (its old contents are meaningless).
    pub(crate) fn set_new(&mut self) {
        // SAFETY: as above.
        unsafe { sys::set_buffer_new(self.0) };
    }

    /// Marks the buffer delayed: space is reserved, the block is chosen at
    /// writeback.
    pub(crate) fn set_delay(&mut self) {
        // SAFETY: as above.
        unsafe { sys::set_buffer_delay(self.0) };
    }

}

/// Reads block `block` from the medium into `buf` (one block), bypassing
/// the device's buffer cache, whose copy of a data block may be stale.
pub(crate) fn read_uncached(sb: &SuperBlock, block: u64, buf: &mut [u8]) -> Result {
    if buf.len() != sb.block_size() as usize {
        return Err(EINVAL);
    }
    // SAFETY: live super block; `buf` holds exactly one block, which
    // livedfs_block_io copies into after its read.
    let r = unsafe { sys::livedfs_block_io(sb.as_ptr(), block, buf.as_mut_ptr().cast(), false) };
    if r != 0 {
        pr_err!("livedfs ({}): I/O error reading block {}\n", sb.id(), block);
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// Writes `buf` (one block) to block `block` and waits, bypassing the
/// device's buffer cache.
pub(crate) fn write_uncached(sb: &SuperBlock, block: u64, buf: &[u8]) -> Result {
    if buf.len() != sb.block_size() as usize {
        return Err(EINVAL);
    }
    // SAFETY: live super block; `buf` holds exactly one block, only read
    // (copied out) by a write.
    let r = unsafe { sys::livedfs_block_io(sb.as_ptr(), block, buf.as_ptr().cast_mut().cast(), true) };
    if r != 0 {
        pr_err!("livedfs ({}): I/O error writing block {}\n", sb.id(), block);
        return Err(Error::from_errno(r));
    }
    Ok(())
}
