//! Registration of the `livedfs` file-system type, the mount context
//! (`fs_context`) callbacks, and the static operation tables whose C-ABI
//! trampolines call into the file-system logic.

use crate::options::MountOptions;
use crate::sys;
use crate::vfs::{DirEmitter, Inode, SuperBlock};
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

/// The registered file-system type; unregistered on drop.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration {
    #[pin]
    fs: Opaque<sys::file_system_type>,
}

impl Registration {
    /// Registers `livedfs` with the VFS.
    pub(crate) fn new(module: &'static ThisModule) -> Result<Pin<KBox<Self>>> {
        let reg = KBox::pin_init(
            pin_init!(Self {
                // SAFETY: an all-zero file_system_type is its C initial state.
                fs <- Opaque::ffi_init(|p: *mut sys::file_system_type| unsafe {
                    p.write_bytes(0, 1);
                    (*p).name = c_str!("livedfs").as_char_ptr();
                    (*p).fs_flags = sys::FS_REQUIRES_DEV as c_int;
                    (*p).init_fs_context = Some(init_fs_context);
                    (*p).kill_sb = Some(kill_sb);
                    (*p).owner = module.as_ptr();
                }),
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `fs` is pinned in its box for as long as it is registered
        // (until drop) and fully initialised.
        let r = unsafe { sys::register_filesystem(reg.fs.get()) };
        if r != 0 {
            return Err(Error::from_errno(r));
        }
        Ok(reg)
    }
}

// SAFETY: after registration the VFS owns the struct's mutable parts
// (list links, locks) under its own locking; we only unregister it.
unsafe impl Send for Registration {}
// SAFETY: as above; `&Registration` gives no access to the fields.
unsafe impl Sync for Registration {}

#[pinned_drop]
impl PinnedDrop for Registration {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered in `new`; after this the VFS holds no pointer
        // to it (every super block is gone: the module can't be unloaded
        // while mounted).
        unsafe { sys::unregister_filesystem(self.fs.get()) };
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
    statfs: Some(sop_statfs),
    show_options: Some(sop_show_options),
    put_super: Some(sop_put_super),
    // SAFETY: every other member is an optional function pointer or flag,
    // for which zero (NULL) is the documented "not implemented".
    ..unsafe { core::mem::zeroed() }
});

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
    // SAFETY: zero (NULL) means "not implemented" for every other member.
    ..unsafe { core::mem::zeroed() }
});

/// Regular-file inode operations.
pub(crate) static FILE_IOPS: Ops<sys::inode_operations> = Ops(
    // SAFETY: zero (NULL) means "not implemented" for every member.
    unsafe { core::mem::zeroed() },
);

/// Device, fifo and socket inode operations.
pub(crate) static SPECIAL_IOPS: Ops<sys::inode_operations> = Ops(
    // SAFETY: zero (NULL) means "not implemented" for every member.
    unsafe { core::mem::zeroed() },
);

/// Directory file operations.
pub(crate) static DIR_FOPS: Ops<sys::file_operations> = Ops(sys::file_operations {
    llseek: Some(sys::generic_file_llseek),
    read: Some(sys::generic_read_dir),
    iterate_shared: Some(fop_iterate_shared),
    // SAFETY: zero (NULL) means "not implemented" for every other member.
    ..unsafe { core::mem::zeroed() }
});

/// Regular-file file operations.
pub(crate) static FILE_FOPS: Ops<sys::file_operations> = Ops(sys::file_operations {
    llseek: Some(sys::generic_file_llseek),
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
