//! Directories: ext2-style entry blocks, each with a checksum tail.
//!
//! The readdir position is the byte offset of the next entry in the
//! directory. Entries never move (a deleted entry is merged into its
//! predecessor, new ones go into free space), so positions stay valid
//! across concurrent changes. Directory blocks are metadata: allocated at
//! once (never delayed), never deduplicated. Callers hold the directory's
//! i_rwsem (shared for lookup/readdir, exclusive for changes), which is
//! what makes the unlocked reads of directory blocks sound.

use crate::errors::{corrupt, corrupt_msg};
use crate::format::dirent;
use crate::super_::sbi;
use crate::vfs::{Buffer, DirEmitter, Inode, InodeRef};
use kernel::prelude::*;

/// Where an entry was found.
#[derive(Clone, Copy)]
pub(crate) struct Found {
    /// Directory block index.
    pub(crate) block: u64,
    /// Byte offset of the entry in that block.
    pub(crate) offset: usize,
    pub(crate) ino: u32,
}

/// Reads and verifies block `i` of directory `dir`.
fn dir_block(dir: &Inode, i: u64) -> Result<Buffer> {
    let sb = dir.sb();
    let info = sbi(sb)?;
    let Some(blk) = crate::inode::map_block(dir, i)? else {
        return Err(corrupt_msg(sb, format_args!("directory {} has a hole at block {}", dir.ino(), i)));
    };
    let bh = Buffer::read(sb, u64::from(blk))?;
    // Verified once per read from disk; our own changes keep it valid.
    if !bh.is_verified() {
        dirent::verify_block(bh.data(), dir.ino(), dir.data().generation(), info.seed, &crate::vfs::crc::KernelCrc)
            .map_err(|e| {
                pr_err!("livedfs ({}): directory {} block {}:\n", sb.id(), dir.ino(), i);
                corrupt(sb, "directory block", e)
            })?;
        bh.set_verified();
    }
    Ok(bh)
}

/// Applies `f` to directory block `i` and refreshes its checksum.
fn change_block<R>(dir: &Inode, bh: &Buffer, f: impl FnOnce(&mut [u8]) -> Result<R>) -> Result<R> {
    let info = sbi(dir.sb())?;
    let generation = dir.data().generation();
    bh.modify_exclusive(|data| {
        let r = f(data)?;
        dirent::set_checksum(data, dir.ino(), generation, info.seed, &crate::vfs::crc::KernelCrc)
            .map_err(|_| EINVAL)?;
        Ok(r)
    })?
}

fn nblocks(dir: &Inode) -> Result<u64> {
    let bs = u64::from(sbi(dir.sb())?.geo.block_size);
    Ok(dir.size().checked_div(bs).unwrap_or(0))
}

/// Finds `name` in `dir`.
pub(crate) fn find_entry(dir: &Inode, name: &[u8]) -> Result<Option<Found>> {
    if name.len() > dirent::NAME_MAX {
        return Err(Error::from_errno(-crate::sys::ENAMETOOLONG));
    }
    let sb = dir.sb();
    for i in 0..nblocks(dir)? {
        let bh = dir_block(dir, i)?;
        for e in dirent::entries(bh.data()) {
            let e = e.map_err(|e| corrupt(sb, "directory entry", e))?;
            if e.ino != 0 && e.name == name {
                if !sbi(sb)?.geo.valid_ino(e.ino) {
                    return Err(corrupt_msg(sb, format_args!("directory {} entry points to inode {}", dir.ino(), e.ino)));
                }
                return Ok(Some(Found {
                    block: i,
                    offset: e.offset,
                    ino: e.ino,
                }));
            }
        }
    }
    Ok(None)
}

/// Looks `name` up in `dir`.
pub(crate) fn lookup(dir: &Inode, name: &[u8]) -> Result<Option<InodeRef>> {
    match find_entry(dir, name)? {
        Some(f) => crate::inode::iget(dir.sb(), f.ino).map(Some),
        None => Ok(None),
    }
}

/// Adds the entry `name` → `ino` to `dir`, growing it by a block if no
/// block has room.
pub(crate) fn add_entry(dir: &Inode, name: &[u8], ino: u32, file_type: u8) -> Result {
    if name.len() > dirent::NAME_MAX {
        return Err(Error::from_errno(-crate::sys::ENAMETOOLONG));
    }
    let sb = dir.sb();
    let n = nblocks(dir)?;
    for i in 0..n {
        let bh = dir_block(dir, i)?;
        let room = dirent::find_room(bh.data(), name.len()).map_err(|e| corrupt(sb, "directory block", e))?;
        if let Some(at) = room {
            change_block(dir, &bh, |d| {
                dirent::insert_at(d, at, ino, name, file_type).map(|_| ()).map_err(|e| corrupt(sb, "directory block", e))
            })?;
            dir.touch_cm();
            dir.mark_dirty();
            return Ok(());
        }
    }
    // A new block at the end.
    let blk = crate::inode::allocate_block(dir, n, false)?;
    let bh = Buffer::new_zeroed(sb, u64::from(blk))?;
    bh.set_verified();
    change_block(dir, &bh, |d| {
        dirent::init_block(d).map_err(|_| EINVAL)?;
        dirent::insert_at(d, 0, ino, name, file_type).map(|_| ()).map_err(|_| EINVAL)
    })?;
    let bs = u64::from(sbi(sb)?.geo.block_size);
    dir.set_size(n.saturating_add(1).saturating_mul(bs));
    dir.touch_cm();
    dir.mark_dirty();
    Ok(())
}

/// Deletes the entry found at `f`.
pub(crate) fn delete_entry(dir: &Inode, f: &Found) -> Result {
    let sb = dir.sb();
    let bh = dir_block(dir, f.block)?;
    change_block(dir, &bh, |d| dirent::remove_at(d, f.offset).map_err(|e| corrupt(sb, "directory block", e)))?;
    dir.touch_cm();
    dir.mark_dirty();
    Ok(())
}

/// Points the entry found at `f` to another inode (rename over an
/// existing name, and `..` of a moved directory).
pub(crate) fn set_entry(dir: &Inode, f: &Found, ino: u32, file_type: u8) -> Result {
    let bh = dir_block(dir, f.block)?;
    let off = f.offset;
    change_block(dir, &bh, |d| {
        crate::format::codec::put_u32(d, off, ino).map_err(|_| EINVAL)?;
        crate::format::codec::put_u8(d, off.saturating_add(7), file_type).map_err(|_| EINVAL)
    })?;
    dir.touch_cm();
    dir.mark_dirty();
    Ok(())
}

/// Writes the first block of a new directory `dir` ("." and "..").
pub(crate) fn make_empty(dir: &Inode, parent: u32) -> Result {
    let sb = dir.sb();
    let blk = crate::inode::allocate_block(dir, 0, false)?;
    let bh = Buffer::new_zeroed(sb, u64::from(blk))?;
    bh.set_verified();
    let ino = dir.ino();
    change_block(dir, &bh, |d| dirent::init_first_block(d, ino, parent).map_err(|_| EINVAL))?;
    dir.set_size(u64::from(sbi(sb)?.geo.block_size));
    dir.mark_dirty();
    Ok(())
}

/// Whether `dir` holds nothing but "." and "..".
pub(crate) fn is_empty(dir: &Inode) -> Result<bool> {
    let sb = dir.sb();
    for i in 0..nblocks(dir)? {
        let bh = dir_block(dir, i)?;
        for e in dirent::entries(bh.data()) {
            let e = e.map_err(|e| corrupt(sb, "directory entry", e))?;
            if e.ino != 0 && e.name != b"." && e.name != b".." {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Emits the entries of `dir` from the emitter's position on.
pub(crate) fn readdir(dir: &Inode, em: &mut DirEmitter) -> Result {
    let sb = dir.sb();
    let bs = u64::from(sbi(sb)?.geo.block_size);
    let size = dir.size();
    let Ok(mut pos) = u64::try_from(em.pos()) else {
        return Ok(());
    };
    while pos < size {
        let i = pos.checked_div(bs).unwrap_or(u64::MAX);
        let in_block = pos.checked_rem(bs).unwrap_or(0) as usize;
        let bh = dir_block(dir, i)?;
        for e in dirent::entries(bh.data()) {
            let e = e.map_err(|e| corrupt(sb, "directory entry", e))?;
            // Resume at the first entry at or after the position (a
            // position inside an entry, from a seek, skips that entry).
            if e.offset < in_block {
                continue;
            }
            let here = i.saturating_mul(bs).saturating_add(e.offset as u64);
            if e.ino != 0 {
                em.set_pos(here as i64);
                if !em.emit(e.name, u64::from(e.ino), dirent::dtype_of(e.file_type)) {
                    return Ok(());
                }
            }
            em.set_pos(here.saturating_add(e.rec_len as u64) as i64);
        }
        pos = i.saturating_add(1).saturating_mul(bs);
        em.set_pos(pos as i64);
    }
    Ok(())
}
