//! Raw bindings for the kernel items `kernel::bindings` lacks, generated at
//! build time by bindgen from `bindings_helper.h` (see Kbuild and
//! `bindgen_allowlist`). Everything from `kernel::bindings` is re-exported
//! so the rest of the module names one namespace, and types such as
//! `inode` stay the very same types.
//!
//! Only the `vfs` layer uses this module.

#![allow(
    clippy::all,
    dead_code,
    improper_ctypes,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    unused_imports
)]

use kernel::ffi;
pub(crate) use kernel::bindings::*;

// Generated into generated/ (outside rust/, see Kbuild).
include!("../generated/bindings_generated.rs");

// Flag macros bindgen cannot evaluate (`BIT(n)` in linux/fs.h).
pub(crate) const SB_RDONLY: ffi::c_ulong = 1 << 0;
pub(crate) const SB_SYNCHRONOUS: ffi::c_ulong = 1 << 4;
pub(crate) const SB_NOATIME: ffi::c_ulong = 1 << 10;
/// EUCLEAN, which ext4 and XFS also call EFSCORRUPTED.
pub(crate) const EUCLEAN: ffi::c_int = 117;
pub(crate) const ENAMETOOLONG: ffi::c_int = 36;
pub(crate) const ENOTEMPTY: ffi::c_int = 39;
pub(crate) const EOPNOTSUPP: ffi::c_int = 95;
/// ESTALE: a file handle names a file that is gone.
pub(crate) const ESTALE: ffi::c_int = 116;

/// The opaque `kstatfs` of kernel::bindings (the type `super_operations`
/// names); `kstatfs` above is the full definition of the same C struct.
pub(crate) type bindings_kstatfs = kernel::bindings::kstatfs;

/// The opaque `fs_context` of kernel::bindings (the type
/// `file_system_type` names); `fs_context` above is its full definition.
pub(crate) type bindings_fs_context = kernel::bindings::fs_context;

/// The opaque `iattr` of kernel::bindings (the type `inode_operations`
/// names); `iattr` above is its full definition.
pub(crate) type bindings_iattr = kernel::bindings::iattr;

/// Inode flag bits of `i_flags` (linux/fs.h macros).
pub(crate) const S_SYNC: ffi::c_uint = 1 << 0;
pub(crate) const S_NOATIME: ffi::c_uint = 1 << 1;
pub(crate) const S_APPEND: ffi::c_uint = 1 << 2;
pub(crate) const S_IMMUTABLE: ffi::c_uint = 1 << 3;
pub(crate) const S_DIRSYNC: ffi::c_uint = 1 << 6;
/// FIEMAP (uapi/linux/fiemap.h).
pub(crate) const FIEMAP_FLAG_SYNC: u32 = 0x1;
pub(crate) const FIEMAP_FLAG_XATTR: u32 = 0x2;
pub(crate) const FIEMAP_EXTENT_LAST: u32 = 0x1;
pub(crate) const FIEMAP_EXTENT_UNKNOWN: u32 = 0x2;
pub(crate) const FIEMAP_EXTENT_DELALLOC: u32 = 0x4;
pub(crate) const FIEMAP_EXTENT_UNWRITTEN: u32 = 0x800;
pub(crate) const FIEMAP_EXTENT_SHARED: u32 = 0x2000;
