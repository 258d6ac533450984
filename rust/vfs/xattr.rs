//! Extended attributes, the VFS side: the xattr handlers of `user.`,
//! `trusted.` and `security.` (the super block's `s_xattr`), listxattr,
//! the POSIX ACL inode operations (`get_inode_acl`, `set_acl`) and the
//! kernel's `posix_acl_*` helpers (ACLs kept in the xattr format with the
//! initial user namespace's ids, as btrfs does), and the security hook
//! at inode creation. The policy (where attributes live) is
//! `crate::xattr`.
//!
//! The VFS enforces the namespace rules before calling in: `trusted.`
//! needs CAP_SYS_ADMIN (EPERM to write, ENODATA to read), `user.` only on
//! regular files and directories (EPERM), `security.` writes need
//! CAP_SYS_ADMIN (the capability module), the two ACL names go to
//! `set_acl`/`get_inode_acl`, values over 64 KiB are E2BIG and names
//! over 255 bytes ERANGE.

use crate::format::xattr::{self as fx, SetMode};
use crate::sys;
use crate::vfs::fstype::Ops;
use crate::vfs::{Dentry, Inode, SuperBlock};
use core::ffi::{c_int, c_void};
use kernel::ffi::c_char;
use kernel::prelude::*;

const ACL_TYPE_ACCESS: c_int = 0x8000;
const ACL_TYPE_DEFAULT: c_int = 0x4000;
const XATTR_CREATE: c_int = 0x1;
const XATTR_REPLACE: c_int = 0x2;
/// `SB_POSIXACL` (`BIT(16)`, which bindgen cannot evaluate).
const SB_POSIXACL: kernel::ffi::c_ulong = 1 << 16;
/// ECHILD: try again outside RCU.
const ECHILD: c_int = 10;

/// A handler of one namespace; its `flags` carry the name index.
const fn handler(prefix: &'static [u8], index: u8) -> sys::xattr_handler {
    sys::xattr_handler {
        name: core::ptr::null(),
        prefix: prefix.as_ptr().cast::<c_char>(),
        flags: index as c_int,
        list: None,
        get: Some(xh_get),
        set: Some(xh_set),
    }
}

static USER: Ops<sys::xattr_handler> = Ops(handler(b"user.\0", fx::INDEX_USER));
static TRUSTED: Ops<sys::xattr_handler> = Ops(handler(b"trusted.\0", fx::INDEX_TRUSTED));
static SECURITY: Ops<sys::xattr_handler> = Ops(handler(b"security.\0", fx::INDEX_SECURITY));

/// The NULL-terminated handler table (`s_xattr`).
static HANDLERS: Ops<[*const sys::xattr_handler; 4]> = Ops([&USER.0, &TRUSTED.0, &SECURITY.0, core::ptr::null()]);

/// Installs the handlers (fill_super and remount on a volume with
/// extended attributes).
pub(crate) fn install_handlers(sb: &SuperBlock) {
    // SAFETY: `s_xattr` is set while mounting or remounting (s_umount held)
    // and points to static tables that outlive every super block; the
    // cast is between the opaque and the full binding of one C type.
    unsafe { (*sb.as_ptr()).s_xattr = HANDLERS.0.as_ptr().cast() };
}

/// Turns POSIX ACLs on or off for the mount (`SB_POSIXACL`, which the VFS
/// reads as IS_POSIXACL: permission checks consult ACLs, and the umask is
/// left to `posix_acl_create`).
pub(crate) fn set_posix_acl(sb: &SuperBlock, on: bool) {
    // SAFETY: at mount or remount (s_umount held), a single flag bit of a
    // live super block, as ext4 sets it from its options.
    unsafe {
        let flags = core::ptr::addr_of_mut!((*sb.as_ptr()).s_flags);
        let v = core::ptr::read_volatile(flags);
        core::ptr::write_volatile(flags, if on { v | SB_POSIXACL } else { v & !SB_POSIXACL });
    }
}

fn posix_acl_on(inode: &Inode) -> bool {
    // SAFETY: plain read of the flags of a live inode's super block.
    unsafe { (*inode.sb().as_ptr()).s_flags & SB_POSIXACL != 0 }
}

fn to_c(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

unsafe extern "C" fn xh_get(
    h: *const sys::xattr_handler,
    _dentry: *mut sys::dentry,
    inode: *mut sys::inode,
    name: *const c_char,
    buffer: *mut c_void,
    size: usize,
) -> c_int {
    // SAFETY: the VFS passes one of our handlers, a live inode of ours
    // and the name after the prefix (NUL terminated, at most 255 bytes);
    // `buffer` holds `size` bytes when not NULL.
    let (index, inode, name, buf) = unsafe {
        let buf = if buffer.is_null() || size == 0 {
            None
        } else {
            Some(core::slice::from_raw_parts_mut(buffer.cast::<u8>(), size))
        };
        ((*h).flags as u8, Inode::from_raw(inode), crate::vfs::c_str_bytes(name, 256), buf)
    };
    match crate::xattr::get(inode, index, name, buf) {
        Ok(n) => n.min(i32::MAX as usize) as c_int,
        Err(e) => e.to_errno(),
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn xh_set(
    h: *const sys::xattr_handler,
    _idmap: *mut sys::mnt_idmap,
    _dentry: *mut sys::dentry,
    inode: *mut sys::inode,
    name: *const c_char,
    value: *const c_void,
    size: usize,
    flags: c_int,
) -> c_int {
    // SAFETY: as in `xh_get`; the VFS holds the inode locked; `value`
    // (NULL to remove) holds `size` bytes.
    let (index, inode, name, value) = unsafe {
        let value = if value.is_null() {
            None
        } else {
            Some(core::slice::from_raw_parts(value.cast::<u8>(), size))
        };
        ((*h).flags as u8, Inode::from_raw(inode), crate::vfs::c_str_bytes(name, 256), value)
    };
    let mode = if flags & XATTR_CREATE != 0 {
        SetMode::Create
    } else if flags & XATTR_REPLACE != 0 {
        SetMode::Replace
    } else {
        SetMode::Any
    };
    to_c(crate::xattr::set(inode, index, name, value, mode))
}

/// `inode_operations.listxattr`: `trusted.` names only for CAP_SYS_ADMIN
/// (as ext4), the ACLs only when the mount has them.
pub(crate) unsafe extern "C" fn iop_listxattr(dentry: *mut sys::dentry, buffer: *mut c_char, size: usize) -> isize {
    // SAFETY: the VFS passes a live positive dentry of ours; `buffer`
    // holds `size` bytes when not NULL.
    let (inode, buf) = unsafe {
        let buf = if buffer.is_null() || size == 0 {
            None
        } else {
            Some(core::slice::from_raw_parts_mut(buffer.cast::<u8>(), size))
        };
        (Dentry::from_raw(dentry).inode(), buf)
    };
    let Some(inode) = inode else {
        return ENOENT.to_errno() as isize;
    };
    match crate::xattr::list(inode, buf, crate::vfs::capable_sys_admin(), posix_acl_on(inode)) {
        Ok(n) => n.min(isize::MAX as usize) as isize,
        Err(e) => e.to_errno() as isize,
    }
}

fn acl_index(type_: c_int) -> Option<u8> {
    match type_ {
        ACL_TYPE_ACCESS => Some(fx::INDEX_POSIX_ACL_ACCESS),
        ACL_TYPE_DEFAULT => Some(fx::INDEX_POSIX_ACL_DEFAULT),
        _ => None,
    }
}

fn err_ptr<T>(errno: c_int) -> *mut T {
    errno as isize as *mut T
}

/// `inode_operations.get_inode_acl`: the ACL from its attribute (NULL if
/// none); the VFS caches it.
pub(crate) unsafe extern "C" fn iop_get_inode_acl(inode: *mut sys::inode, type_: c_int, rcu: bool) -> *mut sys::posix_acl {
    if rcu {
        return err_ptr(-ECHILD);
    }
    let Some(index) = acl_index(type_) else {
        return err_ptr(EINVAL.to_errno());
    };
    // SAFETY: the VFS passes a live inode of ours.
    let inode = unsafe { Inode::from_raw(inode) };
    match crate::xattr::get_value(inode, index, b"") {
        Ok(None) => core::ptr::null_mut(),
        // SAFETY: `v` holds a valid ACL value (checked when its block was
        // verified); posix_acl_from_xattr copies it into a new ACL (or
        // returns an ERR_PTR).
        Ok(Some(v)) => unsafe {
            sys::posix_acl_from_xattr(core::ptr::addr_of_mut!(sys::init_user_ns), v.as_ptr().cast(), v.len())
        },
        Err(e) => err_ptr(e.to_errno()),
    }
}

/// An ACL in the xattr format (ids of the initial user namespace), as
/// stored on disk.
///
/// # Safety
///
/// `acl` must be a live ACL.
unsafe fn acl_value(acl: *mut sys::posix_acl) -> Result<KVec<u8>> {
    let ns = core::ptr::addr_of_mut!(sys::init_user_ns);
    // SAFETY: with a NULL buffer posix_acl_to_xattr only returns the size.
    let size = unsafe { sys::posix_acl_to_xattr(ns, acl, core::ptr::null_mut(), 0) };
    if size <= 0 {
        return Err(EINVAL);
    }
    let mut v = KVec::from_elem(0u8, size as usize, GFP_KERNEL)?;
    // SAFETY: `v` holds `size` bytes.
    let r = unsafe { sys::posix_acl_to_xattr(ns, acl, v.as_mut_ptr().cast(), v.len()) };
    if r < 0 {
        return Err(Error::from_errno(r));
    }
    Ok(v)
}

/// `inode_operations.set_acl` (setxattr of an ACL name, chmod through
/// `posix_acl_chmod`): an access ACL may change the mode (and vanish if
/// the mode says it all); default ACLs only on directories (EACCES, as
/// ext4).
pub(crate) unsafe extern "C" fn iop_set_acl(
    idmap: *mut sys::mnt_idmap,
    dentry: *mut sys::dentry,
    acl: *mut sys::posix_acl,
    type_: c_int,
) -> c_int {
    let Some(index) = acl_index(type_) else {
        return EINVAL.to_errno();
    };
    // SAFETY: the VFS passes a live positive dentry of ours and holds its
    // inode locked; `acl` is NULL or a live ACL it owns.
    unsafe {
        let raw = (*dentry).d_inode;
        let inode = Inode::from_raw(raw);
        let old_mode = (*raw).i_mode;
        let mut mode = old_mode;
        let mut acl = acl;
        if type_ == ACL_TYPE_ACCESS && !acl.is_null() {
            // May set `acl` to NULL (equivalent to the mode) and clear
            // the set-group-ID bit.
            let r = sys::posix_acl_update_mode(idmap, raw, &mut mode, &mut acl);
            if r != 0 {
                return r;
            }
        }
        if type_ == ACL_TYPE_DEFAULT && mode & crate::format::inode::S_IFMT != crate::format::inode::S_IFDIR {
            return if acl.is_null() { 0 } else { EACCES.to_errno() };
        }
        let value = if acl.is_null() {
            None
        } else {
            match acl_value(acl) {
                Ok(v) => Some(v),
                Err(e) => return e.to_errno(),
            }
        };
        let new_mode = (mode != old_mode).then_some(mode);
        let r = crate::xattr::set_acl(inode, index, value.as_deref(), new_mode);
        if r.is_ok() {
            sys::set_cached_acl(raw, type_, acl);
        }
        to_c(r)
    }
}

/// Sets the mode (an ACL change implied it; inode locked by the VFS).
pub(crate) fn set_mode(inode: &Inode, mode: u16) {
    // SAFETY: the caller runs under the inode lock, as the VFS's set_acl
    // and setattr paths do.
    unsafe { (*inode.as_ptr()).i_mode = mode };
}

/// After a mode change (setattr with ATTR_MODE): the access ACL follows
/// it (`posix_acl_chmod`: nothing without ACLs or for symlinks).
///
/// # Safety
///
/// `dentry` must be the live positive dentry of a setattr call, its inode
/// locked.
pub(crate) unsafe fn acl_chmod(idmap: *mut sys::mnt_idmap, dentry: *mut sys::dentry) -> c_int {
    // SAFETY: caller's contract.
    unsafe {
        let inode = (*dentry).d_inode;
        let mode = (*inode).i_mode;
        if mode & crate::format::inode::S_IFMT == crate::format::inode::S_IFLNK {
            return 0;
        }
        sys::posix_acl_chmod(idmap, dentry, mode)
    }
}

/// The first attributes of a new inode, gathered before they are stored
/// in one change: (index, name, value).
type Pending = KVec<(u8, KVec<u8>, KVec<u8>)>;

fn copy_of(bytes: &[u8]) -> Result<KVec<u8>> {
    let mut v = KVec::with_capacity(bytes.len(), GFP_KERNEL)?;
    v.extend_from_slice(bytes, GFP_KERNEL)?;
    Ok(v)
}

/// A new inode (I_NEW, not yet linked): inherits the ACLs of `dir`'s
/// default ACL (`posix_acl_create`, which also applies the umask when
/// `dir` has none: with ACLs on, the VFS leaves it to the file system),
/// and gets its security labels (`security_inode_init_security`; without
/// an LSM, as in the test kernel, a no-op). All are stored in one change
/// (`crate::xattr::set_initial`), in the creating operation's handle.
pub(crate) fn init_new(dir: &Inode, dentry: Option<&Dentry>, inode: &Inode) -> Result {
    if !crate::xattr::enabled(inode.sb()) {
        return Ok(());
    }
    let raw = inode.as_ptr();
    let mut acls: [(c_int, *mut sys::posix_acl); 2] =
        [(ACL_TYPE_DEFAULT, core::ptr::null_mut()), (ACL_TYPE_ACCESS, core::ptr::null_mut())];
    // SAFETY: the new inode is ours alone (I_NEW); `dir` is locked by the
    // VFS; posix_acl_create reads dir's default ACL and adjusts the mode.
    let r = unsafe { sys::posix_acl_create(dir.as_ptr(), &mut (*raw).i_mode, &mut acls[0].1, &mut acls[1].1) };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    let result = gather_and_store(dir, dentry, inode, &acls);
    for (type_, p) in acls {
        if result.is_ok() {
            // SAFETY: caches the inode's ACL, or that it has none (I_NEW
            // inode; `p` NULL or live: set_cached_acl takes its own
            // reference).
            unsafe { sys::set_cached_acl(raw, type_, p) };
        }
        // SAFETY: drops the reference posix_acl_create gave us (NULL is
        // fine).
        unsafe { sys::posix_acl_release(p) };
    }
    result
}

fn gather_and_store(
    dir: &Inode,
    dentry: Option<&Dentry>,
    inode: &Inode,
    acls: &[(c_int, *mut sys::posix_acl); 2],
) -> Result {
    let mut pending: Pending = KVec::new();
    for &(type_, p) in acls {
        if let (Some(index), false) = (acl_index(type_), p.is_null()) {
            // SAFETY: `p` is a live ACL posix_acl_create gave us.
            let v = unsafe { acl_value(p) }?;
            pending.push((index, KVec::new(), v), GFP_KERNEL)?;
        }
    }
    // The name, if the inode gets one (not for O_TMPFILE: NULL, as ext4).
    let qstr = match dentry {
        // SAFETY: a live dentry whose name is stable (parent locked).
        Some(d) => unsafe { core::ptr::addr_of!((*d.as_ptr()).d_name) },
        None => core::ptr::null(),
    };
    // SAFETY: live inodes; `qstr` NULL or a stable name; the callback runs
    // synchronously, with `pending` as its data.
    let r = unsafe {
        sys::security_inode_init_security(
            inode.as_ptr(),
            dir.as_ptr(),
            qstr,
            Some(init_xattrs),
            core::ptr::addr_of_mut!(pending).cast(),
        )
    };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    let mut changes: KVec<crate::xattr::Change<'_>> = KVec::with_capacity(pending.len(), GFP_KERNEL)?;
    for (index, name, value) in pending.iter() {
        changes.push((*index, &name[..], Some(&value[..])), GFP_KERNEL)?;
    }
    crate::xattr::set_initial(inode, &changes)
}

/// The `initxattrs` callback: the LSMs' `security.` attributes join the
/// pending list (`fs_data`), stored with the ACLs in one change.
unsafe extern "C" fn init_xattrs(
    _inode: *mut sys::inode,
    array: *const kernel::bindings::xattr,
    fs_data: *mut c_void,
) -> c_int {
    // The cast below is between the opaque and the full binding of
    // `struct xattr`.
    // SAFETY: `fs_data` is `gather_and_store`'s `Pending`, alive and
    // unshared for the call; the array ends with a NULL name.
    unsafe {
        let Some(pending) = fs_data.cast::<Pending>().as_mut() else {
            return EINVAL.to_errno();
        };
        let mut p = array.cast::<sys::xattr>();
        while !p.is_null() && !(*p).name.is_null() {
            let name = crate::vfs::c_str_bytes((*p).name, 256);
            let value = if (*p).value.is_null() {
                &[][..]
            } else {
                core::slice::from_raw_parts((*p).value.cast::<u8>(), (*p).value_len)
            };
            let r = copy_of(name)
                .and_then(|n| Ok((n, copy_of(value)?)))
                .and_then(|(n, v)| pending.push((fx::INDEX_SECURITY, n, v), GFP_KERNEL).map_err(Error::from));
            if let Err(e) = r {
                return e.to_errno();
            }
            p = p.add(1);
        }
    }
    0
}
