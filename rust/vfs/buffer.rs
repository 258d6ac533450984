//! Buffer heads: one metadata block of the device, cached by the block
//! layer and shared by every reader of that block.

use crate::sys;
use crate::vfs::SuperBlock;
use core::ptr::NonNull;
use kernel::prelude::*;

/// A held reference to an up-to-date buffer head (released on drop).
pub(crate) struct Buffer {
    bh: NonNull<sys::buffer_head>,
}

// SAFETY: a buffer head reference may be used and released from any
// thread; the block layer synchronises its state.
unsafe impl Send for Buffer {}

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
            None => {
                pr_err!("livedfs ({}): I/O error reading block {}\n", sb.id(), block);
                Err(EIO)
            }
        }
    }

    /// The block's bytes.
    ///
    /// Readers copy structures out of this slice and validate them; writers
    /// (later: under the journal's buffer lock) never hand out a `&mut`
    /// while a reader of the same `Buffer` holds this slice.
    pub(crate) fn data(&self) -> &[u8] {
        // SAFETY: `bh` is a referenced buffer head (held until drop), whose
        // `b_data` points to `b_size` bytes of page memory that stay mapped
        // while the reference is held.
        unsafe {
            let bh = self.bh.as_ptr();
            core::slice::from_raw_parts((*bh).b_data as *const u8, (*bh).b_size)
        }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: we own one reference to `bh`, taken by sb_bread.
        unsafe { sys::brelse(self.bh.as_ptr()) };
    }
}
