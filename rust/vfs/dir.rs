//! The readdir emitter: hands directory entries to the VFS `dir_context`.

use crate::sys;

/// A `dir_context` being filled by `iterate_shared`.
pub(crate) struct DirEmitter {
    ctx: *mut sys::dir_context,
}

impl DirEmitter {
    /// # Safety
    ///
    /// `ctx` must be the live `dir_context` passed to `iterate_shared`, used
    /// only for the duration of that call.
    pub(crate) unsafe fn from_raw(ctx: *mut sys::dir_context) -> Self {
        Self { ctx }
    }

    /// The position to resume from (a byte offset in the directory).
    pub(crate) fn pos(&self) -> i64 {
        // SAFETY: `ctx` is valid for the call (constructor contract).
        unsafe { (*self.ctx).pos }
    }

    /// Records the position of the next entry.
    pub(crate) fn set_pos(&mut self, pos: i64) {
        // SAFETY: as above; the VFS reads `pos` back after the call.
        unsafe { (*self.ctx).pos = pos };
    }

    /// Emits one entry; false when the caller's buffer is full (stop, and
    /// resume from `pos` next time).
    pub(crate) fn emit(&mut self, name: &[u8], ino: u64, dtype: u8) -> bool {
        // SAFETY: `ctx` is valid for the call; `name` is valid for
        // `name.len()` bytes (at most 255) while dir_emit copies it.
        unsafe {
            sys::dir_emit(
                self.ctx,
                name.as_ptr().cast(),
                name.len() as kernel::ffi::c_int,
                ino,
                kernel::ffi::c_uint::from(dtype),
            )
        }
    }
}
