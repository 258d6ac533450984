//! The VFS glue: every `unsafe` call into the kernel lives under this
//! folder, each in a small named wrapper with a `// SAFETY:` comment.
//!
//! Linux 6.12 has no Rust VFS abstractions, so livedfs carries its own,
//! shaped after Wedson Almeida Filho's series and FUJITA Tomonori's ext2:
//! the file-system logic outside this folder sees only safe types
//! ([`SuperBlock`], [`Inode`], [`Buffer`], [`DirEmitter`]) and plain
//! `Result`s, and could move to upstream abstractions later.
//!
//! - `fstype`: registration of the `livedfs` type, mount contexts and the
//!   operation tables (C-ABI trampolines into the file-system logic).
//! - `super_block`: the mounted super block and its private data.
//! - `inode`: inodes with livedfs's per-inode data, and their slab cache.
//! - `buffer`: buffer heads for metadata blocks.
//! - `dir`: the readdir emitter.
//! - `crc`: the kernel's crc32c for the format crate.
//! - `fpmem`: size-classed memory for the fingerprint filter's chains.
//! - `parallel`: work split over the online CPUs.
//! - `kunit`: hand-registered KUnit suites (6.12 has no Rust macro for it).
//! - `xattr`: the xattr handlers, listxattr, the POSIX ACL operations.
//! - `export`: the export operations (file handles: NFS, open_by_handle_at).

use kernel::prelude::*;

pub(crate) mod buffer;
pub(crate) mod crc;
pub(crate) mod crypto;
pub(crate) mod dentry;
pub(crate) mod dir;
pub(crate) mod export;
pub(crate) mod folio;
pub(crate) mod fpmem;
pub(crate) mod fstype;
pub(crate) mod inode;
pub(crate) mod journal;
pub(crate) mod kunit;
pub(crate) mod parallel;
pub(crate) mod super_block;
pub(crate) mod sysfs;
pub(crate) mod xattr;

pub(crate) use buffer::{BhResult, Buffer};
pub(crate) use dentry::Dentry;

/// The bytes of a NUL-terminated C string, at most `max` of them.
///
/// # Safety
///
/// `p` must be NULL or point to a NUL-terminated string (or at least `max`
/// readable bytes) that stays valid and unchanged for `'a`.
pub(crate) unsafe fn c_str_bytes<'a>(p: *const kernel::ffi::c_char, max: usize) -> &'a [u8] {
    if p.is_null() {
        return &[];
    }
    let mut len = 0;
    for i in 0..max {
        // SAFETY: `i` < `max` and every byte before it was not NUL, so
        // byte `i` is within the string (caller's contract).
        if unsafe { p.add(i).read() } == 0 {
            break;
        }
        len = i.saturating_add(1);
    }
    // SAFETY: the first `len` bytes were read above and are valid for 'a.
    unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) }
}

/// A device or parameter name for messages (bytes shown as UTF-8, or `?`).
pub(crate) struct Name<'a>(pub(crate) &'a [u8]);

impl core::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(core::str::from_utf8(self.0).unwrap_or("?"))
    }
}
pub(crate) use dir::DirEmitter;
pub(crate) use inode::{Inode, InodeRef};
pub(crate) use super_block::SuperBlock;

/// errors=panic: the administrator asked for the machine to stop rather
/// than run on a corrupted volume.
pub(crate) fn panic_on_error(sb: &SuperBlock) -> ! {
    let _ = sb;
    // SAFETY: panic() never returns; the format string has no arguments.
    unsafe { crate::sys::livedfs_panic_on_error() }
}

/// A monotonic clock in nanoseconds.
pub(crate) fn ktime_ns() -> u64 {
    // SAFETY: reads the monotonic clock; callable from any context.
    unsafe { crate::sys::ktime_get_ns() }
}

/// Seconds since the epoch (wall clock).
pub(crate) fn real_seconds() -> i64 {
    // SAFETY: reads the timekeeping clock; callable from any context.
    unsafe { crate::sys::ktime_get_real_seconds() }
}

/// Whether the current task may use the root reserve (CAP_SYS_RESOURCE).
pub(crate) fn capable_sys_resource() -> bool {
    // SAFETY: checks the current task's credentials.
    unsafe { crate::sys::capable(crate::sys::CAP_SYS_RESOURCE as kernel::ffi::c_int) }
}

/// Whether the current task may administer the system (CAP_SYS_ADMIN).
pub(crate) fn capable_sys_admin() -> bool {
    // SAFETY: checks the current task's credentials.
    unsafe { crate::sys::capable(crate::sys::CAP_SYS_ADMIN as kernel::ffi::c_int) }
}

/// Removes the element at `at` of a KVec, shifting the rest down.
pub(crate) fn vec_remove_k<T: Copy>(vec: &mut KVec<T>, at: usize) {
    let len = vec.len();
    if at >= len {
        return;
    }
    if let Some(tail) = vec.as_mut_slice().get_mut(at..) {
        tail.rotate_left(1);
    }
    // SAFETY: `len - 1` elements stay initialised (the removed one was
    // rotated to the end); `T: Copy` has no destructor to run.
    unsafe { vec.set_len(len.saturating_sub(1)) };
}

/// Sleeps for `ms` milliseconds (test hooks only).
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: may sleep; called from process context without spinlocks.
    unsafe { crate::sys::msleep(ms) };
}

/// Whether the current task was killed (long loops stop early).
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: reads the current task's signal state.
    unsafe { crate::sys::fatal_signal_pending(crate::sys::get_current()) != 0 }
}

/// Lets other tasks run in a long loop.
pub(crate) fn cond_resched() {
    // SAFETY: may sleep; called from process context without spinlocks.
    unsafe { crate::sys::livedfs_cond_resched() };
}

/// A background job of a mount (a kernel thread running `f(arg)`);
/// [`Job::wait`] (or dropping it) waits for it to end.
pub(crate) struct Job(*mut kernel::ffi::c_void);

// SAFETY: the handle is only passed to livedfs_job_wait, from any thread.
unsafe impl Send for Job {}

impl Job {
    /// Starts `f(arg)` in a kernel thread named `name` (NUL-terminated).
    ///
    /// # Safety
    ///
    /// `arg` must stay valid, and `f` sound to call with it from another
    /// thread, until the job is waited for.
    pub(crate) unsafe fn start(name: &[u8], f: unsafe extern "C" fn(*mut kernel::ffi::c_void), arg: *mut kernel::ffi::c_void) -> Result<Self> {
        if name.last() != Some(&0) {
            return Err(EINVAL);
        }
        // SAFETY: a NUL-terminated name; the caller's contract for `f` and
        // `arg`.
        let p = unsafe { crate::sys::livedfs_job_start(name.as_ptr().cast(), Some(f), arg) };
        if p.is_null() {
            return Err(ENOMEM);
        }
        Ok(Self(p))
    }

    /// Waits for the job to end.
    pub(crate) fn wait(self) {
        drop(self);
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: started by livedfs_job_start, waited for once.
        unsafe { crate::sys::livedfs_job_wait(self.0) };
    }
}
