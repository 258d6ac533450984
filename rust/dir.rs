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
use kernel::rbtree::{RBTree, RBTreeNode};

/// Directories with at least this many blocks get an in-memory index.
const INDEX_MIN_BLOCKS: u64 = 8;

/// An in-memory index of a large directory, so lookups and insertions
/// stay fast however many entries it holds: the locations of the entries by
/// name hash, and the largest free gap of each block. Built from the
/// blocks on first use (under the directory's i_rwsem: changes are
/// exclusive, so the index always matches the blocks), dropped with the
/// inode; the disk format is the plain entry blocks.
pub(crate) struct DirIndex {
    names: RBTree<u64, KVec<(u32, u16)>>,
    room: KVVec<u16>,
}

/// FNV-1a, 64 bits.
fn name_hash(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The largest entry a block can still take (the longest free gap).
fn max_gap(block: &[u8]) -> u16 {
    let mut best = 0usize;
    for e in dirent::entries(block).flatten() {
        let used = if e.ino == 0 { 0 } else { dirent::rec_len_for(e.name.len()) };
        best = best.max(e.rec_len.saturating_sub(used));
    }
    best.min(usize::from(u16::MAX)) as u16
}

impl DirIndex {
    fn add_name(&mut self, hash: u64, block: u64, off: usize) -> Result {
        let loc = (block as u32, off as u16);
        if let Some(v) = self.names.get_mut(&hash) {
            v.push(loc, GFP_KERNEL)?;
            return Ok(());
        }
        let mut v = KVec::new();
        v.push(loc, GFP_KERNEL)?;
        self.names.insert(RBTreeNode::new(hash, v, GFP_KERNEL)?);
        Ok(())
    }

    fn remove_name(&mut self, hash: u64, block: u64, off: usize) {
        let loc = (block as u32, off as u16);
        let empty = match self.names.get_mut(&hash) {
            Some(v) => {
                if let Some(p) = v.iter().position(|&l| l == loc) {
                    crate::vfs::vec_remove_k(v, p);
                }
                v.is_empty()
            }
            None => false,
        };
        if empty {
            self.names.remove(&hash);
        }
    }

    fn set_room(&mut self, block: u64, room: u16) -> Result {
        let i = block as usize;
        while self.room.len() <= i {
            self.room.push(0, GFP_KERNEL)?;
        }
        if let Some(r) = self.room.get_mut(i) {
            *r = room;
        }
        Ok(())
    }
}

/// Builds the index of `dir` (all its blocks).
fn build_index(dir: &Inode, n: u64) -> Result<KBox<DirIndex>> {
    let sb = dir.sb();
    let mut x = KBox::new(
        DirIndex {
            names: RBTree::new(),
            // Grown block by block: `n` comes from the size on disk.
            room: KVVec::new(),
        },
        GFP_KERNEL,
    )?;
    for i in 0..n {
        let bh = dir_block(dir, i)?;
        for e in dirent::entries(bh.data()) {
            let e = e.map_err(|e| corrupt(sb, "directory entry", e))?;
            if e.ino != 0 {
                x.add_name(name_hash(e.name), i, e.offset)?;
            }
        }
        x.set_room(i, max_gap(bh.data()))?;
    }
    Ok(x)
}

/// Runs `f` on the directory's index, building it first if the directory
/// is large; `None` for a small directory (scanned instead). On an error
/// the index is dropped, to be rebuilt from the blocks.
fn with_index<R>(dir: &Inode, f: impl FnOnce(&mut DirIndex) -> Result<R>) -> Result<Option<R>> {
    let mut guard = dir.data().dindex.lock();
    if guard.is_none() {
        let n = nblocks(dir)?;
        if n < INDEX_MIN_BLOCKS {
            return Ok(None);
        }
        *guard = Some(build_index(dir, n)?);
    }
    let Some(x) = guard.as_mut() else {
        return Ok(None);
    };
    match f(x) {
        Ok(r) => Ok(Some(r)),
        Err(e) => {
            *guard = None;
            Err(e)
        }
    }
}

/// Where an entry was found.
#[derive(Clone, Copy)]
pub(crate) struct Found {
    /// Directory block index.
    pub(crate) block: u64,
    /// Byte offset of the entry in that block.
    pub(crate) offset: usize,
    pub(crate) ino: u32,
    /// Hash of the name (for the directory index).
    hash: u64,
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

/// Blocks of a directory, from its size; a size that claims more blocks
/// than the directory maps is corruption (a crafted size must not drive a
/// long scan or a large allocation).
fn nblocks(dir: &Inode) -> Result<u64> {
    let bs = u64::from(sbi(dir.sb())?.geo.block_size);
    let n = dir.size().checked_div(bs).unwrap_or(0);
    let mapped = dir.data().map.lock().blocks;
    if n > mapped {
        return Err(crate::errors::corrupt_msg(
            dir.sb(),
            format_args!("directory {} has size {} but maps {} blocks", dir.ino(), dir.size(), mapped),
        ));
    }
    Ok(n)
}

/// Finds `name` in `dir`.
pub(crate) fn find_entry(dir: &Inode, name: &[u8]) -> Result<Option<Found>> {
    if name.len() > dirent::NAME_MAX {
        return Err(Error::from_errno(-crate::sys::ENAMETOOLONG));
    }
    let sb = dir.sb();
    let hash = name_hash(name);
    let check = |ino: u32| -> Result {
        if !sbi(sb)?.geo.valid_ino(ino) {
            return Err(corrupt_msg(sb, format_args!("directory {} entry points to inode {}", dir.ino(), ino)));
        }
        Ok(())
    };
    // A large directory: only the blocks the index names.
    let indexed = with_index(dir, |x| {
        let mut locs = KVec::new();
        if let Some(v) = x.names.get(&hash) {
            locs.extend_from_slice(v, GFP_KERNEL)?;
        }
        Ok(locs)
    })?;
    if let Some(locs) = indexed {
        for &(b, off) in locs.iter() {
            let bh = dir_block(dir, u64::from(b))?;
            for e in dirent::entries(bh.data()) {
                let e = e.map_err(|e| corrupt(sb, "directory entry", e))?;
                if e.offset == usize::from(off) && e.ino != 0 && e.name == name {
                    check(e.ino)?;
                    return Ok(Some(Found {
                        block: u64::from(b),
                        offset: e.offset,
                        ino: e.ino,
                        hash,
                    }));
                }
            }
        }
        return Ok(None);
    }
    for i in 0..nblocks(dir)? {
        let bh = dir_block(dir, i)?;
        for e in dirent::entries(bh.data()) {
            let e = e.map_err(|e| corrupt(sb, "directory entry", e))?;
            if e.ino != 0 && e.name == name {
                check(e.ino)?;
                return Ok(Some(Found {
                    block: i,
                    offset: e.offset,
                    ino: e.ino,
                    hash,
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

/// Inserts the entry into block `i` if it has room; returns whether it
/// did, and the block's new largest gap.
fn try_insert(dir: &Inode, i: u64, name: &[u8], ino: u32, file_type: u8) -> Result<Option<(usize, u16)>> {
    let sb = dir.sb();
    let bh = dir_block(dir, i)?;
    let room = dirent::find_room(bh.data(), name.len()).map_err(|e| corrupt(sb, "directory block", e))?;
    let Some(at) = room else {
        return Ok(None);
    };
    let off = change_block(dir, &bh, |d| {
        dirent::insert_at(d, at, ino, name, file_type).map_err(|e| corrupt(sb, "directory block", e))
    })?;
    Ok(Some((off, max_gap(bh.data()))))
}

/// Adds the entry `name` → `ino` to `dir`, growing it by a block if no
/// block has room.
pub(crate) fn add_entry(dir: &Inode, name: &[u8], ino: u32, file_type: u8) -> Result {
    if name.len() > dirent::NAME_MAX {
        return Err(Error::from_errno(-crate::sys::ENAMETOOLONG));
    }
    let sb = dir.sb();
    let n = nblocks(dir)?;
    let hash = name_hash(name);
    let need = dirent::rec_len_for(name.len());
    // A large directory: the index says which block has room.
    let done = with_index(dir, |x| {
        let pick = x.room.iter().position(|&r| usize::from(r) >= need);
        if let Some(i) = pick {
            if let Some((off, gap)) = try_insert(dir, i as u64, name, ino, file_type)? {
                x.add_name(hash, i as u64, off)?;
                x.set_room(i as u64, gap)?;
                return Ok(true);
            }
        }
        Ok(false)
    })?;
    let inserted = match done {
        Some(done) => done,
        None => {
            let mut done = false;
            for i in 0..n {
                if try_insert(dir, i, name, ino, file_type)?.is_some() {
                    done = true;
                    break;
                }
            }
            done
        }
    };
    if !inserted {
        // A new block at the end.
        let blk = crate::inode::allocate_block(dir, n, false)?;
        let bh = Buffer::new_zeroed(sb, u64::from(blk))?;
        bh.set_verified();
        change_block(dir, &bh, |d| {
            dirent::init_block(d).map_err(|_| EINVAL)?;
            dirent::insert_at(d, 0, ino, name, file_type).map(|_| ()).map_err(|_| EINVAL)
        })?;
        let gap = max_gap(bh.data());
        let bs = u64::from(sbi(sb)?.geo.block_size);
        dir.set_size(n.saturating_add(1).saturating_mul(bs));
        with_index(dir, |x| {
            x.add_name(hash, n, 0)?;
            x.set_room(n, gap)
        })?;
    }
    dir.touch_cm();
    dir.mark_dirty();
    Ok(())
}

/// Deletes the entry found at `f`.
pub(crate) fn delete_entry(dir: &Inode, f: &Found) -> Result {
    let sb = dir.sb();
    let bh = dir_block(dir, f.block)?;
    change_block(dir, &bh, |d| dirent::remove_at(d, f.offset).map_err(|e| corrupt(sb, "directory block", e)))?;
    let gap = max_gap(bh.data());
    with_index(dir, |x| {
        x.remove_name(f.hash, f.block, f.offset);
        x.set_room(f.block, gap)
    })?;
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
