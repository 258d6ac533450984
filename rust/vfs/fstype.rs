//! Registration of the `livedfs` file-system type, the mount context
//! (`fs_context`) callbacks, and the static operation tables whose C-ABI
//! trampolines call into the file-system logic.

use crate::options::MountOptions;
use crate::sys;
use crate::vfs::folio::{LockedFolio, Wbc};
use crate::vfs::{BhResult, Dentry, DirEmitter, Inode, SuperBlock};
use core::ffi::c_int;
use kernel::c_str;
use kernel::prelude::*;
use kernel::types::Opaque;

/// An operation table the kernel reads through `const` pointers.
#[repr(transparent)]
pub(crate) struct Ops<T>(pub(crate) T);

// SAFETY: the tables are never written after construction and hold only
// function pointers, so sharing them between threads is sound.
unsafe impl<T> Sync for Ops<T> {}

/// Converts a `Result` to the C convention (0 or a negative errno).
fn to_c(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The `livedfs` file_system_type. Static, not allocated: lockdep wants
/// the lock class keys it embeds (s_umount_key, i_mutex_key,
/// invalidate_lock_key, ...) in static storage, and keys in the heap stop
/// it at the first mount ("key ... has not been registered").
struct FsType(Opaque<sys::file_system_type>);

// SAFETY: written once by `Registration::new` before registration, then
// owned by the VFS (its list links and keys under the VFS's own locks).
unsafe impl Sync for FsType {}

static FS_TYPE: FsType = FsType(Opaque::uninit());

/// The registration of [`FS_TYPE`]; unregistered on drop.
pub(crate) struct Registration(());

impl Registration {
    /// Registers `livedfs` with the VFS.
    pub(crate) fn new(module: &'static ThisModule) -> Result<Self> {
        let p = FS_TYPE.0.get();
        // SAFETY: module init runs once, before registration and with no
        // other user of FS_TYPE; all-zero is a file_system_type's C
        // initial state, then the fields livedfs sets.
        let r = unsafe {
            p.write_bytes(0, 1);
            (*p).name = c_str!("livedfs").as_char_ptr();
            (*p).fs_flags = sys::FS_REQUIRES_DEV as c_int;
            (*p).init_fs_context = Some(init_fs_context);
            (*p).kill_sb = Some(kill_sb);
            (*p).owner = module.as_ptr();
            sys::register_filesystem(p)
        };
        if r != 0 {
            return Err(Error::from_errno(r));
        }
        Ok(Self(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered in `new`; after this the VFS holds no pointer
        // to it (every super block is gone: the module can't be unloaded
        // while mounted).
        unsafe { sys::unregister_filesystem(FS_TYPE.0.get()) };
    }
}

static FC_OPS: Ops<sys::fs_context_operations> = Ops(sys::fs_context_operations {
    free: Some(fc_free),
    dup: None,
    parse_param: Some(fc_parse_param),
    parse_monolithic: None,
    get_tree: Some(fc_get_tree),
    reconfigure: Some(fc_reconfigure),
});

unsafe extern "C" fn init_fs_context(fc: *mut sys::bindings_fs_context) -> c_int {
    let fc = fc.cast::<sys::fs_context>();
    let opts = match KBox::new(MountOptions::default(), GFP_KERNEL) {
        Ok(o) => o,
        Err(_) => return ENOMEM.to_errno(),
    };
    // SAFETY: the VFS passes a fresh context that we may fill in; the
    // options box is freed by `fc_free`.
    unsafe {
        (*fc).fs_private = KBox::into_raw(opts).cast();
        (*fc).ops = &FC_OPS.0;
    }
    0
}

/// The mount options of a context.
///
/// # Safety
///
/// `fc` must be a live livedfs context set up by `init_fs_context`.
unsafe fn fc_options<'a>(fc: *mut sys::fs_context) -> Option<&'a mut MountOptions> {
    // SAFETY: `fs_private` is NULL or our box (caller's contract); the VFS
    // serialises callbacks on one context (uapi_mutex).
    unsafe { (*fc).fs_private.cast::<MountOptions>().as_mut() }
}

unsafe extern "C" fn fc_free(fc: *mut sys::fs_context) {
    // SAFETY: last callback on the context; `fs_private` is NULL or the box
    // installed by init_fs_context.
    unsafe {
        let p = (*fc).fs_private.cast::<MountOptions>();
        if !p.is_null() {
            drop(KBox::from_raw(p));
            (*fc).fs_private = core::ptr::null_mut();
        }
    }
}

unsafe extern "C" fn fc_parse_param(fc: *mut sys::fs_context, param: *mut sys::fs_parameter) -> c_int {
    // SAFETY: the VFS passes a live context and parameter; `key` is a
    // NUL-terminated string, `string` too when the type is a string.
    let (key, value) = unsafe {
        let key = crate::vfs::c_str_bytes((*param).key, 256);
        let value = if (*param).type_() == sys::fs_value_type_fs_value_is_string
            && !(*param).__bindgen_anon_1.string.is_null()
        {
            Some(crate::vfs::c_str_bytes((*param).__bindgen_anon_1.string, 4096))
        } else {
            None
        };
        (key, value)
    };
    // SAFETY: context set up by init_fs_context.
    let Some(opts) = (unsafe { fc_options(fc) }) else {
        return EINVAL.to_errno();
    };
    to_c(crate::options::parse(opts, key, value))
}

unsafe extern "C" fn fc_get_tree(fc: *mut sys::fs_context) -> c_int {
    // SAFETY: live context; get_tree_bdev opens the source device and calls
    // fill_super for a new super block.
    unsafe { sys::get_tree_bdev(fc, Some(fill_super)) }
}

unsafe extern "C" fn fc_reconfigure(fc: *mut sys::fs_context) -> c_int {
    // SAFETY: for reconfiguration `root` is the mounted root dentry, whose
    // super block is live and ours; options were set up by init_fs_context.
    let (sb, opts, flags) = unsafe {
        let sb = SuperBlock::from_raw((*(*fc).root).d_sb);
        (sb, fc_options(fc), (*fc).sb_flags)
    };
    let Some(opts) = opts else {
        return EINVAL.to_errno();
    };
    // SAFETY: live super block; sync before changing mount state.
    unsafe { sys::sync_filesystem(sb.as_ptr()) };
    to_c(crate::super_::reconfigure(sb, opts, (flags as kernel::ffi::c_ulong) & sys::SB_RDONLY != 0))
}

unsafe extern "C" fn fill_super(sb: *mut sys::super_block, fc: *mut sys::fs_context) -> c_int {
    // SAFETY: the VFS hands us a new, locked super block for this context.
    let (sb, opts) = unsafe { (SuperBlock::from_raw(sb), fc_options(fc)) };
    let Some(opts) = opts else {
        return EINVAL.to_errno();
    };
    to_c(crate::super_::fill_super(sb, opts))
}

unsafe extern "C" fn kill_sb(sb: *mut sys::super_block) {
    // SAFETY: the VFS tears down a super block of ours; kill_block_super
    // evicts inodes, calls put_super and releases the device; after that
    // no callback can reach the private data we then free.
    unsafe {
        sys::kill_block_super(sb);
        drop(SuperBlock::from_raw(sb).take_info());
    }
}

/// The super block operations.
pub(crate) static SUPER_OPS: Ops<sys::super_operations> = Ops(sys::super_operations {
    alloc_inode: Some(crate::vfs::inode::alloc_inode),
    free_inode: Some(crate::vfs::inode::free_inode),
    write_inode: Some(sop_write_inode),
    dirty_inode: Some(sop_dirty_inode),
    evict_inode: Some(sop_evict_inode),
    sync_fs: Some(sop_sync_fs),
    statfs: Some(sop_statfs),
    show_options: Some(sop_show_options),
    put_super: Some(sop_put_super),
    freeze_fs: Some(sop_freeze_fs),
    unfreeze_fs: Some(sop_unfreeze_fs),
    // SAFETY: every other member is an optional function pointer or flag,
    // for which zero (NULL) is the documented "not implemented".
    ..unsafe { core::mem::zeroed() }
});

unsafe extern "C" fn sop_write_inode(inode: *mut sys::inode, wbc: *mut sys::writeback_control) -> c_int {
    // SAFETY: the VFS passes one of our live inodes and its writeback
    // control for the duration of the call.
    let (inode, sync) = unsafe {
        (
            Inode::from_raw(inode),
            (*wbc).sync_mode == sys::writeback_sync_modes_WB_SYNC_ALL,
        )
    };
    to_c(crate::inode::write_inode(inode, sync))
}

unsafe extern "C" fn sop_dirty_inode(inode: *mut sys::inode, _flags: c_int) {
    // SAFETY: the VFS passes one of our live inodes.
    crate::inode::dirty_inode(unsafe { Inode::from_raw(inode) });
}

unsafe extern "C" fn sop_evict_inode(inode: *mut sys::inode) {
    // SAFETY: the VFS evicts one of our inodes; nobody else uses it now.
    crate::inode::evict(unsafe { Inode::from_raw(inode) });
}

unsafe extern "C" fn sop_sync_fs(sb: *mut sys::super_block, wait: c_int) -> c_int {
    // SAFETY: our live super block, s_umount held by the VFS.
    to_c(crate::super_::sync_fs(unsafe { SuperBlock::from_raw(sb) }, wait != 0))
}

unsafe extern "C" fn sop_freeze_fs(sb: *mut sys::super_block) -> c_int {
    // SAFETY: the VFS freezes our live super block (writes already stopped).
    to_c(crate::super_::freeze(unsafe { SuperBlock::from_raw(sb) }))
}

unsafe extern "C" fn sop_unfreeze_fs(sb: *mut sys::super_block) -> c_int {
    // SAFETY: as above.
    to_c(crate::super_::thaw(unsafe { SuperBlock::from_raw(sb) }))
}

unsafe extern "C" fn sop_put_super(sb: *mut sys::super_block) {
    // SAFETY: called once at unmount on our live super block.
    crate::super_::put_super(unsafe { SuperBlock::from_raw(sb) });
}

unsafe extern "C" fn sop_statfs(dentry: *mut sys::dentry, buf: *mut sys::bindings_kstatfs) -> c_int {
    // SAFETY: `dentry` is live and on our super block.
    let sb = unsafe { SuperBlock::from_raw((*dentry).d_sb) };
    match crate::super_::statfs(sb) {
        Ok(s) => {
            let buf = buf.cast::<sys::kstatfs>();
            // SAFETY: `buf` points to the caller's kstatfs, zeroed by
            // vfs_statfs; the cast is between two bindings of one C type.
            unsafe {
                (*buf).f_type = s.magic as _;
                (*buf).f_bsize = s.block_size as _;
                (*buf).f_blocks = s.blocks;
                (*buf).f_bfree = s.free_blocks;
                (*buf).f_bavail = s.avail_blocks;
                (*buf).f_files = s.files;
                (*buf).f_ffree = s.free_files;
                (*buf).f_namelen = s.name_len as _;
                (*buf).f_frsize = s.block_size as _;
                (*buf).f_fsid.val = s.fsid;
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Formats into a fixed buffer (no allocation), for small option strings.
pub(crate) struct ByteWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> ByteWriter<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// The bytes written so far.
    pub(crate) fn written(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl core::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.saturating_add(s.len());
        let dst = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes mount options into /proc/mounts.
pub(crate) struct SeqWriter(*mut sys::seq_file);

impl SeqWriter {
    pub(crate) fn put(&mut self, s: &[u8]) {
        // SAFETY: the seq_file is live for the show_options call; seq_write
        // copies `s.len()` bytes from `s`.
        unsafe { sys::seq_write(self.0, s.as_ptr().cast(), s.len()) };
    }
}

unsafe extern "C" fn sop_show_options(m: *mut sys::seq_file, root: *mut sys::dentry) -> c_int {
    // SAFETY: `root` is our mounted root dentry; `m` is live for the call.
    let sb = unsafe { SuperBlock::from_raw((*root).d_sb) };
    crate::super_::show_options(sb, &mut SeqWriter(m));
    0
}

/// Encodes an errno as an `ERR_PTR`.
fn err_ptr<T>(e: Error) -> *mut T {
    e.to_errno() as isize as *mut T
}

/// Directory inode operations.
pub(crate) static DIR_IOPS: Ops<sys::inode_operations> = Ops(sys::inode_operations {
    lookup: Some(iop_lookup),
    create: Some(iop_create),
    link: Some(iop_link),
    unlink: Some(iop_unlink),
    symlink: Some(iop_symlink),
    mkdir: Some(iop_mkdir),
    rmdir: Some(iop_rmdir),
    mknod: Some(iop_mknod),
    rename: Some(iop_rename),
    setattr: Some(iop_setattr),
    getattr: Some(sys::livedfs_getattr),
    tmpfile: Some(iop_tmpfile),
    fileattr_get: Some(iop_fileattr_get),
    fileattr_set: Some(iop_fileattr_set),
    listxattr: Some(crate::vfs::xattr::iop_listxattr),
    get_inode_acl: Some(crate::vfs::xattr::iop_get_inode_acl),
    set_acl: Some(crate::vfs::xattr::iop_set_acl),
    // SAFETY: zero (NULL) means "not implemented" for every other member.
    ..unsafe { core::mem::zeroed() }
});

/// Regular-file inode operations.
pub(crate) static FILE_IOPS: Ops<sys::inode_operations> = Ops(sys::inode_operations {
    setattr: Some(iop_setattr),
    getattr: Some(sys::livedfs_getattr),
    fiemap: Some(iop_fiemap),
    fileattr_get: Some(iop_fileattr_get),
    fileattr_set: Some(iop_fileattr_set),
    listxattr: Some(crate::vfs::xattr::iop_listxattr),
    get_inode_acl: Some(crate::vfs::xattr::iop_get_inode_acl),
    set_acl: Some(crate::vfs::xattr::iop_set_acl),
    // SAFETY: zero (NULL) means "not implemented" for every other member.
    ..unsafe { core::mem::zeroed() }
});

/// Symlinks whose target is in a data block.
pub(crate) static SYMLINK_IOPS: Ops<sys::inode_operations> = Ops(sys::inode_operations {
    get_link: Some(sys::page_get_link),
    setattr: Some(iop_setattr),
    getattr: Some(sys::livedfs_getattr),
    listxattr: Some(crate::vfs::xattr::iop_listxattr),
    // SAFETY: zero (NULL) means "not implemented" for every other member.
    ..unsafe { core::mem::zeroed() }
});

/// Symlinks whose target is in the inode (`i_link`).
pub(crate) static FAST_SYMLINK_IOPS: Ops<sys::inode_operations> = Ops(sys::inode_operations {
    get_link: Some(sys::simple_get_link),
    setattr: Some(iop_setattr),
    getattr: Some(sys::livedfs_getattr),
    listxattr: Some(crate::vfs::xattr::iop_listxattr),
    // SAFETY: zero (NULL) means "not implemented" for every other member.
    ..unsafe { core::mem::zeroed() }
});

/// Device, fifo and socket inode operations.
pub(crate) static SPECIAL_IOPS: Ops<sys::inode_operations> = Ops(sys::inode_operations {
    setattr: Some(iop_setattr),
    getattr: Some(sys::livedfs_getattr),
    listxattr: Some(crate::vfs::xattr::iop_listxattr),
    get_inode_acl: Some(crate::vfs::xattr::iop_get_inode_acl),
    set_acl: Some(crate::vfs::xattr::iop_set_acl),
    // SAFETY: zero (NULL) means "not implemented" for every other member.
    ..unsafe { core::mem::zeroed() }
});

/// Directory file operations.
pub(crate) static DIR_FOPS: Ops<sys::file_operations> = Ops(sys::file_operations {
    llseek: Some(sys::generic_file_llseek),
    read: Some(sys::generic_read_dir),
    iterate_shared: Some(fop_iterate_shared),
    fsync: Some(fop_fsync),
    unlocked_ioctl: Some(fop_ioctl),
    // SAFETY: zero (NULL) means "not implemented" for every other member.
    ..unsafe { core::mem::zeroed() }
});

/// Regular-file file operations.
pub(crate) static FILE_FOPS: Ops<sys::file_operations> = Ops(sys::file_operations {
    llseek: Some(fop_llseek),
    read_iter: Some(fop_read_iter),
    write_iter: Some(fop_write_iter),
    mmap: Some(fop_mmap),
    open: Some(fop_open),
    fsync: Some(fop_fsync),
    splice_read: Some(sys::filemap_splice_read),
    splice_write: Some(sys::iter_file_splice_write),
    fallocate: Some(fop_fallocate),
    remap_file_range: Some(fop_remap_file_range),
    unlocked_ioctl: Some(fop_ioctl),
    // SAFETY: zero (NULL) means "not implemented" for every other member.
    ..unsafe { core::mem::zeroed() }
});

/// Address-space operations of regular files and slow symlinks.
pub(crate) static AOPS: Ops<sys::address_space_operations> = Ops(sys::address_space_operations {
    read_folio: Some(aop_read_folio),
    readahead: Some(aop_readahead),
    writepages: Some(aop_writepages),
    dirty_folio: Some(sys::block_dirty_folio),
    write_begin: Some(aop_write_begin),
    write_end: Some(sys::generic_write_end),
    bmap: Some(aop_bmap),
    invalidate_folio: Some(aop_invalidate_folio),
    release_folio: Some(aop_release_folio),
    swap_activate: Some(aop_swap_activate),
    is_partially_uptodate: Some(sys::block_is_partially_uptodate),
    error_remove_folio: Some(sys::generic_error_remove_folio),
    // SAFETY: zero (NULL) means "not implemented" for every other member.
    ..unsafe { core::mem::zeroed() }
});

unsafe extern "C" fn iop_lookup(dir: *mut sys::inode, dentry: *mut sys::dentry, _flags: u32) -> *mut sys::dentry {
    // SAFETY: the VFS passes our live directory inode and a live dentry
    // whose name is stable during lookup (parent locked).
    let (dir, name) = unsafe {
        let q = (*dentry).d_name;
        let len = q.__bindgen_anon_1.__bindgen_anon_1.len as usize;
        (Inode::from_raw(dir), core::slice::from_raw_parts(q.name, len))
    };
    match crate::dir::lookup(dir, name) {
        Ok(found) => {
            let inode = found.map_or(core::ptr::null_mut(), |i| i.into_raw());
            // SAFETY: d_splice_alias takes over our inode reference (or a
            // NULL inode for a negative dentry).
            unsafe { sys::d_splice_alias(inode, dentry) }
        }
        Err(e) => err_ptr(e),
    }
}

unsafe extern "C" fn fop_iterate_shared(file: *mut sys::file, ctx: *mut sys::dir_context) -> c_int {
    // SAFETY: the VFS passes an open directory file of ours and its live
    // dir_context for the duration of the call.
    let (dir, mut emitter) = unsafe { (Inode::from_raw((*file).f_inode), DirEmitter::from_raw(ctx)) };
    to_c(crate::dir::readdir(dir, &mut emitter))
}

// ---- inode flags, FIEMAP, O_TMPFILE ----

unsafe extern "C" fn iop_fileattr_get(d: *mut sys::dentry, fa: *mut kernel::bindings::fileattr) -> c_int {
    let fa = fa.cast::<sys::fileattr>();
    // SAFETY: the VFS passes a positive dentry of ours and a fileattr to
    // fill (FS_IOC_GETFLAGS, FS_IOC_FSGETXATTR).
    unsafe {
        let inode = Inode::from_raw((*d).d_inode);
        sys::fileattr_fill_flags(fa, crate::inode::flags(inode));
    }
    0
}

unsafe extern "C" fn iop_fileattr_set(
    _idmap: *mut sys::mnt_idmap,
    d: *mut sys::dentry,
    fa: *mut kernel::bindings::fileattr,
) -> c_int {
    let fa = fa.cast::<sys::fileattr>();
    // SAFETY: the VFS passes a positive dentry of ours with its inode
    // locked, after checking ownership and CAP_LINUX_IMMUTABLE.
    unsafe {
        if sys::fileattr_has_fsx(fa) {
            // Extended (XFS-style) attributes: not kept by livedfs.
            return crate::errors::eopnotsupp().to_errno();
        }
        let inode = Inode::from_raw((*d).d_inode);
        to_c(crate::inode::set_flags(inode, (*fa).flags))
    }
}

unsafe extern "C" fn iop_fiemap(
    inode: *mut sys::inode,
    fi: *mut kernel::bindings::fiemap_extent_info,
    start: u64,
    len: u64,
) -> c_int {
    // The same C struct, bound twice (kernel::bindings has it opaque).
    let fi = fi.cast::<sys::fiemap_extent_info>();
    // SAFETY: the VFS passes one of our regular files (i_rwsem not held)
    // and the caller's extent buffer descriptor.
    unsafe {
        let mut len = len;
        let r = sys::fiemap_prep(inode, fi, start, &mut len, sys::FIEMAP_FLAG_SYNC | sys::FIEMAP_FLAG_XATTR);
        if r != 0 {
            return r;
        }
        let i = Inode::from_raw(inode);
        if (*fi).fi_flags & sys::FIEMAP_FLAG_XATTR != 0 {
            // The extended attributes' extent (`filefrag -x`, `xfs_io
            // fiemap -a`): the inode's attribute block, if it has one.
            let b = u64::from(i.data().meta.lock().xattr_block);
            if b == 0 {
                return 0;
            }
            let Ok(info) = crate::super_::sbi(i.sb()) else {
                return EINVAL.to_errno();
            };
            let bs = u64::from(info.geo.block_size);
            let r = sys::fiemap_fill_next_extent(fi, 0, b.saturating_mul(bs), bs, sys::FIEMAP_EXTENT_LAST);
            return if r < 0 { r } else { 0 };
        }
        // Delayed blocks are placed at writeback. With FIEMAP_FLAG_SYNC
        // the range is written back (fiemap_prep did it; again here, for
        // what was dirtied since), so every extent has its address;
        // without it they are reported as delayed, as ext4 does.
        let delayed = (*fi).fi_flags & sys::FIEMAP_FLAG_SYNC == 0;
        if !delayed {
            if let Err(e) = write_and_wait(i, start, start.saturating_add(len)) {
                return e.to_errno();
            }
        }
        to_c(crate::file::extents(i, start, len, delayed, |e, last| {
            let mut flags = 0;
            if e.shared {
                flags |= sys::FIEMAP_EXTENT_SHARED;
            }
            if e.unwritten {
                // Preallocated, no block yet: no address to give.
                flags |= sys::FIEMAP_EXTENT_UNWRITTEN | sys::FIEMAP_EXTENT_UNKNOWN;
            }
            if e.delayed {
                flags |= sys::FIEMAP_EXTENT_DELALLOC | sys::FIEMAP_EXTENT_UNKNOWN;
            }
            if last {
                flags |= sys::FIEMAP_EXTENT_LAST;
            }
            match sys::fiemap_fill_next_extent(fi, e.logical, e.physical, e.len, flags) {
                0 => Ok(true),
                1 => Ok(false),
                r => Err(Error::from_errno(r)),
            }
        }))
    }
}

unsafe extern "C" fn iop_tmpfile(
    idmap: *mut sys::mnt_idmap,
    dir: *mut sys::inode,
    file: *mut sys::file,
    mode: sys::umode_t,
) -> c_int {
    // SAFETY: the VFS makes an O_TMPFILE open in our live directory.
    let dir = unsafe { Inode::from_raw(dir) };
    match crate::namei::tmpfile(idmap, dir, mode) {
        Ok(n) => to_c(n.into_tmpfile(file)),
        Err(e) => e.to_errno(),
    }
}

// ---- namespace operations ----

/// # Safety
/// `d` must be a live dentry passed by the VFS to a namespace operation.
unsafe fn dentry<'a>(d: *mut sys::dentry) -> &'a Dentry {
    // SAFETY: caller's contract; the parent is locked, so the name is stable.
    unsafe { Dentry::from_raw(d) }
}

unsafe extern "C" fn iop_create(
    idmap: *mut sys::mnt_idmap,
    dir: *mut sys::inode,
    d: *mut sys::dentry,
    mode: sys::umode_t,
    _excl: bool,
) -> c_int {
    // SAFETY: VFS namespace callback: live directory (locked) and dentry.
    let (dir, d) = unsafe { (Inode::from_raw(dir), dentry(d)) };
    to_c(crate::namei::create(idmap, dir, d, mode))
}

unsafe extern "C" fn iop_mknod(
    idmap: *mut sys::mnt_idmap,
    dir: *mut sys::inode,
    d: *mut sys::dentry,
    mode: sys::umode_t,
    rdev: sys::dev_t,
) -> c_int {
    // SAFETY: as above.
    let (dir, d) = unsafe { (Inode::from_raw(dir), dentry(d)) };
    to_c(crate::namei::mknod(idmap, dir, d, mode, rdev))
}

unsafe extern "C" fn iop_mkdir(
    idmap: *mut sys::mnt_idmap,
    dir: *mut sys::inode,
    d: *mut sys::dentry,
    mode: sys::umode_t,
) -> c_int {
    // SAFETY: as above.
    let (dir, d) = unsafe { (Inode::from_raw(dir), dentry(d)) };
    to_c(crate::namei::mkdir(idmap, dir, d, mode))
}

unsafe extern "C" fn iop_symlink(
    idmap: *mut sys::mnt_idmap,
    dir: *mut sys::inode,
    d: *mut sys::dentry,
    target: *const kernel::ffi::c_char,
) -> c_int {
    // SAFETY: as above; `target` is a NUL-terminated kernel copy of the
    // user's string, at most PATH_MAX bytes.
    let (dir, d, target) = unsafe { (Inode::from_raw(dir), dentry(d), crate::vfs::c_str_bytes(target, 4096)) };
    to_c(crate::namei::symlink(idmap, dir, d, target))
}

unsafe extern "C" fn iop_link(old: *mut sys::dentry, dir: *mut sys::inode, d: *mut sys::dentry) -> c_int {
    // SAFETY: as above; the old dentry is positive and held.
    let (old, dir, d) = unsafe { (dentry(old), Inode::from_raw(dir), dentry(d)) };
    to_c(crate::namei::link(old, dir, d))
}

unsafe extern "C" fn iop_unlink(dir: *mut sys::inode, d: *mut sys::dentry) -> c_int {
    // SAFETY: as above.
    let (dir, d) = unsafe { (Inode::from_raw(dir), dentry(d)) };
    to_c(crate::namei::unlink(dir, d))
}

unsafe extern "C" fn iop_rmdir(dir: *mut sys::inode, d: *mut sys::dentry) -> c_int {
    // SAFETY: as above.
    let (dir, d) = unsafe { (Inode::from_raw(dir), dentry(d)) };
    to_c(crate::namei::rmdir(dir, d))
}

unsafe extern "C" fn iop_rename(
    idmap: *mut sys::mnt_idmap,
    old_dir: *mut sys::inode,
    old: *mut sys::dentry,
    new_dir: *mut sys::inode,
    new: *mut sys::dentry,
    flags: u32,
) -> c_int {
    // SAFETY: the VFS holds the rename lock and both parents' i_rwsem.
    let (od, o, nd, n) = unsafe { (Inode::from_raw(old_dir), dentry(old), Inode::from_raw(new_dir), dentry(new)) };
    to_c(crate::namei::rename(idmap, od, o, nd, n, flags))
}

unsafe extern "C" fn iop_setattr(idmap: *mut sys::mnt_idmap, d: *mut sys::dentry, attr: *mut sys::bindings_iattr) -> c_int {
    let attr = attr.cast::<sys::iattr>();
    // SAFETY: the VFS holds the inode's i_rwsem; `attr` is live for the
    // call; the dentry is positive.
    unsafe {
        let r = sys::setattr_prepare(idmap, d, attr.cast());
        if r != 0 {
            return r;
        }
        let inode = (*d).d_inode;
        let valid = (*attr).ia_valid;
        if valid & sys::ATTR_SIZE != 0 && (*attr).ia_size == sys::i_size_read(inode) {
            // Truncating to the same size still drops preallocated space
            // and unwritten blocks past the end (as ext4 frees its
            // unwritten extents there).
            let i = Inode::from_raw(inode);
            if let Err(e) = crate::inode::truncate_blocks(i, i.size()).and_then(|()| crate::file::trim_prealloc_to(i, i.size())) {
                return e.to_errno();
            }
        }
        if valid & sys::ATTR_SIZE != 0 && (*attr).ia_size != sys::i_size_read(inode) {
            let size = (*attr).ia_size;
            let r = sys::inode_newsize_ok(inode, size);
            if r != 0 {
                return r;
            }
            let i = Inode::from_raw(inode);
            // Under the invalidate lock (as ext4): no page fault re-creates
            // and dirties a folio between cutting the page cache and
            // freeing the blocks.
            let mapping = i.mapping();
            sys::filemap_invalidate_lock(mapping);
            let r = change_size(i, size.max(0) as u64);
            sys::filemap_invalidate_unlock(mapping);
            if let Err(e) = r {
                return e.to_errno();
            }
        }
        sys::setattr_copy(idmap, inode, attr.cast());
        Inode::from_raw(inode).mark_dirty();
        if valid & sys::ATTR_MODE != 0 {
            return crate::vfs::xattr::acl_chmod(idmap, d);
        }
    }
    0
}

/// Sets a new size (inode and invalidate locks held): zeroes the rest of
/// a new partial last block, writes back what waits for allocation below
/// the new size, cuts the page cache and frees the blocks past it.
fn change_size(i: &Inode, new_size: u64) -> Result {
    let is_reg = i.mode() & crate::format::inode::S_IFMT == crate::format::inode::S_IFREG;
    let old_size = i.size();
    let bs = u64::from(crate::super_::sbi(i.sb())?.geo.block_size);
    if is_reg && new_size < old_size {
        // The rest of the new last block is zeroed on the disk too (a
        // later extension must read zeros there): a copy-on-write of the
        // block, which may be shared. Also when the block is not mapped
        // yet: its data may wait in the page cache for writeback, which
        // the write-back below would store whole (the size has not
        // changed yet), leaving the tail on the disk.
        let tail = new_size.checked_rem(bs).unwrap_or(0);
        if tail != 0 {
            let end = new_size.saturating_add(bs.saturating_sub(tail)).min(old_size);
            crate::aops::zero_range(i, new_size, end.saturating_sub(new_size))?;
        }
    }
    // The size on disk becomes the new size at once (what lies past the
    // written data is a hole), so data still waiting for its blocks below
    // the new size gets them first.
    let keep = new_size.min(old_size);
    let ds = i.data().disksize.load(core::sync::atomic::Ordering::Acquire);
    if is_reg && ds < keep {
        write_and_wait(i, ds, keep)?;
    }
    // SAFETY: the inode is locked by the VFS (setattr) and its
    // invalidate lock by the caller.
    unsafe { sys::truncate_setsize(i.as_ptr(), new_size.min(i64::MAX as u64) as i64) };
    if is_reg {
        crate::inode::set_disksize(i, new_size);
    }
    // A size change updates mtime and ctime (truncate(2) passes no time
    // attributes; ATTR_MTIME, if given, is applied by the caller).
    i.touch_cm();
    if is_reg {
        crate::file::truncate_to(i, new_size, old_size)?;
    }
    Ok(())
}

/// Writes back and waits for bytes `[start, end)` of `inode`.
fn write_and_wait(inode: &Inode, start: u64, end: u64) -> Result {
    if start >= end {
        return Ok(());
    }
    // SAFETY: a live inode of ours; its mapping lives as long.
    let r = unsafe {
        sys::filemap_write_and_wait_range(
            inode.mapping(),
            start.min(i64::MAX as u64) as i64,
            end.saturating_sub(1).min(i64::MAX as u64) as i64,
        )
    };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

// ---- file operations ----

/// FS_IOC_SHUTDOWN: _IOR('X', 125, __u32).
const FS_IOC_SHUTDOWN: u32 = 0x8004_587d;
/// LIVEDFS_IOC_SCRUB: _IOWR('L', 1, struct livedfs_scrub), 40 bytes (see
/// `ScrubArgs`; userspace/cli/src/scrub.rs has the same layout).
const LIVEDFS_IOC_SCRUB: u32 = 0xc028_4c01;

/// The argument of LIVEDFS_IOC_SCRUB.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ScrubArgs {
    /// In: first device block; out: where to go on.
    start: u64,
    /// In: blocks to cover at most (0: to the end).
    count: u64,
    /// Out: blocks in use read and verified.
    checked: u64,
    /// In: user address of an array of `max_bad` u64 (damaged blocks).
    bad_ptr: u64,
    /// Out: damaged blocks written to the array.
    nbad: u32,
    /// In: room in the array (at most 4096).
    max_bad: u32,
}

// SAFETY: plain integers, every bit pattern valid, no padding (40 bytes).
unsafe impl kernel::types::FromBytes for ScrubArgs {}
// SAFETY: as above.
unsafe impl kernel::types::AsBytes for ScrubArgs {}

/// FS_IOC_GETFSLABEL: _IOR(0x94, 49, char[FSLABEL_MAX]).
const FS_IOC_GETFSLABEL: u32 = 0x8100_9431;
/// FS_IOC_SETFSLABEL: _IOW(0x94, 50, char[FSLABEL_MAX]).
const FS_IOC_SETFSLABEL: u32 = 0x4100_9432;
/// FSLABEL_MAX: the ioctls' buffer, NUL terminated.
const FSLABEL_MAX: usize = 256;

/// FS_IOC_GETFSLABEL (`xfs_io -c label`, `btrfs filesystem label`): the
/// label, NUL padded to FSLABEL_MAX.
fn get_label_ioctl(sb: &SuperBlock, arg: usize) -> Result {
    let label = crate::super_::label(sb)?;
    let mut buf = [0u8; FSLABEL_MAX];
    if let Some(dst) = buf.get_mut(..label.len()) {
        dst.copy_from_slice(&label);
    }
    kernel::uaccess::UserSlice::new(arg, FSLABEL_MAX).writer().write_slice(&buf)
}

/// FS_IOC_SETFSLABEL (CAP_SYS_ADMIN, as ext4): the label up to its NUL;
/// longer than the superblock's field is EINVAL.
fn set_label_ioctl(file: *mut sys::file, sb: &SuperBlock, arg: usize) -> Result {
    if !crate::vfs::capable_sys_admin() {
        return Err(EPERM);
    }
    let mut buf = [0u8; FSLABEL_MAX];
    kernel::uaccess::UserSlice::new(arg, FSLABEL_MAX).reader().read_slice(&mut buf)?;
    let len = buf.iter().position(|&b| b == 0).ok_or(EINVAL)?;
    let _w = MountWrite::new(file)?;
    crate::super_::set_label(sb, buf.get(..len).ok_or(EINVAL)?)
}

/// Write access to a file's mount (`mnt_want_write_file`): EROFS on a
/// read-only mount or volume; dropped at the end of the scope.
struct MountWrite(*mut sys::file);

impl MountWrite {
    fn new(file: *mut sys::file) -> Result<Self> {
        // SAFETY: an open file of the ioctl being served.
        let r = unsafe { sys::mnt_want_write_file(file) };
        if r != 0 {
            return Err(Error::from_errno(r));
        }
        Ok(Self(file))
    }
}

impl Drop for MountWrite {
    fn drop(&mut self) {
        // SAFETY: pairs the successful mnt_want_write_file of `new`; the
        // file stays open for the ioctl.
        unsafe { sys::mnt_drop_write_file(self.0) };
    }
}

/// FITRIM: _IOWR('X', 121, struct fstrim_range).
const FITRIM: u32 = 0xc018_5879;

/// struct fstrim_range (uapi/linux/fs.h), in bytes.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TrimRange {
    start: u64,
    /// In: bytes to cover; out: bytes discarded.
    len: u64,
    minlen: u64,
}

// SAFETY: plain integers, every bit pattern valid, no padding (24 bytes).
unsafe impl kernel::types::FromBytes for TrimRange {}
// SAFETY: as above.
unsafe impl kernel::types::AsBytes for TrimRange {}

/// FITRIM (`fstrim`), as ext4 does it: free blocks of the range are
/// discarded; EOPNOTSUPP where the device does not discard, EROFS on a
/// read-only mount.
fn trim_ioctl(sb: &SuperBlock, arg: usize) -> Result {
    if !crate::vfs::capable_sys_admin() {
        return Err(EPERM);
    }
    if !crate::vfs::super_block::discard_supported(sb) {
        return Err(crate::errors::eopnotsupp());
    }
    if crate::super_::is_shut_down(sb) {
        return Err(EIO);
    }
    if sb.is_rdonly() {
        return Err(EROFS);
    }
    let info = crate::super_::sbi(sb)?;
    let (mut reader, mut writer) = kernel::uaccess::UserSlice::new(arg, core::mem::size_of::<TrimRange>()).reader_writer();
    let mut r: TrimRange = reader.read()?;
    let bs = u64::from(info.geo.block_size);
    let blocks = u64::from(info.geo.blocks_count);
    if r.start.checked_div(bs).unwrap_or(u64::MAX) >= blocks || r.len < bs || r.minlen > u64::from(info.geo.blocks_per_group).saturating_mul(bs) {
        return Err(EINVAL);
    }
    let first = r.start / bs;
    let last = r.start.saturating_add(r.len).saturating_sub(1).checked_div(bs).unwrap_or(0).min(blocks.saturating_sub(1));
    let minlen = r.minlen.saturating_add(bs.saturating_sub(1)).checked_div(bs).unwrap_or(1);
    let n = crate::balloc::trim(sb, info, first, last, minlen)?;
    r.len = n.saturating_mul(bs);
    writer.write(&r)
}

fn scrub_ioctl(sb: &SuperBlock, arg: usize) -> Result {
    if !crate::vfs::capable_sys_admin() {
        return Err(EPERM);
    }
    let (mut reader, mut writer) = kernel::uaccess::UserSlice::new(arg, core::mem::size_of::<ScrubArgs>()).reader_writer();
    let mut a: ScrubArgs = reader.read()?;
    let max_bad = (a.max_bad as usize).min(4096);
    let count = if a.count == 0 { u64::MAX } else { a.count };
    let mut bad = KVec::new();
    let p = crate::scrub::scrub(sb, a.start, count, &mut bad, max_bad.max(1))?;
    let n = bad.len().min(max_bad);
    if n > 0 {
        let mut w = kernel::uaccess::UserSlice::new(a.bad_ptr as usize, n.saturating_mul(8)).writer();
        for &b in bad.iter().take(n) {
            w.write(&b)?;
        }
    }
    a.start = p.next;
    a.checked = p.checked;
    a.nbad = n as u32;
    writer.write(&a)
}

unsafe extern "C" fn fop_ioctl(file: *mut sys::file, cmd: u32, arg: kernel::ffi::c_ulong) -> kernel::ffi::c_long {
    // SAFETY: the VFS passes an open file of ours.
    let inode = unsafe { Inode::from_raw((*file).f_inode) };
    let r = match cmd {
        FS_IOC_SHUTDOWN => {
            if !crate::vfs::capable_sys_admin() {
                Err(EPERM)
            } else {
                let mut reader = kernel::uaccess::UserSlice::new(arg as usize, 4).reader();
                reader.read::<u32>().and_then(|flags| crate::super_::shutdown(inode.sb(), flags))
            }
        }
        LIVEDFS_IOC_SCRUB => scrub_ioctl(inode.sb(), arg as usize),
        FITRIM => trim_ioctl(inode.sb(), arg as usize),
        FS_IOC_GETFSLABEL => get_label_ioctl(inode.sb(), arg as usize),
        FS_IOC_SETFSLABEL => set_label_ioctl(file, inode.sb(), arg as usize),
        _ => Err(ENOTTY),
    };
    to_c(r) as kernel::ffi::c_long
}

unsafe extern "C" fn fop_open(inode: *mut sys::inode, file: *mut sys::file) -> c_int {
    // SAFETY: the VFS opens one of our files; O_DIRECT is accepted and
    // served through the page cache (see file.rs).
    unsafe {
        (*file).f_mode |= FMODE_CAN_ODIRECT;
        sys::generic_file_open(inode, file)
    }
}

const FMODE_CAN_ODIRECT: sys::fmode_t = 1 << 22;
const FALLOC_FL_KEEP_SIZE: c_int = 0x01;
const FALLOC_FL_PUNCH_HOLE: c_int = 0x02;
const FALLOC_FL_COLLAPSE_RANGE: c_int = 0x08;
const FALLOC_FL_ZERO_RANGE: c_int = 0x10;
const FALLOC_FL_INSERT_RANGE: c_int = 0x20;
const FALLOC_FL_UNSHARE_RANGE: c_int = 0x40;

unsafe extern "C" fn fop_read_iter(iocb: *mut sys::kiocb, to: *mut sys::iov_iter) -> isize {
    // SAFETY: live iocb with an open file of ours.
    if crate::super_::is_shut_down(unsafe { Inode::from_raw((*(*iocb).ki_filp).f_inode) }.sb()) {
        return EIO.to_errno() as isize;
    }
    // SAFETY: live iocb and iterator for the call. Direct reads are served
    // by the page cache, which is coherent with every write.
    unsafe {
        (*iocb).ki_flags &= !(sys::IOCB_DIRECT as kernel::ffi::c_int);
        sys::generic_file_read_iter(iocb, to)
    }
}

unsafe extern "C" fn fop_write_iter(iocb: *mut sys::kiocb, from: *mut sys::iov_iter) -> isize {
    // SAFETY: live iocb and iterator for the call. An O_DIRECT write goes
    // through the page cache and is written back before returning, so the
    // data reaches the disk (and the dedup path) as a direct write would.
    unsafe {
        let direct = (*iocb).ki_flags & (sys::IOCB_DIRECT as kernel::ffi::c_int) != 0;
        (*iocb).ki_flags &= !(sys::IOCB_DIRECT as kernel::ffi::c_int);
        let n = sys::generic_file_write_iter(iocb, from);
        if direct && n > 0 {
            let end = (*iocb).ki_pos;
            let mapping = (*(*iocb).ki_filp).f_mapping;
            let r = sys::filemap_write_and_wait_range(mapping, end.saturating_sub(n as i64), end.saturating_sub(1));
            if r != 0 {
                if r == EIO.to_errno() {
                    // As fsync: a data block failed to reach the disk.
                    crate::errors::data_write_error(Inode::from_raw((*mapping).host).sb(), Inode::from_raw((*mapping).host).ino());
                }
                return r as isize;
            }
        }
        n
    }
}

unsafe extern "C" fn fop_llseek(file: *mut sys::file, offset: sys::loff_t, whence: c_int) -> sys::loff_t {
    let whence_u = whence as u32;
    if whence_u != sys::SEEK_DATA && whence_u != sys::SEEK_HOLE {
        // SAFETY: live file for the call.
        return unsafe { sys::generic_file_llseek(file, offset, whence) };
    }
    // SAFETY: live file; the map walk needs delayed blocks allocated, so
    // write the file back first.
    unsafe {
        let inode = Inode::from_raw((*file).f_inode);
        let r = sys::filemap_write_and_wait_range(inode.mapping(), 0, i64::MAX);
        if r != 0 {
            return sys::loff_t::from(r);
        }
        if offset < 0 {
            return sys::loff_t::from(ENXIO.to_errno());
        }
        match crate::file::seek_data_hole(inode, offset as u64, whence_u == sys::SEEK_DATA) {
            Ok(pos) => sys::vfs_setpos(file, pos.min(i64::MAX as u64) as i64, (*inode.sb().as_ptr()).s_maxbytes),
            Err(e) => sys::loff_t::from(e.to_errno()),
        }
    }
}

unsafe extern "C" fn fop_fsync(file: *mut sys::file, start: sys::loff_t, end: sys::loff_t, _datasync: c_int) -> c_int {
    // Write the data back (its blocks get decided and journaled), then
    // commit the inode's last transaction (data=ordered: the commit waits
    // for the data) and flush the cache; without a journal: the inode,
    // every dirty metadata buffer, a flush.
    // SAFETY: `file` is live for the call, and so is its inode.
    unsafe {
        let raw = (*file).f_inode;
        let inode = Inode::from_raw(raw);
        if crate::super_::is_shut_down(inode.sb()) {
            // As ext4: after FS_IOC_SHUTDOWN every fsync fails.
            return EIO.to_errno();
        }
        let sb = inode.sb();
        let Ok(info) = crate::super_::sbi(sb) else {
            return EINVAL.to_errno();
        };
        let r = sys::file_write_and_wait_range(file, start, end);
        if r != 0 {
            // A data block failed to reach the disk: its fingerprint is
            // recorded for bytes it does not hold. (Not every EIO is one:
            // a transaction lost to an aborted journal is reported
            // through the same error sequence, below.)
            if r == EIO.to_errno() && info.data_write_failed.load(core::sync::atomic::Ordering::Acquire) {
                crate::errors::data_write_error(sb, inode.ino());
            }
            return r;
        }
        match &info.journal {
            Some(j) => {
                let tid = inode.data().sync_tid.load(core::sync::atomic::Ordering::Relaxed);
                let r = j.complete(tid);
                if crate::journal::is_lost(info, tid) {
                    // The file's last changes rode on a transaction that
                    // never reaches the disk (its commit failed, and jbd2
                    // then waits for it no more). That is a writeback
                    // error of the file: recorded once on its mapping, it
                    // is reported once to every descriptor open before,
                    // as a failed data write is, and a descriptor opened
                    // later starts clean (fstests generic/441: the data of
                    // the other descriptors was all duplicates, written by
                    // no data request).
                    if !inode.data().lost_reported.swap(true, core::sync::atomic::Ordering::AcqRel) {
                        sys::mapping_set_error(inode.mapping(), EIO.to_errno());
                    }
                    return sys::file_check_and_advance_wb_err(file);
                }
                if let Err(e) = r {
                    return e.to_errno();
                }
                to_c(crate::vfs::super_block::flush_device(sb))
            }
            None => {
                let r = sys::sync_inode_metadata(raw, 1);
                if r != 0 {
                    return r;
                }
                to_c(crate::vfs::super_block::sync_device(sb))
            }
        }
    }
}

unsafe extern "C" fn fop_fallocate(file: *mut sys::file, mode: c_int, offset: sys::loff_t, len: sys::loff_t) -> kernel::ffi::c_long {
    if offset < 0 || len <= 0 {
        return EINVAL.to_errno() as kernel::ffi::c_long;
    }
    let (off, len) = (offset as u64, len as u64);
    // SAFETY: live file (opened for writing: the VFS checked the mode
    // combination, the size limit, append-only and immutable files); we
    // take the inode lock and the invalidate lock as truncate does.
    unsafe {
        let raw = (*file).f_inode;
        let inode = Inode::from_raw(raw);
        sys::livedfs_inode_lock(raw);
        // As ext4: setuid/setgid and security.capability go (for a caller
        // without CAP_FSETID), and the times change (fstests
        // generic/683-688).
        let m = sys::file_modified(file);
        if m != 0 {
            sys::livedfs_inode_unlock(raw);
            return m as kernel::ffi::c_long;
        }
        sys::filemap_invalidate_lock(inode.mapping());
        let r = fallocate_locked(inode, mode, off, len);
        sys::filemap_invalidate_unlock(inode.mapping());
        sys::livedfs_inode_unlock(raw);
        to_c(r) as kernel::ffi::c_long
    }
}

/// The fallocate modes (inode and invalidate locks held).
fn fallocate_locked(inode: &Inode, mode: c_int, off: u64, len: u64) -> Result {
    let keep = mode & FALLOC_FL_KEEP_SIZE != 0;
    let end = off.saturating_add(len);
    if !keep && mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE) == 0 && end > inode.size() {
        // SAFETY: a live inode of ours, locked.
        let r = unsafe { sys::inode_newsize_ok(inode.as_ptr(), end.min(i64::MAX as u64) as i64) };
        if r != 0 {
            return Err(Error::from_errno(r));
        }
    }
    match mode & !FALLOC_FL_KEEP_SIZE {
        0 => {
            write_and_wait(inode, off, end)?;
            crate::file::preallocate(inode, off, len, keep)
        }
        FALLOC_FL_PUNCH_HOLE => punch(inode, off, end),
        FALLOC_FL_ZERO_RANGE => {
            // Zero blocks are holes in livedfs: punch (zeroing the partial
            // edges), then set the space aside as mode 0 does.
            punch(inode, off, end)?;
            crate::file::preallocate(inode, off, len, keep)
        }
        FALLOC_FL_UNSHARE_RANGE => {
            write_and_wait(inode, off, end)?;
            // As XFS (the one other file system with it): the range is
            // preallocated too, holes set aside and the size grown unless
            // KEEP_SIZE, then space for overwriting its mapped blocks.
            crate::file::preallocate(inode, off, len, keep)?;
            crate::file::unshare(inode, off, len)
        }
        FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE if !keep => {
            write_and_wait(inode, off.min(inode.size()), inode.size())?;
            // SAFETY: inode and invalidate locks held.
            unsafe { sys::truncate_pagecache_range(inode.as_ptr(), off as i64, i64::MAX) };
            if mode & FALLOC_FL_COLLAPSE_RANGE != 0 {
                crate::file::collapse(inode, off, len)
            } else {
                crate::file::insert(inode, off, len)
            }
        }
        _ => Err(crate::errors::eopnotsupp()),
    }
}

/// Punches `[start, end)` (inode and invalidate locks held).
fn punch(inode: &Inode, start: u64, end: u64) -> Result {
    let range_end = end;
    let end = end.min(inode.size());
    if start >= end {
        // Past the end of file only unwritten blocks (KEEP_SIZE) can be.
        return crate::file::punch_blocks(inode, start, range_end);
    }
    let bs = u64::from(crate::super_::sbi(inode.sb())?.geo.block_size);
    write_and_wait(inode, start, end)?;
    // Partial blocks at the edges keep their block, zeroed.
    let (start_block, start_off) = (start.checked_div(bs).unwrap_or(0), start.checked_rem(bs).unwrap_or(0));
    let (end_block, end_off) = (end.checked_div(bs).unwrap_or(0), end.checked_rem(bs).unwrap_or(0));
    let head_end = start_block.saturating_add(1).saturating_mul(bs).min(end);
    if start_off != 0 && crate::inode::map_block(inode, start_block)?.is_some() {
        crate::aops::zero_range(inode, start, head_end.saturating_sub(start))?;
    }
    let tail_start = end_block.saturating_mul(bs).max(head_end);
    if end_off != 0 && tail_start < end && crate::inode::map_block(inode, end_block)?.is_some() {
        crate::aops::zero_range(inode, tail_start, end.saturating_sub(tail_start))?;
    }
    write_and_wait(inode, start, end)?;
    // SAFETY: inode and invalidate locks held: what truncate does under
    // the same locks.
    unsafe { sys::truncate_pagecache_range(inode.as_ptr(), start as i64, end.saturating_sub(1) as i64) };
    // Whole blocks, with the unwritten ones past the end of file.
    crate::file::punch_blocks(inode, start, range_end)?;
    inode.touch_cm();
    inode.mark_dirty();
    Ok(())
}

// ---- address-space operations ----

/// # Safety
/// Arguments as the page cache passes them to a `get_block_t`.
unsafe fn get_block_args<'a>(inode: *mut sys::inode, bh: *mut sys::buffer_head) -> (&'a Inode, BhResult) {
    // SAFETY: caller's contract: a live inode of ours and its buffer head.
    unsafe { (Inode::from_raw(inode), BhResult::from_raw(bh)) }
}

/// `get_block_t` for reads (holes stay unmapped).
#[no_mangle]
pub(crate) unsafe extern "C" fn livedfs_get_block_read(
    inode: *mut sys::inode,
    iblock: sys::sector_t,
    bh: *mut sys::buffer_head,
    _create: c_int,
) -> c_int {
    // SAFETY: called by the page cache with a live inode and buffer.
    let (inode, mut bh) = unsafe { get_block_args(inode, bh) };
    to_c(crate::file::get_block_read(inode, iblock, &mut bh))
}

/// `get_block_t` at write time (reserve, map delayed).
#[no_mangle]
pub(crate) unsafe extern "C" fn livedfs_get_block_prepare(
    inode: *mut sys::inode,
    iblock: sys::sector_t,
    bh: *mut sys::buffer_head,
    _create: c_int,
) -> c_int {
    // SAFETY: called by the page cache with a live inode and buffer.
    let (inode, mut bh) = unsafe { get_block_args(inode, bh) };
    to_c(crate::file::get_block_prepare(inode, iblock, &mut bh))
}

/// What `livedfs_getattr` (helpers.c) adds to the VFS's attributes: the
/// statx attribute bits and the sectors of delayed-allocation reservations.
#[no_mangle]
pub(crate) unsafe extern "C" fn livedfs_stat_extra(
    inode: *mut sys::inode,
    attributes: *mut u64,
    sectors: *mut u64,
    btime_sec: *mut i64,
    btime_nsec: *mut u32,
) {
    // SAFETY: getattr's live inode, one of ours.
    let inode = unsafe { Inode::from_raw(inode) };
    let x = crate::inode::stat_extra(inode);
    // SAFETY: all four point at the caller's locals.
    unsafe {
        *attributes = x.attributes;
        *sectors = x.delayed_sectors;
        *btime_sec = x.btime.sec;
        *btime_nsec = x.btime.nsec;
    }
}

/// Completion of a file-data write that failed (`livedfs_end_data_write`
/// in helpers.c, in the bio's completion context: only an atomic store).
#[no_mangle]
pub(crate) unsafe extern "C" fn livedfs_note_data_write_error(sb: *mut sys::super_block) {
    // SAFETY: the completion's folio belongs to a live inode of this
    // mounted volume (unmount waits for writeback), so `sb` and its info
    // are alive.
    let sb = unsafe { SuperBlock::from_raw(sb) };
    if let Some(info) = sb.info() {
        info.data_write_failed.store(true, core::sync::atomic::Ordering::Release);
    }
}

/// Whether a file-data write of the volume failed since the mount (the
/// journal's data check, `livedfs_finish_inode_data`).
#[no_mangle]
pub(crate) unsafe extern "C" fn livedfs_data_write_has_failed(sb: *mut sys::super_block) -> bool {
    // SAFETY: called by the commit of this volume's journal, which the
    // volume outlives.
    let sb = unsafe { SuperBlock::from_raw(sb) };
    sb.info().is_some_and(|i| i.data_write_failed.load(core::sync::atomic::Ordering::Acquire))
}

// ---- the write path (policy in crate::aops) ----

unsafe extern "C" fn aop_writepages(mapping: *mut sys::address_space, wbc: *mut sys::writeback_control) -> c_int {
    // SAFETY: the VFS writes back one of our mappings with a live
    // writeback control.
    let Some(w) = (unsafe { Wbc::from_raw(wbc) }) else {
        return EINVAL.to_errno();
    };
    // Folios are gathered, still locked, and written back a batch at a
    // time, in the ascending order writeback_iter hands them out (the
    // order in which several folio locks may be held, as ext4's writeback
    // does). A full batch is hashed on every CPU, then decided while the
    // next batch is hashed (`aops::decide_while_hashing`): the decisions
    // run in this one thread, and the other CPUs hash meanwhile.
    // Plugged, as ext4's and iomap's writeback: the bios of consecutive
    // blocks merge into large requests before they reach the device
    // (unplugged, as fsync calls writepages, every 4 KiB block went out
    // as a request of its own). The background flusher has a plug of its
    // own already; a nested one changes nothing.
    let mut plug = core::mem::MaybeUninit::<sys::blk_plug>::uninit();
    // SAFETY: `plug` lives on this stack frame, unmoved, until
    // blk_finish_plug below, which every path out of the loop reaches.
    unsafe { sys::blk_start_plug(plug.as_mut_ptr()) };
    // `cur`: a full batch, hashed (`cur_digests`), awaiting its decisions;
    // `next`: the batch being gathered.
    let mut cur: [Option<LockedFolio<'_>>; crate::aops::WRITEBACK_BATCH] = core::array::from_fn(|_| None);
    let mut cur_digests: Option<crate::aops::BatchDigests> = None;
    let mut next: [Option<LockedFolio<'_>>; crate::aops::WRITEBACK_BATCH] = core::array::from_fn(|_| None);
    let mut held = 0usize;
    let mut folio: *mut sys::folio = core::ptr::null_mut();
    let mut error: c_int = 0;
    loop {
        // writeback_iter takes back the previous folio for its count only
        // (it may still be locked in a batch) and drops its own
        // references to the folios it handed out; a locked folio stays in
        // the page cache (removal takes the folio lock), which holds one.
        // SAFETY: our mapping and its live writeback control; the
        // previous folio and the last batch's result, as the API asks.
        folio = unsafe { sys::writeback_iter(mapping, wbc, folio, &mut error) };
        // SAFETY: a locked folio of our mapping (or NULL at the end); it
        // stays locked in a batch until its decision unlocks it.
        let Some(f) = (unsafe { LockedFolio::from_raw(folio) }) else {
            break;
        };
        error = 0;
        match next.get_mut(held) {
            Some(slot) => {
                *slot = Some(f);
                held += 1;
            }
            None => error = to_c(crate::aops::write_folio(f, &w, &[])),
        }
        if held == next.len() {
            let (digests, r) = match cur_digests.take() {
                Some(d) => crate::aops::decide_while_hashing(&mut cur, &d, &next, &w),
                None => (crate::aops::hash_ahead(&next), Ok(())),
            };
            error = to_c(r);
            cur_digests = Some(digests);
            core::mem::swap(&mut cur, &mut next);
            held = 0;
        }
    }
    // At the end (of the file, or of background writeback's page budget):
    // the hashed batch is decided while the last folios are hashed, then
    // those are decided.
    let last = next.get_mut(..held).unwrap_or(&mut []);
    let rest = match cur_digests.take() {
        Some(d) => {
            let (digests, r) = crate::aops::decide_while_hashing(&mut cur, &d, last, &w);
            let r2 = crate::aops::decide_batch(last, &digests, &w);
            to_c(r.and(r2))
        }
        None => to_c(crate::aops::write_batch(last, &w)),
    };
    // SAFETY: the plug started above, on this frame.
    unsafe { sys::blk_finish_plug(plug.as_mut_ptr()) };
    if error == 0 {
        error = rest;
    }
    error
}

unsafe extern "C" fn aop_write_begin(
    _file: *mut sys::file,
    mapping: *mut sys::address_space,
    pos: sys::loff_t,
    len: u32,
    foliop: *mut *mut sys::folio,
    _fsdata: *mut *mut kernel::ffi::c_void,
) -> c_int {
    // SAFETY: the VFS passes our live mapping (its host is our inode) and
    // a place for the folio.
    let inode = unsafe { Inode::from_raw((*mapping).host) };
    to_c(write_begin(inode, pos.max(0) as u64, len, foliop))
}

/// `write_begin`: the folio locked and its buffers prepared
/// (`get_block_prepare` reserves new blocks), then a copy-on-write
/// reservation for each overwritten block. When space comes back only at
/// the next commit, the folio is let go, the commit forced, and the write
/// tried once more.
fn write_begin(inode: &Inode, pos: u64, len: u32, foliop: *mut *mut sys::folio) -> Result {
    let info = crate::super_::sbi(inode.sb())?;
    let mut attempt = 0;
    loop {
        if let Some(e) = info.stopped() {
            return Err(e);
        }
        // SAFETY: our mapping; block_write_begin locks and returns a folio
        // (or unlocks and drops it on error).
        let r = unsafe {
            sys::block_write_begin(inode.mapping(), pos as i64, len, foliop, Some(livedfs_get_block_prepare))
        };
        let r = if r != 0 {
            Err(Error::from_errno(r))
        } else {
            // SAFETY: block_write_begin succeeded: `*foliop` is locked and
            // referenced until write_end.
            let f = unsafe { *foliop };
            // SAFETY: as above.
            match unsafe { LockedFolio::from_raw(f) } {
                None => Err(EINVAL),
                Some(folio) => {
                    let from = pos.saturating_sub(folio.pos());
                    let r = crate::aops::reserve_overwrites(inode, &folio, from, from.saturating_add(u64::from(len)));
                    if r.is_err() {
                        // SAFETY: we hold the folio locked and referenced.
                        unsafe {
                            sys::folio_unlock(f);
                            sys::folio_put(f);
                            *foliop = core::ptr::null_mut();
                        }
                    }
                    r
                }
            }
        };
        match r {
            Err(e) if e == crate::balloc::SPACE_BUSY => {
                attempt += 1;
                if attempt > 2 {
                    return Err(ENOSPC);
                }
                crate::balloc::commit_for_space(info)?;
            }
            r => return r,
        }
    }
}

unsafe extern "C" fn aop_invalidate_folio(folio: *mut sys::folio, offset: usize, len: usize) {
    // SAFETY: the page cache invalidates a locked folio of ours.
    if let Some(f) = unsafe { LockedFolio::from_raw(folio) } {
        crate::aops::invalidate_folio(&f, offset as u64, len as u64);
    }
}

unsafe extern "C" fn aop_release_folio(folio: *mut sys::folio, _gfp: sys::gfp_t) -> bool {
    // SAFETY: reclaim asks about a locked folio of ours.
    match unsafe { LockedFolio::from_raw(folio) } {
        Some(f) => crate::aops::release_folio(&f),
        None => false,
    }
}

unsafe extern "C" fn aop_swap_activate(
    _sis: *mut sys::swap_info_struct,
    file: *mut sys::file,
    _span: *mut sys::sector_t,
) -> c_int {
    // SAFETY: swapon passes an open file of ours.
    let inode = unsafe { Inode::from_raw((*file).f_inode) };
    to_c(crate::aops::swap_activate(inode))
}

/// The page-fault operations of a mapped regular file.
static VM_OPS: Ops<sys::vm_operations_struct> = Ops(sys::vm_operations_struct {
    fault: Some(sys::filemap_fault),
    map_pages: Some(sys::filemap_map_pages),
    page_mkwrite: Some(vm_page_mkwrite),
    // SAFETY: zero (NULL) means "not implemented" for every other member.
    ..unsafe { core::mem::zeroed() }
});

unsafe extern "C" fn fop_mmap(file: *mut sys::file, vma: *mut sys::vm_area_struct) -> c_int {
    // SAFETY: the VFS maps an open file of ours into a new vma.
    unsafe {
        sys::file_accessed(file);
        (*vma).vm_ops = &VM_OPS.0;
    }
    0
}

/// `page_mkwrite`: a mapped folio is about to be written. As write_begin:
/// buffers prepared, overwrites reserved (SIGBUS on ENOSPC), under the
/// invalidate lock (shared), so hole punching, truncation and reflink
/// never race with a fault that dirties the folio.
unsafe extern "C" fn vm_page_mkwrite(vmf: *mut sys::vm_fault) -> sys::vm_fault_t {
    // SAFETY: the fault handler passes a live fault on a vma of ours.
    let (file, page) = unsafe { ((*(*vmf).__bindgen_anon_1.vma).vm_file, (*vmf).page) };
    // SAFETY: the faulting file is open and ours.
    let inode = unsafe { Inode::from_raw((*file).f_inode) };
    let sb = inode.sb().as_ptr();
    // SAFETY: freeze protection and the time update, as every file
    // system's page_mkwrite.
    unsafe {
        sys::sb_start_pagefault(sb);
        sys::file_update_time(file);
    }
    let mut attempt = 0;
    let r = loop {
        // SAFETY: our mapping.
        unsafe { sys::filemap_invalidate_lock_shared(inode.mapping()) };
        // SAFETY: the faulting page is referenced by the fault.
        let r = unsafe { mkwrite_locked(inode, sys::livedfs_page_folio(page)) };
        // SAFETY: taken above.
        unsafe { sys::filemap_invalidate_unlock_shared(inode.mapping()) };
        match (r, crate::super_::sbi(inode.sb())) {
            (Err(e), Ok(info)) if e == crate::balloc::SPACE_BUSY => {
                attempt += 1;
                if attempt > 2 {
                    break Err(ENOSPC);
                }
                if let Err(e) = crate::balloc::commit_for_space(info) {
                    break Err(e);
                }
            }
            (r, _) => break r,
        }
    };
    // SAFETY: as above.
    unsafe { sys::sb_end_pagefault(sb) };
    let errno = match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    };
    // SAFETY: maps an errno to a fault result (0: VM_FAULT_LOCKED, the
    // folio is returned locked).
    unsafe { sys::vmf_fs_error(errno) }
}

/// The body of `page_mkwrite` (block_page_mkwrite, with our reservation
/// between preparing the buffers and dirtying them). On success the folio
/// stays locked.
///
/// # Safety
///
/// `f` must be the referenced folio of a fault on `inode`'s mapping.
unsafe fn mkwrite_locked(inode: &Inode, f: *mut sys::folio) -> Result {
    // SAFETY: caller's contract.
    unsafe { sys::folio_lock(f) };
    // SAFETY: locked just above, referenced by the fault.
    let Some(folio) = (unsafe { LockedFolio::from_raw(f) }) else {
        return Err(EFAULT);
    };
    let fail = |folio: LockedFolio<'_>, e: Error| -> Result {
        folio.unlock();
        Err(e)
    };
    let size = inode.size();
    if !folio.belongs_to(inode) || folio.pos() >= size {
        // Truncated meanwhile: EFAULT makes the fault retry.
        return fail(folio, EFAULT);
    }
    if let Some(e) = crate::super_::sbi(inode.sb()).ok().and_then(|i| i.stopped()) {
        return fail(folio, e);
    }
    let end = folio.size().min(size.saturating_sub(folio.pos()));
    // SAFETY: locked folio of our mapping; prepares its buffers in
    // [0, end) (new blocks reserved by get_block_prepare).
    let r = unsafe {
        sys::__block_write_begin(f, folio.pos() as i64, end as u32, Some(livedfs_get_block_prepare))
    };
    if r != 0 {
        return fail(folio, Error::from_errno(r));
    }
    if let Err(e) = crate::aops::reserve_overwrites(inode, &folio, 0, end) {
        return fail(folio, e);
    }
    // SAFETY: locked folio whose buffers in [0, end) are prepared.
    unsafe { sys::livedfs_folio_commit_write(f, 0, end as u32) };
    folio.mark_dirty();
    folio.wait_stable();
    // Returned locked (VM_FAULT_LOCKED).
    core::mem::forget(folio);
    Ok(())
}

/// Zeroes `[pos, pos + len)` through the page cache (write_begin, zero,
/// write_end), a page at a time.
pub(crate) fn zero_range_pages(inode: &Inode, mut pos: u64, mut len: u64) -> Result {
    const PAGE: u64 = 4096;
    while len > 0 {
        let off = pos.checked_rem(PAGE).unwrap_or(0);
        let n = (PAGE.saturating_sub(off)).min(len) as u32;
        let mut f: *mut sys::folio = core::ptr::null_mut();
        write_begin(inode, pos, n, &mut f)?;
        // SAFETY: write_begin returned the folio locked and referenced;
        // the range lies inside it; generic_write_end unlocks and drops it.
        unsafe {
            let at = pos.saturating_sub(sys::folio_pos(f).max(0) as u64);
            sys::folio_zero_range(f, at as usize, n as usize);
            let r = sys::generic_write_end(
                core::ptr::null_mut(),
                inode.mapping(),
                pos as i64,
                n,
                n,
                f,
                core::ptr::null_mut(),
            );
            if r < 0 {
                return Err(Error::from_errno(r));
            }
        }
        pos = pos.saturating_add(u64::from(n));
        len = len.saturating_sub(u64::from(n));
    }
    Ok(())
}

/// FICLONE / FICLONERANGE / FIDEDUPERANGE: both inodes and both
/// invalidate locks taken (no write, fault or writeback of either range
/// can run meanwhile), the VFS checks the request (and, for dedup,
/// compares the data) and writes both ranges back, the destination's
/// cached pages are dropped, then the blocks are shared (`dedup::remap`).
unsafe extern "C" fn fop_remap_file_range(
    file_in: *mut sys::file,
    pos_in: sys::loff_t,
    file_out: *mut sys::file,
    pos_out: sys::loff_t,
    len: sys::loff_t,
    flags: u32,
) -> sys::loff_t {
    const REMAP_FILE_DEDUP: u32 = 1 << 0;
    const REMAP_FILE_ADVISORY: u32 = 1 << 1;
    if flags & !(REMAP_FILE_DEDUP | REMAP_FILE_ADVISORY) != 0 {
        return sys::loff_t::from(EINVAL.to_errno());
    }
    let dedup = flags & REMAP_FILE_DEDUP != 0;
    // SAFETY: the VFS passes two open files (checked to be on one super
    // block, ours); their inodes live as long.
    let (src, dst) = unsafe { (Inode::from_raw((*file_in).f_inode), Inode::from_raw((*file_out).f_inode)) };
    // SAFETY: lock order of the VFS helpers (inodes, then mappings).
    unsafe {
        sys::lock_two_nondirectories(src.as_ptr(), dst.as_ptr());
        sys::filemap_invalidate_lock_two(src.mapping(), dst.mapping());
    }
    let mut len = len;
    // SAFETY: both inodes and mappings locked as the helper expects.
    let r = unsafe { sys::generic_remap_file_range_prep(file_in, pos_in, file_out, pos_out, &mut len, flags) };
    let ret = if r < 0 {
        sys::loff_t::from(r)
    } else if len == 0 {
        0
    } else {
        match remap_locked(src, pos_in.max(0) as u64, dst, pos_out.max(0) as u64, len.max(0) as u64, dedup) {
            Ok(()) => len,
            Err(e) => sys::loff_t::from(e.to_errno()),
        }
    };
    // SAFETY: taken above.
    unsafe {
        sys::filemap_invalidate_unlock_two(src.mapping(), dst.mapping());
        sys::unlock_two_nondirectories(src.as_ptr(), dst.as_ptr());
    }
    // Either file opened O_SYNC or O_DSYNC, or the destination synchronous
    // (chattr +S, -o sync): the new sharing is durable on return, as XFS
    // and btrfs make it (fstests generic/628).
    const O_DSYNC: u32 = 0o10000;
    // SAFETY: both files are live for the call; plain field reads.
    let sync = unsafe { ((*file_in).f_flags | (*file_out).f_flags) & O_DSYNC != 0 } || dst.is_sync();
    if ret > 0 && sync {
        // SAFETY: a live file of ours, no lock held.
        let r = unsafe { sys::vfs_fsync_range(file_out, pos_out, pos_out.saturating_add(ret).saturating_sub(1), 0) };
        if r != 0 {
            return sys::loff_t::from(r);
        }
    }
    ret
}

fn remap_locked(src: &Inode, pos_in: u64, dst: &Inode, pos_out: u64, len: u64, dedup: bool) -> Result {
    let bs = u64::from(crate::super_::sbi(dst.sb())?.geo.block_size);
    let end = pos_out.saturating_add(len);
    let grows = !dedup && end > dst.size();
    // Growing dst: its data waiting for allocation below pos_out gets its
    // blocks first, since the size on disk will cover it.
    if grows && pos_out > 0 {
        write_and_wait(dst, 0, pos_out)?;
    }
    let last = end.saturating_add(bs.saturating_sub(1)).checked_div(bs).unwrap_or(0).saturating_mul(bs);
    // SAFETY: dst's inode and invalidate locks are held.
    unsafe { sys::truncate_inode_pages_range(dst.mapping(), pos_out as i64, last.saturating_sub(1) as i64) };
    crate::dedup::remap(src, pos_in, dst, pos_out, len, dedup)?;
    if grows {
        dst.set_size(end);
        crate::inode::set_disksize(dst, end);
    }
    // A dedupe changes no contents: no new times (as XFS and btrfs;
    // fstests generic/408).
    if !dedup {
        dst.touch_cm();
    }
    dst.mark_dirty();
    Ok(())
}

unsafe extern "C" fn aop_read_folio(_file: *mut sys::file, folio: *mut sys::folio) -> c_int {
    // SAFETY: the page cache passes a locked folio of one of our files.
    let f = unsafe { LockedFolio::from_raw(folio) };
    if let Some(mut f) = f {
        if let Some(inode) = f.inode() {
            if crate::super_::sbi(inode.sb()).is_ok_and(|i| i.verify_reads()) {
                let r = crate::aops::read_folio_verified(inode, &mut f);
                if r.is_ok() {
                    f.mark_uptodate();
                }
                f.unlock();
                return to_c(r);
            }
        }
    }
    // SAFETY: as above.
    unsafe { sys::mpage_read_folio(folio, Some(livedfs_get_block_read)) }
}

unsafe extern "C" fn aop_readahead(rac: *mut sys::readahead_control) {
    // SAFETY: live readahead control for the call; with verify_reads
    // nothing is read ahead (each folio is then read, and verified, by
    // read_folio; the page cache drops the folios left unread).
    unsafe {
        let inode = Inode::from_raw((*sys::livedfs_rac_mapping(rac.cast())).host);
        if crate::super_::sbi(inode.sb()).is_ok_and(|i| i.verify_reads()) {
            return;
        }
        sys::mpage_readahead(rac, Some(livedfs_get_block_read))
    }
}


unsafe extern "C" fn aop_bmap(mapping: *mut sys::address_space, block: sys::sector_t) -> sys::sector_t {
    // SAFETY: live mapping; delayed blocks have no address until written.
    unsafe {
        let _ = sys::filemap_write_and_wait_range(mapping, 0, i64::MAX);
        sys::generic_block_bmap(mapping, block, Some(livedfs_get_block_read))
    }
}
