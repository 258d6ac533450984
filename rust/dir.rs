//! Directories: lookup and readdir over ext2-style entry blocks.
//!
//! The readdir position is the byte offset of the next entry in the
//! directory. Entries never move (a deleted entry is merged into its
//! predecessor), so positions stay valid across concurrent changes.

use crate::errors::{corrupt, corrupt_msg};
use crate::format::dirent;
use crate::super_::sbi;
use crate::vfs::{Buffer, DirEmitter, Inode, InodeRef};
use kernel::prelude::*;

/// Reads and verifies block `i` of directory `dir`.
fn dir_block(dir: &Inode, i: u64) -> Result<Buffer> {
    let sb = dir.sb();
    let info = sbi(sb)?;
    let Some(blk) = crate::inode::map_block(dir, i)? else {
        return Err(corrupt_msg(sb, format_args!("directory {} has a hole at block {}", dir.ino(), i)));
    };
    let bh = Buffer::read(sb, u64::from(blk))?;
    dirent::verify_block(bh.data(), dir.ino(), dir.data().generation, info.seed, &crate::vfs::crc::KernelCrc)
        .map_err(|e| {
            pr_err!("livedfs ({}): directory {} block {}:\n", sb.id(), dir.ino(), i);
            corrupt(sb, "directory block", e)
        })?;
    Ok(bh)
}

/// Looks `name` up in `dir`.
pub(crate) fn lookup(dir: &Inode, name: &[u8]) -> Result<Option<InodeRef>> {
    if name.len() > dirent::NAME_MAX {
        return Err(Error::from_errno(-crate::sys::ENAMETOOLONG));
    }
    let sb = dir.sb();
    let bs = u64::from(sbi(sb)?.geo.block_size);
    let blocks = dir.size().checked_div(bs).unwrap_or(0);
    for i in 0..blocks {
        let bh = dir_block(dir, i)?;
        for e in dirent::entries(bh.data()) {
            let e = e.map_err(|e| corrupt(sb, "directory entry", e))?;
            if e.ino != 0 && e.name == name {
                let ino = e.ino;
                drop(bh);
                if !sbi(sb)?.geo.valid_ino(ino) {
                    return Err(corrupt_msg(sb, format_args!("directory {} entry points to inode {}", dir.ino(), ino)));
                }
                return crate::inode::iget(sb, ino).map(Some);
            }
        }
    }
    Ok(None)
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
