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
    pub(crate) noprefetch: Option<bool>,
    /// `verify`/`noverify`: byte-compare a candidate block before sharing
    /// it, on top of the full fingerprint match. `None`: the default, on
    /// for MD5 volumes (where collisions can be made), off for SHA-256.
    pub(crate) verify: Option<bool>,
    /// `nojournal`: metadata written in place, no jbd2, store updates
    /// written synchronously (the paper's LiveDFS-S variant; after a crash
    /// run fsck.livedfs).
    pub(crate) nojournal: bool,
    /// `norecovery` (or `noload`, as ext4): a read-only mount that neither
    /// loads nor replays the journal; what the journal holds is not seen.
    /// For looking at a volume whose journal cannot or must not be
    /// replayed (a read-only device); a remount read-write is refused.
    pub(crate) norecovery: bool,
    /// `nodedup`: a plain copy-on-write file system: no block is shared
    /// with another by inline deduplication and zero blocks are stored as
    /// data, but every block's fingerprint is still recorded (the filter
    /// keeps up to 8 blocks per fingerprint), so a later mount with
    /// deduplication finds them (reflink and FIDEDUPERANGE
    /// still share). `dedup` turns it back on at remount.
    pub(crate) nodedup: Option<bool>,
    /// `verify_reads`: every block read from the disk is compared with
    /// its recorded fingerprint; a mismatch fails the read with EIO (and
    /// is logged), never returning damaged data. Reads are synchronous
    /// and not read ahead: slower.
    pub(crate) verify_reads: bool,
    /// `filter_max=N[K|M|G]`: most bytes of memory the fingerprint filter
    /// may use (a plain number is MiB; 0: no limit; `None`: the
    /// superblock's default).
    pub(crate) filter_max: Option<u64>,
    /// `filter_sync_blocks=N`: a mount whose stores hold more than N blocks
    /// returns at once and builds the fingerprint filter in the
    /// background (writes meanwhile are stored without deduplication);
    /// `None`: the default, `DEFAULT_FILTER_SYNC_BLOCKS`.
    pub(crate) filter_sync_blocks: Option<u32>,
    /// `filter_rebuild`: build the fingerprint filter from the stores
    /// even if the last clean unmount saved it (read at mount only).
    pub(crate) filter_rebuild: bool,
    /// `test_rebuild_delay_ms=N`: test hook, the filter build sleeps N ms
    /// per group (set at mount, before a background build starts; also a
    /// sysfs file). Not shown in /proc/mounts.
    pub(crate) test_rebuild_delay_ms: Option<u32>,
    /// `commit=N`: seconds between journal commits (default 5).
    pub(crate) commit: Option<u32>,
    /// `acl`/`noacl`: POSIX ACLs (on by default on a volume with extended
    /// attributes, as ext4's `acl`: permission checks follow
    /// `system.posix_acl_access`, new inodes inherit default ACLs).
    /// `None`: not given (the default, or what a remount keeps).
    pub(crate) acl: Option<bool>,
}

/// Stores holding at most this many blocks (4 GiB of data at 4 KiB) are
/// read into the filter before the mount returns; more, in the background.
pub(crate) const DEFAULT_FILTER_SYNC_BLOCKS: u32 = 1 << 20;

/// Default seconds between commits, as ext4.
pub(crate) const DEFAULT_COMMIT_SECS: u32 = 5;

fn parse_u32(v: &[u8]) -> Option<u32> {
    if v.is_empty() || v.len() > 9 {
        return None;
    }
    let mut n = 0u32;
    for &c in v {
        let d = c.checked_sub(b'0').filter(|d| *d <= 9)?;
        n = n.checked_mul(10)?.checked_add(u32::from(d))?;
    }
    Some(n)
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
            opts.noprefetch = Some(true);
            Ok(())
        }
        (b"prefetch", None) => {
            opts.noprefetch = Some(false);
            Ok(())
        }
        (b"verify", None) => {
            opts.verify = Some(true);
            Ok(())
        }
        (b"verify_reads", None) => {
            opts.verify_reads = true;
            Ok(())
        }
        (b"noverify_reads", None) => {
            opts.verify_reads = false;
            Ok(())
        }
        (b"nodedup", None) => {
            opts.nodedup = Some(true);
            Ok(())
        }
        (b"dedup", None) => {
            opts.nodedup = Some(false);
            Ok(())
        }
        (b"nojournal", None) => {
            opts.nojournal = true;
            Ok(())
        }
        (b"norecovery" | b"noload", None) => {
            opts.norecovery = true;
            Ok(())
        }
        (b"filter_max", Some(v)) => {
            let (num, unit) = match v.split_last() {
                Some((b'K' | b'k', rest)) => (rest, 1u64 << 10),
                Some((b'M' | b'm', rest)) => (rest, 1 << 20),
                Some((b'G' | b'g', rest)) => (rest, 1 << 30),
                _ => (v, 1 << 20),
            };
            match parse_u32(num) {
                Some(n) => {
                    opts.filter_max = Some(u64::from(n).saturating_mul(unit));
                    Ok(())
                }
                None => {
                    pr_err!("livedfs: filter_max= takes a size (MiB, or with K, M, G; 0: no limit)\n");
                    Err(EINVAL)
                }
            }
        }
        (b"filter_sync_blocks", Some(v)) => match parse_u32(v) {
            Some(n) => {
                opts.filter_sync_blocks = Some(n);
                Ok(())
            }
            None => {
                pr_err!("livedfs: filter_sync_blocks= takes a number of blocks\n");
                Err(EINVAL)
            }
        },
        (b"filter_rebuild", None) => {
            opts.filter_rebuild = true;
            Ok(())
        }
        (b"test_rebuild_delay_ms", Some(v)) => match parse_u32(v) {
            Some(n) if n <= 10_000 => {
                opts.test_rebuild_delay_ms = Some(n);
                Ok(())
            }
            _ => Err(EINVAL),
        },
        (b"commit", Some(v)) => match parse_u32(v) {
            Some(n) if n <= 86400 => {
                opts.commit = Some(if n == 0 { DEFAULT_COMMIT_SECS } else { n });
                Ok(())
            }
            _ => {
                pr_err!("livedfs: commit= takes seconds (0 to 86400)\n");
                Err(EINVAL)
            }
        },
        (b"data", Some(v)) => {
            if v == b"ordered" {
                Ok(())
            } else {
                pr_err!("livedfs: only data=ordered is supported\n");
                Err(EINVAL)
            }
        }
        (b"noverify", None) => {
            opts.verify = Some(false);
            Ok(())
        }
        (b"acl", None) => {
            opts.acl = Some(true);
            Ok(())
        }
        (b"noacl", None) => {
            opts.acl = Some(false);
            Ok(())
        }
        // Let the VFS handle `source` and report anything else as unknown.
        _ => Err(ENOPARAM),
    }
}
