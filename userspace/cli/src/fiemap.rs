//! FS_IOC_FIEMAP: a file's extents, for `livedfs du` (blocks and their
//! shared flag) and `livedfs scrub` (the files referencing a block).

use std::fs::File;
use std::os::fd::AsRawFd;

/// FS_IOC_FIEMAP: _IOWR('f', 11, struct fiemap).
const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
const FIEMAP_FLAG_SYNC: u32 = 0x1;
pub const FIEMAP_EXTENT_LAST: u32 = 0x1;
pub const FIEMAP_EXTENT_UNKNOWN: u32 = 0x2;
pub const FIEMAP_EXTENT_DELALLOC: u32 = 0x4;
/// Preallocated, not yet written. On livedfs such an extent maps no disk
/// block (an `UNWRITTEN` pointer): its physical address means nothing.
pub const FIEMAP_EXTENT_UNWRITTEN: u32 = 0x800;
/// The module sets it on extents whose blocks have a reference count
/// above one.
pub const FIEMAP_EXTENT_SHARED: u32 = 0x2000;
/// Extents asked for per call.
const BATCH: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawExtent {
    fe_logical: u64,
    fe_physical: u64,
    fe_length: u64,
    fe_reserved64: [u64; 2],
    fe_flags: u32,
    fe_reserved: [u32; 3],
}

#[repr(C)]
struct Fiemap {
    fm_start: u64,
    fm_length: u64,
    fm_flags: u32,
    fm_mapped_extents: u32,
    fm_extent_count: u32,
    fm_reserved: u32,
    fm_extents: [RawExtent; BATCH],
}

/// One extent, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub logical: u64,
    pub physical: u64,
    pub length: u64,
    pub flags: u32,
}

impl Extent {
    /// Whether the extent is preallocated and unwritten: on livedfs it
    /// has no disk blocks (reads as zeros), so it is no block to count.
    pub fn is_unwritten(&self) -> bool {
        self.flags & FIEMAP_EXTENT_UNWRITTEN != 0
    }
}

/// Every extent of `f` (data written back first: FIEMAP_FLAG_SYNC).
/// `Ok(None)` when the file system does not implement FIEMAP (the first
/// call fails with EOPNOTSUPP, ENOTTY or EINVAL).
pub fn extents(f: &File) -> std::io::Result<Option<Vec<Extent>>> {
    let mut out = Vec::new();
    let mut start = 0u64;
    loop {
        let mut fm = Box::new(Fiemap {
            fm_start: start,
            fm_length: u64::MAX - start,
            fm_flags: FIEMAP_FLAG_SYNC,
            fm_mapped_extents: 0,
            fm_extent_count: BATCH as u32,
            fm_reserved: 0,
            fm_extents: [RawExtent::default(); BATCH],
        });
        // SAFETY: `fm` is a valid struct fiemap with room for
        // fm_extent_count extents, live for the call.
        let r = unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FIEMAP, &mut *fm as *mut Fiemap) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EOPNOTSUPP) | Some(libc::ENOTTY) | Some(libc::EINVAL)
                    if out.is_empty() && start == 0 =>
                {
                    Ok(None)
                }
                _ => Err(e),
            };
        }
        let n = (fm.fm_mapped_extents as usize).min(BATCH);
        if n == 0 {
            return Ok(Some(out));
        }
        let mut last = false;
        for e in &fm.fm_extents[..n] {
            out.push(Extent {
                logical: e.fe_logical,
                physical: e.fe_physical,
                length: e.fe_length,
                flags: e.fe_flags,
            });
            start = e.fe_logical.saturating_add(e.fe_length);
            last |= e.fe_flags & FIEMAP_EXTENT_LAST != 0;
        }
        if last {
            return Ok(Some(out));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fiemap_struct_matches_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<RawExtent>(), 56);
        assert_eq!(std::mem::size_of::<Fiemap>(), 32 + 56 * BATCH);
    }
}
