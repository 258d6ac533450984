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

/// Reacts to corruption found on a mounted volume as `errors=` says: the
/// superblock is marked as having errors (written at the next sync, since
/// the caller may hold any lock), and the mount goes read-only
/// (`remount-ro`, the default), carries on (`continue`) or panics
/// (`panic`, the administrator's explicit choice).
fn handle_error(sb: &SuperBlock) {
    let Some(info) = sb.info() else {
        return; // still mounting: the mount fails instead
    };
    info.errors_seen.store(true, core::sync::atomic::Ordering::Relaxed);
    match info.errors_behavior() {
        ErrorsBehavior::Continue => {}
        ErrorsBehavior::RemountRo => {
            if !sb.is_rdonly() {
                pr_crit!("livedfs ({}): remounting read-only after errors\n", sb.id());
                sb.set_rdonly_on_error();
            }
        }
        ErrorsBehavior::Panic => crate::vfs::panic_on_error(sb),
    }
}

/// EOPNOTSUPP: the operation is not supported (yet).
pub(crate) fn eopnotsupp() -> Error {
    Error::from_errno(-sys::EOPNOTSUPP)
}
