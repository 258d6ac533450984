//! The kernel's jbd2 journal: one per mounted volume, in the contiguous
//! extent mkfs reserved (`jbd2_journal_init_dev`: log block numbers are
//! absolute device blocks), and handles, one per file-system operation.
//!
//! A handle is started by each top-level operation and found by the code
//! below it through `current->journal_info` ([`current`]), as in ext4, so
//! `Buffer::modify` journals every metadata change of the operation in the
//! same transaction without passing the handle around.

use crate::sys;
use crate::vfs::{Buffer, SuperBlock};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;

/// JBD2_FEATURE_INCOMPAT_CSUM_V3.
const JBD2_FEATURE_INCOMPAT_CSUM_V3: u64 = 0x10;
/// JBD2_FEATURE_INCOMPAT_REVOKE (set now: jbd2 sets it at the first revoke
/// otherwise, recomputing the transaction limits we fix below).
const JBD2_FEATURE_INCOMPAT_REVOKE: u64 = 0x1;

/// An ERR_PTR or NULL as an error.
fn check_ptr<T>(p: *mut T) -> Result<NonNull<T>> {
    let as_errno = p as isize;
    if (-4095..0).contains(&as_errno) {
        return Err(Error::from_errno(as_errno as i32));
    }
    NonNull::new(p).ok_or(ENOMEM)
}

fn check(r: kernel::ffi::c_int) -> Result {
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// A loaded journal. Destroyed (everything committed and checkpointed) by
/// [`Journal::destroy`] at unmount; dropping it without does the same.
pub(crate) struct Journal(AtomicPtr<sys::journal_t>, core::sync::atomic::AtomicU32);

// SAFETY: jbd2 journals are designed for use from any thread; all state is
// under jbd2's own locks.
unsafe impl Send for Journal {}
// SAFETY: as above.
unsafe impl Sync for Journal {}

/// Called by the commit thread after each commit.
pub(crate) type CommitCallback = unsafe extern "C" fn(*mut sys::journal_t, *mut sys::transaction_t);

impl Journal {
    /// Opens the journal in blocks `[start, start + len)` of `sb`'s device.
    pub(crate) fn open(sb: &SuperBlock, start: u32, len: u32, block_size: u32) -> Result<Self> {
        // With init_dev, jbd2 numbers log blocks absolutely on the device
        // (s_first = start + 1, s_maxlen = start + len in the journal
        // superblock mkfs wrote), so its "length" is the end block. jbd2
        // keeps it unsigned: the bits of the C int carry it whole.
        let end = start.checked_add(len).ok_or(EINVAL)?;
        // SAFETY: live super block with its device; the extent was
        // validated against the geometry.
        let p = unsafe {
            let bdev = (*sb.as_ptr()).s_bdev;
            sys::jbd2_journal_init_dev(bdev, bdev, u64::from(start), end as kernel::ffi::c_int, block_size as kernel::ffi::c_int)
        };
        Ok(Self(AtomicPtr::new(check_ptr(p)?.as_ptr()), core::sync::atomic::AtomicU32::new(0)))
    }

    fn ptr(&self) -> Result<*mut sys::journal_t> {
        let p = self.0.load(Ordering::Acquire);
        if p.is_null() {
            return Err(EROFS);
        }
        Ok(p)
    }

    /// Whether the log holds transactions to replay.
    pub(crate) fn needs_recovery(&self) -> bool {
        // SAFETY: a journal whose superblock init_dev loaded.
        self.ptr().is_ok_and(|j| unsafe { sys::livedfs_journal_needs_recovery(j) })
    }

    /// Sets the private pointer, commit interval and commit callback, and
    /// the data=ordered wait (commit waits for data written before it).
    pub(crate) fn setup(&self, private: *mut kernel::ffi::c_void, commit_secs: u32, cb: CommitCallback) -> Result {
        // SAFETY: the journal is ours and not yet running transactions.
        unsafe { sys::livedfs_journal_setup(self.ptr()?, private, commit_secs as kernel::ffi::c_ulong, Some(cb)) };
        Ok(())
    }

    /// Loads the journal, replaying it if needed, and turns on checksums.
    pub(crate) fn load(&self) -> Result {
        let j = self.ptr()?;
        // SAFETY: a journal from init_dev, loaded once.
        check(unsafe { sys::jbd2_journal_load(j) })?;
        // SAFETY: loaded journal; checksum v3 (crc32c) on every block, and
        // revoke records.
        let ok = unsafe {
            sys::jbd2_journal_set_features(j, 0, 0, (JBD2_FEATURE_INCOMPAT_CSUM_V3 | JBD2_FEATURE_INCOMPAT_REVOKE) as _)
        };
        if ok == 0 {
            return Err(EINVAL);
        }
        // SAFETY: loaded journal, no transaction running yet.
        let max = unsafe { sys::livedfs_journal_fix_limits(j) };
        self.1.store(max, Ordering::Relaxed);
        Ok(())
    }

    /// Largest number of credits one handle may ask for (half of the
    /// largest transaction, so two handles always fit).
    pub(crate) fn max_credits(&self) -> u32 {
        self.1.load(Ordering::Relaxed) / 2
    }

    /// Starts a handle for an operation changing at most `blocks` metadata
    /// blocks and revoking at most `revokes` (nested in the task's current
    /// handle if there is one).
    ///
    /// Asking for more credits than a handle can hold is a bug in the
    /// caller's accounting: refused (EINVAL, reported), never clamped, as
    /// a clamped handle would run out in the middle of its changes.
    pub(crate) fn start(&self, blocks: u32, revokes: u32) -> Result<Handle> {
        if blocks > self.max_credits() {
            pr_err!(
                "livedfs: BUG: a handle asked for {} journal credits, at most {} fit\n",
                blocks,
                self.max_credits()
            );
            return Err(EINVAL);
        }
        let blocks = blocks.max(1);
        // SAFETY: live journal; the handle is stopped when dropped.
        let h = unsafe { sys::livedfs_journal_start(self.ptr()?, blocks as kernel::ffi::c_int, revokes as kernel::ffi::c_int) };
        Ok(Handle(check_ptr(h)?))
    }

    /// Commits the running transaction and waits for it.
    pub(crate) fn force_commit(&self) -> Result {
        // SAFETY: live journal, called without a running handle.
        check(unsafe { sys::jbd2_journal_force_commit(self.ptr()?) })
    }

    /// The last transaction whose commit finished (or failed).
    pub(crate) fn commit_sequence(&self) -> Option<u32> {
        // SAFETY: live journal; one word read.
        self.ptr().ok().map(|j| unsafe { sys::livedfs_journal_commit_sequence(j) })
    }

    /// Whether the journal was aborted (by an error: nothing commits any
    /// more).
    pub(crate) fn is_aborted(&self) -> bool {
        // SAFETY: live journal; a flag test.
        self.ptr().is_ok_and(|j| unsafe { sys::is_journal_aborted(j) } != 0)
    }

    /// Aborts the journal after an error (ext4's errors=remount-ro): the
    /// running transaction never commits, no handle starts any more, and
    /// jbd2 records `errno` in the journal superblock on the disk at once,
    /// where the next mount and fsck find it.
    pub(crate) fn abort(&self, errno: i32) {
        if let Ok(j) = self.ptr() {
            // SAFETY: live journal; callable from any process context,
            // also under a handle (jbd2 serialises aborts itself).
            unsafe { sys::jbd2_journal_abort(j, errno) };
        }
    }

    /// The error a previous mount recorded in the journal (0 if none).
    pub(crate) fn recorded_error(&self) -> i32 {
        let Ok(j) = self.ptr() else { return 0 };
        // SAFETY: live, loaded journal.
        unsafe { sys::jbd2_journal_errno(j) }
    }

    /// Clears the recorded error on the disk, once the volume's own state
    /// says it has errors (as ext4's ext4_clear_journal_err). Called with
    /// no handle running (mount, remount read-write).
    pub(crate) fn clear_recorded_error(&self) {
        let Ok(j) = self.ptr() else { return };
        // SAFETY: live, loaded journal with no handle running.
        unsafe {
            if sys::jbd2_journal_errno(j) != 0 && sys::jbd2_journal_clear_err(j) == 0 {
                sys::jbd2_journal_update_sb_errno(j);
            }
        }
    }

    /// Freezes: no new handle starts, everything logged is written home.
    pub(crate) fn freeze(&self) -> Result {
        let j = self.ptr()?;
        // SAFETY: live journal; updates stay locked until `thaw`, also on
        // a flush error (the caller thaws).
        unsafe {
            sys::jbd2_journal_lock_updates(j);
            check(sys::jbd2_journal_flush(j, 0))
        }
    }

    /// Undoes `freeze`.
    pub(crate) fn thaw(&self) -> Result {
        // SAFETY: live journal locked by `freeze`.
        unsafe { sys::jbd2_journal_unlock_updates(self.ptr()?) };
        Ok(())
    }

    /// Makes sure transaction `tid` is committed (fsync).
    pub(crate) fn complete(&self, tid: u32) -> Result {
        // SAFETY: live journal.
        check(unsafe { sys::jbd2_complete_transaction(self.ptr()?, tid) })
    }

    /// Starts committing the running transaction; with `wait`, waits.
    pub(crate) fn commit(&self, wait: bool) -> Result {
        let j = self.ptr()?;
        let mut tid: sys::tid_t = 0;
        // SAFETY: live journal; `tid` receives the transaction to wait for.
        let started = unsafe { sys::jbd2_journal_start_commit(j, &mut tid) };
        if wait && started != 0 {
            // SAFETY: as above.
            check(unsafe { sys::jbd2_log_wait_commit(j, tid) })?;
        }
        Ok(())
    }

    /// Commits and checkpoints everything and frees the journal (at
    /// unmount, when no handle can start any more).
    pub(crate) fn destroy(&self) -> Result {
        let j = self.0.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !j.is_null() {
            // SAFETY: the journal is ours; no handle is running (unmount).
            check(unsafe { sys::jbd2_journal_destroy(j) })?;
        }
        Ok(())
    }


    /// Raw pointer, for the inode's jbd2 data.
    pub(crate) fn as_ptr(&self) -> Result<*mut sys::journal_t> {
        self.ptr()
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.destroy();
    }
}

/// The file system's private pointer of a journal (in the commit callback).
///
/// # Safety
///
/// `j` must be a live journal set up by [`Journal::setup`].
pub(crate) unsafe fn private_of(j: *mut sys::journal_t) -> *mut kernel::ffi::c_void {
    // SAFETY: caller's contract.
    unsafe { sys::livedfs_journal_private(j) }
}

/// The id of a transaction (in the commit callback).
///
/// # Safety
///
/// `t` must be the transaction passed to the commit callback.
pub(crate) unsafe fn tid_of(t: *mut sys::transaction_t) -> u32 {
    // SAFETY: caller's contract.
    unsafe { sys::livedfs_transaction_tid(t) }
}

/// A running handle; stopped on drop.
pub(crate) struct Handle(NonNull<sys::handle_t>);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: started by Journal::start, stopped once.
        unsafe { sys::jbd2_journal_stop(self.0.as_ptr()) };
    }
}

/// The handle the current task is running under, if any.
pub(crate) fn current() -> Option<CurrentHandle> {
    // SAFETY: reads current->journal_info.
    let h = unsafe { sys::journal_current_handle() };
    NonNull::new(h).map(CurrentHandle)
}

/// The task's current handle (borrowed: stopped by whoever started it).
#[derive(Clone, Copy)]
pub(crate) struct CurrentHandle(NonNull<sys::handle_t>);

impl CurrentHandle {
    /// The transaction the handle belongs to.
    pub(crate) fn tid(&self) -> u32 {
        // SAFETY: a running handle has a transaction.
        unsafe { sys::livedfs_handle_tid(self.0.as_ptr()) }
    }

    /// Declares that `bh` is about to change in this transaction.
    pub(crate) fn get_write_access(&self, bh: &Buffer) -> Result {
        // SAFETY: running handle; referenced buffer.
        check(unsafe { sys::jbd2_journal_get_write_access(self.0.as_ptr(), bh.as_ptr()) })
    }

    /// Declares that `bh` is a newly allocated metadata block.
    pub(crate) fn get_create_access(&self, bh: &Buffer) -> Result {
        // SAFETY: running handle; referenced buffer.
        check(unsafe { sys::jbd2_journal_get_create_access(self.0.as_ptr(), bh.as_ptr()) })
    }

    /// Files the changed `bh` in this transaction.
    pub(crate) fn dirty_metadata(&self, bh: &Buffer) -> Result {
        // SAFETY: running handle; buffer we declared access to.
        check(unsafe { sys::jbd2_journal_dirty_metadata(self.0.as_ptr(), bh.as_ptr()) })
    }

    /// Revokes freed metadata block `block` (so an older logged copy is not
    /// replayed over what the block holds next); consumes `bh`'s reference.
    pub(crate) fn revoke(&self, block: u64, bh: Option<Buffer>) -> Result {
        let raw = bh.map_or(core::ptr::null_mut(), |b| b.into_raw());
        // SAFETY: running handle; jbd2_journal_revoke takes over the buffer
        // reference (or none for NULL).
        check(unsafe { sys::jbd2_journal_revoke(self.0.as_ptr(), block, raw) })
    }

    /// Orders `inode`'s data in `[start, start + len)` before this
    /// transaction's commit (data=ordered).
    pub(crate) fn order_data(&self, jinode: *mut sys::jbd2_inode, start: u64, len: u64) -> Result {
        // SAFETY: running handle; `jinode` is the inode's jbd2 data,
        // initialised at allocation and released at eviction.
        check(unsafe {
            sys::jbd2_journal_inode_ranged_write(self.0.as_ptr(), jinode, start as i64, len as i64)
        })
    }
}
