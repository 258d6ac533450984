//! The namespace: create, mkdir, mknod, symlink, link, unlink, rmdir and
//! rename. The VFS holds the parent directories' i_rwsem (and for rename
//! the rename lock), checks permissions, name lengths against `s_max_links`
//! and the usual type rules (EISDIR/ENOTDIR, rename into a descendant);
//! what is left is the on-disk work.

use crate::dir::{self, Found};
use crate::format::dirent::{file_type_of_mode, FT_DIR};
use crate::format::inode::{self as finode, FAST_SYMLINK_MAX};
use crate::ialloc;
use crate::inode::{orphan_add, store};
use crate::journal::{self, CREDITS_NAMEI, CREDITS_RENAME};
use crate::super_::sbi;
use crate::vfs::inode::{InodeKind, NewInode};
use crate::vfs::{Dentry, Inode};
use kernel::prelude::*;

/// The mount's id-mapping, passed through to the VFS.
pub(crate) type Idmap = *mut crate::sys::mnt_idmap;

fn is_dir_mode(mode: u16) -> bool {
    mode & finode::S_IFMT == finode::S_IFDIR
}

fn check_name(name: &[u8]) -> Result {
    if name.len() > crate::format::dirent::NAME_MAX {
        return Err(Error::from_errno(-crate::sys::ENAMETOOLONG));
    }
    Ok(())
}

/// Allocates and initialises a new inode for an entry of `dir`.
fn new_inode(dir: &Inode, idmap: Idmap, mode: u16) -> Result<NewInode> {
    let sb = dir.sb();
    let info = sbi(sb)?;
    let group = info.geo.group_of_ino(dir.ino()).unwrap_or(0);
    let is_dir = is_dir_mode(mode);
    let ino = ialloc::alloc_inode(sb, info, group, is_dir)?;
    let mut n = match crate::vfs::inode::create(sb, ino) {
        Ok(n) => n,
        Err(e) => {
            let _ = ialloc::free_inode(sb, info, ino, is_dir);
            return Err(e);
        }
    };
    n.init_owner(idmap, dir, mode);
    let [_, _, c] = n.inode().times();
    {
        let mut meta = n.inode().data().meta.lock();
        // The random generation init_owner gave the VFS inode: the one
        // file handles carry must be the one stored on disk.
        meta.generation = n.inode().i_generation();
        meta.crtime = finode::Timestamp { sec: c.0, nsec: c.1 };
    }
    // Flags a new entry takes from its directory (chattr +S, +d, +A, +x
    // on a directory apply to what is created in it), as ext4.
    let inherited = finode::inherited_flags(crate::inode::flags(dir), mode);
    if inherited != 0 {
        n.inode().data().meta.lock().flags |= inherited;
        n.inode().set_vfs_flags(inherited);
    }
    Ok(n)
}

/// Writes the new inode, links it into `dir` as `dentry`, and makes it
/// visible. On failure the inode is discarded (and freed on disk).
fn finish_new(dir: &Inode, dentry: &Dentry, n: NewInode) -> Result {
    crate::vfs::xattr::init_new(dir, Some(dentry), n.inode())?;
    store(n.inode())?;
    let ft = file_type_of_mode(n.inode().mode());
    dir::add_entry(dir, dentry.name(), n.inode().ino(), ft)?;
    n.instantiate(dentry);
    Ok(())
}

/// `create` (and `open(O_CREAT)`).
pub(crate) fn create(idmap: Idmap, dir: &Inode, dentry: &Dentry, mode: u16) -> Result {
    check_name(dentry.name())?;
    let _h = journal::start(dir.sb(), CREDITS_NAMEI, 0)?;
    let mut n = new_inode(dir, idmap, finode::S_IFREG | (mode & !finode::S_IFMT))?;
    n.set_kind(InodeKind::Regular);
    finish_new(dir, dentry, n)
}

/// `tmpfile` (O_TMPFILE): a regular file without a name, on the orphan
/// list from the start (a crash frees it at the next mount; `link` takes
/// it off if it gets a name).
pub(crate) fn tmpfile(idmap: Idmap, dir: &Inode, mode: u16) -> Result<NewInode> {
    let _h = journal::start(dir.sb(), CREDITS_NAMEI, 0)?;
    let mut n = new_inode(dir, idmap, finode::S_IFREG | (mode & !finode::S_IFMT))?;
    n.set_kind(InodeKind::Regular);
    crate::vfs::xattr::init_new(dir, None, n.inode())?;
    store(n.inode())?;
    orphan_add(n.inode().sb(), n.inode())?;
    Ok(n)
}

/// `mknod`: device nodes, fifos, sockets (and regular files).
pub(crate) fn mknod(idmap: Idmap, dir: &Inode, dentry: &Dentry, mode: u16, rdev: u32) -> Result {
    check_name(dentry.name())?;
    let _h = journal::start(dir.sb(), CREDITS_NAMEI, 0)?;
    let ft = mode & finode::S_IFMT;
    let mut n = new_inode(dir, idmap, mode)?;
    match ft {
        finode::S_IFREG => n.set_kind(InodeKind::Regular),
        finode::S_IFCHR | finode::S_IFBLK | finode::S_IFIFO | finode::S_IFSOCK => {
            n.set_kind(InodeKind::Special(mode, rdev));
        }
        _ => return Err(EINVAL),
    }
    finish_new(dir, dentry, n)
}

/// `mkdir`.
pub(crate) fn mkdir(idmap: Idmap, dir: &Inode, dentry: &Dentry, mode: u16) -> Result {
    check_name(dentry.name())?;
    let _h = journal::start(dir.sb(), CREDITS_NAMEI, 0)?;
    let mut n = new_inode(dir, idmap, finode::S_IFDIR | (mode & !finode::S_IFMT))?;
    n.set_kind(InodeKind::Dir);
    n.inode().inc_nlink(); // "." (the entry in the parent is the other)
    dir::make_empty(n.inode(), dir.ino())?;
    finish_new(dir, dentry, n)?;
    dir.inc_nlink(); // the child's ".."
    dir.mark_dirty();
    Ok(())
}

/// `symlink`: short targets live in the inode, long ones in a block.
pub(crate) fn symlink(idmap: Idmap, dir: &Inode, dentry: &Dentry, target: &[u8]) -> Result {
    check_name(dentry.name())?;
    let bs = sbi(dir.sb())?.geo.block_size as usize;
    if target.is_empty() || target.len() >= bs {
        return Err(Error::from_errno(-crate::sys::ENAMETOOLONG));
    }
    // A slow symlink's block is allocated and written in this handle too.
    let _h = journal::start(dir.sb(), CREDITS_NAMEI.saturating_add(journal::CREDITS_WRITE), 0)?;
    let mut n = new_inode(dir, idmap, finode::S_IFLNK | 0o777)?;
    if target.len() < FAST_SYMLINK_MAX {
        if let Some(dst) = n.fast_link_mut().get_mut(..target.len()) {
            dst.copy_from_slice(target);
        }
        n.inode().set_size(target.len() as u64);
        n.set_kind(InodeKind::FastSymlink);
        // The on-disk block array holds the target (see write_inode).
        let mut words = [0u32; finode::N_BLOCKS];
        let mut bytes = [0u8; FAST_SYMLINK_MAX];
        if let Some(dst) = bytes.get_mut(..target.len()) {
            dst.copy_from_slice(target);
        }
        for (i, w) in words.iter_mut().enumerate() {
            *w = crate::format::codec::get_u32(&bytes, i.saturating_mul(4)).unwrap_or(0);
        }
        n.inode().data().map.lock().block = words;
    } else {
        n.set_kind(InodeKind::SlowSymlink);
        crate::vfs::inode::page_symlink(n.inode(), target)?;
        // Write the target's block now, before the handle closes: the
        // transaction that creates the inode then maps its block, and the
        // block is on disk before that transaction commits (a symlink is
        // never committed without its target).
        crate::vfs::inode::write_back(n.inode())?;
    }
    finish_new(dir, dentry, n)
}

/// `link`: another name for an existing inode.
pub(crate) fn link(old: &Dentry, dir: &Inode, dentry: &Dentry) -> Result {
    check_name(dentry.name())?;
    let _h = journal::start(dir.sb(), CREDITS_NAMEI, 0)?;
    let inode = old.inode().ok_or(ENOENT)?;
    let ft = file_type_of_mode(inode.mode());
    dir::add_entry(dir, dentry.name(), inode.ino(), ft)?;
    if inode.nlink() == 0 {
        // An O_TMPFILE file gets its first name: no longer an orphan.
        crate::inode::orphan_remove(inode.sb(), sbi(inode.sb())?, inode)?;
    }
    inode.inc_nlink();
    inode.touch_c();
    inode.mark_dirty();
    crate::vfs::inode::instantiate_existing(dentry, inode);
    Ok(())
}

/// Drops one link of `inode`; an inode left without links goes on the
/// orphan list until its last user is gone.
fn drop_link(inode: &Inode) -> Result {
    inode.drop_nlink();
    inode.touch_c();
    inode.mark_dirty();
    if inode.nlink() == 0 {
        orphan_add(inode.sb(), inode)?;
    }
    Ok(())
}

/// `unlink`.
pub(crate) fn unlink(dir: &Inode, dentry: &Dentry) -> Result {
    let inode = dentry.inode().ok_or(ENOENT)?;
    let _h = journal::start(dir.sb(), CREDITS_NAMEI, 0)?;
    let f = dir::find_entry(dir, dentry.name())?.ok_or(ENOENT)?;
    if f.ino != inode.ino() {
        return Err(crate::errors::corrupt_msg(dir.sb(), format_args!("directory {} entry changed under us", dir.ino())));
    }
    dir::delete_entry(dir, &f)?;
    drop_link(inode)
}

/// `rmdir`.
pub(crate) fn rmdir(dir: &Inode, dentry: &Dentry) -> Result {
    let inode = dentry.inode().ok_or(ENOENT)?;
    if !dir::is_empty(inode)? {
        return Err(Error::from_errno(-crate::sys::ENOTEMPTY));
    }
    let _h = journal::start(dir.sb(), CREDITS_NAMEI, 0)?;
    let f = dir::find_entry(dir, dentry.name())?.ok_or(ENOENT)?;
    dir::delete_entry(dir, &f)?;
    inode.set_size(0);
    inode.clear_nlink();
    inode.touch_c();
    inode.mark_dirty();
    orphan_add(inode.sb(), inode)?;
    dir.drop_nlink(); // the child's ".."
    dir.mark_dirty();
    Ok(())
}

/// Points `..` of directory `child` at `parent`.
fn set_dotdot(child: &Inode, parent: u32) -> Result {
    let f = dir::find_entry(child, b"..")?
        .ok_or_else(|| crate::errors::corrupt_msg(child.sb(), format_args!("directory {} has no '..'", child.ino())))?;
    dir::set_entry(child, &f, parent, FT_DIR)
}

/// RENAME_WHITEOUT (uapi/linux/fs.h).
const RENAME_WHITEOUT: u32 = 1 << 2;

/// `rename`, with RENAME_NOREPLACE, RENAME_EXCHANGE and RENAME_WHITEOUT
/// (the old name is left as a whiteout, a 0/0 character device, as
/// overlayfs wants of its upper layer).
pub(crate) fn rename(
    idmap: Idmap,
    old_dir: &Inode,
    old: &Dentry,
    new_dir: &Inode,
    new: &Dentry,
    flags: u32,
) -> Result {
    check_name(new.name())?;
    if flags & !(crate::sys::RENAME_NOREPLACE | crate::sys::RENAME_EXCHANGE | RENAME_WHITEOUT) != 0 {
        return Err(EINVAL);
    }
    let old_inode = old.inode().ok_or(ENOENT)?;
    let old_is_dir = is_dir_mode(old_inode.mode());
    let _h = journal::start(old_dir.sb(), CREDITS_RENAME, 0)?;
    // The whiteout first, so nothing changes if it can't be made.
    let whiteout = if flags & RENAME_WHITEOUT != 0 {
        let mut w = new_inode(old_dir, idmap, finode::S_IFCHR)?;
        w.set_kind(InodeKind::Special(finode::S_IFCHR, 0));
        crate::vfs::xattr::init_new(old_dir, Some(old), w.inode())?;
        store(w.inode())?;
        Some(w)
    } else {
        None
    };
    let same_dir = old_dir.ino() == new_dir.ino();
    let of: Found = dir::find_entry(old_dir, old.name())?.ok_or(ENOENT)?;

    if flags & crate::sys::RENAME_EXCHANGE != 0 {
        let new_inode = new.inode().ok_or(ENOENT)?;
        let new_is_dir = is_dir_mode(new_inode.mode());
        let nf = dir::find_entry(new_dir, new.name())?.ok_or(ENOENT)?;
        dir::set_entry(old_dir, &of, new_inode.ino(), file_type_of_mode(new_inode.mode()))?;
        dir::set_entry(new_dir, &nf, old_inode.ino(), file_type_of_mode(old_inode.mode()))?;
        if !same_dir {
            if old_is_dir {
                set_dotdot(old_inode, new_dir.ino())?;
            }
            if new_is_dir {
                set_dotdot(new_inode, old_dir.ino())?;
            }
            if old_is_dir && !new_is_dir {
                old_dir.drop_nlink();
                new_dir.inc_nlink();
            } else if new_is_dir && !old_is_dir {
                new_dir.drop_nlink();
                old_dir.inc_nlink();
            }
        }
        for i in [old_inode, new_inode, old_dir, new_dir] {
            i.touch_c();
            i.mark_dirty();
        }
        return Ok(());
    }

    match new.inode() {
        Some(new_inode) => {
            if flags & crate::sys::RENAME_NOREPLACE != 0 {
                return Err(EEXIST);
            }
            let new_is_dir = is_dir_mode(new_inode.mode());
            if new_is_dir && !dir::is_empty(new_inode)? {
                return Err(Error::from_errno(-crate::sys::ENOTEMPTY));
            }
            let nf = dir::find_entry(new_dir, new.name())?.ok_or(ENOENT)?;
            dir::set_entry(new_dir, &nf, old_inode.ino(), file_type_of_mode(old_inode.mode()))?;
            if new_is_dir {
                // The replaced directory loses its "." link and its entry.
                new_inode.set_size(0);
                new_inode.clear_nlink();
                new_inode.touch_c();
                new_inode.mark_dirty();
                orphan_add(new_inode.sb(), new_inode)?;
                new_dir.drop_nlink();
            } else {
                drop_link(new_inode)?;
            }
        }
        None => {
            dir::add_entry(new_dir, new.name(), old_inode.ino(), file_type_of_mode(old_inode.mode()))?;
        }
    }
    // Look the old entry up again: it did not move, but the block may
    // have been re-read; the offset stays valid.
    let of = dir::find_entry(old_dir, old.name())?.ok_or(ENOENT)?;
    match whiteout {
        Some(w) => {
            dir::set_entry(old_dir, &of, w.inode().ino(), file_type_of_mode(finode::S_IFCHR))?;
            // Linked under the old name; no dentry of ours holds it.
            drop(w.finish());
        }
        None => dir::delete_entry(old_dir, &of)?,
    }
    if old_is_dir && !same_dir {
        set_dotdot(old_inode, new_dir.ino())?;
        old_dir.drop_nlink();
        new_dir.inc_nlink();
    }
    for i in [old_inode, old_dir, new_dir] {
        i.touch_c();
        i.mark_dirty();
    }
    Ok(())
}
