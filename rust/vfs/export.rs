//! File handles: the export operations (`s_export_op`) that let NFS export
//! a livedfs volume and `open_by_handle_at` open its files, as ext4's.
//!
//! Handles are FILEID_INO32_GEN(_PARENT): the 32-bit inode number and the
//! inode's generation, encoded by the kernel's `generic_encode_ino32_fh`
//! (6.12 calls `encode_fh` unconditionally: it must be set, as ext4 sets
//! it). Decoding goes through the kernel's
//! `generic_fh_to_dentry`/`generic_fh_to_parent`, which call back into
//! [`get_inode`]; the checks (ESTALE for a gone file) are
//! `crate::inode::iget_handle`'s. `get_parent` looks ".." up, for the
//! reconnection of directory handles.

use crate::sys;
use crate::vfs::fstype::Ops;
use crate::vfs::{InodeRef, SuperBlock};
use core::ffi::c_int;
use kernel::prelude::*;

static EXPORT_OPS: Ops<sys::export_operations> = Ops(sys::export_operations {
    encode_fh: Some(sys::generic_encode_ino32_fh),
    fh_to_dentry: Some(fh_to_dentry),
    fh_to_parent: Some(fh_to_parent),
    get_parent: Some(get_parent),
    // SAFETY: zero (NULL) means "the default" (get_name: a readdir of the
    // parent; commit_metadata: write_inode) or "not supported" (the pNFS
    // block operations, get_uuid), and no flags, for every other member.
    ..unsafe { core::mem::zeroed() }
});

/// Installs the export operations (fill_super).
pub(crate) fn install(sb: &SuperBlock) {
    // SAFETY: fill_super runs with the super block exclusively ours; the
    // table is a static that outlives every super block; the cast is
    // between the opaque and the full binding of one C type.
    unsafe { (*sb.as_ptr()).s_export_op = core::ptr::addr_of!(EXPORT_OPS.0).cast() };
}

fn err_ptr<T>(e: Error) -> *mut T {
    e.to_errno() as isize as *mut T
}

/// A dentry for `inode` (an existing alias, or a new disconnected one),
/// or an `ERR_PTR`.
fn obtain_alias(inode: Result<InodeRef>) -> *mut sys::dentry {
    match inode {
        // SAFETY: d_obtain_alias takes over our inode reference, also when
        // it fails (it then drops it and returns an ERR_PTR).
        Ok(i) => unsafe { sys::d_obtain_alias(i.into_raw()) },
        Err(e) => err_ptr(e),
    }
}

/// The `get_inode` callback of the generic decoders: inode `ino` if it
/// still is the file of generation `generation`, else an `ERR_PTR`.
unsafe extern "C" fn get_inode(sb: *mut sys::super_block, ino: u64, generation: u32) -> *mut sys::inode {
    // SAFETY: the generic decoders pass on the live super block of ours
    // that the export operation was called with.
    let sb = unsafe { SuperBlock::from_raw(sb) };
    let Ok(ino) = u32::try_from(ino) else {
        return err_ptr(Error::from_errno(-sys::ESTALE));
    };
    match crate::inode::iget_handle(sb, ino, generation) {
        Ok(i) => i.into_raw(),
        Err(e) => err_ptr(e),
    }
}

unsafe extern "C" fn fh_to_dentry(sb: *mut sys::super_block, fid: *mut sys::fid, len: c_int, ty: c_int) -> *mut sys::dentry {
    // SAFETY: exportfs passes our live super block and a handle of `len`
    // 32-bit words; the decoder reads it only for the types and lengths it
    // knows (NULL, so ESTALE, for the others).
    unsafe { sys::generic_fh_to_dentry(sb, fid, len, ty, Some(get_inode)) }
}

unsafe extern "C" fn fh_to_parent(sb: *mut sys::super_block, fid: *mut sys::fid, len: c_int, ty: c_int) -> *mut sys::dentry {
    // SAFETY: as in `fh_to_dentry`.
    unsafe { sys::generic_fh_to_parent(sb, fid, len, ty, Some(get_inode)) }
}

/// The parent of a directory: its ".." entry (as ext4_get_parent).
unsafe extern "C" fn get_parent(child: *mut sys::dentry) -> *mut sys::dentry {
    // SAFETY: exportfs passes a live dentry of ours, a directory's, and
    // holds its inode's lock (reconnect_one), so the inode lives through
    // the call and its ".." entry does not change.
    let dir = unsafe {
        let i = (*child).d_inode;
        if i.is_null() {
            return err_ptr(ENOENT);
        }
        crate::vfs::Inode::from_raw(i)
    };
    if dir.mode() & crate::format::inode::S_IFMT != crate::format::inode::S_IFDIR {
        return err_ptr(ENOTDIR);
    }
    obtain_alias(crate::dir::lookup(dir, b"..").and_then(|p| p.ok_or(ENOENT)))
}
