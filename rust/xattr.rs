//! Extended attributes: `user.`, `trusted.`, `security.` and the POSIX
//! ACLs (`system.posix_acl_access`, `system.posix_acl_default`), kept as
//! ext2 keeps them: all of an inode's attributes in one attribute block
//! (the on-disk format and its editing are the format crate's
//! `xattr` module), shared between inodes whose attribute sets are
//! identical.
//!
//! The one idea: a change builds the inode's new attribute set in a
//! scratch copy of its block, then stores it where it costs least, all in
//! one journal handle: in a block that already holds exactly that set
//! (its refcount raised: sharing, found through an in-memory index of
//! blocks by hash, as ext2's mbcache), in the inode's own block if no one
//! else uses it, or in a new block (copy on write of a shared one). The
//! block it leaves has its refcount lowered, and is freed at zero. A
//! refused change (EEXIST, ENODATA, ENOSPC) touches nothing on disk.
//!
//! Locking: the journal handle first, then the inode's `xattr_lock`
//! (readers take it too: a block never changes or goes away under a
//! reader), then the per-mount index lock `Xattrs::index` (every change
//! of an attribute block's refcount or content, so the index is exact),
//! then the buffer, allocation, map and meta locks.
//!
//! Attribute blocks are metadata: allocated from the block bitmap, never
//! deduplicated (their store entries keep refcount 0), revoked when
//! freed, and counted in the `blocks` of every inode pointing to them.

use crate::balloc;
use crate::errors::{corrupt, corrupt_msg};
use crate::format::xattr::{self as fx, SetError, SetMode};
use crate::format::FormatError;
use crate::super_::{sbi, SbInfo};
use crate::vfs::crc::KernelCrc;
use crate::vfs::{Buffer, Inode, SuperBlock};
use core::sync::atomic::Ordering;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNode};
use kernel::sync::Mutex;

/// Credits of one attribute change: the inode, the block it leaves (its
/// refcount), the block it joins (a shared one's refcount, or a new one),
/// a bitmap and descriptor block for the allocation and for the free.
/// Under 10; with room to spare.
pub(crate) const CREDITS_XATTR: u32 = 16;
/// Revoke records of one change: the block freed.
const REVOKES_XATTR: u32 = 1;
/// Attribute blocks the sharing index holds at most (about 40 bytes
/// each); past it, new blocks are simply not offered for sharing.
const INDEX_MAX: usize = 16384;
/// Blocks with the right hash compared at most per change.
const CANDIDATES_MAX: usize = 8;

/// ENODATA: no such attribute.
pub(crate) fn enodata() -> Error {
    Error::from_errno(-61)
}

/// The per-mount state: whether the volume has extended attributes
/// (`RO_COMPAT_XATTR`), and the sharing index.
#[pin_data]
pub(crate) struct Xattrs {
    enabled: bool,
    #[pin]
    index: Mutex<Index>,
}

/// Attribute blocks by (hash, block number), as ext2's mbcache: every
/// block in it holds, with that hash, the attributes of at least one
/// inode (blocks leave it when freed or changed).
struct Index {
    tree: RBTree<u64, ()>,
    len: usize,
}

fn key(hash: u32, block: u32) -> u64 {
    (u64::from(hash) << 32) | u64::from(block)
}

impl Index {
    fn insert(&mut self, hash: u32, block: u32) {
        if self.len >= INDEX_MAX || self.tree.get(&key(hash, block)).is_some() {
            return;
        }
        // Without memory the block is just not offered for sharing.
        if let Ok(node) = RBTreeNode::new(key(hash, block), (), GFP_KERNEL) {
            self.tree.insert(node);
            self.len = self.len.saturating_add(1);
        }
    }

    fn remove(&mut self, hash: u32, block: u32) {
        if self.tree.remove(&key(hash, block)).is_some() {
            self.len = self.len.saturating_sub(1);
        }
    }

    /// Blocks indexed under `hash` (a few).
    fn candidates(&mut self, hash: u32) -> Result<KVec<u32>> {
        let mut out = KVec::new();
        let mut cursor = self.tree.cursor_lower_bound(&key(hash, 0));
        while let Some(c) = cursor {
            let k = *c.current().0;
            if (k >> 32) as u32 != hash || out.len() >= CANDIDATES_MAX {
                break;
            }
            out.push(k as u32, GFP_KERNEL)?;
            cursor = c.move_next();
        }
        Ok(out)
    }
}

impl Xattrs {
    /// The state of a mount; `enabled` when the volume has the feature.
    pub(crate) fn new(enabled: bool) -> impl PinInit<Self> {
        pin_init!(Self {
            enabled,
            index <- new_mutex!(Index { tree: RBTree::new(), len: 0 }),
        })
    }
}

/// At mount and remount: the xattr handlers on a volume with the
/// feature, and POSIX ACLs unless mounted `noacl`.
pub(crate) fn setup(sb: &SuperBlock, info: &SbInfo, opts: &crate::options::MountOptions) {
    if info.xattr.enabled {
        crate::vfs::xattr::install_handlers(sb);
    }
    crate::vfs::xattr::set_posix_acl(sb, info.xattr.enabled && opts.acl != Some(false));
}

/// Whether the volume stores extended attributes.
pub(crate) fn enabled(sb: &SuperBlock) -> bool {
    sbi(sb).is_ok_and(|i| i.xattr.enabled)
}

/// Logs a bad attribute block (naming the device, the inode and the
/// block) and returns EUCLEAN.
fn block_corrupt(sb: &SuperBlock, ino: u32, b: u32, e: FormatError) -> Error {
    pr_err!("livedfs ({}): inode {} attribute block {}:\n", sb.id(), ino, b);
    corrupt(sb, "attribute block", e)
}

/// An attribute block read and verified; `fresh`: verified just now
/// (read from the disk), with the hash of its attributes.
struct Read {
    bh: Buffer,
    fresh: Option<u32>,
}

/// Reads attribute block `b` of inode `ino`, verified once per read from
/// the disk (our own changes keep it valid).
fn read_block(sb: &SuperBlock, info: &SbInfo, ino: u32, b: u32) -> Result<Read> {
    if !info.geo.is_data_block(b) {
        return Err(corrupt_msg(sb, format_args!("inode {} attribute block {} out of range", ino, b)));
    }
    let bh = Buffer::read(sb, u64::from(b))?;
    if bh.is_verified() {
        return Ok(Read { bh, fresh: None });
    }
    let v = bh
        .read_with(|d| fx::verify_block(d, b, info.seed, &KernelCrc))
        .map_err(|e| block_corrupt(sb, ino, b, e))?;
    bh.set_verified();
    Ok(Read { bh, fresh: Some(v.hash) })
}

/// Reads the inode's attribute block (`xattr_lock` held by the caller);
/// `None` if it has none. A block read from the disk joins the sharing
/// index.
fn inode_block(inode: &Inode, info: &SbInfo) -> Result<Option<(u32, Buffer)>> {
    let b = inode.data().meta.lock().xattr_block;
    if b == 0 {
        return Ok(None);
    }
    let r = read_block(inode.sb(), info, inode.ino(), b)?;
    if let Some(hash) = r.fresh {
        info.xattr.index.lock().insert(hash, b);
    }
    Ok(Some((b, r.bh)))
}

/// getxattr: the value of (`index`, `name`) copied into `buf`, or its
/// length when `buf` is `None`; ERANGE if `buf` is too small.
pub(crate) fn get(inode: &Inode, index: u8, name: &[u8], buf: Option<&mut [u8]>) -> Result<usize> {
    let sb = inode.sb();
    let info = sbi(sb)?;
    if !info.xattr.enabled {
        return Err(crate::errors::eopnotsupp());
    }
    let _l = inode.data().xattr_lock.lock();
    let Some((b, bh)) = inode_block(inode, info)? else {
        return Err(enodata());
    };
    let r = bh.read_with(|d| -> core::result::Result<Result<usize>, FormatError> {
        let Some(v) = fx::find(d, index, name)? else {
            return Ok(Err(enodata()));
        };
        let n = v.len();
        match buf {
            None => Ok(Ok(n)),
            Some(out) => match out.get_mut(..n) {
                Some(dst) => {
                    dst.copy_from_slice(v);
                    Ok(Ok(n))
                }
                None => Ok(Err(ERANGE)),
            },
        }
    });
    r.map_err(|e| block_corrupt(sb, inode.ino(), b, e))?
}

/// The value of (`index`, `name`) in a new buffer, if the inode has it
/// (the POSIX ACLs).
pub(crate) fn get_value(inode: &Inode, index: u8, name: &[u8]) -> Result<Option<KVec<u8>>> {
    let sb = inode.sb();
    let info = sbi(sb)?;
    if !info.xattr.enabled {
        return Ok(None);
    }
    let _l = inode.data().xattr_lock.lock();
    let Some((b, bh)) = inode_block(inode, info)? else {
        return Ok(None);
    };
    // The length first, then the copy: no allocation under the buffer
    // lock. Under `xattr_lock` the entries of the block cannot change
    // (only a shared block's header does).
    let len = bh
        .read_with(|d| fx::find(d, index, name).map(|v| v.map(|v| v.len())))
        .map_err(|e| block_corrupt(sb, inode.ino(), b, e))?;
    let Some(len) = len else {
        return Ok(None);
    };
    let mut out = KVec::from_elem(0u8, len, GFP_KERNEL)?;
    let copied = bh
        .read_with(|d| {
            fx::find(d, index, name).map(|v| match (v, out.get_mut(..len)) {
                (Some(v), Some(dst)) if v.len() == len => {
                    dst.copy_from_slice(v);
                    true
                }
                _ => false,
            })
        })
        .map_err(|e| block_corrupt(sb, inode.ino(), b, e))?;
    if !copied {
        return Err(EIO);
    }
    Ok(Some(out))
}

/// listxattr: the full names (`user.foo\0...`) into `buf`, or their total
/// length when `buf` is `None`; ERANGE if `buf` is too small. `trusted`:
/// list `trusted.` names (the caller may read them); `acls`: list the
/// ACLs (the mount has POSIX ACLs).
pub(crate) fn list(inode: &Inode, mut buf: Option<&mut [u8]>, trusted: bool, acls: bool) -> Result<usize> {
    let sb = inode.sb();
    let info = sbi(sb)?;
    if !info.xattr.enabled {
        return Ok(0);
    }
    let _l = inode.data().xattr_lock.lock();
    let Some((b, bh)) = inode_block(inode, info)? else {
        return Ok(0);
    };
    let r = bh.read_with(|d| -> core::result::Result<Result<usize>, FormatError> {
        let mut total = 0usize;
        for e in fx::entries(d) {
            let e = e?;
            if (e.index == fx::INDEX_TRUSTED && !trusted) || (fx::is_acl(e.index) && !acls) {
                continue;
            }
            let Some(prefix) = fx::prefix(e.index) else {
                continue;
            };
            let len = prefix.len().saturating_add(e.name.len()).saturating_add(1);
            if let Some(out) = buf.as_deref_mut() {
                let end = put(out, total, prefix)
                    .and_then(|at| put(out, at, e.name))
                    .and_then(|at| put(out, at, &[0]));
                if end.is_none() {
                    return Ok(Err(ERANGE));
                }
            }
            total = total.saturating_add(len);
        }
        Ok(Ok(total))
    });
    r.map_err(|e| block_corrupt(sb, inode.ino(), b, e))?
}

/// Copies `bytes` to `out` at `at`; the offset after them, or `None` if
/// they do not fit.
fn put(out: &mut [u8], at: usize, bytes: &[u8]) -> Option<usize> {
    let end = at.checked_add(bytes.len())?;
    out.get_mut(at..end)?.copy_from_slice(bytes);
    Some(end)
}

/// setxattr and removexattr (`value` None): sets or removes (`index`,
/// `name`), in a transaction of its own (or the task's).
pub(crate) fn set(inode: &Inode, index: u8, name: &[u8], value: Option<&[u8]>, mode: SetMode) -> Result {
    change(inode, |info| set_in_handle(inode, info, &[(index, name, value)], mode))
}

/// One attribute change: (index, name, value; `None` removes).
pub(crate) type Change<'a> = (u8, &'a [u8], Option<&'a [u8]>);

/// A new inode's first attributes (inherited ACLs, security labels), in
/// one change: at most one block is allocated or joined and none is
/// freed, so it fits the handle of the operation creating the inode
/// (which reserves no revoke records).
pub(crate) fn set_initial(inode: &Inode, attrs: &[Change<'_>]) -> Result {
    if attrs.is_empty() {
        return Ok(());
    }
    change(inode, |info| set_in_handle(inode, info, attrs, SetMode::Create))
}

/// Sets or removes a POSIX ACL (`index` an ACL index; `value` in the
/// xattr format) and, in the same transaction, the mode the ACL implies.
pub(crate) fn set_acl(inode: &Inode, index: u8, value: Option<&[u8]>, mode: Option<u16>) -> Result {
    change(inode, |info| {
        match set_in_handle(inode, info, &[(index, b"", value)], SetMode::Any) {
            Err(e) if e == enodata() && value.is_none() => {} // none to remove
            r => r?,
        }
        if let Some(m) = mode {
            crate::vfs::xattr::set_mode(inode, m);
            inode.touch_c();
            inode.mark_dirty();
        }
        Ok(())
    })
}

/// Runs a change in a journal handle; when the space it needs comes back
/// only with the running transaction's commit (blocks it freed), commits
/// and tries again, as ext4 retries an allocation.
fn change(inode: &Inode, f: impl Fn(&SbInfo) -> Result) -> Result {
    let sb = inode.sb();
    let info = sbi(sb)?;
    if !info.xattr.enabled {
        return Err(crate::errors::eopnotsupp());
    }
    let mut attempt = 0;
    loop {
        let r = {
            let _h = crate::journal::start(sb, CREDITS_XATTR, REVOKES_XATTR)?;
            f(info)
        };
        match r {
            Err(e) if e == balloc::SPACE_BUSY => {
                attempt += 1;
                if attempt > 2 {
                    return Err(ENOSPC);
                }
                balloc::commit_for_space(info)?;
            }
            r => return r,
        }
    }
}

/// The changes, in order, as one change of the inode's attribute set, in
/// a running handle (or without a journal).
fn set_in_handle(inode: &Inode, info: &SbInfo, changes: &[Change<'_>], mode: SetMode) -> Result {
    let sb = inode.sb();
    let ino = inode.ino();
    let bs = info.geo.block_size as usize;
    let _l = inode.data().xattr_lock.lock();
    let mut img = KVec::from_elem(0u8, bs, GFP_KERNEL)?;
    let old = match inode_block(inode, info)? {
        Some((b, bh)) => {
            let copied = bh.read_with(|d| match (img.get_mut(..bs), d.get(..bs)) {
                (Some(dst), Some(src)) => {
                    dst.copy_from_slice(src);
                    true
                }
                _ => false,
            });
            if !copied {
                return Err(EIO);
            }
            b
        }
        None => {
            if changes.iter().all(|c| c.2.is_none()) {
                return Err(enodata());
            }
            fx::init_block(&mut img).map_err(|_| EINVAL)?;
            0
        }
    };
    for &(index, name, value) in changes {
        fx::set(&mut img, index, name, value, mode).map_err(|e| match e {
            SetError::Exists => EEXIST,
            SetError::NoData => enodata(),
            SetError::NoSpace => ENOSPC,
            SetError::Invalid => EINVAL,
            SetError::Format(e) => block_corrupt(sb, ino, old, e),
        })?;
    }
    let l = fx::layout(&img).map_err(|e| block_corrupt(sb, ino, old, e))?;
    let mut idx = info.xattr.index.lock();
    let new = if l.count == 0 { 0 } else { place(inode, info, &mut idx, &img, old)? };
    // The inode is stored in this transaction whatever follows: the
    // block it now points to was allocated or had its refcount raised in
    // it.
    attach(inode, info, old, new);
    inode.touch_c();
    inode.mark_dirty();
    if new != old && old != 0 {
        drop_ref(sb, info, &mut idx, ino, old)?;
    }
    Ok(())
}

/// Stores the attribute set `img` for `inode`, whose block is `old` (0:
/// none): in a block that holds the same set (shared), else in `old` if
/// only this inode uses it, else in a new block. Returns the block.
fn place(inode: &Inode, info: &SbInfo, idx: &mut Index, img: &[u8], old: u32) -> Result<u32> {
    let sb = inode.sb();
    let ino = inode.ino();
    let l = fx::layout(img).map_err(|e| block_corrupt(sb, ino, old, e))?;
    let hash = fx::hash_of(img, &l, info.seed, &KernelCrc).map_err(|e| block_corrupt(sb, ino, old, e))?;
    // A block with the same attributes: share it.
    for b in idx.candidates(hash)?.iter().copied() {
        if b == old {
            continue;
        }
        let r = read_block(sb, info, ino, b)?;
        let (same, count) = r.bh.read_with(|d| (fx::same_attributes(d, img), fx::refcount(d)));
        let count = count.map_err(|e| block_corrupt(sb, ino, b, e))?;
        if same && count < fx::REFCOUNT_MAX {
            r.bh
                .modify(|d| fx::set_refcount(d, count.saturating_add(1), b, info.seed, &KernelCrc))?
                .map_err(|e| block_corrupt(sb, ino, b, e))?;
            return Ok(b);
        }
    }
    // The inode's own block, if no other inode uses it (its refcount read
    // now, under the index lock: another inode may have joined it since
    // the caller copied it).
    if old != 0 {
        let r = read_block(sb, info, ino, old)?;
        let (count, old_hash) = header(&r.bh).map_err(|e| block_corrupt(sb, ino, old, e))?;
        if count == 1 {
            r.bh
                .modify(|d| store_image(d, img, 1, old, info.seed))?
                .map_err(|e| block_corrupt(sb, ino, old, e))?;
            idx.remove(old_hash, old);
            idx.insert(hash, old);
            return Ok(old);
        }
    }
    // A new block, near the inode (copy on write of a shared block).
    let goal = if old != 0 {
        old
    } else {
        let g = info.geo.group_of_ino(ino).unwrap_or(0);
        info.geo.group(g).map(|l| l.data_start).unwrap_or(0)
    };
    let nb = match balloc::alloc_block(sb, info, goal, false) {
        Err(e) if e == ENOSPC && info.journal.is_some() && info.busy_blocks.load(Ordering::Relaxed) > 0 => {
            return Err(balloc::SPACE_BUSY)
        }
        r => r?,
    };
    let stored = Buffer::new_zeroed(sb, u64::from(nb)).and_then(|bh| {
        bh.set_verified();
        bh.modify(|d| store_image(d, img, 1, nb, info.seed))?
            .map_err(|e| block_corrupt(sb, ino, nb, e))
    });
    if let Err(e) = stored {
        let _ = balloc::free_block(sb, info, nb);
        return Err(e);
    }
    idx.insert(hash, nb);
    Ok(nb)
}

/// Copies the attribute set `img` into block buffer `d` and seals it as
/// block `b` with `refcount`.
fn store_image(d: &mut [u8], img: &[u8], refcount: u32, b: u32, seed: u32) -> core::result::Result<(), FormatError> {
    match d.get_mut(..img.len()) {
        Some(dst) => dst.copy_from_slice(img),
        None => {
            return Err(FormatError::Truncated {
                what: "attribute block",
                need: img.len(),
                have: 0,
            })
        }
    }
    fx::seal(d, refcount, b, seed, &KernelCrc).map(|_| ())
}

/// The refcount and hash in a verified block's header.
fn header(bh: &Buffer) -> core::result::Result<(u32, u32), FormatError> {
    bh.read_with(|d| Ok((fx::refcount(d)?, crate::format::codec::get_u32(d, fx::off::HASH)?)))
}

/// Points the inode at `new` instead of `old` (either may be 0) and
/// counts the attribute block in its `blocks`.
fn attach(inode: &Inode, info: &SbInfo, old: u32, new: u32) {
    if old == new {
        return;
    }
    inode.data().meta.lock().xattr_block = new;
    let mut m = inode.data().map.lock();
    if old == 0 && new != 0 {
        m.blocks = m.blocks.saturating_add(1);
    } else if old != 0 && new == 0 {
        m.blocks = m.blocks.saturating_sub(1);
    }
    let bs512 = u64::from(info.geo.block_size / 512);
    inode.set_sectors(crate::inode::sectors(inode.data(), &m, bs512));
}

/// Drops one reference to attribute block `b` (inode `ino` no longer
/// points to it): its refcount lowered, or the block freed at zero.
fn drop_ref(sb: &SuperBlock, info: &SbInfo, idx: &mut Index, ino: u32, b: u32) -> Result {
    let r = read_block(sb, info, ino, b)?;
    let (count, hash) = header(&r.bh).map_err(|e| block_corrupt(sb, ino, b, e))?;
    if count > 1 {
        return r
            .bh
            .modify(|d| fx::set_refcount(d, count.saturating_sub(1), b, info.seed, &KernelCrc))?
            .map_err(|e| block_corrupt(sb, ino, b, e));
    }
    idx.remove(hash, b);
    drop(r);
    crate::inode::release_meta_block(sb, info, b)
}

/// An inode being deleted: its reference to its attribute block is
/// dropped (the block freed if it was the last), in a transaction of its
/// own, before its other blocks are freed.
pub(crate) fn release_inode(inode: &Inode) -> Result {
    let sb = inode.sb();
    let info = sbi(sb)?;
    if inode.data().meta.lock().xattr_block == 0 || !info.xattr.enabled {
        return Ok(());
    }
    let _h = crate::journal::start(sb, CREDITS_XATTR, REVOKES_XATTR)?;
    let _l = inode.data().xattr_lock.lock();
    let b = inode.data().meta.lock().xattr_block;
    if b == 0 {
        return Ok(());
    }
    {
        let mut idx = info.xattr.index.lock();
        drop_ref(sb, info, &mut idx, inode.ino(), b)?;
    }
    attach(inode, info, b, 0);
    crate::inode::store(inode)
}
