//! Mount options: parsed from the mount context, shown in /proc/mounts.
//!
//! Unknown options are refused (the VFS reports "Unknown parameter"), so a
//! typo never silently mounts with defaults.

use kernel::prelude::*;

/// What to do when corruption is found at run time (`errors=`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ErrorsBehavior {
    Continue,
    RemountRo,
    Panic,
}

impl ErrorsBehavior {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Continue => "continue",
            Self::RemountRo => "remount-ro",
            Self::Panic => "panic",
        }
    }
}

/// Options of one mount.
#[derive(Clone, Default, Debug)]
pub(crate) struct MountOptions {
    /// `errors=`: `None` means the superblock's default.
    pub(crate) errors: Option<ErrorsBehavior>,
    /// `noprefetch`: do not read a group's whole fingerprint store ahead
    /// on first touch (the paper's variant without prefetching).
    pub(crate) noprefetch: bool,
    /// `verify`: byte-compare a candidate block before sharing it, on top
    /// of the full fingerprint match.
    pub(crate) verify: bool,
}

/// Applies one `key[=value]` option.
pub(crate) fn parse(opts: &mut MountOptions, key: &[u8], value: Option<&[u8]>) -> Result {
    match (key, value) {
        (b"errors", Some(v)) => {
            opts.errors = Some(match v {
                b"continue" => ErrorsBehavior::Continue,
                b"remount-ro" => ErrorsBehavior::RemountRo,
                b"panic" => ErrorsBehavior::Panic,
                _ => {
                    pr_err!("livedfs: errors= takes continue, remount-ro or panic\n");
                    return Err(EINVAL);
                }
            });
            Ok(())
        }
        (b"errors", None) => {
            pr_err!("livedfs: errors= needs a value\n");
            Err(EINVAL)
        }
        (b"noprefetch", None) => {
            opts.noprefetch = true;
            Ok(())
        }
        (b"prefetch", None) => {
            opts.noprefetch = false;
            Ok(())
        }
        (b"verify", None) => {
            opts.verify = true;
            Ok(())
        }
        (b"noverify", None) => {
            opts.verify = false;
            Ok(())
        }
        // Let the VFS handle `source` and report anything else as unknown.
        _ => Err(ENOPARAM),
    }
}
