//! How livedfs reports problems: every refusal names the device in dmesg,
//! and corruption is EUCLEAN (EFSCORRUPTED), never a panic.

use crate::format::FormatError;
use crate::options::ErrorsBehavior;
use crate::sys;
use crate::vfs::SuperBlock;
use kernel::prelude::*;

/// EUCLEAN: the volume's metadata is corrupted.
pub(crate) fn euclean() -> Error {
    Error::from_errno(-sys::EUCLEAN)
}

/// Logs corruption found in `what` and returns EUCLEAN.
pub(crate) fn corrupt(sb: &SuperBlock, what: &str, e: FormatError) -> Error {
    pr_err!("livedfs ({}): corrupted {}: {}\n", sb.id(), what, e);
    handle_error(sb);
    euclean()
}

/// Logs a corruption described in words and returns EUCLEAN.
pub(crate) fn corrupt_msg(sb: &SuperBlock, msg: core::fmt::Arguments<'_>) -> Error {
    pr_err!("livedfs ({}): corrupted: {}\n", sb.id(), msg);
    handle_error(sb);
    euclean()
}

/// Reacts to an error found on a mounted volume (corruption, a metadata
/// I/O error, an aborted journal) as `errors=` says, as ext4 does:
/// - `remount-ro` (the default): the mount goes read-only and is stopped
///   (every later change is refused, `journal::start`), and the journal is
///   aborted, so no half-done operation commits and jbd2 records the error
///   in the journal superblock on the disk at once (the next mount marks
///   the volume, fsck -p runs a full check); without a journal the
///   superblock gets STATE_ERROR at unmount (a crash before that leaves it
///   not clean, which fsck checks fully too);
/// - `continue`: the superblock is marked as having errors at the next
///   sync (the caller may hold any lock) and the mount carries on;
/// - `panic`: the administrator's explicit choice.
fn handle_error(sb: &SuperBlock) {
    let Some(info) = sb.info() else {
        return; // still mounting: the mount fails instead
    };
    if !info.mounted.load(core::sync::atomic::Ordering::Acquire) {
        return; // the mount itself fails: nothing ran, nothing to record
    }
    info.errors_seen.store(true, core::sync::atomic::Ordering::Relaxed);
    match info.errors_behavior() {
        ErrorsBehavior::Continue => {}
        ErrorsBehavior::RemountRo => stop(sb, info, crate::super_::Stopped::Errors),
        ErrorsBehavior::Panic => crate::vfs::panic_on_error(sb),
    }
}

/// Stops the volume (errors, or a shutdown request): read-only from now,
/// the journal aborted. The first caller reports it.
pub(crate) fn stop(sb: &SuperBlock, info: &crate::super_::SbInfo, why: crate::super_::Stopped) {
    if info.stop(why) {
        match why {
            crate::super_::Stopped::Errors => {
                pr_crit!("livedfs ({}): remounting read-only after errors\n", sb.id())
            }
            crate::super_::Stopped::Shutdown => pr_crit!("livedfs ({}): shut down\n", sb.id()),
        }
    }
    if !sb.is_rdonly() {
        sb.set_rdonly_on_error();
    }
    if let Some(j) = &info.journal {
        if !j.is_aborted() {
            // Nothing after the last finished commit reaches the disk.
            if let Some(last) = j.commit_sequence() {
                crate::journal::note_lost_from(info, last.wrapping_add(1));
            }
        }
        // EIO (an error: fsck must check), or ESHUTDOWN, which jbd2 does
        // not record as an error.
        j.abort(match why {
            crate::super_::Stopped::Errors => -5,
            crate::super_::Stopped::Shutdown => -108,
        });
    }
}

/// jbd2 aborted the journal by itself (an I/O error while committing, or
/// a data block of the transaction failed to reach the disk).
pub(crate) fn journal_aborted(sb: &SuperBlock) {
    if let Some(info) = sb.info() {
        if info.stopped().is_none() {
            pr_err!("livedfs ({}): the journal has aborted (I/O error)\n", sb.id());
        }
    }
    handle_error(sb);
}

/// A metadata block could not be read or written.
pub(crate) fn io_error(sb: &SuperBlock, what: core::fmt::Arguments<'_>) -> Error {
    pr_err!("livedfs ({}): I/O error {}\n", sb.id(), what);
    handle_error(sb);
    EIO
}

/// File data could not be written (fsync saw the error): the blocks that
/// the journal records for it may not hold it, so stop as for any error.
pub(crate) fn data_write_error(sb: &SuperBlock, ino: u32) {
    pr_err!("livedfs ({}): inode {}: data could not be written\n", sb.id(), ino);
    handle_error(sb);
}

/// EOPNOTSUPP: the operation is not supported (yet).
pub(crate) fn eopnotsupp() -> Error {
    Error::from_errno(-sys::EOPNOTSUPP)
}
