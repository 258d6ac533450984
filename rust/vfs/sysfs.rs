//! Statistics in sysfs: /sys/fs/livedfs/<device>/, one counter per file
//! (the kobject plumbing is C, in helpers.c).

use crate::super_::SbInfo;
use crate::sys;
use kernel::prelude::*;

/// Creates /sys/fs/livedfs (module init).
pub(crate) fn init() -> Result {
    // SAFETY: called once at module init.
    let r = unsafe { sys::livedfs_sysfs_init() };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// Removes /sys/fs/livedfs (module exit, after every mount is gone).
pub(crate) fn exit() {
    // SAFETY: called once at module exit, after `init` succeeded.
    unsafe { sys::livedfs_sysfs_exit() };
}

/// A mount's directory in /sys/fs/livedfs; removed on drop (waiting for
/// readers), so it must be dropped before the `SbInfo` it reads.
pub(crate) struct SysfsEntry(*mut kernel::ffi::c_void);

// SAFETY: the handle is only passed back to livedfs_sysfs_del, from any
// thread.
unsafe impl Send for SysfsEntry {}

impl SysfsEntry {
    /// Publishes the counters of `info` under `name` (the device).
    ///
    /// `info` must outlive the returned entry (it is a field of the pinned
    /// `SbInfo`, dropped first).
    pub(crate) fn new(name: &[u8], info: &SbInfo) -> Result<Self> {
        let mut n = KVec::with_capacity(name.len().saturating_add(1), GFP_KERNEL)?;
        n.extend_from_slice(name, GFP_KERNEL)?;
        n.push(0, GFP_KERNEL)?;
        // SAFETY: `n` is a NUL-terminated copy; `info` stays valid until
        // this entry is dropped (the caller's contract), and sysfs reads
        // stop before livedfs_sysfs_del returns.
        let p = unsafe { sys::livedfs_sysfs_add(n.as_ptr().cast(), (info as *const SbInfo).cast()) };
        if p.is_null() {
            return Err(ENOMEM);
        }
        Ok(Self(p))
    }
}

impl Drop for SysfsEntry {
    fn drop(&mut self) {
        // SAFETY: created by livedfs_sysfs_add, deleted once.
        unsafe { sys::livedfs_sysfs_del(self.0) };
    }
}

/// Called by sysfs reads: counter `which` of the mount.
#[no_mangle]
pub(crate) unsafe extern "C" fn livedfs_stat_value(info: *const kernel::ffi::c_void, which: kernel::ffi::c_int) -> u64 {
    // SAFETY: `info` is the SbInfo registered with this entry, alive while
    // the entry exists (see SysfsEntry).
    let info = unsafe { &*info.cast::<SbInfo>() };
    crate::dedup::stat_value(info, which)
}

/// Called by sysfs writes of a test hook (root only): arms hook `which`.
#[no_mangle]
pub(crate) unsafe extern "C" fn livedfs_knob_set(
    info: *const kernel::ffi::c_void,
    which: kernel::ffi::c_int,
    value: u64,
) -> kernel::ffi::c_int {
    // SAFETY: as in livedfs_stat_value.
    let info = unsafe { &*info.cast::<SbInfo>() };
    match crate::faults::set(info, which, value) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
