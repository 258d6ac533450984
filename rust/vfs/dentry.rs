//! Dentries, as the namespace operations receive them.

use crate::sys;
use crate::vfs::Inode;
use kernel::types::Opaque;

/// A VFS dentry, borrowed for the duration of a callback.
#[repr(transparent)]
pub(crate) struct Dentry(Opaque<sys::dentry>);

impl Dentry {
    /// # Safety
    ///
    /// `ptr` must be a live dentry that stays alive for `'a` with a stable
    /// name (true in namespace callbacks: the parent is locked).
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut sys::dentry) -> &'a Dentry {
        // SAFETY: transparent wrapper; validity guaranteed by the caller.
        unsafe { &*ptr.cast::<Dentry>() }
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::dentry {
        self.0.get()
    }

    /// The name (at most 255 bytes are meaningful to livedfs; the VFS
    /// passes longer ones, which the callers refuse).
    pub(crate) fn name(&self) -> &[u8] {
        // SAFETY: the name is stable while the parent is locked (caller's
        // contract) and `len` bytes at `name` are valid.
        unsafe {
            let q = (*self.as_ptr()).d_name;
            core::slice::from_raw_parts(q.name, q.__bindgen_anon_1.__bindgen_anon_1.len as usize)
        }
    }

    /// The inode of a positive dentry.
    pub(crate) fn inode(&self) -> Option<&Inode> {
        // SAFETY: d_inode is stable while the dentry is held and locked as
        // in namespace operations; the inode lives as long as the dentry.
        unsafe {
            let i = (*self.as_ptr()).d_inode;
            if i.is_null() {
                None
            } else {
                Some(Inode::from_raw(i))
            }
        }
    }
}
