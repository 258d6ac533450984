//! How livedfs reports problems: every refusal names the device in dmesg,
//! and corruption is EUCLEAN (EFSCORRUPTED), never a panic.

use crate::format::FormatError;
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
    euclean()
}

/// Logs a corruption described in words and returns EUCLEAN.
pub(crate) fn corrupt_msg(sb: &SuperBlock, msg: core::fmt::Arguments<'_>) -> Error {
    pr_err!("livedfs ({}): corrupted: {}\n", sb.id(), msg);
    euclean()
}

/// EOPNOTSUPP: the operation is not supported (yet).
pub(crate) fn eopnotsupp() -> Error {
    Error::from_errno(-sys::EOPNOTSUPP)
}
